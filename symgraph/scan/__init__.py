"""Loops in the graph: ``scan`` (Theano's rules), its core op, gradient and rewrites.

- ``builder``: ``scan``, ``until``, ``map``, ``reduce``, ``foldl``, ``foldr``;
- ``op``: the ``Scan`` op, one uniform step over carries, sequences and parameters;
- ``grad``: its L_op (a reverse Scan over the stored carries) and R_op (a forward Scan
  carrying tangents);
- ``rewrites``: keep only the last carry when nothing reads the history, merge loops,
  hoist products out of the step;
- ``sink``: compute an elementwise sequence in the step from the stacks it reads;
- ``fold``: accumulate a sum over a loop's stored rows in the loop;
- ``inner``: inner graphs compiled in the outer function's mode (shared with ifelse).
"""
from .builder import foldl, foldr, map, reduce, scan, until  # noqa: F401
from .op import Scan  # noqa: F401
from ..ops.reduce import Sum
from ..opt.engine import local_rule
from .fold import scan_fold_sum
from .rewrites import (scan_hoist_accumulator, scan_hoist_seq_dot, scan_merge, scan_prune_ys,
                       scan_save_mem)
from .sink import scan_sink_seq_elemwise

# one place, in the order the engine tries them
for _rule, _op, _tag in ((scan_fold_sum, Sum, "fold_sum"), (scan_merge, Scan, "merge_scans"),
                         (scan_save_mem, Scan, "save_mem"), (scan_prune_ys, Scan, "prune_ys"),
                         (scan_hoist_seq_dot, Scan, "hoist_seq_dot"),
                         (scan_hoist_accumulator, Scan, "hoist_accumulator"),
                         (scan_sink_seq_elemwise, Scan, "sink_seq_elemwise")):
    local_rule(("specialize", "fuse"), _op, name=_rule.__name__, tags=("scan", _tag))(_rule)
del _rule, _op, _tag

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "Scan"]
