"""Allocation ops: alloc (and zeros, ones, full), arange, eye, and tile (alloc + reshape).
Re-exported by `ops/shape.py`."""
from __future__ import annotations

import numpy as np

from ..config import config
from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType, is_complex, is_float, is_int, upcast
from .elemwise import dimshuffle
from .shape import (_as_int64, _dtype, _fmt, _i64, _int_scalar, _shape_entries, reshape,
                    shape_i, shape_padleft, static_int, static_value)

__all__ = ["Alloc", "ARange", "Eye", "alloc", "zeros", "ones", "full", "arange", "eye",
           "identity_like", "tile"]


class Alloc(Op):
    """A new array of the given shape filled with `value` (broadcast into the trailing
    dimensions): ``out = numpy.empty(shape); out[...] = value``."""

    fold_static = True

    def make_node(self, value, *shape):
        value = as_tensor_variable(value)
        shape = [_int_scalar(self, [value], s, "a size") for s in shape]
        n = len(shape)
        if value.ndim > n:
            raise op_build_error(self, [value] + shape, f"the value has {value.ndim} "
                                 f"dimensions, more than the {n} of the shape", ValueError)
        static = [static_int(s) for s in shape]
        if any(s is not None and s < 0 for s in static):
            raise op_build_error(self, [value] + shape, f"negative size in {_fmt(static)}",
                                 ValueError)
        lead = n - value.ndim
        for i, vd in enumerate(value.type.shape):
            od = static[lead + i]
            if vd is not None and vd != 1:
                if od is not None and od != vd:
                    raise op_build_error(self, [value] + shape, f"a value of static shape "
                                         f"{value.type.shape} cannot fill shape "
                                         f"{_fmt(static)}", ValueError)
                static[lead + i] = vd
        return Apply(self, [value] + shape, [TensorType(value.dtype, static)()])

    def perform(self, node, inputs, output_storage):
        value, shp = inputs[0], tuple(int(s) for s in inputs[1:])
        lead = len(shp) - value.ndim
        for i, (vs, var_s) in enumerate(zip(value.shape, node.inputs[0].type.shape)):
            if vs != shp[lead + i] and var_s != 1:
                raise ValueError(f"{self}: a value of shape {value.shape} cannot fill shape "
                                 f"{shp} (its dimension {i} is not declared broadcastable)")
        out = np.empty(shp, dtype=node.outputs[0].dtype)
        out[...] = value
        output_storage[0][0] = out

    def L_op(self, inputs, outputs, output_grads):
        from .math import cast
        from .reduce import sum as _sum
        value, (g,) = inputs[0], output_grads
        nones = [None] * (len(inputs) - 1)
        if not (is_float(value.dtype) or is_complex(value.dtype)):
            return [None] + nones
        lead = outputs[0].ndim - value.ndim
        if lead:
            g = _sum(g, axis=tuple(range(lead)))
        axes = tuple(d for d, s in enumerate(value.type.shape)
                     if s == 1 and outputs[0].type.shape[lead + d] != 1)
        if axes:
            g = _sum(g, axis=axes, keepdims=True)
        return [cast(g, value.dtype)] + nones

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]

    def infer_shape(self, node, input_shapes):
        static = node.outputs[0].type.shape
        return [tuple(_i64(s) if s is not None else v
                      for s, v in zip(static, node.inputs[1:]))]


_alloc = Alloc()


def alloc(value, *shape):
    """`value` broadcast into a new array of the given shape: ``T.alloc(0.0, n, 3)``."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) and (
            isinstance(shape[0], (list, tuple)) or as_tensor_variable(shape[0]).ndim == 1):
        shape = shape[0]
    entries = _shape_entries(_alloc, list(shape) if isinstance(shape, tuple) else shape)
    return _alloc(value, *entries)


def _filled(shape, value):
    return _alloc(value, *_shape_entries(_alloc, shape))


def zeros(shape, dtype=None):
    """numpy.zeros: ``T.zeros((n, 3))``; dtype defaults to floatX."""
    return _filled(shape, np.zeros((), dtype=_dtype(dtype)))


def ones(shape, dtype=None):
    """numpy.ones: ``T.ones((n, 3))``; dtype defaults to floatX."""
    return _filled(shape, np.ones((), dtype=_dtype(dtype)))


def full(shape, fill_value, dtype=None):
    """numpy.full: ``T.full((2, n), 7.0)``; a symbolic `fill_value` of any broadcastable shape."""
    from .math import cast
    value = as_tensor_variable(fill_value)
    if dtype is not None:
        value = cast(value, _dtype(dtype))
    return _filled(shape, value)


class ARange(Op):
    """numpy.arange(start, stop, step, dtype)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, start, stop, step):
        xs = [as_tensor_variable(v) for v in (start, stop, step)]
        for v in xs:
            if v.ndim != 0 or not (is_int(v.dtype) or is_float(v.dtype)):
                raise op_build_error(self, xs, f"start, stop and step must be real scalars, "
                                     f"got {v.type}", TypeError)
        vals = [static_value(v) for v in xs]
        n = None
        if not any(v is None for v in vals):
            a, b, c = (v.item() for v in vals)
            if c == 0:
                raise op_build_error(self, xs, "step must not be zero", ValueError)
            n = _arange_len(a, b, c)
        return Apply(self, xs, [TensorType(self.dtype, (n,))()])

    def perform(self, node, inputs, output_storage):
        a, b, c = (v.item() for v in inputs)
        if c == 0:
            raise ValueError(f"{self}: step must not be zero")
        output_storage[0][0] = np.arange(a, b, c, dtype=self.dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def infer_shape(self, node, input_shapes):
        from .math import cast, ceil, int_div, maximum, neg, sub, true_div
        if node.outputs[0].type.shape[0] is not None:
            return [(_i64(node.outputs[0].type.shape[0]),)]
        a, b, c = node.inputs
        if all(is_int(v.dtype) for v in (a, b, c)):
            n = neg(int_div(sub(a, b), c))
        else:
            n = ceil(true_div(sub(b, a), c))
        return [(maximum(cast(n, "int64"), 0),)]


def _arange_len(a, b, c):
    if all(isinstance(v, (int, np.integer)) for v in (a, b, c)):
        return max(0, -((a - b) // c))
    return max(0, int(np.ceil((b - a) / c)))


def arange(start, stop=None, step=1, dtype=None):
    """numpy.arange with symbolic or constant bounds: ``T.arange(n)``, ``T.arange(1, n, 2)``.

    The dtype is numpy's: int64 for integer bounds; with a float bound, floatX (or float64
    when a bound is float64).
    """
    if stop is None:
        start, stop = 0, start
    xs = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        floats = [v.dtype for v in xs if is_float(v.dtype)]
        dtype = upcast(config.floatX, *floats) if floats else "int64"
    return ARange(_dtype(dtype))(*xs)


class Eye(Op):
    """numpy.eye(n, m, k, dtype)."""

    __props__ = ("dtype",)
    fresh_outputs = True     # a new array each call: a gemm may write into it

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, n, m, k):
        xs = [_int_scalar(self, [], v, "n, m and k") for v in (n, m, k)]
        static = [static_int(v) for v in xs[:2]]
        if any(s is not None and s < 0 for s in static):
            raise op_build_error(self, xs, f"negative size in {_fmt(static)}", ValueError)
        return Apply(self, xs, [TensorType(self.dtype, static)()])

    def perform(self, node, inputs, output_storage):
        n, m, k = (int(v) for v in inputs)
        output_storage[0][0] = np.eye(n, m, k, dtype=self.dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[0], node.inputs[1])]


def eye(n, m=None, k=0, dtype=None):
    """numpy.eye: an n x m matrix with ones on diagonal k; dtype defaults to floatX."""
    return Eye(_dtype(dtype))(n, n if m is None else m, k)


def identity_like(x, dtype=None):
    """An identity matrix of the shape (and dtype) of the matrix `x`."""
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise op_build_error("identity_like", [x], f"needs a matrix, got {x.type}", TypeError)
    return eye(shape_i(x, 0), shape_i(x, 1), 0, dtype=dtype or x.dtype)


def tile(x, reps, ndim=None):
    """numpy.tile: `x` repeated `reps` times along each dimension (reps an int, a tuple of
    ints and int scalars, or an int vector of static length).

    >>> T.tile(T.vector('x'), (2, 3))    # shape (n,) -> (2, 3 * n)
    """
    from .math import mul
    x = as_tensor_variable(x)
    reps = _shape_entries("tile", reps)
    d = max(x.ndim, len(reps), ndim or 0)
    if ndim is not None and ndim < max(x.ndim, len(reps)):
        raise op_build_error("tile", [x], f"ndim={ndim} is less than the input's {x.ndim} "
                             f"dimensions or the {len(reps)} reps", ValueError)
    static = [static_int(r) for r in reps]
    if any(k is not None and k < 0 for k in static):
        raise op_build_error("tile", [x], f"negative reps {_fmt(static)}", ValueError)
    xp = shape_padleft(x, d - x.ndim) if d > x.ndim else x
    reps = [1] * (d - len(reps)) + list(reps)
    pattern, alloc_shape, out_shape = [], [], []
    for i, r in enumerate(reps):
        s = shape_i(xp, i)
        if static_int(r) == 1:
            pattern.append(i)
            alloc_shape.append(s)
            out_shape.append(s)
        else:
            pattern += ["x", i]
            alloc_shape += [r, s]
            out_shape.append(mul(_as_int64(r), s))
    y = _alloc(dimshuffle(xp, pattern), *alloc_shape)
    return y if len(alloc_shape) == d else reshape(y, out_shape)
