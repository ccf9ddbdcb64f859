"""Symbolic differentiation.

- ``reverse``: ``grad`` and ``Lop`` (reverse mode, iterative, summing every path).
- ``forward``: ``Rop`` (forward mode; an op's own ``R_op`` or the transpose of its ``L_op``).
- ``ops``: identity ops that only change the backward flow (``zero_grad``, ``grad_clip``...).
- ``verify``: ``verify_grad`` (central finite differences on a random projection).

The public module is ``symgraph.gradient``.
"""
