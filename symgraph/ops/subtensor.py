"""Indexing: basic reads (Subtensor), advanced reads (AdvancedSubtensor) and their functional
updates (IncSubtensor, AdvancedIncSubtensor), behind ``x[idx]``, ``set_subtensor``,
``inc_subtensor`` and ``take``.

An op holds the static structure of its index in ``idx_list`` (one entry per indexed
position, Ellipsis already expanded, trailing full slices dropped):

- ``None``: a new axis (``np.newaxis``);
- an ``int``: a constant index;
- ``"?"``: the next symbolic input (a 0-d int, or for the advanced ops an int array or a
  boolean mask);
- ``Slice(start, stop, step)``: each part None, an int, or ``"?"``.

The symbolic parts are the op's inputs after the array (and after the update value for the
inc ops), in order.
"""
from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from ..errors import format_trace, op_build_error, user_trace
from ..graph import Apply, Op, Variable
from ..tensor.var import TensorConstant, as_tensor_variable, constant
from ..types import TensorType, is_bool, is_complex, is_float, is_int

__all__ = ["getitem", "set_subtensor", "inc_subtensor", "take", "Subtensor",
           "AdvancedSubtensor", "IncSubtensor", "AdvancedIncSubtensor"]

SYM = "?"   # an index part that is a symbolic input


class Slice(NamedTuple):
    """A hashable slice (Python's ``slice`` is not hashable before 3.12)."""
    start: object = None
    stop: object = None
    step: object = None

    def __str__(self):
        parts = ["" if p is None else str(p) for p in self]
        return ":".join(parts[:2]) + (f":{parts[2]}" if self.step is not None else "")


_FULL = Slice(None, None, None)


def _is_sym(p) -> bool:
    return isinstance(p, str)


def _canonical_entry(e):
    if isinstance(e, slice):
        e = Slice(e.start, e.stop, e.step)
    if isinstance(e, Slice):
        return Slice(*(p if p is None or _is_sym(p) else operator.index(p) for p in e))
    if e is None or _is_sym(e):
        return SYM if _is_sym(e) else None
    return operator.index(e)


def _entry_str(e) -> str:
    return "newaxis" if e is None else str(e)


# -- the ops ------------------------------------------------------------------------------

class _IndexOp(Op):
    """What the four indexing ops share: the index structure and its static checks."""

    advanced = False

    def __init__(self, idx_list):
        idx = [_canonical_entry(e) for e in idx_list]
        while idx and idx[-1] == _FULL:
            idx.pop()
        self.idx_list = tuple(idx)
        for e in self.idx_list:
            if isinstance(e, Slice) and e.step == 0:
                raise ValueError(f"{type(self).__name__}: slice step cannot be zero")
        self.n_sym = sum(_is_sym(p) for e in self.idx_list
                         for p in (e if isinstance(e, Slice) else (e,)))

    def _name(self) -> str:
        return type(self).__name__

    def __str__(self):
        return f"{self._name()}{{{', '.join(_entry_str(e) for e in self.idx_list)}}}"

    __repr__ = __str__

    def _entries(self, x, idx_inputs, all_inputs):
        """The index with symbolic parts replaced by the (checked) input variables."""
        if len(idx_inputs) != self.n_sym:
            raise op_build_error(self, all_inputs, f"expects {self.n_sym} index inputs, got "
                                 f"{len(idx_inputs)}")
        it = iter(idx_inputs)
        entries = []
        for e in self.idx_list:
            if isinstance(e, Slice):
                parts = []
                for p in e:
                    if _is_sym(p):
                        p = next(it)
                        _check_scalar_index(self, p, all_inputs, "a slice bound")
                    parts.append(p)
                entries.append(Slice(*parts))
            elif _is_sym(e):
                v = next(it)
                if self.advanced:
                    if not (is_int(v.dtype) or is_bool(v.dtype)):
                        raise op_build_error(self, all_inputs, f"index arrays must be integer "
                                             f"or boolean, got {v.dtype}", IndexError)
                else:
                    _check_scalar_index(self, v, all_inputs, "an index")
                entries.append(v)
            else:
                entries.append(e)
        used = sum(_consumed(e) for e in entries)
        if used > x.ndim:
            raise op_build_error(self, all_inputs, f"too many indices: the array is "
                                 f"{x.ndim}-dimensional, but {used} were indexed", IndexError)
        return entries

    def indexed_shape(self, x, entries, all_inputs):
        """The static shape of ``x[index]``."""
        if self.advanced:
            return _advanced_shape(self, x, entries, all_inputs)
        return _basic_shape(self, x, entries, all_inputs)

    def connection_pattern(self, node):
        n_data = len(node.inputs) - self.n_sym
        return [[True]] * n_data + [[False]] * self.n_sym

    def _np_index(self, values) -> tuple:
        """The numpy index tuple for run-time index values."""
        it = iter(values)
        out = []
        for e in self.idx_list:
            if isinstance(e, Slice):
                out.append(slice(*(int(next(it)) if _is_sym(p) else p for p in e)))
            elif _is_sym(e):
                v = next(it)
                if v.ndim == 0 and v.dtype.kind in "iu":
                    v = int(v)
                elif v.dtype.kind == "u" and v.dtype.itemsize >= np.dtype(np.intp).itemsize:
                    v = v.astype(np.intp)
                out.append(v)
            else:
                out.append(e)
        return tuple(out)


class _Read(_IndexOp):
    """x[index]; the gradient scatters the output gradient into zeros."""

    def make_node(self, x, *idx):
        x = as_tensor_variable(x)
        idx = [as_tensor_variable(i) for i in idx]
        entries = self._entries(x, idx, [x, *idx])
        shape = self.indexed_shape(x, entries, [x, *idx])
        return Apply(self, [x, *idx], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, *idx = inputs
        # a trailing Ellipsis makes numpy return a 0-d array (a view) instead of a scalar
        output_storage[0][0] = x[self._np_index(idx) + (Ellipsis,)]

    def L_op(self, inputs, outputs, output_grads):
        from .math import zeros_like
        x, *idx = inputs
        (g,) = output_grads
        none = [None] * len(idx)
        if not _differentiable(x) or g is None:
            return [None, *none]
        inc = (AdvancedIncSubtensor if self.advanced else IncSubtensor)(self.idx_list)
        return [inc(zeros_like(x), g, *idx), *none]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        return [self(eval_points[0], *inputs[1:])]

    def infer_shape(self, node, input_shapes):
        x, *idx = node.inputs
        entries = self._entries(x, idx, node.inputs)
        xs = [_i64(s) for s in input_shapes[0]]
        if self.advanced:
            shape = _advanced_sym_shape(entries, xs, dict(zip(idx, input_shapes[1:])))
        else:
            shape = _basic_sym_shape(entries, xs)
        static = node.outputs[0].type.shape
        return [tuple(_i64(s if s is not None else d) for s, d in zip(static, shape))]


class Subtensor(_Read):
    """Basic indexing ``x[1:3, ::2, None, i]`` (a view), as numpy."""

    __props__ = ("idx_list",)
    view_map = {0: [0]}


class AdvancedSubtensor(_Read):
    """Advanced indexing ``x[idx]``, ``x[a, b]``, ``x[:, idx]``, ``x[mask]`` (a copy), as numpy."""

    __props__ = ("idx_list",)
    advanced = True


class _Inc(_IndexOp):
    """x with x[index] replaced by (or incremented by) v, broadcast; x itself is unchanged
    unless `inplace`."""

    def __init__(self, idx_list, set_instead_of_inc=False, inplace=False):
        super().__init__(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def _name(self):
        name = type(self).__name__
        if self.set_instead_of_inc:
            name = name.replace("Inc", "Set")
        return name + ("{inplace}" if self.inplace else "")

    def make_node(self, x, v, *idx):
        x = as_tensor_variable(x)
        v = _as_update_value(self, x, v)
        idx = [as_tensor_variable(i) for i in idx]
        all_inputs = [x, v, *idx]
        entries = self._entries(x, idx, all_inputs)
        target = self.indexed_shape(x, entries, all_inputs)
        _check_broadcast_into(self, v, target, all_inputs)
        return Apply(self, all_inputs, [x.type()])

    def perform(self, node, inputs, output_storage):
        x, v, *idx = inputs
        out = x if self.inplace else x.copy()
        index = self._np_index(idx)
        _check_runtime_broadcast(self, node, v, lambda: out[index + (Ellipsis,)].shape)
        if v.dtype != out.dtype:
            v = v.astype(out.dtype)
        self._update(out, index, v)
        output_storage[0][0] = out

    def _update(self, out, index, v):
        if self.set_instead_of_inc:
            out[index] = v
        else:
            out[index] += v

    def L_op(self, inputs, outputs, output_grads):
        x, v, *idx = inputs
        (g,) = output_grads
        none = [None] * len(idx)
        if g is None:
            return [None, None, *none]
        read = (AdvancedSubtensor if self.advanced else Subtensor)(self.idx_list)
        gx = gv = None
        if _differentiable(x):
            gx = g
            if self.set_instead_of_inc:
                zero = constant(np.zeros((), dtype=g.dtype))
                gx = type(self)(self.idx_list, set_instead_of_inc=True)(g, zero, *idx)
        if _differentiable(v):
            gv = _reduce_to(read(g, *idx), v)
        return [gx, gv, *none]

    def R_op(self, inputs, eval_points):
        from .math import zeros_like
        x, v, *idx = inputs
        ex, ev = eval_points[0], eval_points[1]
        if ex is None and ev is None:
            return [None]
        ex = zeros_like(x) if ex is None else ex
        ev = zeros_like(v) if ev is None else ev
        op = type(self)(self.idx_list, set_instead_of_inc=self.set_instead_of_inc)
        return [op(ex, ev, *idx)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class IncSubtensor(_Inc):
    """``out = x.copy(); out[basic index] += v`` (or ``= v`` with set_instead_of_inc)."""

    __props__ = ("idx_list", "set_instead_of_inc", "inplace")


class AdvancedIncSubtensor(_Inc):
    """``out = x.copy(); np.add.at(out, index, v)``: repeated indices accumulate (or
    ``out[index] = v`` with set_instead_of_inc, the last write winning)."""

    __props__ = ("idx_list", "set_instead_of_inc", "inplace", "ignore_duplicates")
    advanced = True

    def __init__(self, idx_list, set_instead_of_inc=False, inplace=False,
                 ignore_duplicates=False):
        super().__init__(idx_list, set_instead_of_inc, inplace)
        self.ignore_duplicates = bool(ignore_duplicates)

    def _update(self, out, index, v):
        if self.set_instead_of_inc:
            out[index] = v
        elif self.ignore_duplicates:
            out[index] += v
        else:
            np.add.at(out, index, v)


# -- static checks and shapes -------------------------------------------------------------

def _differentiable(v) -> bool:
    return is_float(v.dtype) or is_complex(v.dtype)


def _check_scalar_index(op, v, all_inputs, what):
    if v.ndim != 0 or not is_int(v.dtype):
        raise op_build_error(op, all_inputs, f"{what} must be a 0-d integer, got {v.type}",
                             IndexError)


def _consumed(e) -> int:
    """How many dimensions of the indexed array an entry uses."""
    if e is None:
        return 0
    if isinstance(e, Variable) and is_bool(e.dtype):
        return e.ndim
    return 1


def _value(p):
    """The int value of a resolved index part, or None when symbolic."""
    if p is None or isinstance(p, int):
        return p
    if isinstance(p, TensorConstant):
        return int(p.data)
    return None


def _slice_len(n, s: Slice):
    """The static length of a slice of a dimension of static size n (None if unknown)."""
    start, stop, step = (p if p is None else _value(p) for p in s)
    known = all(p is None or _value(p) is not None for p in s)
    if n == 0:
        return 0
    if n is not None and known:
        return len(range(*slice(start, stop, step).indices(n)))
    if n == 1 and s.start is None and s.stop is None:
        return 1  # any nonzero step keeps the single element
    if known and start is not None and stop is not None and (start >= 0) == (stop >= 0):
        # both bounds on the same side: clamping to any size keeps an empty range empty
        if len(range(start, stop, 1 if step is None else step)) == 0:
            return 0
    return None


def _check_int(op, x, k, dim, all_inputs):
    n = x.type.shape[dim]
    if n is not None and not -n <= k < n:
        raise op_build_error(op, all_inputs, f"index {k} is out of bounds for axis {dim} "
                             f"with size {n}", IndexError)


def _basic_shape(op, x, entries, all_inputs):
    shape, dim = [], 0
    for e in entries:
        if e is None:
            shape.append(1)
            continue
        if isinstance(e, Slice):
            step = _value(e.step) if e.step is not None else 1
            if step == 0:
                raise op_build_error(op, all_inputs, "slice step cannot be zero", ValueError)
            shape.append(_slice_len(x.type.shape[dim], e))
        elif _value(e) is not None:
            _check_int(op, x, _value(e), dim, all_inputs)
        dim += 1
    return tuple(shape) + x.type.shape[dim:]


def _advanced_shape(op, x, entries, all_inputs):
    """numpy's rule: the advanced indices broadcast together; their dimensions replace them
    in place when they are adjacent in the index, and go first otherwise."""
    pieces = []          # (is_advanced, shape) per entry, in index order
    dim = 0
    for e in entries:
        if e is None:
            pieces.append((False, (1,)))
        elif isinstance(e, Slice):
            pieces.append((False, (_slice_len(x.type.shape[dim], e),)))
            dim += 1
        elif isinstance(e, int) or (isinstance(e, Variable) and not is_bool(e.dtype)):
            arr = e.data if isinstance(e, TensorConstant) else e
            if isinstance(arr, (int, np.ndarray)) and np.size(arr):
                for k in (np.min(arr), np.max(arr)):
                    _check_int(op, x, int(k), dim, all_inputs)
            pieces.append((True, () if isinstance(e, int) else e.type.shape))
            dim += 1
        else:   # a boolean mask over e.ndim dimensions
            _check_mask(op, x, e, dim, all_inputs)
            if isinstance(e, TensorConstant):
                count = int(np.count_nonzero(e.data))
            else:
                count = 0 if 0 in e.type.shape else None
            pieces.append((True, (count,)))
            dim += e.ndim
    adv_shapes = [s for adv, s in pieces if adv]
    adv_shape = _broadcast_index_shapes(op, adv_shapes, all_inputs) if adv_shapes else ()
    return _place(pieces, adv_shape) + x.type.shape[dim:]


def _place(pieces, adv_shape) -> tuple:
    """numpy's placement of the broadcast advanced dimensions among the basic ones."""
    adv_pos = [i for i, (adv, _) in enumerate(pieces) if adv]
    if not adv_pos:
        return sum((tuple(s) for _, s in pieces), ())
    if adv_pos == list(range(adv_pos[0], adv_pos[-1] + 1)):
        before = sum((tuple(s) for _, s in pieces[:adv_pos[0]]), ())
        after = sum((tuple(s) for _, s in pieces[adv_pos[-1] + 1:]), ())
        return before + tuple(adv_shape) + after
    return tuple(adv_shape) + sum((tuple(s) for adv, s in pieces if not adv), ())


def _i64(v):
    """A shape entry as an int64 0-d variable."""
    if isinstance(v, Variable):
        from .math import cast
        return cast(v, "int64")
    return constant(np.int64(v))


def _sym_slice_len(n, s: Slice):
    """The length of a slice of a dimension of symbolic size n (slice.indices' clamping)."""
    from . import math as M
    start, stop, step = (p if p is None or _value(p) is None else _value(p) for p in s)
    start, stop, step = (_i64(p) if isinstance(p, Variable) else p for p in (start, stop, step))

    def clamp(p, default, lo, hi):
        if p is None:
            return default
        if isinstance(p, int):
            return M.maximum(p + n, lo) if p < 0 else M.minimum(p, hi)
        return M.switch(M.lt(p, 0), M.maximum(p + n, lo), M.minimum(p, hi))

    def up(st):
        a, b = clamp(start, 0, 0, n), clamp(stop, n, 0, n)
        return M.maximum(M.int_div(b - a + st - 1, st), 0)

    def down(st):
        a, b = clamp(start, n - 1, -1, n - 1), clamp(stop, -1, -1, n - 1)
        return M.maximum(M.int_div(a - b - st - 1, -st), 0)

    if step is None or isinstance(step, int):
        return up(step or 1) if (step or 1) > 0 else down(step)
    return M.switch(M.gt(step, 0), up(step), down(step))


def _basic_sym_shape(entries, xs):
    out, dim = [], 0
    for e in entries:
        if e is None:
            out.append(1)
            continue
        if isinstance(e, Slice):
            out.append(_sym_slice_len(xs[dim], e))
        dim += 1
    return tuple(out) + tuple(xs[dim:])


def _advanced_sym_shape(entries, xs, index_shapes):
    from . import math as M
    pieces, dim = [], 0
    for e in entries:
        if e is None:
            pieces.append((False, (1,)))
        elif isinstance(e, Slice):
            pieces.append((False, (_sym_slice_len(xs[dim], e),)))
            dim += 1
        elif isinstance(e, int):
            pieces.append((True, ()))
            dim += 1
        elif not is_bool(e.dtype):
            pieces.append((True, tuple(1 if t == 1 else s
                                       for s, t in zip(index_shapes[e], e.type.shape))))
            dim += 1
        else:
            from .reduce import sum as _sum
            count = M.cast(e if e.ndim == 0 else _sum(e), "int64")
            pieces.append((True, (count,)))
            dim += e.ndim
    shapes = [s for adv, s in pieces if adv]
    ndim = max((len(s) for s in shapes), default=0)
    adv_shape = []
    for d in range(ndim):
        sizes = [s[d - ndim + len(s)] for s in shapes if d - ndim + len(s) >= 0]
        sizes = [z for z in sizes if not (isinstance(z, int) and z == 1)]
        size = sizes[0] if sizes else 1
        for z in sizes[1:]:
            size = M.maximum(size, z)   # valid indices broadcast: all equal, or 1
        adv_shape.append(size)
    return _place(pieces, adv_shape) + tuple(xs[dim:])


def _check_mask(op, x, mask, dim, all_inputs):
    for k, m in enumerate(mask.type.shape):
        n = x.type.shape[dim + k]
        if m is not None and n is not None and m != n:
            raise op_build_error(op, all_inputs, f"boolean index did not match indexed array "
                                 f"along axis {dim + k}; size of axis is {n} but size of "
                                 f"corresponding boolean axis is {m}", IndexError)


def _broadcast_index_shapes(op, shapes, all_inputs):
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            raise op_build_error(op, all_inputs, f"shape mismatch: indexing arrays could not "
                                 f"be broadcast together with shapes "
                                 f"{', '.join(map(str, shapes))}", IndexError)
        out.append(known.pop() if known else (1 if all(s == 1 for s in sizes) else None))
    return tuple(out)


def _as_update_value(op, x, v):
    """The update value: Python numbers take x's dtype when they fit exactly; other values
    must cast to x's dtype as numpy's in-place operators allow ('same_kind')."""
    v = as_tensor_variable(v)
    if v.dtype == x.dtype:
        return v
    same_kind = np.can_cast(v.dtype, x.dtype, "same_kind")
    if isinstance(v, TensorConstant) and v.weak:
        conv = v.data.astype(x.dtype)
        if np.array_equal(conv, v.data) or (same_kind and x.type.numpy_dtype.kind in "fc"):
            return constant(conv)
    elif same_kind:
        return v
    raise op_build_error(op, [x, v], f"cannot write {v.dtype} values into a {x.dtype} "
                         f"array; cast them first (T.cast(v, '{x.dtype}'))", TypeError)


def _check_broadcast_into(op, v, target, all_inputs):
    if v.ndim > len(target):
        raise op_build_error(op, all_inputs, f"the value has {v.ndim} dimensions, more than "
                             f"the {len(target)} of the indexed part {target}", ValueError)
    off = len(target) - v.ndim
    for d, s in enumerate(v.type.shape):
        t = target[off + d]
        if s is not None and s != 1 and t is not None and s != t:
            raise op_build_error(op, all_inputs, f"a value of static shape {v.type.shape} "
                                 f"cannot be broadcast to the indexed shape {target}",
                                 ValueError)


def _check_runtime_broadcast(op, node, v, target_shape):
    """A value dimension of size 1 broadcasts only when its static type says so (the
    gradient sums over exactly those dimensions)."""
    vtype = node.inputs[1].type
    loose = [d for d in range(v.ndim) if v.shape[d] == 1 and vtype.shape[d] != 1]
    if not loose:
        return
    target = target_shape()
    off = len(target) - v.ndim
    for d in loose:
        if target[off + d] != 1:
            raise ValueError(
                f"{op}: the value (shape {v.shape}) has size 1 in dimension {d} at run time "
                f"but its type {vtype} does not say it broadcasts there (indexed shape "
                f"{target}); declare the dimension as 1 or use T.addbroadcast")


def _reduce_to(g, v):
    """Sum the gradient of the indexed part down to the shape of the value v."""
    from .elemwise import _sum_to
    lead = g.ndim - v.ndim
    if lead:
        from .reduce import sum as _sum
        g = _sum(g, axis=tuple(range(lead)))
    return _sum_to(g, v)


# -- user functions -----------------------------------------------------------------------

def _index_part(p, x):
    """A slice bound: None, a Python int, or a symbolic 0-d integer."""
    if p is None:
        return None
    if isinstance(p, Variable):
        if isinstance(p.type, TensorType) and p.ndim == 0 and is_int(p.dtype):
            return int(p.data) if isinstance(p, TensorConstant) else p
        raise op_build_error("Subtensor", [x, p], f"slice bounds must be integers, got "
                             f"{p.type}", TypeError)
    try:
        return operator.index(p)
    except TypeError:
        raise op_build_error("Subtensor", [x], f"slice bounds must be integers or None, "
                             f"got {type(p).__name__} {p!r}", TypeError) from None


def _parse_entry(e, x):
    """(kind, value) with kind in newaxis, ellipsis, int, slice, adv."""
    if e is None:
        return "newaxis", None
    if e is Ellipsis:
        return "ellipsis", None
    if isinstance(e, slice):
        s = Slice(*(_index_part(p, x) for p in (e.start, e.stop, e.step)))
        if s.step == 0:
            raise op_build_error("Subtensor", [x], "slice step cannot be zero", ValueError)
        return "slice", s
    if isinstance(e, (bool, np.bool_)):
        return "adv", constant(np.bool_(e))
    if isinstance(e, (list, tuple)) and any(isinstance(i, Variable) for i in _flat(e)):
        e = as_tensor_variable(e)
    if isinstance(e, Variable):
        if not isinstance(e.type, TensorType) or not (is_int(e.dtype) or is_bool(e.dtype)):
            raise op_build_error("Subtensor", [x, e], "only integers, slices, None, Ellipsis "
                                 "and integer or boolean arrays are valid indices", IndexError)
        if e.ndim == 0 and is_int(e.dtype):
            return "int", int(e.data) if isinstance(e, TensorConstant) else e
        return "adv", e
    if isinstance(e, (list, tuple, np.ndarray)):
        arr = np.asarray(e)
        if arr.size == 0 and not isinstance(e, np.ndarray):
            arr = arr.astype(np.intp)   # numpy reads an empty list as an integer index
        if arr.dtype.kind in "iub":
            if arr.ndim == 0 and arr.dtype.kind != "b":
                return "int", int(arr)
            return "adv", constant(arr)
    else:
        try:
            return "int", operator.index(e)
        except TypeError:
            pass
    raise op_build_error("Subtensor", [x], f"only integers, slices, None, Ellipsis and "
                         f"integer or boolean arrays are valid indices, got "
                         f"{type(e).__name__} {e!r:.40}", IndexError)


def _flat(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def _expand(x, parsed):
    """Replace the Ellipsis with full slices; check the number of indexed dimensions."""
    n_ell = sum(kind == "ellipsis" for kind, _ in parsed)
    if n_ell > 1:
        raise op_build_error("Subtensor", [x], "an index can only have a single ellipsis "
                             "('...')", IndexError)
    used = sum(_consumed(v) if kind == "adv" else kind in ("int", "slice")
               for kind, v in parsed)
    if used > x.ndim:
        raise op_build_error("Subtensor", [x], f"too many indices: the array is "
                             f"{x.ndim}-dimensional, but {used} were indexed", IndexError)
    out = []
    for kind, v in parsed:
        if kind == "ellipsis":
            out.extend([("slice", _FULL)] * (x.ndim - used))
        else:
            out.append((kind, v))
    return out


def getitem(x, idx):
    """``x[idx]`` with numpy's semantics: basic indexing (ints, slices, None, Ellipsis; a
    view) or advanced indexing (integer arrays, boolean masks; a copy).

    >>> x = T.matrix('x'); i = T.lscalar('i')
    >>> y = x[1:i, ::-1]; z = x[T.arange(2), [0, 1]]; w = x[x > 0]
    """
    x = as_tensor_variable(x)
    idx = idx if isinstance(idx, tuple) else (idx,)
    parsed = _expand(x, [_parse_entry(e, x) for e in idx])
    advanced = any(kind == "adv" for kind, _ in parsed)
    idx_list, inputs = [], []
    for kind, v in parsed:
        if kind == "newaxis":
            idx_list.append(None)
        elif kind == "slice":
            idx_list.append(Slice(*(SYM if isinstance(p, Variable) else p for p in v)))
            inputs.extend(p for p in v if isinstance(p, Variable))
        elif isinstance(v, Variable):
            idx_list.append(SYM)
            inputs.append(v)
        else:
            idx_list.append(v)
    op = (AdvancedSubtensor if advanced else Subtensor)(idx_list)
    return op(x, *inputs)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False, ignore_duplicates=False):
    """The array that `x` (an indexed expression ``a[idx]``) was taken from, with ``a[idx]``
    incremented by `y` (broadcast); repeated advanced indices accumulate (``np.add.at``)
    unless `ignore_duplicates`. The original array is never modified.

    >>> a = T.vector('a'); i = T.lvector('i')
    >>> b = T.inc_subtensor(a[i], 1.0)    # numpy: b = a.copy(); np.add.at(b, i, 1.0)
    """
    # `inplace` and `tolerate_inplace_aliasing` are accepted for Theano compatibility: the
    # in-place versions are chosen by the rewrites, never by the user.
    owner = getattr(x, "owner", None)
    if owner is None or not isinstance(owner.op, _Read):
        what = "set_subtensor" if set_instead_of_inc else "inc_subtensor"
        raise TypeError(f"{what}: the first argument must be an indexed expression such as "
                        f"x[1:3] or x[idx], got {x!r}"
                        f"{' (made by ' + str(owner.op) + ')' if owner is not None else ''}\n"
                        f"  {format_trace(user_trace())}")
    op = owner.op
    a, *idx = owner.inputs
    if op.advanced:
        new = AdvancedIncSubtensor(op.idx_list, set_instead_of_inc=set_instead_of_inc,
                                   ignore_duplicates=ignore_duplicates)
    else:
        new = IncSubtensor(op.idx_list, set_instead_of_inc=set_instead_of_inc)
    return new(a, y, *idx)


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False):
    """The array that `x` (an indexed expression ``a[idx]``) was taken from, with ``a[idx]``
    replaced by `y` (broadcast). The original array is never modified.

    >>> a = T.matrix('a')
    >>> b = T.set_subtensor(a[:, 0], 0.0)   # numpy: b = a.copy(); b[:, 0] = 0.0
    """
    return inc_subtensor(x, y, set_instead_of_inc=True)


def take(a, indices, axis=None, mode="raise"):
    """numpy.take: elements of `a` at `indices` along `axis` (of the flattened `a` when
    axis is None). `mode` 'raise' (default), 'wrap' or 'clip' as numpy.

    >>> T.take(T.matrix('a'), [0, 2], axis=1)   # a[:, [0, 2]]
    """
    from .. import tensor as T
    a = as_tensor_variable(a)
    if axis is None:
        a, axis = T.flatten(a), 0
    axis = operator.index(axis)
    if not -a.ndim <= axis < a.ndim:
        raise op_build_error("take", [a], f"axis {axis} is out of bounds for a "
                             f"{a.ndim}-d array", ValueError)
    axis %= a.ndim
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if mode != "raise":
        idx = as_tensor_variable(indices)
        n = T.shape(a)[axis]
        indices = T.mod(idx, n) if mode == "wrap" else T.clip(idx, 0, n - 1)
    return getitem(a, (slice(None),) * axis + (indices,))
