"""``T.slinalg``: solve and cholesky (Theano's scipy-backed module; numpy-backed here, since
loading scipy's second OpenBLAS beside numpy's slows both)."""
from ..ops.linalg import Cholesky, Solve, cholesky, solve  # noqa: F401

__all__ = ["solve", "cholesky", "Solve", "Cholesky"]
