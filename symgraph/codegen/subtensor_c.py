"""Advanced indexing in C: integer index arrays along one axis (``x[idx]``, ``x[:, idx]``,
``take``), the pair gather ``x[a, b]`` on the first two axes (``x[T.arange(n), y]``), both
in ``kernels/c/take.c.j2``, and ``inc_subtensor`` / ``set_subtensor`` with an integer
vector along axis 0 (``kernels/c/inc_subtensor.c.j2``: repeated indices accumulate as
``np.add.at``; set is the last write).

Every dtype with a C type, any strides (outer and inner dimensions that are not one run in
memory are copied first), negative indices counting from the end. The kernels check every
index before writing; a bad one makes the thunk run the op's numpy `perform`, which raises
numpy's IndexError (the executor adds the op and the user's line). Empty results, uint64
indices, index arrays that do not broadcast and an `ignore_duplicates` increment (numpy's
buffered ``out[idx] += v``) also run `perform`, as do the other advanced forms (boolean
masks, mixed indices: ``fgraph.placement`` says 'py').

Basic indexing, DimShuffle and Reshape need no kernel: their `perform` returns numpy's
view, and the CProgram passes it on without a copy.
"""
from __future__ import annotations

import numpy as np

from ..ops.subtensor import (SYM, AdvancedIncSubtensor, AdvancedSubtensor, Slice,
                             _check_runtime_broadcast)
from ..types import is_int
from .cbackend import CTYPE, perform_of, reference_of

__all__ = ["lower_subtensor"]

_FULL = Slice(None, None, None)
_UINT = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}


def _form(node):
    """'take' (with its axis), 'pair' or 'inc' for a node the kernels cover, else None."""
    op = node.op
    x = node.inputs[0]
    if x.dtype not in CTYPE:
        return None
    if type(op) is AdvancedSubtensor:
        idx = node.inputs[1:]
        entries = op.idx_list
        if not idx or not all(is_int(i.dtype) for i in idx):
            return None
        if len(idx) == 1 and entries[-1] == SYM and all(e == _FULL for e in entries[:-1]) \
                and idx[0].ndim >= 1:
            return "take", len(entries) - 1
        if len(idx) == 2 and entries == (SYM, SYM) and x.ndim >= 2:
            return "pair", None
        return None
    if type(op) is AdvancedIncSubtensor:
        if op.ignore_duplicates or op.idx_list != (SYM,) or len(node.inputs) != 3:
            return None
        idx = node.inputs[2]
        if not is_int(idx.dtype) or idx.ndim != 1 or x.ndim < 1:
            return None
        return "inc", None
    return None


def lower_subtensor(node, omp_min=0):
    """(signature, render(name), make_thunk) for the advanced indexing forms above, or
    None."""
    found = _form(node)
    if found is None:
        return None
    from .cbackend import _origin, render
    kind, axis = found
    x = node.inputs[0]
    if kind == "inc":
        setting = node.op.set_instead_of_inc
        sig = ("inc_subtensor", x.dtype, setting)

        def source(name):
            return render("inc_subtensor", name=name, origin=f"{name}: {_origin(node)}",
                          t=CTYPE[x.dtype], set=setting)

        def thunk(lib, ffi, k):
            return _inc_thunk(lib, ffi, k, node)
        return sig, source, thunk
    size = x.type.numpy_dtype.itemsize
    sig = ("take", kind, size)

    def source(name):
        return render("take", name=name, origin=f"{name}: {_origin(node)}", kind=kind,
                      t=_UINT[size])

    def thunk(lib, ffi, k):
        return (_take_thunk if kind == "take" else _pair_thunk)(lib, ffi, k, node, axis)
    return sig, source, thunk


def _indices(a):
    """An index array as a flat contiguous int64 array, or None (uint64: left to numpy)."""
    a = np.asarray(a)
    if a.dtype == np.uint64:
        return None
    return np.ascontiguousarray(a.reshape(-1), dtype=np.int64)


def _strides(a):
    """`a`'s strides in elements (`a` copied when they are not whole elements)."""
    if any(s % a.itemsize for s in a.strides):
        a = np.ascontiguousarray(a)
    return a, [s // a.itemsize for s in a.strides]


def _run(dims, strides):
    """(size, stride) of `dims` as one run in memory (size 1, stride 0 for none), or None."""
    from .reduce_c import _merge
    if not dims:
        return 1, 0
    shape, (st,) = _merge(dims, strides)
    if 0 in shape:
        return 0, 0
    shape_st = [(n, s) for n, s in zip(shape, st) if n != 1]
    if len(shape_st) > 1:
        return None
    return shape_st[0] if shape_st else (1, 0)


def _raise(reference, args):
    reference(args)    # numpy's IndexError
    raise IndexError("index out of bounds")


def _take_thunk(lib, ffi, k, node, axis):
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast
    reference = reference_of(node)
    dtype = node.outputs[0].type.numpy_dtype

    def compute(args):
        x, idx = np.asarray(args[0]), args[1]
        ii = _indices(idx)
        if ii is None or x.ndim <= axis:
            return reference(args)
        shape = x.shape[:axis] + np.shape(idx) + x.shape[axis + 1:]
        if 0 in shape:
            return reference(args)
        x, es = _strides(x)
        outer = _run(x.shape[:axis], es[:axis])
        inner = _run(x.shape[axis + 1:], es[axis + 1:])
        if outer is None or inner is None:
            x = np.ascontiguousarray(x)
            es = [s // x.itemsize for s in x.strides]
            outer = _run(x.shape[:axis], es[:axis])
            inner = _run(x.shape[axis + 1:], es[axis + 1:])
        out = np.empty(shape, dtype)
        meta = np.array([outer[0], x.shape[axis], ii.size, inner[0], outer[1], es[axis],
                         inner[1]], dtype=np.int64)
        if run(k, 0, [cast("void *", x.ctypes.data), from_buffer(ii), from_buffer(out)],
               from_buffer("int64_t[]", meta)):
            _raise(reference, args)
        return out
    return perform_of(compute)


def _pair_thunk(lib, ffi, k, node, axis):
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast
    reference = reference_of(node)
    dtype = node.outputs[0].type.numpy_dtype

    def compute(args):
        x, a, b = np.asarray(args[0]), np.asarray(args[1]), np.asarray(args[2])
        if x.ndim < 2 or np.uint64 in (a.dtype, b.dtype):
            return reference(args)
        bshape = a.shape
        if b.shape != bshape:
            try:
                bshape = np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                return reference(args)
        shape = bshape + x.shape[2:]
        if 0 in shape:
            return reference(args)
        aa = _indices(a if a.shape == bshape else np.broadcast_to(a, bshape))
        bb = _indices(b if b.shape == bshape else np.broadcast_to(b, bshape))
        x, es = _strides(x)
        inner = _run(x.shape[2:], es[2:])
        if inner is None:
            x = np.ascontiguousarray(x)
            es = [s // x.itemsize for s in x.strides]
            inner = _run(x.shape[2:], es[2:])
        out = np.empty(shape, dtype)
        meta = np.array([aa.size, x.shape[0], x.shape[1], inner[0], es[0], es[1], inner[1]],
                        dtype=np.int64)
        if run(k, 0, [cast("void *", x.ctypes.data), from_buffer(aa), from_buffer(bb),
                      from_buffer(out)], from_buffer("int64_t[]", meta)):
            _raise(reference, args)
        return out
    return perform_of(compute)


def _inc_thunk(lib, ffi, k, node):
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast
    op = node.op
    reference = reference_of(node)
    dtype = node.outputs[0].type.numpy_dtype

    def compute(args):
        x, v, idx = np.asarray(args[0]), np.asarray(args[1]), args[2]
        ii = _indices(idx)
        if ii is None or x.ndim < 1 or x.dtype != dtype:
            return reference(args)
        target = (ii.size,) + x.shape[1:]
        _check_runtime_broadcast(op, node, v, lambda: target)
        try:
            vb = np.broadcast_to(v, target)
        except ValueError:
            return reference(args)      # numpy's broadcast error
        if vb.size == 0:
            return reference(args)
        if v.dtype != dtype:            # cast before broadcasting (fewer elements)
            vb = np.broadcast_to(v.astype(dtype), target)
        out = x if op.inplace else x.copy()
        out, os_ = _strides(out)
        vb, vs = _strides(vb)
        if op.inplace and out is not x:
            return reference(args)
        from .reduce_c import _merge
        dims, (ost, vst) = _merge(list(x.shape[1:]), os_[1:], vs[1:])
        if len(dims) > 1:
            vb = np.ascontiguousarray(vb)
            vs = [s // vb.itemsize for s in vb.strides]
            dims, (ost, vst) = _merge(list(x.shape[1:]), os_[1:], vs[1:])
            if len(dims) > 1:
                return reference(args)
        inner, oc, vc = (dims[0], ost[0], vst[0]) if dims else (1, 0, 0)
        meta = np.array([x.shape[0], ii.size, inner, os_[0], oc, vs[0], vc], dtype=np.int64)
        if run(k, 0, [cast("void *", out.ctypes.data), from_buffer(ii),
                      cast("void *", vb.ctypes.data)], from_buffer("int64_t[]", meta)):
            _raise(reference, args)
        return out
    return perform_of(compute)
