"""Helpers the rules share: constant values, op tests, and fitting a result to a type."""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from ..ops import scalar as S
from ..ops.elemwise import DimShuffle, Elemwise, dimshuffle
from ..tensor.var import TensorConstant, as_tensor_variable
from ..types import TensorType, is_complex, is_float

__all__ = ["const_value", "is_const", "scalar_op_of", "is_elemwise", "fit", "const_like",
           "is_float_var"]


def scalar_op_of(node):
    """The scalar op of an Elemwise node that computes out of place, else None."""
    if node is not None and isinstance(node.op, Elemwise) and not node.op.inplace_pattern:
        return node.op.scalar_op
    return None


def is_elemwise(var, *scalar_classes) -> bool:
    """True when `var` is computed by an (out-of-place) Elemwise of one of the classes."""
    sop = scalar_op_of(var.owner)
    return sop is not None and isinstance(sop, scalar_classes)


def const_value(var):
    """The value of every element of `var` when it is a constant whose elements are all
    equal (looking through DimShuffle and fill), as a numpy scalar; else None."""
    while True:
        if isinstance(var, Constant):
            data = var.data
            if not isinstance(data, np.ndarray) or data.size == 0:
                return None
            flat = data.reshape(-1)
            first = flat[0]
            if flat.size > 1 and not (flat == first).all():
                return None
            return first
        node = var.owner
        if node is None:
            return None
        if isinstance(node.op, DimShuffle):
            var = node.inputs[0]
        elif is_elemwise(var, S.Second):
            var = node.inputs[1]
        else:
            return None


def is_const(var, value) -> bool:
    """True when every element of `var` is the constant `value`."""
    v = const_value(var)
    return v is not None and bool(v == value)


def is_float_var(var) -> bool:
    return is_float(var.dtype) or is_complex(var.dtype)


def const_like(value, dtype, ndim=0) -> TensorConstant:
    """A constant of `dtype` with `ndim` broadcastable dimensions."""
    arr = np.asarray(value, dtype=dtype).reshape((1,) * ndim)
    return TensorConstant(TensorType(dtype, arr.shape), arr)


def fit(new, old, models=()):
    """`new` as a variable of `old`'s type, or None when that cannot be done.

    Casts to old's dtype, pads dimensions on the left, and broadcasts with ``second``
    against one of `models` (variables of the matched sub-graph) where `new` is smaller
    than `old`: ``x * ones((3, 4))`` rewritten to ``x`` must still give a (3, 4) array.
    """
    from ..ops.math import cast, second
    new = as_tensor_variable(new)
    ot = old.type
    if not isinstance(ot, TensorType) or new.ndim > ot.ndim:
        return None
    if new.dtype != ot.dtype:
        if isinstance(new, Constant):
            new = TensorConstant(TensorType(ot.dtype, new.type.shape),
                                 np.asarray(new.data).astype(ot.dtype))
        else:
            new = cast(new, ot.dtype)
    if new.ndim < ot.ndim:
        new = _pad(new, ot.ndim)
    for _ in range(ot.ndim + 1):
        bad = [d for d in range(ot.ndim) if not _dim_ok(ot.shape[d], new.type.shape[d])]
        if not bad:
            break
        model = _best_model(models, ot, bad)
        if model is None:
            return None
        new = second(model, new)
        if new.dtype != ot.dtype:
            return None
    if new.type != ot and not ot.is_super(new.type):
        return None
    return new


def _pad(v, ndim):
    if isinstance(v, Constant):
        data = v.data.reshape((1,) * (ndim - v.ndim) + v.data.shape)
        return TensorConstant(TensorType(v.dtype, (1,) * (ndim - v.ndim) + v.type.shape), data)
    return dimshuffle(v, ["x"] * (ndim - v.ndim) + list(range(v.ndim)))


def _dim_ok(want, have) -> bool:
    if want is None:
        return have != 1
    return have == want


def _best_model(models, ot, bad):
    best, score = None, 0
    for m in models:
        if getattr(m, "ndim", ot.ndim + 1) > ot.ndim:
            continue
        shape = (1,) * (ot.ndim - m.ndim) + tuple(m.type.shape)
        if any(s is not None and s != 1 and w is not None and s != w
               for w, s in zip(ot.shape, shape)):
            continue
        k = sum(1 for d in bad if _dim_ok(ot.shape[d], shape[d]))
        if k > score:
            best, score = m, k
    if best is not None and best.ndim < ot.ndim:
        best = _pad(best, ot.ndim)
    return best
