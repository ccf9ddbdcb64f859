"""The neural-network ops in C: Softmax, LogSoftmax and their gradients along any axis
(``kernels/c/softmax.c.j2``), the integer-label crossentropies NegLogProb1Hot,
CrossentropyCategorical1Hot and their gradients (``kernels/c/crossentropy.c.j2``), and the
crossentropy of a softmax in one pass a row, CrossentropySoftmax1Hot and its gradient
CrossentropySoftmax1HotDx (``kernels/c/xent_softmax.c.j2``).

Each line along the axis is computed as the numpy reference does (max-shifted exponentials,
then one sum), so results agree to a few ulps; a label out of range raises the reference's
IndexError (the op's `perform` is run to raise it).
"""
from __future__ import annotations

import numpy as np

from ..ops import nnet as N
from .cbackend import perform_of, reference_of

__all__ = ["lower_nnet"]

_AXIS_KINDS = {N.Softmax: "softmax", N.LogSoftmax: "log_softmax",
               N.SoftmaxGrad: "softmax_grad", N.LogSoftmaxGrad: "log_softmax_grad"}
_LABEL_KINDS = {N.NegLogProb1Hot: "nll", N.CrossentropyCategorical1Hot: "xent",
                N.NegLogProb1HotGrad: "nll_grad", N.CrossentropyCategorical1HotGrad: "xent_grad"}
_XENT_KINDS = {N.CrossentropySoftmax1Hot: "loss", N.CrossentropySoftmax1HotDx: "dx"}
_FLOATS = ("float32", "float64")
_LABELS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def lower_nnet(node, omp_min=0):
    """(signature, render(name), make_thunk) for a softmax-family or label crossentropy
    node of float32/float64, or None."""
    from .cbackend import CTYPE, _origin, render
    kind = _AXIS_KINDS.get(type(node.op))
    out = node.outputs[0].dtype
    if kind is not None:
        if out not in _FLOATS or any(i.dtype not in _FLOATS for i in node.inputs):
            return None
        in_t = [CTYPE[i.dtype] for i in node.inputs]
        sig = ("softmax", kind, tuple(i.dtype for i in node.inputs), out, omp_min)

        def source(name):
            return render("softmax", name=name, origin=f"{name}: {_origin(node)}", kind=kind,
                          nin=len(in_t), in_t=in_t, t=CTYPE[out], omp_min=omp_min)

        def thunk(lib, ffi, k):
            return _axis_thunk(lib, ffi, k, node)
        return sig, source, thunk
    if type(node.op) in _XENT_KINDS:
        return _lower_xent_softmax(node, _XENT_KINDS[type(node.op)], omp_min)
    kind = _LABEL_KINDS.get(type(node.op))
    if kind is None or out not in _FLOATS:
        return None
    labels = node.inputs[-1]
    if labels.dtype not in CTYPE or node.inputs[-2].dtype != out:
        return None
    sig = ("crossentropy", kind, out)

    def source(name):
        return render("crossentropy", name=name, origin=f"{name}: {_origin(node)}", kind=kind,
                      t=CTYPE[out])

    def thunk(lib, ffi, k):
        return _label_thunk(lib, ffi, k, node, kind)
    return sig, source, thunk


def _elements(a, dtype):
    """`a` as `dtype` with strides that are whole elements (copied when not)."""
    a = np.asarray(a)
    if a.dtype != dtype:
        a = a.astype(dtype)
    if any(s % a.itemsize for s in a.strides):
        a = np.ascontiguousarray(a)
    return a


def _axis_thunk(lib, ffi, k, node):
    from .reduce_c import _merge
    axis = node.op.axis
    dtypes = [i.type.numpy_dtype for i in node.inputs]
    out_dtype = node.outputs[0].type.numpy_dtype
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast

    def ptr(a):
        return from_buffer(a) if a.flags.c_contiguous else cast("void *", a.ctypes.data)

    reference = reference_of(node)

    def compute(args):
        arrays = [_elements(a, d) for a, d in zip(args, dtypes)]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays) or axis >= len(shape):
            return reference(args)
        out = np.empty(shape, out_dtype)
        ops = arrays + [out]
        kept = [d for d in range(len(shape)) if d != axis]
        kshape, kst = _merge([shape[d] for d in kept],
                             *[[a.strides[d] // a.itemsize for d in kept] for a in ops])
        meta = np.array([len(kshape), *kshape, *[s for st in kst for s in st], shape[axis],
                         *[a.strides[axis] // a.itemsize for a in ops]], dtype=np.int64)
        if out.size:
            run(k, 0, [ptr(a) for a in ops], from_buffer("int64_t[]", meta))
        return out
    return perform_of(compute)


def _label_thunk(lib, ffi, k, node, kind):
    out_dtype = node.outputs[0].type.numpy_dtype
    grad = kind.endswith("_grad")
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast

    reference = reference_of(node)

    def compute(args):
        a = _elements(args[-2], out_dtype)
        y = np.asarray(args[-1])
        n = a.shape[-1] if a.ndim else 0
        lead = a.shape[:-1]
        if a.ndim < 1 or y.shape != lead or a.size == 0:
            return reference(args)
        a2 = a.reshape(-1, n) if a.ndim != 2 else a
        if any(s % a2.itemsize for s in a2.strides):
            a2 = np.ascontiguousarray(a2)
        rows = a2.shape[0]
        labels = np.ascontiguousarray(y.reshape(-1), dtype=np.int64)
        out = np.empty(a.shape if grad else lead, out_dtype)
        ptrs = [cast("void *", a2.ctypes.data), from_buffer(labels)]
        if grad:
            g = np.ascontiguousarray(np.broadcast_to(np.asarray(args[0], out_dtype), lead))
            ptrs.append(from_buffer(g))
        ptrs.append(from_buffer(out))
        meta = np.array([rows, n, a2.strides[0] // a2.itemsize if rows > 1 else n,
                         a2.strides[1] // a2.itemsize], dtype=np.int64)
        if rows and run(k, 0, ptrs, from_buffer("int64_t[]", meta)) != 0:
            return reference(args)     # the reference's IndexError
        return out
    return perform_of(compute)


def _lower_xent_softmax(node, kind, omp_min):
    from .cbackend import CTYPE, _origin, render
    out = node.outputs[0].dtype
    bias = node.op.bias
    x, labels = node.inputs[1 if kind == "dx" else 0], node.inputs[-1]
    floats = [x] + ([node.inputs[-2]] if bias else [])
    if out not in _FLOATS or any(v.dtype != out for v in floats) or \
            labels.dtype not in _LABELS:
        return None
    sig = ("xent_softmax", kind, bias, out, labels.dtype, omp_min)

    def source(name):
        return render("xent_softmax", name=name, origin=f"{name}: {_origin(node)}", kind=kind,
                      bias=bias, t=CTYPE[out], f="f" if out == "float32" else "",
                      lt=CTYPE[labels.dtype], signed_labels=labels.dtype.startswith("int"),
                      omp_min=omp_min)

    def thunk(lib, ffi, k):
        return _xent_softmax_thunk(lib, ffi, k, node, kind)
    return sig, source, thunk


def _xent_softmax_thunk(lib, ffi, k, node, kind):
    dtype = node.outputs[0].type.numpy_dtype
    label_dtype = node.inputs[-1].type.numpy_dtype
    bias, dx = node.op.bias, kind == "dx"
    run, from_buffer, cast = lib.sg_run, ffi.from_buffer, ffi.cast
    reference = reference_of(node)

    def compute(args):
        x = np.asarray(args[1 if dx else 0])
        y = np.asarray(args[-1])
        if x.ndim < 1 or x.dtype != dtype or y.dtype != label_dtype or x.size == 0 or \
                y.shape != x.shape[:-1]:
            return reference(args)     # empty rows, and numpy's errors for bad shapes
        n = x.shape[-1]
        lead = x.shape[:-1]
        ptrs = []
        x2 = x.reshape(-1, n)
        # contiguous rows (a copy otherwise: strided exponentials would not vectorise)
        if x2.strides[1] != x2.itemsize or x2.strides[0] % x2.itemsize:
            x2 = np.ascontiguousarray(x2)
        rows = x2.shape[0]
        ptrs.append(cast("void *", x2.ctypes.data))
        if bias:
            b = np.ascontiguousarray(args[-2])
            if b.shape != (n,) or b.dtype != dtype:
                return reference(args)
            ptrs.append(from_buffer(b))
        labels = np.ascontiguousarray(y.reshape(-1))
        ptrs.append(from_buffer(labels))
        if dx:
            g = np.asarray(args[0])
            g = np.ascontiguousarray(np.broadcast_to(g.astype(dtype, copy=False), lead))
            ptrs.append(from_buffer(g))
        out = np.empty(x.shape if dx else lead, dtype)
        ptrs.append(from_buffer(out))
        meta = np.array([rows, n, x2.strides[0] // x2.itemsize if rows > 1 else n],
                        dtype=np.int64)
        if run(k, 0, ptrs, from_buffer("int64_t[]", meta)) != 0:
            return reference(args)     # the reference's IndexError naming the label
        return out
    return perform_of(compute)
