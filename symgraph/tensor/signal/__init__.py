"""``T.signal``: ``T.signal.pool.pool_2d``."""
from . import pool  # noqa: F401
