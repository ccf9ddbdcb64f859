"""Symbolic differentiation.

- ``reverse``: ``grad`` and ``Lop`` (reverse mode, iterative, summing every path).
- ``forward``: ``Rop`` (forward mode; an op's own ``R_op`` or the transpose of its ``L_op``).
- ``batched``: ``jacobian``, ``hessian``, ``hessian_vector_product``: one VJP graph mapped
  over the rows of the identity by a ``Vectorized`` op, so the graph size does not grow with
  the output length (the design and its alternative are discussed there).
- ``ops``: identity ops that only change the backward flow (``zero_grad``, ``grad_clip``...).
- ``verify``: ``verify_grad`` (central finite differences on a random projection).

The public module is ``symgraph.gradient``.
"""
