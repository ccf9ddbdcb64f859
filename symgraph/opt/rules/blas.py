"""BLAS specializations: a dot product added to (or subtracted from) another value becomes
one `Gemm` (BLAS gemm/gemv with alpha and beta), and a Gemm whose z is an intermediate
buffer nobody else reads writes into it.

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


def _fits_z(z, out) -> bool:
    """z has out's dtype and broadcast pattern (it does not broadcast against the
    product, nor the product against it)."""
    return (z.dtype == out.dtype and z.ndim == out.ndim
            and z.type.broadcastable == out.type.broadcastable)


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
        if found is not None and _fits_z(z, out):
            alpha, x, y = found
            new = _gemm(z, _neg(alpha, dtype), x, y, None, out)
            return None if new is None else [new]
        found = _scaled_dot(fgraph, z, node, dtype)
        if found is not None and _fits_z(term, out):
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
        if not _fits_z(z, out):
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
