"""The user namespace: ``import symgraph.tensor as T``."""
from ..ops import math as _math_module
from ..ops.blas import *  # noqa: F401,F403
from ..ops.elemwise import DimShuffle, Elemwise, dimshuffle  # noqa: F401
from ..ops.linalg import *  # noqa: F401,F403
from ..ops.math import *  # noqa: F401,F403
from ..ops.math import abs, pow, round  # noqa: F401  (shadow the builtins, as numpy does)
from ..ops.reduce import *  # noqa: F401,F403
from ..ops.shape import *  # noqa: F401,F403
from ..ops.subtensor import *  # noqa: F401,F403
from ..types import TensorType  # noqa: F401
from .basic import *  # noqa: F401,F403
from .var import TensorConstant, TensorVariable, as_tensor_variable, constant  # noqa: F401
from . import nlinalg, slinalg  # noqa: F401,E402

_as_tensor_variable = as_tensor_variable
from . import nnet, signal  # noqa: F401,E402
from ..gradient import Lop, Rop, grad  # noqa: F401,E402  (T.grad, T.Rop, T.Lop, as API.md)
