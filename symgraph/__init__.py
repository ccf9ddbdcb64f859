"""symgraph: symbolic tensor graphs, gradients, rewrites and generated kernels.

    import symgraph
    import symgraph.tensor as T
    x = T.dvector('x')
    f = symgraph.function([x], (x ** 2).sum())
"""
__version__ = "0.1.0"

from .config import change_flags, config  # noqa: F401
from . import tensor  # noqa: F401  (binds the tensor methods before anything builds graphs)
from .compile.function import In, Out, function  # noqa: F401
from .compile.mode import Mode  # noqa: F401
from .graph import Apply, Constant, Op, Variable, clone_replace  # noqa: F401
from .shared import SharedVariable, shared  # noqa: F401
from .types import TensorType  # noqa: F401
from . import gradient  # noqa: F401
from .gradient import Lop, Rop, grad  # noqa: F401
from . import printing  # noqa: F401
from .printing import debugprint, pp  # noqa: F401

dprint = debugprint
clone = clone_replace

from . import ifelse  # noqa: F401,E402  (the module; also callable as the function)
from . import scan_module  # noqa: F401,E402
from .scan import foldl, foldr, map, reduce, scan  # noqa: F401,E402
