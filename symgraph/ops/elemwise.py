"""Elemwise (a scalar op lifted to arrays with broadcasting) and DimShuffle."""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import TensorConstant, as_tensor_variable, constant
from ..types import TensorType

__all__ = ["Elemwise", "DimShuffle", "broadcast_shapes", "dimshuffle"]


def broadcast_shapes(op, inputs, shapes):
    """The static output shape of broadcasting `shapes` (equal lengths), or a build error."""
    out = []
    for dim, sizes in enumerate(zip(*shapes)):
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            raise op_build_error(op, inputs, f"shapes {[tuple(s) for s in shapes]} cannot be "
                                 f"broadcast together (dimension {dim}: sizes {sorted(known)})",
                                 ValueError)
        if known:
            out.append(known.pop())
        elif all(s == 1 for s in sizes):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)


class Elemwise(Op):
    """A scalar op applied elementwise with numpy broadcasting.

    Broadcasting follows the static shape: a dimension broadcasts when its static size is 1
    (as in Theano and PyTensor), which keeps gradients and generated loops exact.
    """

    __props__ = ("scalar_op", "inplace_pattern")

    def __init__(self, scalar_op, inplace_pattern=None, name=None):
        self.scalar_op = scalar_op
        self.inplace_pattern = tuple(sorted((inplace_pattern or {}).items()))
        self.destroy_map = {o: [i] for o, i in self.inplace_pattern}
        self.name = name

    def __str__(self):
        base = self.name or str(self.scalar_op)
        return base + (f"{{inplace{dict(self.inplace_pattern)}}}" if self.inplace_pattern else "")

    __repr__ = __str__

    def make_node(self, *inputs):
        sop = self.scalar_op
        if sop.nin != -1 and len(inputs) != sop.nin and not (sop.associative and len(inputs) >= 2):
            raise op_build_error(self, [], f"takes {sop.nin} inputs, got {len(inputs)}")
        inputs = _resolve_weak([as_tensor_variable(i) for i in inputs])
        dtypes = [i.dtype for i in inputs]
        msg = sop.check_dtypes(dtypes)
        if msg:
            raise op_build_error(self, inputs, msg, TypeError)
        ndim = max(i.ndim for i in inputs)
        inputs = [i if i.ndim == ndim else _pad_left(i, ndim) for i in inputs]
        shape = broadcast_shapes(self, inputs, [i.type.shape for i in inputs])
        try:
            out_dtype = sop.out_dtype(*dtypes)
        except TypeError as e:
            raise op_build_error(self, inputs, str(e), TypeError) from e
        return Apply(self, inputs, [TensorType(out_dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        out_type = node.outputs[0].type
        _check_runtime_broadcast(self, node, inputs)
        if self.scalar_op.cast_inputs:
            inputs = [a if a.dtype == out_type.dtype else a.astype(out_type.dtype)
                      for a in inputs]
        elif out_type.dtype != "bool" and self.scalar_op.nin != 3:
            # numpy refuses negative/subtract/sign/square of bools; the type says int8
            inputs = [a.astype(out_type.dtype) if a.dtype == np.bool_ else a for a in inputs]
        with np.errstate(all="ignore"):
            result = self.scalar_op.impl(*inputs)
        result = np.asarray(result)
        if result.dtype != out_type.numpy_dtype:
            result = result.astype(out_type.numpy_dtype)
        if self.inplace_pattern:
            o, i = self.inplace_pattern[0]
            np.copyto(inputs[i], result)
            result = inputs[i]
        output_storage[0][0] = result

    def L_op(self, inputs, outputs, output_grads):
        grads = self.scalar_op.L_op(inputs, outputs, output_grads)
        return [None if g is None else _sum_to(as_tensor_variable(g), x)
                for g, x in zip(grads, inputs)]

    def infer_shape(self, node, input_shapes):
        out = []
        for dim in range(node.outputs[0].ndim):
            pick = next((s[dim] for i, s in zip(node.inputs, input_shapes)
                         if i.type.shape[dim] != 1), input_shapes[0][dim])
            out.append(pick)
        return [tuple(out)]


def _pad_left(x, ndim):
    if isinstance(x, TensorConstant):
        return constant(x.data.reshape((1,) * (ndim - x.ndim) + x.data.shape), name=x.name)
    return dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))


def _check_runtime_broadcast(op, node, values):
    shapes = [v.shape for v in values]
    ndim = node.outputs[0].ndim
    for dim in range(ndim):
        sizes = {s[dim] for s in shapes}
        if len(sizes) <= 1:
            continue
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise ValueError(f"{op}: input shapes {shapes} do not match in dimension {dim}")
        for var, s in zip(node.inputs, shapes):
            if s[dim] == 1 and var.type.shape[dim] != 1:
                raise ValueError(
                    f"{op}: input {var!r} has size 1 in dimension {dim} at run time but its "
                    f"type {var.type} does not say it broadcasts there (shapes {shapes}); "
                    f"declare the dimension as 1 (T.row, T.col, T.tensor(shape=...)) or "
                    f"use T.addbroadcast")


def _resolve_weak(inputs):
    """Python numbers take the dtype numpy would give them next to the other operands."""
    if not any(isinstance(i, TensorConstant) and i.weak for i in inputs):
        return inputs
    strong = [np.dtype(i.dtype) for i in inputs
              if not (isinstance(i, TensorConstant) and i.weak)]
    if not strong:
        return inputs
    out = []
    for i in inputs:
        if isinstance(i, TensorConstant) and i.weak:
            value = i.data.item()
            try:
                dt = np.result_type(*strong, value)
            except (OverflowError, TypeError):
                dt = np.result_type(*strong, i.data.dtype)
            if dt.kind in "iu" and i.data.dtype.kind in "iu" and \
                    not np.iinfo(dt).min <= value <= np.iinfo(dt).max:
                dt = np.result_type(*strong, i.data.dtype)
            i = constant(np.asarray(value, dtype=dt), name=i.name)
        out.append(i)
    return out


def _sum_to(g, x):
    """Sum the gradient `g` over the dimensions that `x` was broadcast along."""
    from .math import cast
    axes = tuple(d for d in range(x.ndim)
                 if x.type.shape[d] == 1 and g.type.shape[d] != 1)
    if axes:
        from .reduce import sum as _sum
        g = _sum(g, axis=axes, keepdims=True)
    if g.dtype != x.dtype and (x.dtype.startswith("float") or x.dtype.startswith("complex")):
        g = cast(g, x.dtype)
    return g


class DimShuffle(Op):
    """Reorder dimensions, insert broadcastable ones ('x') and drop static-1 ones:
    ``x.dimshuffle(1, 'x', 0)`` is ``np.expand_dims(x.T, 1)``."""

    __props__ = ("input_ndim", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_ndim, new_order):
        self.input_ndim = int(input_ndim)
        self.new_order = tuple("x" if o == "x" else int(o) for o in new_order)
        kept = [o for o in self.new_order if o != "x"]
        if len(set(kept)) != len(kept) or any(not 0 <= o < self.input_ndim for o in kept):
            raise ValueError(f"DimShuffle: invalid pattern {new_order} for a "
                             f"{input_ndim}-d input")
        self.drop = tuple(d for d in range(self.input_ndim) if d not in kept)
        self.perm = tuple(kept)

    def __str__(self):
        return f"DimShuffle{{{','.join(map(str, self.new_order))}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise op_build_error(self, [x], f"expects a {self.input_ndim}-d input, "
                                 f"got {x.ndim}-d", TypeError)
        for d in self.drop:
            if x.type.shape[d] != 1:
                raise op_build_error(self, [x], f"cannot drop dimension {d}: its static size "
                                     f"is {x.type.shape[d]}, not 1", ValueError)
        shape = tuple(1 if o == "x" else x.type.shape[o] for o in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        for d in self.drop:
            if x.shape[d] != 1:
                raise ValueError(f"{self}: dimension {d} has size {x.shape[d]} at run time, "
                                 f"it must be 1 to be dropped")
        y = np.transpose(x, self.perm + self.drop) if self.perm + self.drop else x
        output_storage[0][0] = y.reshape(tuple(1 if o == "x" else x.shape[o]
                                               for o in self.new_order))

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        g = as_tensor_variable(g)
        no_x = [j for j, o in enumerate(self.new_order) if o != "x"]
        if len(no_x) != g.ndim:
            g = dimshuffle(g, no_x)
        back = [self.perm.index(d) if d in self.perm else "x" for d in range(self.input_ndim)]
        return [dimshuffle(g, back)]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        (s,) = input_shapes
        return [tuple(1 if o == "x" else s[o] for o in self.new_order)]


def dimshuffle(x, pattern):
    """``x.dimshuffle(pattern)``: a no-op pattern returns x itself."""
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)
