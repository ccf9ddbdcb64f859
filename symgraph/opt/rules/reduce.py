"""Rules for reductions (ops/reduce.py): sums of sums, log-sum-exp, reductions of
broadcast and constant values."""
from __future__ import annotations

import numpy as np

from ...ops import math as M
from ...ops import reduce as R
from ...ops import scalar as S
from ...ops.alloc import Alloc, alloc
from ...ops.elemwise import dimshuffle
from ...ops.shape import shape_i
from ...tensor.var import constant
from ...types import is_float
from ..engine import local_rule
from ..utils import const_value, fit, is_elemwise


def _out(node):
    return node.outputs[0]


@local_rule("canonicalize", R.Sum, name="sum_of_sum", tags=("reduce",))
def sum_of_sum(fgraph, node):
    """sum(sum(x, a), b) -> sum(x, a + b) (same dtype and keepdims, inner read only here)."""
    (inner,) = node.inputs
    if inner.owner is None or type(inner.owner.op) is not R.Sum or \
            len(fgraph.clients.get(inner, ())) != 1 or fgraph.is_output(inner):
        return None
    a, b = inner.owner.op, node.op
    if a.dtype != b.dtype or a.keepdims != b.keepdims:
        return None
    (x,) = inner.owner.inputs
    if a.keepdims:
        axes = set(a.axis) | set(b.axis)
    else:
        left = [d for d in range(x.ndim) if d not in a.axis]
        axes = set(a.axis) | {left[k] for k in b.axis}
    new = R.Sum(tuple(sorted(axes)), b.keepdims, b.dtype)(x)
    out = _out(node)
    return [new] if new.type == out.type or out.type.is_super(new.type) else None


@local_rule("canonicalize", R.Reduce, name="reduce_without_axes", tags=("reduce",))
def reduce_without_axes(fgraph, node):
    """A sum, product, max or min over no axis, or only over dimensions of static size 1,
    is x itself (cast, and with those dimensions dropped)."""
    op = node.op
    if type(op) not in (R.Sum, R.Prod, R.Max, R.Min):
        return None
    (x,) = node.inputs
    if not all(x.type.shape[d] == 1 for d in op.axis):
        return None
    out = _out(node)
    new = x if op.keepdims else dimshuffle(x, [d for d in range(x.ndim) if d not in op.axis])
    new = fit(new, out, [x])
    return None if new is None else [new]


@local_rule("stabilize", M.log, name="log_sum_exp", tags=("logsumexp",))
def log_sum_exp(fgraph, node):
    """log(sum(exp(x))) -> logsumexp(x) (shifted by the max: no overflow)."""
    (s,) = node.inputs
    if s.owner is None or type(s.owner.op) is not R.Sum:
        return None
    (e,) = s.owner.inputs
    if not is_elemwise(e, S.Exp) or not is_float(e.dtype) or s.owner.op.dtype != e.dtype:
        return None
    (x,) = e.owner.inputs
    if not is_float(x.dtype):
        return None
    op = s.owner.op
    new = fit(R.LogSumExp(op.axis, op.keepdims)(M.cast(x, e.dtype)), _out(node), [s])
    return None if new is None else [new]


def _finite_const(v) -> bool:
    """A finite constant: c * n is then the sum of n copies of c, n = 0 included (inf * 0
    would be NaN where the sum of nothing is 0)."""
    c = const_value(v)
    return c is not None and bool(np.isfinite(c))


def _filled_scalar(v):
    """(value, shape entries) when v is alloc(scalar, *shape) or fill(x, scalar), where an
    entry is an int or an int64 scalar variable; else None."""
    node = v.owner
    if node is None:
        return None
    if isinstance(node.op, Alloc):
        value = node.inputs[0]
        if value.ndim != 0 or not _finite_const(value):
            return None
        entries = [s if v.type.shape[d] is None else v.type.shape[d]
                   for d, s in enumerate(node.inputs[1:])]
        return value, entries
    if is_elemwise(v, S.Second):
        x, value = node.inputs
        if not _finite_const(value):
            return None
        entries = [v.type.shape[d] if v.type.shape[d] is not None else shape_i(x, d)
                   for d in range(v.ndim)]
        return constant(np.asarray(const_value(value))), entries
    return None


@local_rule("specialize", R.Sum, name="sum_of_filled", tags=("reduce",))
def sum_of_filled(fgraph, node):
    """sum(alloc(c, *shape), axes) -> alloc(c * n, *remaining shape), n the number of
    elements summed; sum(fill(x, c)) likewise (Theano's sum of alloc)."""
    (v,) = node.inputs
    found = _filled_scalar(v)
    if found is None:
        return None
    value, entries = found
    op, out = node.op, _out(node)
    summed = [entries[d] for d in op.axis]
    if all(isinstance(e, int) for e in summed):
        n = constant(np.asarray(int(np.prod(summed, dtype=np.int64)), dtype=out.dtype))
    else:
        parts = [constant(np.int64(e)) if isinstance(e, int) else e for e in summed]
        n = M.cast(parts[0] if len(parts) == 1 else M.mul(*parts), out.dtype)
    total = n if const_value(value) == 1 else M.mul(M.cast(value, out.dtype), n)
    if op.keepdims:
        rest = [1 if d in op.axis else entries[d] for d in range(v.ndim)]
    else:
        rest = [entries[d] for d in range(v.ndim) if d not in op.axis]
    if rest:
        total = alloc(total, *rest)
    new = fit(total, out, [v])
    return None if new is None else [new]
