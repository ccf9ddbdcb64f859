"""Reductions in C (``kernels/c/reduce.c.j2``): Sum, Prod, ProdWithoutZeros, Max, Min, Any,
All, Argmax, Argmin and LogSumExp over any axes, keepdims, any strides; mean, var, std and
the softmax ops' sums are built from these.

Accumulation follows numpy: the accumulator is the output dtype (numpy's ``dtype=``: int64
for small ints, the float itself for floats), each element cast to it as read; float sums
use numpy's pairwise summation along the innermost reduced run, so they agree with numpy to
a few ulps of the sum of magnitudes. Max/min propagate NaN, argmax/argmin give the first
NaN or extremum, as numpy. An empty reduction of an op without identity (max, argmax, ...)
runs the op's `perform`, which raises numpy's error.

The kernel source depends on the op's class and the dtypes only, so equal reductions over
different axes share one kernel; the loop order is chosen per call from the strides.
"""
from __future__ import annotations

import numpy as np

from ..ops import reduce as R
from ..types import is_float
from .cbackend import perform_of, reference_of

__all__ = ["lower_reduce"]

_INIT = {"Sum": "0", "Prod": "1", "ProdWithoutZeros": "1", "Any": "0", "All": "1"}
# combine(acc, v), v already cast to the accumulator type; Max/Min are spelled per dtype
_COMBINE = {"Sum": "acc + v", "Prod": "acc * v", "ProdWithoutZeros": "(v == 0 ? acc : acc * v)",
            "Any": "(acc || v)", "All": "(acc && v)"}


def _extreme(dtype, high):
    """The C literal a max (high=False) or min (high=True) starts from for `dtype`."""
    from .cbackend import c_literal
    if is_float(dtype):
        return "INFINITY" if high else "-INFINITY"
    if dtype == "bool":
        return "1" if high else "0"
    info = np.iinfo(dtype)
    return c_literal(info.max if high else info.min, dtype)


def _params(node):
    """The template parameters of reduction `node`, or None when it has no C kernel."""
    from .cbackend import CTYPE
    op, x, out = node.op, node.inputs[0], node.outputs[0]
    kind = type(op).__name__
    if x.dtype not in CTYPE or out.dtype not in CTYPE or x.ndim > 32:
        return None
    p = {"in_t": CTYPE[x.dtype], "out_t": CTYPE[out.dtype], "acc_t": CTYPE[out.dtype],
         "pairwise": False, "lanes": False, "init": "0", "combine": "", "better": ""}
    if kind in _INIT:
        p.update(kind="fold", init=_INIT[kind], combine=_COMBINE[kind],
                 pairwise=kind == "Sum" and is_float(out.dtype), lanes=kind in ("Any", "All"))
    elif kind in ("Max", "Min"):
        t, high = CTYPE[out.dtype], kind == "Min"
        if is_float(out.dtype):
            comb = f"sg_{kind.lower()}_{t}(acc, v)"
        else:
            comb = f"(v {'<' if high else '>'} acc ? v : acc)"
        p.update(kind="fold", init=_extreme(out.dtype, high), combine=comb, lanes=True)
    elif kind in ("Argmax", "Argmin"):
        cmp = ">" if kind == "Argmax" else "<"
        better = f"v {cmp} best"
        if is_float(x.dtype):
            better = f"({better} || (v != v && best == best))"
        p.update(kind="arg", acc_t=CTYPE[x.dtype], better=better)
    elif kind == "LogSumExp":
        if not is_float(out.dtype):
            return None
        p.update(kind="lse")
    else:
        return None
    return p


def _merge(shape, *strides):
    """Adjacent dims that are one run in memory (for every stride list) merged into one."""
    shape, strides = list(shape), [list(s) for s in strides]
    d = len(shape) - 2
    while d >= 0:
        if all(s[d] == s[d + 1] * shape[d + 1] for s in strides):
            shape[d] *= shape[d + 1]
            for s in strides:
                s[d] = s[d + 1]
                del s[d + 1]
            del shape[d + 1]
        d -= 1
    return shape, strides


def lower_reduce(node, omp_min=0):
    """(signature, render(name) -> source, make_thunk(lib, ffi, k) -> perform) for a
    reduction node, or None."""
    if not isinstance(node.op, R.Reduce):
        return None
    params = _params(node)
    if params is None:
        return None
    from .cbackend import render, _origin
    sig = ("reduce", type(node.op).__name__, node.inputs[0].dtype, node.outputs[0].dtype,
           omp_min)

    def source(name):
        return render("reduce", name=name, origin=f"{name}: {_origin(node)}",
                      omp_min=omp_min, **params)

    def thunk(lib, ffi, k):
        return _reduce_thunk(lib, ffi, k, node, params["kind"])
    return sig, source, thunk


def _reduce_thunk(lib, ffi, k, node, kind):
    op = node.op
    axes = op.axis
    ndim = node.inputs[0].ndim
    kept = [d for d in range(ndim) if d not in axes]
    out_dtype = node.outputs[0].type.numpy_dtype
    keep_shape = node.outputs[0].ndim != len(kept)
    needs_items = op.identity is None and kind != "lse"
    run, from_buffer, cast, ndarray = lib.sg_run, ffi.from_buffer, ffi.cast, np.ndarray

    reference = reference_of(node)

    def layout(shape, strides, itemsize):
        """(meta, kept shape, keepdims shape) for an input of this shape and strides."""
        rshape, (rst,) = _merge([shape[d] for d in axes], [strides[d] for d in axes])
        kshape = [shape[d] for d in kept]
        kso = list(np.empty(kshape, out_dtype).strides) if kshape else []
        kshape, (kst, kso) = _merge(kshape, [strides[d] for d in kept], kso)
        order = 0
        if kind == "fold" and kshape:
            inner_k = min((abs(s) for s, n in zip(kst, kshape) if n > 1), default=1 << 62)
            inner_r = min((abs(s) for s, n in zip(rst, rshape) if n > 1), default=1 << 62)
            order = 1 if inner_k < inner_r else 0
        meta = np.array([order, len(kshape), len(rshape), *kshape, *kst, *kso, *rshape, *rst],
                        dtype=np.int64)
        out_shape = tuple(shape[d] for d in kept)
        full_shape = tuple(1 if d in axes else shape[d] for d in range(ndim)) \
            if keep_shape else out_shape
        return from_buffer("int64_t[]", meta), out_shape, full_shape, meta

    layouts = {}            # (shape, strides) -> layout: read-only, so shared by threads

    def compute(args):
        x = args[0]
        if type(x) is not ndarray:
            x = np.asarray(x)
        key = (x.shape, x.strides)
        lay = layouts.get(key)
        if lay is None:
            if needs_items and any(x.shape[d] == 0 for d in axes):
                return reference(args)          # numpy's error
            if len(layouts) > 64:
                layouts.clear()
            lay = layouts[key] = layout(x.shape, x.strides, x.itemsize)
        meta, out_shape, full_shape, _ = lay
        out = np.empty(out_shape, out_dtype)
        xp = from_buffer(x) if x.flags.c_contiguous else cast("void *", x.ctypes.data)
        run(k, 0, [xp, from_buffer(out)], meta)
        return out.reshape(full_shape) if keep_shape else out
    perform = perform_of(compute)
    # native_entry.py calls kernel k itself with this layout, made in C
    perform.reduce = dict(k=k, lib=lib, ffi=ffi, in_dtype=node.inputs[0].type.numpy_dtype,
                          out_dtype=out_dtype, fold=kind == "fold", needs_items=needs_items,
                          keepdims=keep_shape, axes=tuple(axes), ndim=ndim)
    return perform
