"""Rules for shape ops (ops/shape.py): shapes known statically become constants,
reshape chains collapse."""
from __future__ import annotations

import numpy as np

from ...ops import shape as SH
from ...tensor.var import TensorConstant
from ...types import TensorType
from ..engine import local_rule


def _const(value, var):
    arr = np.asarray(value, dtype=var.dtype)
    return TensorConstant(TensorType(var.dtype, var.type.shape), arr)


@local_rule(("canonicalize", "specialize"), SH.Shape, SH.Shape_i, name="shape_constant",
            tags=("shape",))
def shape_constant(fgraph, node):
    """x.shape (or x.shape[i]) -> a constant when the static type of x gives it."""
    (x,) = node.inputs[:1]
    static = x.type.shape
    out = node.outputs[0]
    if isinstance(node.op, SH.Shape_i):
        s = static[node.op.i]
        return None if s is None else [_const(s, out)]
    if None in static:
        return None
    return [_const(static, out)]


@local_rule("canonicalize", SH.Reshape, name="reshape_of_reshape", tags=("shape",))
def reshape_of_reshape(fgraph, node):
    """reshape(reshape(x, s1), s2) -> reshape(x, s2) (the inner result read only here)."""
    inner, shp = node.inputs
    if inner.owner is None or not isinstance(inner.owner.op, SH.Reshape) or \
            len(fgraph.clients.get(inner, ())) != 1 or fgraph.is_output(inner):
        return None
    x = inner.owner.inputs[0]
    new = node.op(x, shp)
    out = node.outputs[0]
    return [new] if new.type == out.type or out.type.is_super(new.type) else None


@local_rule("canonicalize", SH.Reshape, name="reshape_noop", tags=("shape",))
def reshape_noop(fgraph, node):
    """reshape(x, s) -> x when s is statically x's own (static) shape."""
    x, shp = node.inputs
    out = node.outputs[0]
    want = SH.static_entries(shp, node.op.ndim)
    if x.ndim != node.op.ndim or None in x.type.shape or list(x.type.shape) != want:
        return None
    return [x] if x.type == out.type or out.type.is_super(x.type) else None
