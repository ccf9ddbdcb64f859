"""``T.nlinalg``: matrix_inverse, det and friends."""
from ..ops.linalg import *  # noqa: F401,F403
