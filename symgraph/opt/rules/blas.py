"""BLAS specializations: a dot product added to (or subtracted from) another value becomes
one `Gemm` (BLAS gemm/gemv with alpha and beta), a Gemm whose z is an intermediate
buffer nobody else reads writes into it, and a Gemm that is the update of the shared
variable it reads as z (the SGD step ``w - lr * dot(h.T, g)``) writes into the shared
value's buffer, after every other reader of the old value (`gemm_inplace_update`).

``z + dot(x, y)``, ``z + a * dot(x, y)``, ``z - a * dot(x, y)`` (the SGD update
``w - lr * dot(h.T, g)``) and ``dot(x, y) - z`` turn into ``gemm(z, alpha, x, y, beta)``
only for float32/float64 values of one dtype, when z has the result's broadcast pattern
(a z that broadcasts against the product, as a bias row, stays an add) and the dot (and
its scaling mul) are read by this node alone (else the product would be computed twice).
"""
from __future__ import annotations

import numpy as np

from ...ops import math as M
from ...ops import scalar as S
from ...ops.blas import Dot, Gemm, gemm_inplace, gemm_no_inplace
from ...ops.elemwise import dimshuffle
from ...tensor.var import TensorConstant
from ...types import TensorType, is_float, is_int
from ..engine import local_rule
from ..utils import fit, is_elemwise
from .elemwise import destroyable

FLOATS = ("float32", "float64")


def _only_reader(fgraph, var, node) -> bool:
    return not fgraph.is_output(var) and fgraph.client_nodes(var) == [node]


def _as_scalar(v, dtype):
    """`v` as a 0-d variable of `dtype` when all its dims are broadcastable, else None."""
    if any(s != 1 for s in v.type.shape) or not (is_float(v.dtype) or is_int(v.dtype)):
        return None
    if isinstance(v, TensorConstant):
        return TensorConstant(TensorType(dtype, ()), v.data.reshape(()).astype(dtype))
    if v.ndim:
        v = dimshuffle(v, [])
    return v if v.dtype == dtype else M.cast(v, dtype)


def _scaled_dot(fgraph, term, node, dtype):
    """(alpha, x, y) when `term` is dot(x, y) or a product of scalars and one dot(x, y),
    each read by `node` alone; alpha is None for 1. Else None."""
    alpha = None
    if is_elemwise(term, S.Mul):
        if term.dtype != dtype or not _only_reader(fgraph, term, node):
            return None
        ins = term.owner.inputs
        dots = [v for v in ins if v.owner is not None and isinstance(v.owner.op, Dot)]
        if len(dots) != 1:
            return None
        scalars = []
        for v in ins:
            if v is not dots[0]:
                s = _as_scalar(v, dtype)
                if s is None:
                    return None
                scalars.append(s)
        alpha = scalars[0] if len(scalars) == 1 else M.mul(*scalars)
        reader, term = term.owner, dots[0]
    else:
        reader = node
    if term.owner is None or not isinstance(term.owner.op, Dot):
        return None
    if not _only_reader(fgraph, term, reader):
        return None
    x, y = term.owner.inputs
    if x.ndim + y.ndim == 2 or term.dtype != dtype or x.dtype != dtype or y.dtype != dtype:
        return None
    return alpha, x, y


def _gemm(z, alpha, x, y, beta, out):
    """gemm(z, alpha, x, y, beta) fitted to `out`'s type, or None."""
    dtype = out.dtype
    one = TensorConstant(TensorType(dtype, ()), _one(dtype))
    new = gemm_no_inplace(z, one if alpha is None else alpha, x, y,
                          one if beta is None else beta)
    return fit(new, out)


def _one(dtype):
    return np.asarray(1, dtype=dtype)


def _neg(alpha, dtype):
    if alpha is None:
        return TensorConstant(TensorType(dtype, ()), -_one(dtype))
    if isinstance(alpha, TensorConstant):
        return TensorConstant(alpha.type, -alpha.data)
    return M.neg(alpha)


def _fits_z(z, out, product) -> bool:
    """z has out's dtype and broadcast pattern, and so has the product: neither broadcasts
    against the other (a (1,) product added to a (2,) z is no gemm: fuzz campaign)."""
    return (z.dtype == out.dtype and z.ndim == out.ndim
            and z.type.broadcastable == out.type.broadcastable
            and product.type.broadcastable == out.type.broadcastable)


@local_rule("specialize", M.add, M.sub, name="gemm", tags=("blas",))
def gemm(fgraph, node):
    """z + a * dot(x, y) -> gemm(z, a, x, y, 1); z - a * dot(x, y) -> gemm(z, -a, x, y, 1);
    dot(x, y) - z -> gemm(z, 1, x, y, -1) (float32/float64, z of the result's pattern)."""
    out = node.outputs[0]
    dtype = out.dtype
    if dtype not in FLOATS:
        return None
    ins = node.inputs
    if is_elemwise(out, S.Sub):
        z, term = ins
        found = _scaled_dot(fgraph, term, node, dtype)
        if found is not None and _fits_z(z, out, term):
            alpha, x, y = found
            new = _gemm(z, _neg(alpha, dtype), x, y, None, out)
            return None if new is None else [new]
        found = _scaled_dot(fgraph, z, node, dtype)
        if found is not None and _fits_z(term, out, z):
            alpha, x, y = found
            new = _gemm(term, alpha, x, y, _neg(None, dtype), out)
            return None if new is None else [new]
        return None
    if not is_elemwise(out, S.Add):
        return None
    for k, term in enumerate(ins):
        found = _scaled_dot(fgraph, term, node, dtype)
        if found is None:
            continue
        rest = [v for j, v in enumerate(ins) if j != k]
        z = rest[0] if len(rest) == 1 else M.add(*rest)
        if not _fits_z(z, out, term):
            continue
        alpha, x, y = found
        new = _gemm(z, alpha, x, y, None, out)
        if new is not None:
            return [new]
    return None


@local_rule("inplace", Gemm, name="gemm_inplace", tags=("inplace", "blas"))
def gemm_to_inplace(fgraph, node):
    """gemm -> gemm writing into z's buffer, when z is an intermediate value that only
    this node reads (never a function input, shared value, constant or output)."""
    if node.op.inplace:
        return None
    z = node.inputs[0]
    if node.inputs.count(z) != 1 or not destroyable(fgraph, z, node):
        return None
    new = gemm_inplace(*node.inputs)
    out = node.outputs[0]
    return [new] if new.type == out.type or out.type.is_super(new.type) else None


def _update_of(fgraph, z, out):
    """Whether `out` is the update of the shared variable whose value is the function
    input `z` (so the function stores `out` as z's next value)."""
    targets = getattr(fgraph, "update_targets", None)
    n_out = getattr(fgraph, "n_outputs", None)
    if not targets or n_out is None or z not in fgraph._input_set:
        return False
    memo = getattr(fgraph, "memo", {})
    updates = fgraph.outputs[n_out:]
    return any(e is out and memo.get(t, t) is z for t, e in zip(targets, updates))


def _nodes_before(var_list):
    """The nodes computing the variables of `var_list` and all their ancestors."""
    seen, stack = set(), [v.owner for v in var_list if v.owner is not None]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(i.owner for i in n.inputs if i.owner is not None)
    return seen


def _nodes_after(fgraph, node):
    """`node` and every node that reads its outputs, directly or not."""
    seen, stack = set(), [node]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for o in n.outputs:
            stack.extend(c for c, _ in fgraph.clients.get(o, ()) if c != "output")
    return seen


def _old_value_readers(fgraph, z, node):
    """The outputs of the nodes that read z's old value (z itself or a view of it) and are
    not already computed before `node`: `node` must wait for them before overwriting z.
    None when `node` may not overwrite z: z or a view of it is a function output (the
    function copies those after the call, it would copy the new value), `node` reads z
    also as x or y, another node writes into z, or a reader needs `node`'s result."""
    before = _nodes_before(node.inputs)
    after = None
    views, seen, waits = [z], {z}, []
    while views:
        v = views.pop()
        for client, k in fgraph.clients.get(v, ()):
            if client == "output":
                return None
            if client is node:
                if k != 0 or v is not z:
                    return None
                continue
            op = client.op
            if any(k in ins for ins in op.destroy_map.values()):
                return None
            viewed = [client.outputs[o] for o, ins in op.view_map.items() if k in ins]
            for w in viewed:
                if w not in seen:
                    seen.add(w)
                    views.append(w)
            if client in before or len(viewed) == len(client.outputs):
                continue                # a pure view: its readers are the ones to wait for
            if after is None:
                after = _nodes_after(fgraph, node)
            if client in after:
                return None
            if client.outputs[0] not in waits:
                waits.append(client.outputs[0])
    return waits


@local_rule("inplace", Gemm, name="gemm_inplace_update", tags=("inplace", "blas"))
def gemm_inplace_update(fgraph, node):
    """gemm(w, a, x, y, b) that is the update of the shared variable w -> gemm writing
    into w's buffer (no copy of the weight each step), ordered after every node that reads
    w's old value (the extra inputs of the in-place Gemm). Functions store an update
    after the call, so the buffer then simply holds the new value; as in Theano, an
    array the user handed over with ``borrow=True`` (or took with ``get_value(borrow=True)``)
    changes in place."""
    if node.op.inplace or len(node.inputs) != 5:
        return None
    z, out = node.inputs[0], node.outputs[0]
    if not _update_of(fgraph, z, out):
        return None
    waits = _old_value_readers(fgraph, z, node)
    if waits is None:
        return None
    new = gemm_inplace(*node.inputs, *waits)
    return [new] if new.type == out.type or out.type.is_super(new.type) else None
