"""Shape ops: shape, reshape, flatten, dimension patterns, specify_shape, join/split/stack.

Static shapes are inferred as precisely as the graph allows: `static_value` folds constants,
static dimensions (``x.shape[i]`` of a dimension known while building) and small integer
arithmetic on them, so ``T.zeros((x.shape[0] * 2, 3))`` of a static ``x`` has a static type.

The rest of the family lives beside it and is re-exported here (``symgraph.tensor`` imports
this module): `ops/alloc.py` (alloc, zeros, ones, full, arange, eye, tile) and
`ops/structure.py` (sort, cumsum, roll, repeat, nonzero, diag, ...).
"""
from __future__ import annotations

import numpy as np

from ..config import config
from ..errors import SymgraphError, op_build_error
from ..graph import Apply, Constant, Op
from ..tensor.var import TensorVariable, as_tensor_variable, constant
from ..types import TensorType, is_complex, is_float, is_int, upcast
from .elemwise import DimShuffle, Elemwise, _resolve_weak, dimshuffle

__all__ = [
    "Shape", "Shape_i", "MakeVector", "Reshape", "SpecifyShape", "Unbroadcast", "Join",
    "Split",
    "shape", "shape_i", "make_vector", "reshape", "flatten", "transpose", "swapaxes",
    "shape_padleft", "shape_padright", "shape_padaxis", "specify_shape", "addbroadcast",
    "unbroadcast", "patternbroadcast", "squeeze", "concatenate", "join", "stack", "split",
    "static_value", "get_scalar_constant_value", "get_vector_length", "NotScalarConstantError",
]


# -- helpers ------------------------------------------------------------------------------

def _i64(v):
    """An int64 scalar: Python ints become (non-weak) constants, variables pass."""
    if isinstance(v, (int, np.integer)):
        return constant(np.int64(v))
    return v


def _norm_axis(op, inputs, axis, ndim):
    """`axis` in [0, ndim), numpy's negative axes allowed; a build error otherwise."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise op_build_error(op, inputs, f"axis must be an int, got {axis!r}", TypeError)
    if not -ndim <= axis < ndim:
        raise op_build_error(op, inputs, f"axis {axis} is out of bounds for a {ndim}-d "
                             f"input", ValueError)
    return int(axis) % ndim


def _int_scalar(op, inputs, v, what):
    """`v` as a 0-d integer variable (Python ints become int64 constants)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return constant(np.int64(v))
    v = as_tensor_variable(v)
    if v.ndim != 0 or not is_int(v.dtype):
        raise op_build_error(op, list(inputs) + [v], f"{what} must be an integer scalar, "
                             f"got {v.type}", TypeError)
    return v


def _dtype(dtype):
    """A dtype argument as a string: None and 'floatX' give config.floatX."""
    return config.floatX if dtype in (None, "floatX") else str(np.dtype(dtype))


def _prod(values):
    out = 1
    for v in values:
        out *= v
    return out


# ops whose perform may run while building, on small constant inputs
_FOLD_MAX_SIZE = 4096
_FOLD_MAX_NODES = 64


def _foldable(op):
    """Ops that `static_value` may run while building (pure, cheap on small inputs): the
    elementwise ones, DimShuffle, and the ops here that declare ``fold_static = True``."""
    return isinstance(op, (Elemwise, DimShuffle)) or getattr(op, "fold_static", False)


def static_value(v):
    """The value of `v` when it is known while building, else None.

    Knows constants, ``x.shape`` / ``x.shape[i]`` of static dimensions, and small arithmetic,
    stacking and reshaping on those. Walks at most a few dozen nodes (no recursion).
    """
    memo = {}
    stack, budget = [v], _FOLD_MAX_NODES
    while stack:
        u = stack[-1]
        if u in memo:
            stack.pop()
            continue
        if isinstance(u, Constant):
            memo[u] = np.asarray(u.data)
        elif u.owner is None:
            memo[u] = None
        elif isinstance(u.owner.op, Shape):
            s = u.owner.inputs[0].type.shape
            memo[u] = None if None in s else np.asarray(s, dtype=np.int64)
        elif isinstance(u.owner.op, Shape_i):
            s = u.owner.inputs[0].type.shape[u.owner.op.i]
            memo[u] = None if s is None else np.asarray(s, dtype=np.int64)
        elif not _foldable(u.owner.op):
            memo[u] = None
        else:
            todo = [i for i in u.owner.inputs if i not in memo]
            if todo:
                budget -= 1
                if budget < 0:
                    return None
                stack.extend(todo)
                continue
            memo[u] = _fold(u, [memo[i] for i in u.owner.inputs])
        stack.pop()
    return memo[v]


def _fold(u, values):
    if any(x is None or np.size(x) > _FOLD_MAX_SIZE for x in values):
        return None
    node = u.owner
    storage = [[None] for _ in node.outputs]
    try:
        node.op.perform(node, [np.asarray(x) for x in values], storage)
    except Exception:  # the run-time check reports it, with the user's line
        return None
    out = storage[u.index][0]
    return None if out is None or np.size(out) > _FOLD_MAX_SIZE else out


def static_int(v):
    """The int value of a 0-d variable (or Python int) known while building, else None."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    val = static_value(v)
    if val is None or np.ndim(val) != 0:
        return None
    return int(val)


def static_entries(vec, n=None):
    """Per-entry static values of a 1-d integer vector of length n: ints or None."""
    n = vec.type.shape[0] if n is None else n
    owner = vec.owner
    if owner is not None and isinstance(owner.op, Shape):
        return list(owner.inputs[0].type.shape)
    if owner is not None and isinstance(owner.op, MakeVector):
        return [static_int(i) for i in owner.inputs]
    val = static_value(vec)
    if val is not None and val.ndim == 1 and len(val) == n:
        return [int(e) for e in val]
    return [None] * n


class NotScalarConstantError(SymgraphError, ValueError):
    """The variable is not a scalar whose value is known while building."""


def get_scalar_constant_value(v):
    """The value of a 0-d (or one-element) variable known while building, as a numpy
    scalar; raises NotScalarConstantError otherwise (Theano's helper)."""
    if isinstance(v, (int, float, complex, np.number, np.bool_)):
        return np.asarray(v)[()]
    val = static_value(as_tensor_variable(v))
    if val is None or np.size(val) != 1:
        raise NotScalarConstantError(f"{v!r} is not a scalar known while building")
    return np.asarray(val).reshape(())[()]


def get_vector_length(v):
    """The length of a 1-d variable when it is known while building; ValueError otherwise."""
    v = as_tensor_variable(v)
    if v.ndim != 1:
        raise ValueError(f"get_vector_length: {v!r} is not a vector ({v.type})")
    if v.type.shape[0] is None:
        raise ValueError(f"get_vector_length: the length of {v!r} is not known while building")
    return v.type.shape[0]


def _vector_entries(vec, n=None):
    """Symbolic 0-d entries of a 1-d vector of static length."""
    n = vec.type.shape[0] if n is None else n
    if n is None:
        raise TypeError(f"the length of {vec!r} ({vec.type}) is not known while building")
    if isinstance(vec, Constant):
        return [constant(np.asarray(e, dtype=vec.dtype)) for e in vec.data]
    owner = vec.owner
    if owner is not None and isinstance(owner.op, MakeVector):
        return list(owner.inputs)
    if owner is not None and isinstance(owner.op, Shape):
        return [shape_i(owner.inputs[0], i) for i in range(n)]
    return [vec[i] for i in range(n)]  # through subtensor


def _shape_entries(op, shape):
    """A shape given as an int, a tuple/list of ints and int scalars, or an int vector,
    as a list of int scalar variables (Python ints stay ints)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return [int(shape)]
    if isinstance(shape, (list, tuple)):
        out = []
        for s in shape:
            if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
                out.append(int(s))
            else:
                out.append(_int_scalar(op, [], s, "a shape entry"))
        return out
    v = as_tensor_variable(shape)
    if not is_int(v.dtype) or v.ndim > 1:
        raise op_build_error(op, [v], f"a shape must be an int, a tuple of ints or an integer "
                             f"vector, got {v.type}", TypeError)
    if v.ndim == 0:
        return [v]
    if v.type.shape[0] is None:
        raise op_build_error(op, [v], "the length of the shape vector is not known while "
                             "building; give the shape as a tuple", ValueError)
    return _vector_entries(v)


def _shape_vector(op, entries):
    """An int64 vector from shape entries (a constant when they all are ints)."""
    if all(isinstance(e, int) for e in entries):
        return constant(np.asarray(entries, dtype=np.int64).reshape(len(entries)))
    return MakeVector("int64")(*[_as_int64(e) for e in entries])


def _as_int64(e):
    from .math import cast
    return _i64(e) if isinstance(e, int) else cast(e, "int64")


# -- shape --------------------------------------------------------------------------------

class _ShapeVector(TensorVariable):
    """The output of Shape: ``x.shape[i]`` with an int `i` gives ``shape_i(x, i)``."""

    def __getitem__(self, idx):
        node = self.owner
        if isinstance(idx, (int, np.integer)) and not isinstance(idx, bool) and \
                node is not None and isinstance(node.op, Shape):
            x = node.inputs[0]
            if not -x.ndim <= idx < x.ndim:
                raise IndexError(f"index {idx} is out of range for the shape of a "
                                 f"{x.ndim}-d tensor {x!r}")
            return shape_i(x, int(idx) % x.ndim)
        return super().__getitem__(idx)


class Shape(Op):
    """numpy.shape(x), as an int64 vector."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [_ShapeVector(TensorType("int64", (x.ndim,)))])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape, dtype=np.int64)

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [(_i64(node.inputs[0].ndim),)]


class Shape_i(Op):
    """x.shape[i], as an int64 scalar."""

    __props__ = ("i",)

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise op_build_error(self, [x], f"dimension {self.i} does not exist in a "
                                 f"{x.ndim}-d input", ValueError)
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0].shape[self.i], dtype=np.int64)

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [()]


_shape = Shape()


def shape(x):
    """The shape of `x` as a symbolic int64 vector: ``T.shape(x)`` is ``x.shape``.

    >>> x = T.matrix('x'); f = symgraph.function([x], x.shape)
    >>> f(np.zeros((2, 3)))
    array([2, 3])
    """
    return _shape(x)


def shape_i(x, i):
    """``x.shape[i]`` as an int64 scalar (negative `i` counts from the end)."""
    x = as_tensor_variable(x)
    if isinstance(i, (int, np.integer)) and -x.ndim <= i < 0:
        i += x.ndim
    return Shape_i(i)(x)


class MakeVector(Op):
    """numpy.array([a, b, ...], dtype) of 0-d inputs."""

    fold_static = True

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, *inputs):
        inputs = [as_tensor_variable(i) for i in inputs]
        for i in inputs:
            if i.ndim != 0 or i.dtype != self.dtype:
                raise op_build_error(self, inputs, f"inputs must be 0-d {self.dtype} "
                                     f"tensors, got {i.type}", TypeError)
        return Apply(self, inputs, [TensorType(self.dtype, (len(inputs),))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array([np.asarray(i).item() for i in inputs] if inputs
                                        else [], dtype=self.dtype).reshape(len(inputs))

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if not (is_float(self.dtype) or is_complex(self.dtype)) or not inputs:
            return [None] * len(inputs)
        n = len(inputs)
        pieces = split(g, [1] * n, n, axis=0)
        return [reshape(p, ()) for p in pieces]

    def R_op(self, inputs, eval_points):
        evs = _zero_missing(inputs, eval_points)
        return [None if evs is None else self(*evs)]

    def infer_shape(self, node, input_shapes):
        return [(_i64(len(node.inputs)),)]


def _zero_missing(inputs, eval_points):
    """Eval points with None (no variation) replaced by zeros; None when all are None."""
    from .math import zeros_like
    if all(e is None for e in eval_points):
        return None
    return [zeros_like(i) if e is None else e for i, e in zip(inputs, eval_points)]


def make_vector(*values, dtype=None):
    """A vector from scalars: ``make_vector(a, b, 1)``; dtype by numpy's promotion."""
    from .math import cast
    xs = _resolve_weak([as_tensor_variable(v) for v in values])
    for x in xs:
        if x.ndim != 0:
            raise op_build_error("make_vector", xs, f"inputs must be 0-d, got {x.type}",
                                 TypeError)
    if dtype is None:
        dtype = upcast(*[x.dtype for x in xs]) if xs else config.floatX
    xs = [constant(x.data.astype(dtype)) if isinstance(x, Constant) and x.dtype != dtype
          else cast(x, dtype) for x in xs]
    return MakeVector(dtype)(*xs)


# -- reshape ------------------------------------------------------------------------------

class Reshape(Op):
    """numpy.reshape(x, shape) with `shape` an int vector of length ndim (-1 allowed);
    a view when numpy does not need to copy."""

    fold_static = True

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        shp = as_tensor_variable(shp)
        if shp.ndim != 1 or not is_int(shp.dtype):
            raise op_build_error(self, [x, shp], f"the shape must be an integer vector, got "
                                 f"{shp.type}", TypeError)
        if shp.type.shape[0] not in (None, self.ndim):
            raise op_build_error(self, [x, shp], f"the shape vector has {shp.type.shape[0]} "
                                 f"entries, expected {self.ndim}", ValueError)
        out = self._static_shape(x, shp)
        return Apply(self, [x, shp], [TensorType(x.dtype, out)()])

    def _static_shape(self, x, shp):
        entries = static_entries(shp, self.ndim)
        bad = [e for e in entries if e is not None and e < -1]
        if bad or entries.count(-1) > 1:
            raise op_build_error(self, [x, shp], f"invalid target shape {_fmt(entries)}: "
                                 f"only one -1 and no other negative size allowed", ValueError)
        size = None if None in x.type.shape else _prod(x.type.shape)
        known = [e for e in entries if e is not None and e != -1]
        unknown = [k for k, e in enumerate(entries) if e is None or e == -1]
        out = [None if e == -1 else e for e in entries]
        if size is None:
            return tuple(out)
        rest = _prod(known)
        cannot = (f"cannot reshape an array of static shape {x.type.shape} (size {size}) "
                  f"into shape {_fmt(entries)}")
        if not unknown:
            if rest != size:
                raise op_build_error(self, [x, shp], cannot, ValueError)
        elif rest == 0:
            if size != 0 or -1 in entries:
                raise op_build_error(self, [x, shp], cannot, ValueError)
        elif size % rest:
            raise op_build_error(self, [x, shp], cannot, ValueError)
        elif len(unknown) == 1:
            out[unknown[0]] = size // rest
        return tuple(out)

    def perform(self, node, inputs, output_storage):
        x, shp = inputs
        if len(shp) != self.ndim:
            raise ValueError(f"{self}: the shape vector {list(shp)} has {len(shp)} entries, "
                             f"expected {self.ndim}")
        target = tuple(int(s) for s in shp)
        try:
            y = np.reshape(x, target)
        except ValueError as e:
            raise ValueError(f"{self}: cannot reshape an array of shape {x.shape} "
                             f"(size {x.size}) into shape {target}") from e
        output_storage[0][0] = y

    def L_op(self, inputs, outputs, output_grads):
        x, _ = inputs
        (g,) = output_grads
        if not (is_float(x.dtype) or is_complex(x.dtype)):
            return [None, None]
        return [reshape(g, shape(x), ndim=x.ndim), None]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], inputs[1])]

    def infer_shape(self, node, input_shapes):
        from .math import eq, int_div, mul, switch
        x, shp = node.inputs
        entries = static_entries(shp, self.ndim)
        out_static = node.outputs[0].type.shape
        syms = None
        out = []
        for k, e in enumerate(entries):
            if out_static[k] is not None:
                out.append(_i64(out_static[k]))
                continue
            if syms is None:
                syms = _vector_entries(shp, self.ndim)
            size = mul(*input_shapes[0]) if len(input_shapes[0]) > 1 else (
                input_shapes[0][0] if input_shapes[0] else _i64(1))
            others = [syms[j] for j in range(self.ndim) if j != k]
            rest = mul(*others) if len(others) > 1 else (others[0] if others else _i64(1))
            inferred = int_div(size, rest)
            out.append(inferred if e == -1 else switch(eq(syms[k], -1), inferred, syms[k]))
        return [tuple(out)]


def _fmt(entries):
    return "(" + ", ".join("?" if e is None else str(e) for e in entries) + \
        ("," if len(entries) == 1 else "") + ")"


def reshape(x, shape, ndim=None):
    """numpy.reshape: `shape` is a tuple of ints and int scalars (one may be -1) or an int
    vector (give `ndim` when its length is not static).

    >>> x = T.vector('x'); y = T.reshape(x, (2, -1))   # y.type.shape == (2, None)
    """
    x = as_tensor_variable(x)
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if isinstance(shape, (list, tuple)):
        entries = _shape_entries("reshape", shape)
        if ndim is not None and ndim != len(entries):
            raise op_build_error("reshape", [x], f"ndim={ndim} but the shape has "
                                 f"{len(entries)} entries", ValueError)
        vec, n = _shape_vector("reshape", entries), len(entries)
    else:
        vec = as_tensor_variable(shape)
        if not is_int(vec.dtype) or vec.ndim > 1:
            raise op_build_error("reshape", [x, vec], f"the shape must be an integer vector, "
                                 f"got {vec.type}", TypeError)
        if vec.ndim == 0:
            vec = MakeVector(vec.dtype)(vec)
        n = vec.type.shape[0] if vec.ndim == 1 else None
        if ndim is not None:
            if n is not None and n != ndim:
                raise op_build_error("reshape", [x, vec], f"ndim={ndim} but the shape vector "
                                     f"has {n} entries", ValueError)
            n = ndim
        if n is None:
            raise op_build_error("reshape", [x, vec], "the length of the shape vector is not "
                                 "known while building; pass ndim=", ValueError)
    return Reshape(n)(x, vec)


def flatten(x, ndim=1, outdim=None):
    """Theano's flatten: keep the first ``ndim - 1`` dimensions, flatten the rest into one
    (`outdim` is Theano's older name for `ndim`).

    >>> T.flatten(T.tensor3('x'), 2)   # shape (a, b, c) -> (a, b * c)
    """
    from .math import mul
    x = as_tensor_variable(x)
    ndim = ndim if outdim is None else outdim
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1 or \
            (ndim > 1 and ndim > x.ndim):
        raise op_build_error("flatten", [x], f"ndim must be 1 or between 1 and the input's "
                             f"{x.ndim} dimensions, got {ndim!r}", ValueError)
    dims = [shape_i(x, d) for d in range(x.ndim)]
    keep, rest = dims[:ndim - 1], dims[ndim - 1:]
    last = mul(*rest) if len(rest) > 1 else (rest[0] if rest else 1)
    return reshape(x, keep + [last])


# -- dimension patterns -------------------------------------------------------------------

def transpose(x, axes=None):
    """numpy.transpose: reverse the dimensions, or permute them as `axes` says.

    >>> T.transpose(T.tensor3('x'), (1, 0, 2))
    """
    x = as_tensor_variable(x)
    if axes is None:
        return dimshuffle(x, tuple(range(x.ndim))[::-1])
    axes = [_norm_axis("transpose", [x], a, x.ndim) for a in axes]
    if sorted(axes) != list(range(x.ndim)):
        raise op_build_error("transpose", [x], f"axes {tuple(axes)} are not a permutation of "
                             f"the input's {x.ndim} dimensions", ValueError)
    return dimshuffle(x, axes)


def swapaxes(x, axis1, axis2):
    """numpy.swapaxes: ``T.swapaxes(x, 0, -1)``."""
    x = as_tensor_variable(x)
    a = _norm_axis("swapaxes", [x], axis1, x.ndim)
    b = _norm_axis("swapaxes", [x], axis2, x.ndim)
    order = list(range(x.ndim))
    order[a], order[b] = b, a
    return dimshuffle(x, order)


def shape_padleft(x, n_ones=1):
    """`x` with `n_ones` broadcastable dimensions in front: (3, 4) -> (1, 3, 4)."""
    x = as_tensor_variable(x)
    return dimshuffle(x, ["x"] * n_ones + list(range(x.ndim)))


def shape_padright(x, n_ones=1):
    """`x` with `n_ones` broadcastable dimensions at the end: (3, 4) -> (3, 4, 1)."""
    x = as_tensor_variable(x)
    return dimshuffle(x, list(range(x.ndim)) + ["x"] * n_ones)


def shape_padaxis(x, axis):
    """numpy.expand_dims: a broadcastable dimension inserted at `axis`."""
    x = as_tensor_variable(x)
    axis = _norm_axis("shape_padaxis", [x], axis, x.ndim + 1)
    pattern = list(range(x.ndim))
    pattern.insert(axis, "x")
    return dimshuffle(x, pattern)


class SpecifyShape(Op):
    """x itself, after checking its run-time shape: `spec` holds per dimension an int
    (fixed while building), None (free) or '?' (the next scalar input)."""

    fold_static = True

    __props__ = ("spec",)
    view_map = {0: [0]}

    def __init__(self, spec):
        self.spec = tuple(s if s is None or s == "?" else int(s) for s in spec)

    def make_node(self, x, *sizes):
        x = as_tensor_variable(x)
        sizes = [_int_scalar(self, [x], s, "a size") for s in sizes]
        if x.ndim != len(self.spec):
            raise op_build_error(self, [x], f"the shape has {len(self.spec)} entries but "
                                 f"the input has {x.ndim} dimensions", ValueError)
        if len(sizes) != self.spec.count("?"):
            raise op_build_error(self, [x] + sizes, f"expects {self.spec.count('?')} size "
                                 f"inputs, got {len(sizes)}", TypeError)
        out, it = [], iter(sizes)
        for d, (s, have) in enumerate(zip(self.spec, x.type.shape)):
            want = static_int(next(it)) if s == "?" else s
            if want is not None and have is not None and want != have:
                raise op_build_error(self, [x] + sizes, f"dimension {d} has static size "
                                     f"{have}, not {want}", ValueError)
            out.append(have if want is None else want)
        return Apply(self, [x] + sizes, [TensorType(x.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        x, sizes = inputs[0], iter(inputs[1:])
        want = tuple(int(next(sizes)) if s == "?" else s for s in self.spec)
        if x.ndim != len(want) or any(w is not None and w != h for w, h in zip(want, x.shape)):
            raise ValueError(f"{self}: expected shape {_fmt(want)}, got {x.shape}")
        output_storage[0][0] = x

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        return [self(g, *inputs[1:])] + [None] * (len(inputs) - 1)

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]

    def infer_shape(self, node, input_shapes):
        sizes, out = iter(node.inputs[1:]), []
        for d, s in enumerate(self.spec):
            out.append(next(sizes) if s == "?" else _i64(s) if s is not None
                       else input_shapes[0][d])
        return [tuple(out)]


def specify_shape(x, shape):
    """`x`, whose run-time shape is checked against `shape` (ints, None for free dimensions,
    int scalars) and whose static type takes the known sizes.

    >>> y = T.specify_shape(T.matrix('x'), (None, 3))   # y.type.shape == (None, 3)
    """
    x = as_tensor_variable(x)
    if isinstance(shape, (list, tuple)):
        entries = [None if s is None else s for s in shape]
        entries = [e if e is None else _shape_entries("specify_shape", [e])[0]
                   for e in entries]
    else:
        entries = _shape_entries("specify_shape", shape)
    if len(entries) != x.ndim:
        raise op_build_error("specify_shape", [x], f"the shape has {len(entries)} entries "
                             f"but the input has {x.ndim} dimensions", ValueError)
    spec, sizes = [], []
    for e in entries:
        k = e if e is None or isinstance(e, int) else static_int(e)
        if e is not None and k is None:
            spec.append("?")
            sizes.append(e)
        else:
            spec.append(k)
    if not sizes and all(s is None or s == h for s, h in zip(spec, x.type.shape)):
        return x
    return SpecifyShape(spec)(x, *sizes)


def _axes(op, x, axes):
    if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
        axes = axes[0]
    return sorted({_norm_axis(op, [x], a, x.ndim) for a in axes})


def addbroadcast(x, *axes):
    """`x` with the given dimensions declared broadcastable (static size 1, checked when
    run): ``T.addbroadcast(x, 0)``."""
    x = as_tensor_variable(x)
    axes = _axes("addbroadcast", x, axes)
    for a in axes:
        if x.type.shape[a] not in (None, 1):
            raise op_build_error("addbroadcast", [x], f"dimension {a} has static size "
                                 f"{x.type.shape[a]}, it cannot broadcast", ValueError)
    return specify_shape(x, [1 if d in axes else None for d in range(x.ndim)])


class Unbroadcast(Op):
    """x itself, with the static size 1 of `axes` forgotten (they stop broadcasting)."""

    fold_static = True

    __props__ = ("axes",)
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        x = as_tensor_variable(x)
        if any(not 0 <= a < x.ndim for a in self.axes):
            raise op_build_error(self, [x], f"axes {self.axes} out of range for a {x.ndim}-d "
                                 f"input", ValueError)
        out = [None if d in self.axes and s == 1 else s for d, s in enumerate(x.type.shape)]
        return Apply(self, [x], [TensorType(x.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        return [specify_shape(g, [1 if s == 1 else None for s in x.type.shape])]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def unbroadcast(x, *axes):
    """`x` with the given dimensions no longer broadcastable: ``T.unbroadcast(row, 0)``."""
    x = as_tensor_variable(x)
    axes = [a for a in _axes("unbroadcast", x, axes) if x.type.shape[a] == 1]
    return Unbroadcast(axes)(x) if axes else x


def patternbroadcast(x, broadcastable):
    """`x` with the broadcastable pattern given (Theano's patternbroadcast)."""
    x = as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise op_build_error("patternbroadcast", [x], f"pattern {tuple(broadcastable)} has "
                             f"{len(broadcastable)} entries for a {x.ndim}-d input", ValueError)
    x = unbroadcast(x, *[d for d, b in enumerate(broadcastable) if not b])
    return addbroadcast(x, *[d for d, b in enumerate(broadcastable) if b])


def squeeze(x, axis=None):
    """numpy.squeeze over dimensions of static size 1 (axis=None), or over the given axes
    (their size is checked to be 1 when run).

    >>> T.squeeze(T.row('x')).ndim
    1
    """
    x = as_tensor_variable(x)
    if axis is None:
        axes = [d for d, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = _axes("squeeze", x, axis if isinstance(axis, (list, tuple)) else (axis,))
        for a in axes:
            if x.type.shape[a] not in (None, 1):
                raise op_build_error("squeeze", [x], f"cannot squeeze dimension {a}: its "
                                     f"static size is {x.type.shape[a]}, not 1", ValueError)
        x = addbroadcast(x, *axes) if axes else x
    return dimshuffle(x, [d for d in range(x.ndim) if d not in axes])


# -- join and split -----------------------------------------------------------------------

class Join(Op):
    """numpy.concatenate(tensors, axis)."""

    fold_static = True

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        xs = _resolve_weak([as_tensor_variable(t) for t in tensors])
        if not xs:
            raise op_build_error(self, [], "needs at least one tensor", ValueError)
        ndim = xs[0].ndim
        if any(x.ndim != ndim for x in xs):
            raise op_build_error(self, xs, f"all inputs must have the same number of "
                                 f"dimensions, got {[x.ndim for x in xs]}", ValueError)
        if ndim == 0:
            raise op_build_error(self, xs, "0-d tensors cannot be concatenated (use stack)",
                                 ValueError)
        if not 0 <= self.axis < ndim:
            raise op_build_error(self, xs, f"axis {self.axis} is out of bounds for "
                                 f"{ndim}-d inputs", ValueError)
        out = []
        for d in range(ndim):
            sizes = [x.type.shape[d] for x in xs]
            if d == self.axis:
                out.append(None if None in sizes else sum(sizes))
                continue
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise op_build_error(self, xs, f"sizes in dimension {d} differ: "
                                     f"{[x.type.shape for x in xs]} (only dimension "
                                     f"{self.axis} may differ)", ValueError)
            out.append(known.pop() if known else None)
        dtype = upcast(*[x.dtype for x in xs])
        return Apply(self, xs, [TensorType(dtype, out)()])

    def perform(self, node, inputs, output_storage):
        y = np.concatenate(inputs, axis=self.axis)
        output_storage[0][0] = y.astype(node.outputs[0].dtype, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        from .math import cast
        (g,) = output_grads
        sizes = [shape_i(x, self.axis) for x in inputs]
        pieces = split(g, MakeVector("int64")(*sizes), len(inputs), axis=self.axis)
        return [cast(p, x.dtype) if is_float(x.dtype) or is_complex(x.dtype) else None
                for p, x in zip(pieces, inputs)]

    def R_op(self, inputs, eval_points):
        evs = _zero_missing(inputs, eval_points)
        return [None if evs is None else self(*evs)]

    def infer_shape(self, node, input_shapes):
        from .math import add
        first = input_shapes[0]
        along = [s[self.axis] for s in input_shapes]
        total = add(*along) if len(along) > 1 else along[0]
        return [tuple(total if d == self.axis else first[d] for d in range(len(first)))]


def _static_axis(op, axis, inputs):
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    k = static_int(as_tensor_variable(axis))
    if k is None:
        raise op_build_error(op, inputs, "the axis must be known while building (an int)",
                             TypeError)
    return k


def join(axis, *tensors):
    """Theano's join: ``T.join(0, x, y)`` is ``numpy.concatenate([x, y], axis=0)``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    xs = [as_tensor_variable(t) for t in tensors]
    if not xs:
        raise op_build_error("join", [], "needs at least one tensor", ValueError)
    axis = _static_axis("join", axis, xs)
    axis = _norm_axis(Join(axis), xs, axis, max(xs[0].ndim, 1))
    if len(xs) == 1:
        return xs[0]
    return Join(axis)(*xs)


def concatenate(tensor_list, axis=0):
    """numpy.concatenate: ``T.concatenate([x, y], axis=1)``; axis=None joins them flattened."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"concatenate: the first argument must be a list or tuple of tensors, "
                        f"got {type(tensor_list).__name__}")
    if axis is None:
        return join(0, *[flatten(t) for t in tensor_list])
    return join(axis, *tensor_list)


def stack(*tensors, axis=0):
    """numpy.stack: ``T.stack([x, y], axis=0)``; Theano's ``T.stack(x, y, z)`` also works.

    Stacking scalars gives a vector (MakeVector); tensors are joined along a new axis.
    """
    if tensors and isinstance(tensors[0], (list, tuple)):
        if len(tensors) > 2:
            raise TypeError("stack: use stack([x, y, ...], axis) or stack(x, y, ...)")
        if len(tensors) == 2:
            axis = tensors[1]
        tensors = tensors[0]
    if not len(tensors):
        raise op_build_error("stack", [], "needs at least one tensor", ValueError)
    xs = _resolve_weak([as_tensor_variable(t) for t in tensors])
    ndim = xs[0].ndim
    if any(x.ndim != ndim for x in xs):
        raise op_build_error("stack", xs, f"all inputs must have the same number of "
                             f"dimensions, got {[x.ndim for x in xs]}", ValueError)
    axis = _norm_axis("stack", xs, _static_axis("stack", axis, xs), ndim + 1)
    if ndim == 0:
        return make_vector(*xs)
    return join(axis, *[shape_padaxis(x, axis) for x in xs])


class Split(Op):
    """numpy.split(x, numpy.cumsum(sizes)[:-1], axis): `n_splits` pieces of given sizes."""

    __props__ = ("n_splits", "axis")

    def __init__(self, n_splits, axis):
        self.n_splits = int(n_splits)
        self.axis = int(axis)
        self.view_map = {k: [0] for k in range(self.n_splits)}

    def make_node(self, x, sizes):
        x = as_tensor_variable(x)
        sizes = as_tensor_variable(sizes)
        if x.ndim == 0 or not 0 <= self.axis < x.ndim:
            raise op_build_error(self, [x, sizes], f"axis {self.axis} is out of bounds for a "
                                 f"{x.ndim}-d input", ValueError)
        if sizes.ndim != 1 or not is_int(sizes.dtype):
            raise op_build_error(self, [x, sizes], f"the split sizes must be an integer "
                                 f"vector, got {sizes.type}", TypeError)
        if sizes.type.shape[0] not in (None, self.n_splits):
            raise op_build_error(self, [x, sizes], f"{sizes.type.shape[0]} split sizes for "
                                 f"{self.n_splits} splits", ValueError)
        static = static_entries(sizes, self.n_splits)
        if any(s is not None and s < 0 for s in static):
            raise op_build_error(self, [x, sizes], f"negative split size in {_fmt(static)}",
                                 ValueError)
        have = x.type.shape[self.axis]
        if None not in static and have is not None and sum(static) != have:
            raise op_build_error(self, [x, sizes], f"the split sizes {_fmt(static)} sum to "
                                 f"{sum(static)}, but dimension {self.axis} has static size "
                                 f"{have}", ValueError)
        outs = []
        for s in static:
            shp = list(x.type.shape)
            shp[self.axis] = s
            outs.append(TensorType(x.dtype, shp)())
        return Apply(self, [x, sizes], outs)

    def perform(self, node, inputs, output_storage):
        x, sizes = inputs
        have = x.shape[self.axis]
        if len(sizes) != self.n_splits or (sizes < 0).any() or sizes.sum() != have:
            raise ValueError(f"{self}: split sizes {list(sizes)} do not cut dimension "
                             f"{self.axis} (size {have}) into {self.n_splits} pieces")
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)
        for cell, p in zip(output_storage, pieces):
            cell[0] = p

    def L_op(self, inputs, outputs, output_grads):
        from .math import zeros_like
        x, _ = inputs
        if not (is_float(x.dtype) or is_complex(x.dtype)):
            return [None, None]
        gs = [zeros_like(o) if g is None else g for g, o in zip(output_grads, outputs)]
        return [join(self.axis, *gs), None]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None] * self.n_splits
        return self.make_node(eval_points[0], inputs[1]).outputs

    def infer_shape(self, node, input_shapes):
        x, sizes = node.inputs
        entries = _vector_entries(sizes, self.n_splits)
        out = []
        for e in entries:
            s = list(input_shapes[0])
            s[self.axis] = e
            out.append(tuple(s))
        return out


def split(x, splits_size, n_splits, axis=0):
    """Theano's split: `x` cut along `axis` into `n_splits` pieces of the given sizes;
    returns a list.

    >>> a, b = T.split(T.vector('x'), [2, 3], 2)
    """
    x = as_tensor_variable(x)
    axis = _norm_axis("split", [x], _static_axis("split", axis, [x]), max(x.ndim, 1))
    if isinstance(splits_size, (list, tuple)):
        sizes = _shape_vector("split", _shape_entries("split", splits_size))
    else:
        sizes = as_tensor_variable(splits_size)
    return list(Split(n_splits, axis).make_node(x, sizes).outputs)


# the rest of the family, re-exported for ``symgraph.tensor`` (they import this module)
from .alloc import *  # noqa: E402,F401,F403
from .alloc import __all__ as _alloc_all  # noqa: E402
from .structure import *  # noqa: E402,F401,F403
from .structure import __all__ as _structure_all  # noqa: E402

__all__ += _alloc_all + _structure_all
