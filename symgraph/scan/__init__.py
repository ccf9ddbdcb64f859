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
from . import fold, rewrites, sink  # noqa: F401  (register the scan rewrites)

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "Scan"]
