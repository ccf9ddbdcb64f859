"""Rules about memory layout: where a transpose sits around elementwise work.

An elementwise kernel writes its result in C order, so a transposed input (``X.T``, a
view) is read across its rows, one cache line per element. A matrix product does not care:
BLAS takes a transposed operand as a flag. So ``dot(X.T * r, Y)`` is cheaper as
``dot((X * r.T).T, Y)``: the kernel reads X in order, and the product reads the result's
transpose for free. The batched Hessian has this form (``dot(e_i, ...)`` of identity rows
is a column of A, so its rows are A's columns: ``A.T * d`` feeding a Gemm).

This runs in specialize: canonicalize's ``dimshuffle_lift`` moves transposes the other way
(towards the leaves, where fusion wants them) and would undo it.
"""
from __future__ import annotations

from ...ops import blas
from ...ops.elemwise import DimShuffle, Elemwise, dimshuffle
from ..engine import local_rule
from ..utils import fit

# readers that take a transposed (Fortran-ordered) operand without a copy
_STRIDED_READERS = (blas.Dot, blas.Gemm)


def _is_transpose(v):
    """The matrix u when `v` is ``u.T`` (DimShuffle{1,0}), else None."""
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle) and \
            tuple(node.op.new_order) == (1, 0):
        return node.inputs[0]
    return None


def _full(v):
    """A 2-d value that is not broadcast along either dimension (a whole matrix)."""
    return v.ndim == 2 and all(s != 1 for s in v.type.shape)


def _transposed(v):
    """`v` (as the Elemwise's 2-d operand: fewer dims are padded on the left) transposed;
    a DimShuffle's transpose is one DimShuffle of its input (each one more step to run)."""
    if v.ndim == 0:
        return v
    if v.ndim == 1:
        return dimshuffle(v, (0, "x"))
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle):
        first, second = node.op.new_order
        return dimshuffle(node.inputs[0], (second, first))
    return dimshuffle(v, (1, 0))


@local_rule("specialize", Elemwise, name="transpose_after_elemwise", tags=("layout",))
def transpose_after_elemwise(fgraph, node):
    """elemwise(X.T, r, ...) -> elemwise(X, r.T, ...).T when the result only goes into
    matrix products and every whole-matrix operand is a transpose (the others, rows,
    columns and scalars, cost nothing to transpose)."""
    out = node.outputs[0]
    if len(node.outputs) != 1 or out.ndim != 2 or not node.inputs:
        return None
    clients = fgraph.clients.get(out, ())
    if not clients or fgraph.is_output(out) or \
            any(c == "output" or not isinstance(c.op, _STRIDED_READERS) for c, _ in clients):
        return None
    full = [v for v in node.inputs if _full(v)]
    if not full or any(_is_transpose(v) is None for v in full):
        return None
    if any(v.ndim > 2 for v in node.inputs):
        return None
    new = node.op(*[_transposed(v) for v in node.inputs])
    new = fit(dimshuffle(new, (1, 0)), out, node.inputs)
    return None if new is None else [new]
