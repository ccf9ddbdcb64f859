"""BLAS for the C backend: CBLAS function pointers from numpy's own OpenBLAS, and the C
kernels of `Dot` and `Gemm` (``kernels/c/gemm.c.j2``; `lower_dot` lowers both).

The provider is the BLAS library numpy itself uses, found at run time and called through
function pointers handed to the generated C (no link-time BLAS, no second thread pool:
two OpenBLAS pools in one process cost 3-100x, see ../shared/MEASUREMENTS.md):

1. numpy's wheel bundles ``numpy.libs/libscipy_openblas64_*.so`` (CBLAS with ILP64 ints,
   names ``scipy_cblas_dgemm64_``);
2. other installs: the BLAS library loaded into this process with numpy (read from
   ``/proc/self/maps``), with ``cblas_*`` names (ILP64 when numpy's build config says
   ``USE64BITINT`` or the names end in ``64_``).

When neither is found, Dot runs its numpy `perform` (``fn.maker.fgraph.placement`` says
``'py'``). The integer width is part of the rendered source, so it is part of the cache key.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

from ..ops.blas import Dot, Gemm
from .cbackend import perform_of, reference_of

__all__ = ["BlasProvider", "provider", "lower_dot", "lower_gemm"]

ROUTINES = ("dgemm", "dgemv", "dger", "ddot", "sgemm", "sgemv", "sger", "sdot")
SLOTS = {r: k for k, r in enumerate(ROUTINES)}      # index into the module's sg_fp table


class BlasProvider:
    """A loaded CBLAS: `path`, `ilp64` and the addresses of `ROUTINES` (in that order)."""

    def __init__(self, path, ilp64, addresses, names):
        self.path, self.ilp64, self.addresses, self.names = path, ilp64, addresses, names

    @property
    def blasint(self):
        return "int64_t" if self.ilp64 else "int"

    def __repr__(self):
        return f"BlasProvider({os.path.basename(self.path)}, ilp64={self.ilp64})"


_found = []


def _numpy_ilp64():
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return "USE64BITINT" in str(cfg.get("openblas configuration", "")) or \
            "ilp64" in str(cfg).lower()
    except Exception:                 # an unusual build: decide by the symbol names
        return None


def _candidates():
    """Paths of BLAS libraries numpy uses, most likely first."""
    root = os.path.dirname(os.path.dirname(np.__file__))
    out = sorted(glob.glob(os.path.join(root, "numpy.libs", "lib*openblas*.so*")))
    out += sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs",
                                         "lib*openblas*")))
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path).lower()
                if path.startswith("/") and ("blas" in name or "mkl_rt" in name) \
                        and path not in out:
                    out.append(path)
    except OSError:
        pass
    return out


def _load(path, ilp64_hint):
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix, ilp64 in (("scipy_cblas_", "64_", True), ("cblas_", "64_", True),
                                  ("scipy_cblas_", "", ilp64_hint), ("cblas_", "", ilp64_hint)):
        if ilp64 is None:
            continue
        try:
            fns = [getattr(lib, prefix + r + suffix) for r in ROUTINES]
        except AttributeError:
            continue
        addrs = [ctypes.cast(f, ctypes.c_void_p).value for f in fns]
        return BlasProvider(path, ilp64, addrs, [prefix + r + suffix for r in ROUTINES])
    return None


def provider():
    """numpy's CBLAS (a BlasProvider), or None when it cannot be found."""
    if not _found:
        hint = _numpy_ilp64()
        found = None
        for path in _candidates():
            found = _load(path, hint)
            if found is not None:
                break
        _found.append(found)
    return _found[0]


# -- the Dot kernel -------------------------------------------------------------------------

def _blas_matrix(a):
    """(array, row stride, column stride) in elements, BLAS-shaped (one unit stride, a
    leading dimension covering the other), copying `a` only when it is not."""
    item = a.itemsize
    rows, cols = a.shape
    st = a.strides
    if st[0] % item == 0 and st[1] % item == 0:
        rs, cs = st[0] // item, st[1] // item
        if rows == 1:
            rs = max(1, cols) if cs == 1 else 1
        if cols == 1:
            cs = max(1, rows) if rs == 1 else 1
        if (cs == 1 and rs >= max(1, cols)) or (rs == 1 and cs >= max(1, rows)):
            return a, rs, cs
    a = np.ascontiguousarray(a)
    return a, max(1, cols), 1


def _blas_vector(v):
    item = v.itemsize
    if v.shape[0] <= 1:
        return v, 1
    s = v.strides[0]
    if s > 0 and s % item == 0:
        return v, s // item
    return np.ascontiguousarray(v), 1


def lower_dot(node, omp_min=0):
    """(signature, render(name), make_thunk) for a float32/float64 Dot, or a Gemm
    (`lower_gemm`), or None."""
    if isinstance(node.op, Gemm):
        return lower_gemm(node, omp_min)
    if not isinstance(node.op, Dot):
        return None
    dtype = node.outputs[0].dtype
    if dtype not in ("float32", "float64") or \
            any(i.dtype not in ("float32", "float64") for i in node.inputs):
        return None
    prov = provider()
    if prov is None:
        return None
    from .cbackend import _origin, render
    t, p = ("double", "d") if dtype == "float64" else ("float", "s")
    fp = {r: SLOTS[p + r] for r in ("gemm", "gemv", "ger", "dot")}
    sig = ("dot", dtype, prov.blasint)

    def source(name):
        return render("gemm", name=name, origin=f"{name}: {_origin(node)}", t=t,
                      blasint=prov.blasint, fp=fp, scaled=False)

    def thunk(lib, ffi, k):
        return _dot_thunk(lib, ffi, k, node, prov)
    return sig, source, thunk


_installed = set()


def install(lib, ffi, prov):
    """Hand the provider's function pointers to a loaded module (once per module)."""
    if id(lib) not in _installed:
        ptrs = ffi.new("void *[]", [ffi.cast("void *", a) for a in prov.addresses])
        lib.sg_run(-1, len(prov.addresses), ptrs, ffi.NULL)
        _installed.add(id(lib))


def _dot_thunk(lib, ffi, k, node, prov):
    install(lib, ffi, prov)
    dtype = node.outputs[0].type.numpy_dtype
    nda, ndb = node.inputs[0].ndim, node.inputs[1].ndim
    run, from_buffer, cast, ndarray = lib.sg_run, ffi.from_buffer, ffi.cast, np.ndarray
    empty = np.empty

    def ptr(a):
        # from_buffer needs a contiguous buffer: a Fortran-ordered array's transpose is one
        if a.flags.c_contiguous:
            return from_buffer(a)
        if a.flags.f_contiguous:
            return from_buffer(a.T)
        return cast("void *", a.ctypes.data)

    reference = reference_of(node)

    def layout(a, b):
        """(copy a?, copy b?, meta, output shape, meta array) for operands of these
        shapes and strides (a copy's layout depends on its shape only)."""
        K = a.shape[-1]
        if nda == 2:
            a2, ars, acs = _blas_matrix(a)
            M = a.shape[0]
        else:
            (a2, acs), ars, M = _blas_vector(a), K, 1
        if ndb == 2:
            b2, brs, bcs = _blas_matrix(b)
            N = b.shape[1]
        else:
            (b2, brs), bcs, N = _blas_vector(b), 1, 1
        meta = np.array([M, N, K, ars, acs, brs, bcs], dtype=np.int64)
        return (a2 is not a, b2 is not b, from_buffer("int64_t[]", meta),
                a.shape[:-1] + b.shape[1:], meta)

    layouts = {}            # (shapes, strides) -> layout: read-only, so shared by threads

    def compute(args):
        a, b = args
        if type(a) is not ndarray or a.dtype is not dtype and a.dtype != dtype:
            a = np.asarray(a).astype(dtype, copy=False)
        if type(b) is not ndarray or b.dtype is not dtype and b.dtype != dtype:
            b = np.asarray(b).astype(dtype, copy=False)
        key = (a.shape, a.strides, b.shape, b.strides)
        lay = layouts.get(key)
        if lay is None:
            if b.shape[0] != a.shape[-1]:
                return reference([a, b])    # numpy's shape error
            if len(layouts) > 64:
                layouts.clear()
            lay = layouts[key] = layout(a, b)
        copy_a, copy_b, meta, out_shape, _ = lay
        if copy_a:
            a = np.ascontiguousarray(a)
        if copy_b:
            b = np.ascontiguousarray(b)
        out = empty(out_shape, dtype)
        run(k, 0, [ptr(a), ptr(b), from_buffer(out)], meta)
        return out
    perform = perform_of(compute)
    # native_entry.py calls kernel k itself for operands BLAS takes as they are
    perform.dot = dict(k=k, lib=lib, ffi=ffi, dtype=dtype, nda=nda, ndb=ndb)
    return perform


# -- the Gemm kernel: the Dot kernel with alpha and beta, into a copy of z (or z) ----------

def lower_gemm(node, omp_min=0):
    """(signature, render(name), make_thunk) for a Gemm (beta z + alpha dot(x, y)), or
    None when numpy's BLAS is not found."""
    if not isinstance(node.op, Gemm):
        return None
    prov = provider()
    if prov is None:
        return None
    from .cbackend import _origin, render
    dtype = node.outputs[0].dtype
    t, p = ("double", "d") if dtype == "float64" else ("float", "s")
    fp = {r: SLOTS[p + r] for r in ("gemm", "gemv", "ger", "dot")}
    sig = ("gemm", dtype, prov.blasint)

    def source(name):
        return render("gemm", name=name, origin=f"{name}: {_origin(node)}", t=t,
                      blasint=prov.blasint, fp=fp, scaled=True)

    def thunk(lib, ffi, k):
        return _gemm_thunk(lib, ffi, k, node, prov)
    return sig, source, thunk


def _gemm_thunk(lib, ffi, k, node, prov):
    install(lib, ffi, prov)
    dtype = node.outputs[0].type.numpy_dtype
    inplace = node.op.inplace
    nda, ndb = node.inputs[2].ndim, node.inputs[3].ndim
    run, from_buffer, ndarray, asarray = lib.sg_run, ffi.from_buffer, np.ndarray, np.asarray
    reference = reference_of(node)

    def ptr(a):
        if a.flags.c_contiguous:
            return from_buffer(a)
        if a.flags.f_contiguous:
            return from_buffer(a.T)
        return ffi.cast("void *", a.ctypes.data)

    def compute(args):
        z, alpha, a, b, beta = args[:5]         # the rest only order the schedule
        if type(a) is not ndarray or a.dtype != dtype:
            a = asarray(a).astype(dtype, copy=False)
        if type(b) is not ndarray or b.dtype != dtype:
            b = asarray(b).astype(dtype, copy=False)
        if b.shape[0] != a.shape[-1] or a.shape[:-1] + b.shape[1:] != np.shape(z) or \
                alpha == 0:
            return reference(args)          # the shape error; 0 * dot(x, y) as numpy
        if inplace and type(z) is ndarray and z.dtype == dtype and \
                z.flags.c_contiguous and z.flags.writeable:
            out = z
        else:
            out = np.array(z, dtype=dtype, order="C", copy=True)
        K = a.shape[-1]
        if nda == 2:
            a, ars, acs = _blas_matrix(a)
            M = a.shape[0]
        else:
            (a, acs), ars, M = _blas_vector(a), K, 1
        if ndb == 2:
            b, brs, bcs = _blas_matrix(b)
            N = b.shape[1]
        else:
            (b, brs), bcs, N = _blas_vector(b), 1, 1
        meta = np.array([M, N, K, ars, acs, brs, bcs], dtype=np.int64)
        scal = np.array([alpha, beta], dtype=dtype)
        run(k, 0, [ptr(a), ptr(b), from_buffer(out), from_buffer(scal[:1]),
                   from_buffer(scal[1:])], from_buffer("int64_t[]", meta))
        return out
    perform = perform_of(compute)
    # native_entry.py calls kernel k itself for operands BLAS takes as they are
    perform.gemm = dict(k=k, lib=lib, ffi=ffi, dtype=dtype, nda=nda, ndb=ndb,
                        inplace=bool(inplace))
    return perform
