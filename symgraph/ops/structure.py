"""Structure ops on array contents: sort, argsort, cumsum, cumprod, roll, flip, repeat,
nonzero and diag. Re-exported by `ops/shape.py` (the user namespace imports that)."""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType, is_complex, is_float, is_int

__all__ = [
    "Sort", "ArgSort", "PermuteAlongAxis", "CumOp", "Flip", "Roll", "Repeat", "RepeatGrad",
    "Nonzero", "AllocDiag", "ExtractDiag", "SetDiagonal",
    "sort", "argsort", "cumsum", "cumprod", "flip", "roll", "repeat", "nonzero",
    "flatnonzero", "nonzero_values", "diag", "fill_diagonal", "fill_diagonal_offset",
]


def _S():
    # ops/shape.py, imported late: it re-exports this module
    from . import shape
    return shape


def _differentiable(x):
    return is_float(x.dtype) or is_complex(x.dtype)


def _axis_arg(op, x, axis):
    """(x, axis) with axis=None meaning: flatten x first (numpy's rule)."""
    if axis is None:
        return _S().flatten(x), 0
    if x.ndim == 0:
        raise op_build_error(op, [x], f"axis {axis} is out of bounds for a 0-d input",
                             ValueError)
    return x, _S()._norm_axis(op, [x], axis, x.ndim)


class _AxisOp(Op):
    """An op of one tensor along one axis, returning the same shape."""

    def _check(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise op_build_error(self, [x], f"axis {self.axis} is out of bounds for a "
                                 f"{x.ndim}-d input", ValueError)
        return x

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


# -- sorting ------------------------------------------------------------------------------

class Sort(_AxisOp):
    """numpy.sort(x, axis, kind)."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = int(axis), kind

    def make_node(self, x):
        x = self._check(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.sort(inputs[0], axis=self.axis, kind=self.kind)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        if not _differentiable(x):
            return [None]
        idx = ArgSort(self.axis, self.kind)(x)
        return [PermuteAlongAxis(self.axis, inverse=True)(g, idx)]


class ArgSort(_AxisOp):
    """numpy.argsort(x, axis, kind), as int64."""

    __props__ = ("axis", "kind")

    def __init__(self, axis, kind="quicksort"):
        self.axis, self.kind = int(axis), kind

    def make_node(self, x):
        x = self._check(x)
        return Apply(self, [x], [TensorType("int64", x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        out = np.argsort(inputs[0], axis=self.axis, kind=self.kind)
        output_storage[0][0] = out.astype(np.int64, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        return [None]


class PermuteAlongAxis(Op):
    """numpy.take_along_axis(x, idx, axis); with `inverse`, its inverse for a permutation
    idx: ``out = empty_like(x); numpy.put_along_axis(out, idx, x, axis)``."""

    __props__ = ("axis", "inverse")

    def __init__(self, axis, inverse=False):
        self.axis, self.inverse = int(axis), bool(inverse)

    def make_node(self, x, idx):
        x, idx = as_tensor_variable(x), as_tensor_variable(idx)
        if idx.ndim != x.ndim or not is_int(idx.dtype) or not 0 <= self.axis < x.ndim:
            raise op_build_error(self, [x, idx], f"needs an integer index of the input's "
                                 f"{x.ndim} dimensions and an axis in range", TypeError)
        shape = [a if a is not None else b for a, b in zip(x.type.shape, idx.type.shape)]
        return Apply(self, [x, idx], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, idx = inputs
        if x.shape != idx.shape:
            raise ValueError(f"{self}: the index of shape {idx.shape} does not match the "
                             f"input of shape {x.shape}")
        if self.inverse:
            out = np.empty_like(x)
            np.put_along_axis(out, idx, x, axis=self.axis)
        else:
            out = np.take_along_axis(x, idx, axis=self.axis)
        output_storage[0][0] = out

    def L_op(self, inputs, outputs, output_grads):
        (x, idx), (g,) = inputs, output_grads
        if not _differentiable(x):
            return [None, None]
        return [PermuteAlongAxis(self.axis, not self.inverse)(g, idx), None]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def sort(a, axis=-1, kind="quicksort", order=None):
    """numpy.sort: ``T.sort(x)`` sorts along the last axis; axis=None sorts the flattened x."""
    a = as_tensor_variable(a)
    if order is not None:
        raise op_build_error("sort", [a], "order= (structured arrays) is not supported",
                             TypeError)
    a, axis = _axis_arg("sort", a, axis)
    return Sort(axis, kind)(a)


def argsort(a, axis=-1, kind="quicksort", order=None):
    """numpy.argsort (int64 indices): ``T.argsort(x, axis=0)``."""
    a = as_tensor_variable(a)
    if order is not None:
        raise op_build_error("argsort", [a], "order= (structured arrays) is not supported",
                             TypeError)
    a, axis = _axis_arg("argsort", a, axis)
    return ArgSort(axis, kind)(a)


# -- cumulative, flip, roll ---------------------------------------------------------------

class CumOp(_AxisOp):
    """numpy.cumsum (mode 'add') or numpy.cumprod (mode 'mul') along `axis`."""

    __props__ = ("axis", "mode")

    def __init__(self, axis, mode="add"):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis, self.mode = int(axis), mode

    def _fn(self):
        return np.cumsum if self.mode == "add" else np.cumprod

    def make_node(self, x):
        x = self._check(x)
        dtype = str(self._fn()(np.zeros(1, dtype=x.dtype)).dtype)
        return Apply(self, [x], [TensorType(dtype, x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        out = self._fn()(inputs[0], axis=self.axis)
        output_storage[0][0] = out.astype(node.outputs[0].dtype, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (y,), (g,) = inputs, outputs, output_grads
        if not _differentiable(x):
            return [None]
        flip_ = Flip((self.axis,))
        if self.mode == "add":
            return [flip_(CumOp(self.axis, "add")(flip_(g)))]
        # Theano's formula, exact for inputs without zeros
        return [flip_(CumOp(self.axis, "add")(flip_(g * y))) / x]


def cumsum(x, axis=None):
    """numpy.cumsum: ``T.cumsum(x, axis=0)``; axis=None works on the flattened x."""
    x = as_tensor_variable(x)
    x, axis = _axis_arg("cumsum", x, axis)
    return CumOp(axis, "add")(x)


def cumprod(x, axis=None):
    """numpy.cumprod: ``T.cumprod(x, axis=0)``; axis=None works on the flattened x."""
    x = as_tensor_variable(x)
    x, axis = _axis_arg("cumprod", x, axis)
    return CumOp(axis, "mul")(x)


class Flip(Op):
    """numpy.flip(x, axes) (a view)."""

    __props__ = ("axes",)
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        x = as_tensor_variable(x)
        if any(not 0 <= a < x.ndim for a in self.axes):
            raise op_build_error(self, [x], f"axes {self.axes} out of range for a {x.ndim}-d "
                                 f"input", ValueError)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.flip(inputs[0], self.axes) if self.axes else inputs[0]

    def L_op(self, inputs, outputs, output_grads):
        return [self(output_grads[0]) if _differentiable(inputs[0]) else None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def flip(x, axis=None):
    """numpy.flip: reverse the order of elements along `axis` (an int, a tuple, or None
    for all axes)."""
    x = as_tensor_variable(x)
    if axis is None:
        axes = range(x.ndim)
    else:
        axes = axis if isinstance(axis, (list, tuple)) else (axis,)
    norm = _S()._norm_axis
    return Flip([norm("flip", [x], a, x.ndim) for a in axes])(x)


class Roll(Op):
    """numpy.roll(x, shift, axis); axis None rolls the flattened x and keeps its shape."""

    __props__ = ("axis",)

    def __init__(self, axis=None):
        self.axis = None if axis is None else int(axis)

    def make_node(self, x, shift):
        x = as_tensor_variable(x)
        shift = _S()._int_scalar(self, [x], shift, "shift")
        if self.axis is not None and not 0 <= self.axis < x.ndim:
            raise op_build_error(self, [x], f"axis {self.axis} is out of bounds for a "
                                 f"{x.ndim}-d input", ValueError)
        return Apply(self, [x, shift], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, shift = inputs
        output_storage[0][0] = np.roll(x, int(shift), axis=self.axis)

    def L_op(self, inputs, outputs, output_grads):
        (x, shift), (g,) = inputs, output_grads
        if not _differentiable(x):
            return [None, None]
        return [self(g, -shift), None]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], inputs[1])]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def roll(x, shift, axis=None):
    """numpy.roll: ``T.roll(x, 2, axis=0)``; shift and axis may be tuples (rolled in turn)."""
    x = as_tensor_variable(x)
    if axis is None:
        if isinstance(shift, (list, tuple)):
            raise op_build_error("roll", [x], "a tuple shift needs a tuple axis", ValueError)
        return Roll(None)(x, shift)
    shifts = list(shift) if isinstance(shift, (list, tuple)) else [shift]
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    elif len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise op_build_error("roll", [x], f"{len(shifts)} shifts for {len(axes)} axes",
                             ValueError)
    for s, a in zip(shifts, axes):
        if x.ndim == 0:
            raise op_build_error("roll", [x], f"axis {a} is out of bounds for a 0-d input",
                                 ValueError)
        x = Roll(_S()._norm_axis("roll", [x], a, x.ndim))(x, s)
    return x


# -- repeat -------------------------------------------------------------------------------

class Repeat(Op):
    """numpy.repeat(x, repeats, axis), repeats an int scalar or vector."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, repeats):
        S = _S()
        x, repeats = as_tensor_variable(x), as_tensor_variable(repeats)
        if repeats.ndim > 1 or not is_int(repeats.dtype):
            raise op_build_error(self, [x, repeats], f"repeats must be an integer scalar or "
                                 f"vector, got {repeats.type}", TypeError)
        if not 0 <= self.axis < x.ndim:
            raise op_build_error(self, [x, repeats], f"axis {self.axis} is out of bounds for "
                                 f"a {x.ndim}-d input", ValueError)
        have = x.type.shape[self.axis]
        r = S.static_value(repeats)
        if repeats.ndim == 1 and repeats.type.shape[0] not in (None, 1) and \
                have is not None and repeats.type.shape[0] != have:
            raise op_build_error(self, [x, repeats], f"{repeats.type.shape[0]} repeats for "
                                 f"dimension {self.axis} of static size {have}", ValueError)
        if r is not None and (np.asarray(r) < 0).any():
            raise op_build_error(self, [x, repeats], "negative repeats", ValueError)
        out = list(x.type.shape)
        if r is None or (r.size == 1 and have is None):
            out[self.axis] = None
        elif r.size == 1:
            out[self.axis] = have * int(r.reshape(()))
        else:
            out[self.axis] = int(r.sum())
        return Apply(self, [x, repeats], [TensorType(x.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        x, repeats = inputs
        output_storage[0][0] = np.repeat(x, repeats, axis=self.axis)

    def L_op(self, inputs, outputs, output_grads):
        (x, repeats), (g,) = inputs, output_grads
        if not _differentiable(x):
            return [None, None]
        return [RepeatGrad(self.axis)(g, repeats, _S().shape_i(x, self.axis)), None]

    def infer_shape(self, node, input_shapes):
        from .math import cast, eq, mul, switch
        from .reduce import sum as _sum
        x, repeats = node.inputs
        out = list(input_shapes[0])
        n = out[self.axis]
        if node.outputs[0].type.shape[self.axis] is not None:
            out[self.axis] = _S()._i64(node.outputs[0].type.shape[self.axis])
        elif repeats.ndim == 0:
            out[self.axis] = mul(n, cast(repeats, "int64"))
        else:   # one repeat count broadcasts over the n entries, as in numpy
            total = cast(_sum(repeats), "int64")
            out[self.axis] = switch(eq(input_shapes[1][0], 1), mul(n, total), total)
        return [tuple(out)]


class RepeatGrad(Op):
    """The transpose of repeat: sums of each group of repeated entries along `axis`,
    ``out[i] = g[start_i:start_i + repeats[i]].sum(axis)`` for the n entries."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, g, repeats, n):
        S = _S()
        g, repeats = as_tensor_variable(g), as_tensor_variable(repeats)
        n = S._int_scalar(self, [g], n, "n")
        out = list(g.type.shape)
        out[self.axis] = S.static_int(n)
        return Apply(self, [g, repeats, n], [TensorType(g.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        g, repeats, n = inputs
        n = int(n)
        seg = np.repeat(np.arange(n), np.broadcast_to(repeats, (n,)))
        gm = np.moveaxis(g, self.axis, 0)
        out = np.zeros((n,) + gm.shape[1:], dtype=g.dtype)
        np.add.at(out, seg, gm)
        output_storage[0][0] = np.moveaxis(out, 0, self.axis)

    def L_op(self, inputs, outputs, output_grads):
        (g, repeats, n), (gg,) = inputs, output_grads
        return [Repeat(self.axis)(gg, repeats), None, None]

    def infer_shape(self, node, input_shapes):
        out = list(input_shapes[0])
        out[self.axis] = node.inputs[2]
        return [tuple(out)]


def repeat(x, repeats, axis=None):
    """numpy.repeat: ``T.repeat(x, 2, axis=0)``, or a vector of repeats per entry; axis=None
    repeats the flattened x."""
    S = _S()
    x = as_tensor_variable(x)
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        repeats = np.int64(repeats)
    elif isinstance(repeats, (list, tuple)) and not any(
            hasattr(r, "owner") for r in repeats):
        repeats = np.asarray(repeats, dtype=np.int64).reshape(len(repeats))
    repeats = as_tensor_variable(repeats)
    if axis is None:
        x, axis = S.flatten(x), 0
    elif x.ndim == 0:
        raise op_build_error("repeat", [x], f"axis {axis} is out of bounds for a 0-d input",
                             ValueError)
    else:
        axis = S._norm_axis("repeat", [x], axis, x.ndim)
    return Repeat(axis)(x, repeats)


# -- nonzero ------------------------------------------------------------------------------

class Nonzero(Op):
    """numpy.nonzero(x): one int64 index vector per dimension."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim == 0:
            raise op_build_error(self, [x], "nonzero of a 0-d tensor is not defined (numpy "
                                 "refuses it); use T.flatnonzero or reshape first", ValueError)
        return Apply(self, [x], [TensorType("int64", (None,))() for _ in range(x.ndim)])

    def perform(self, node, inputs, output_storage):
        for cell, idx in zip(output_storage, np.nonzero(inputs[0])):
            cell[0] = idx.astype(np.int64, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        return [None]


def nonzero(a, return_matrix=False):
    """numpy.nonzero: a tuple of index vectors, or with `return_matrix` one (ndim, nnz)
    int64 matrix."""
    a = as_tensor_variable(a)
    outs = Nonzero().make_node(a).outputs
    if return_matrix:
        return _S().stack(outs, axis=0)
    return tuple(outs)


def flatnonzero(a):
    """numpy.flatnonzero: indices of the non-zero entries of the flattened a."""
    return nonzero(_S().flatten(as_tensor_variable(a)))[0]


def nonzero_values(a):
    """The non-zero entries of the flattened a: ``a.flatten()[flatnonzero(a)]``."""
    flat = _S().flatten(as_tensor_variable(a))
    return flat[nonzero(flat)[0]]


# -- diagonals ----------------------------------------------------------------------------

def _diag_len(n, m, k):
    if n is None or m is None:
        return None
    return max(0, min(n, m - k) if k >= 0 else min(n + k, m))


class AllocDiag(Op):
    """numpy.diag(v, k) of a vector: a square matrix with v on diagonal k."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, v):
        v = as_tensor_variable(v)
        if v.ndim != 1:
            raise op_build_error(self, [v], f"needs a vector, got {v.type}", TypeError)
        n = v.type.shape[0]
        size = None if n is None else n + abs(self.offset)
        return Apply(self, [v], [TensorType(v.dtype, (size, size))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.diag(inputs[0], self.offset)

    def L_op(self, inputs, outputs, output_grads):
        if not _differentiable(inputs[0]):
            return [None]
        return [ExtractDiag(self.offset)(output_grads[0])]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        from .math import add
        size = add(input_shapes[0][0], abs(self.offset))
        return [(size, size)]


class ExtractDiag(Op):
    """numpy.diagonal(x, k) of a matrix (a copy)."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != 2:
            raise op_build_error(self, [x], f"needs a matrix, got {x.type}", TypeError)
        n = _diag_len(*x.type.shape, self.offset)
        return Apply(self, [x], [TensorType(x.dtype, (n,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.diagonal(inputs[0], self.offset).copy()

    def L_op(self, inputs, outputs, output_grads):
        from .math import zeros_like
        (x,), (g,) = inputs, output_grads
        if not _differentiable(x):
            return [None]
        return [SetDiagonal(self.offset)(zeros_like(x), g)]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        from .math import maximum, minimum
        n, m = input_shapes[0]
        k = self.offset
        size = minimum(n, m - k) if k >= 0 else minimum(n + k, m)
        return [(maximum(size, 0),)]


class SetDiagonal(Op):
    """A copy of the matrix x with diagonal k replaced by the vector v (v of static
    length 1 broadcasts): ``out = x.copy(); out[i, i + k] = v`` along that diagonal."""

    __props__ = ("offset",)

    def __init__(self, offset=0):
        self.offset = int(offset)

    def make_node(self, x, v):
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if x.ndim != 2 or v.ndim != 1:
            raise op_build_error(self, [x, v], "needs a matrix and a vector", TypeError)
        n = _diag_len(*x.type.shape, self.offset)
        if n is not None and v.type.shape[0] not in (None, 1, n):
            raise op_build_error(self, [x, v], f"diagonal {self.offset} has {n} entries, "
                                 f"the vector {v.type.shape[0]}", ValueError)
        return Apply(self, [x, v], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, v = inputs
        k = self.offset
        n = _diag_len(*x.shape, k)
        if len(v) != n and node.inputs[1].type.shape[0] != 1:
            raise ValueError(f"{self}: diagonal {k} of a {x.shape} matrix has {n} entries, "
                             f"the vector {len(v)}")
        out = x.copy()
        rows = np.arange(n) + max(-k, 0)
        out[rows, rows + k] = v
        output_storage[0][0] = out

    def L_op(self, inputs, outputs, output_grads):
        from .math import cast, zeros_like
        (x, v), (g,) = inputs, output_grads
        gx = self(g, zeros_like(v)) if _differentiable(x) else None
        gv = None
        if _differentiable(v):
            gv = ExtractDiag(self.offset)(g)
            if v.type.shape[0] == 1 and gv.type.shape[0] != 1:
                from .reduce import sum as _sum
                gv = _sum(gv, keepdims=True)
            gv = cast(gv, v.dtype)
        return [gx, gv]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def fill_diagonal_offset(a, val, offset):
    """A copy of the matrix a with the scalar val on diagonal `offset` (Theano's)."""
    a = as_tensor_variable(a)
    val = _S()._resolve_weak([a, as_tensor_variable(val)])[1]
    if a.ndim != 2 or val.ndim != 0:
        raise op_build_error("fill_diagonal", [a, val], "needs a matrix and a scalar",
                             TypeError)
    from .math import cast
    return SetDiagonal(offset)(a, _S().shape_padleft(cast(val, a.dtype)))


def fill_diagonal(a, val):
    """A copy of the matrix a with the scalar val on its main diagonal (numpy.fill_diagonal,
    without writing in place)."""
    return fill_diagonal_offset(a, val, 0)


def diag(v, k=0):
    """numpy.diag: a vector gives a square matrix with it on diagonal k, a matrix gives its
    diagonal k."""
    v = as_tensor_variable(v)
    if v.ndim == 1:
        return AllocDiag(k)(v)
    if v.ndim == 2:
        return ExtractDiag(k)(v)
    raise op_build_error("diag", [v], f"needs a vector or a matrix, got {v.type}", ValueError)
