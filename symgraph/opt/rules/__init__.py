"""The rules, one module per op family. Importing this package registers them all.

To add rules for a new op family, write ``opt/rules/<family>.py`` with ``local_rule`` /
``rule`` / ``global_rule`` from ``symgraph.opt.engine`` and import it below. The numerical
stabilizations of the neural-network ops (log(softmax) and friends) live in ``nnet.py``.
"""
from . import basic  # noqa: F401  (merge, constant folding)
from . import math  # noqa: F401  (elementwise algebra and stabilization)
from . import elemwise  # noqa: F401  (dimshuffle chains, fusion, in-place)
from . import reduce  # noqa: F401  (sums of sums, log-sum-exp, reductions of fills)
from . import shape  # noqa: F401  (static shapes, reshape chains)
from . import nnet  # noqa: F401  (log(softmax), crossentropies)
from . import blas  # noqa: F401  (dot + scaled add -> gemm)
from . import layout  # noqa: F401  (transposes around elementwise work)
