"""``T.signal.pool``: 2-d pooling (Theano's ``theano.tensor.signal.pool``)."""
from ...ops.pool import Pool, PoolGrad, pool_2d  # noqa: F401

__all__ = ["pool_2d", "Pool", "PoolGrad"]
