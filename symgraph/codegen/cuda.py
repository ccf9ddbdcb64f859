"""The CUDA backend (``config.device='cuda'``): kernels rendered from ``kernels/cuda/*.cu.j2``,
compiled by NVRTC, cached on disk by content, launched through cupy.

Choices (see ../shared/MEASUREMENTS.md, section 6):

- **Lowering shared with the C backend.** Elemwise expressions come from the same scalar
  ops' ``c_expr`` and `cbackend._SPELLINGS` (`cbackend.scalar_c`, `cbackend.composite_c`);
  ``kernels/cuda/prelude.cu.j2`` makes the C spellings (``int64_t``, ``_Bool``, ``NAN``,
  ``sg_floordiv_*``...) valid CUDA C++.
- **Kernels** (``extern "C"``, ``__launch_bounds__(BLOCK)``, grid-stride loops):
  Elemwise and fused Composites as a contiguous kernel plus a strided kernel for the node's
  ndim (element strides, 0 on broadcast dimensions, negative strides allowed); reductions
  (sum, prod, max, min, any, all over any axes) as one block per output row with a
  shared-memory tree (the reduced axes are moved last first); softmax and log-softmax
  (two trees per row); categorical crossentropy with integer labels (from probabilities or
  log-probabilities); inc_subtensor of rows
  by an integer vector with ``atomicAdd`` (repeated indices accumulate, as ``np.add.at``).
- **Through cupy:** dense algebra (dot, matmul, tensordot: cuBLAS), conv2d (im2col + gemm),
  basic indexing, dimshuffle, reshape, uniform and normal draws (cupy's generator seeded from the
  PCG64 state, which advances on the host: reproducible, but not numpy's numbers).
  Every other op runs its numpy `perform` on host copies of
  its inputs (``fgraph.placement`` says ``'py'`` for those, ``'cuda'`` for the others).
- **NVRTC through cupy's private `_NVRTCProgram`** (cupy's public API queries the device to
  pick the arch, so it cannot compile without a GPU): with a device, a cubin for its
  ``sm_XX``; without one, PTX for `DEFAULT_ARCH` (how CI checks that every kernel compiles).
- **Cache:** ``config.compiledir/cuda/<key[:2]>/<key>/`` holds ``source.cu``, the binary and
  ``meta.json``; key = sha256 over named parts (source, NVRTC version, options, target,
  `CACHE_FORMAT`), built under a per-key ``flock`` and published with ``os.replace``, so a
  second process loads the binary without compiling. An in-memory map key -> loaded module.
- Values: function inputs may be numpy or cupy arrays; outputs come back as numpy unless
  ``Out(y, borrow=True)`` (then a cupy array); shared variables hold cupy arrays and
  updates stay on the device.

Not yet: scan and ifelse bodies run as their own compiled functions on host copies of the
state each step (no device-resident loop); other shape ops (concatenate, alloc, ...)
and argmax/logsumexp run on the host; kernels have not been run on a GPU in CI (the device
tests in tests/cuda/test_cuda_device.py run when one is present).

Importing symgraph never imports cupy; this module imports it only when a function is
built for the device or a kernel is compiled.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from typing import NamedTuple

import numpy as np

from ..config import config
from ..errors import CompileError, SymgraphError
from ..ops.elemwise import _check_runtime_broadcast
from ..types import is_float
from .cbackend import CTYPE, _INTS, _is_scalar_type, _origin, elemwise_expr, templates
from .executor import PyProgram

__all__ = ["CudaUnavailableError", "CACHE_FORMAT", "BLOCK", "DEFAULT_ARCH", "NVRTC_OPTIONS",
           "LaunchPlan", "cupy_or_none", "device_available", "require_device",
           "nvrtc_version", "compile_source", "get_module", "render", "module_source",
           "lower_node", "elemwise_plan", "rows_plan", "reduce_plan", "build_program",
           "CudaProgram",
           "is_device_array", "device_filter", "to_device", "to_host", "conv2d_forward",
           "stats"]

CACHE_FORMAT = 1
BLOCK = 256                    # threads per block of every kernel (its __launch_bounds__)
MAX_GRID = 65535 * 32          # blocks at most; kernels loop over the rest (grid-stride)
DEFAULT_ARCH = "90"            # the target without a device (CI compiles PTX for it)
# -fmad=false: no FMA contraction, so products and sums round as numpy's do
NVRTC_OPTIONS = ("--std=c++14", "-fmad=false")

stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}
_loaded = {}                   # key -> cupy.RawModule
_lock = threading.Lock()


class CudaUnavailableError(SymgraphError, RuntimeError):
    """The CUDA backend was asked for but cupy, NVRTC or a device is missing."""


# -- cupy and the device ----------------------------------------------------------------------

def cupy_or_none():
    """The cupy module, or None when it is not installed."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def device_available() -> bool:
    """Whether cupy is installed and sees a CUDA device."""
    cp = cupy_or_none()
    if cp is None:
        return False
    try:
        return bool(cp.cuda.is_available())
    except Exception:
        return False


def require_device(what="config.device='cuda'"):
    """cupy, or CudaUnavailableError naming the missing piece."""
    cp = cupy_or_none()
    if cp is None:
        raise CudaUnavailableError(
            f"{what} needs cupy, which is not installed: pip install 'symgraph[cuda]' (or a "
            f"cupy-cuda12x / cupy-cuda13x wheel matching your driver), or use device='cpu'")
    if not device_available():
        raise CudaUnavailableError(
            f"{what} needs a CUDA device, but cupy {cp.__version__} sees none (no GPU or no "
            f"NVIDIA driver on this machine); use device='cpu'")
    return cp


def is_device_array(v) -> bool:
    """Whether `v` is a cupy array (without importing cupy)."""
    return type(v).__module__.split(".")[0] == "cupy"


def to_device(v):
    """`v` as a cupy array (numpy arrays and scalars are copied to the device)."""
    if is_device_array(v):
        return v
    if isinstance(v, (np.ndarray, np.generic)):
        return require_device().asarray(v)
    return v


def to_host(v):
    """`v` as a numpy array (cupy arrays are copied back)."""
    return v.get() if is_device_array(v) else v


def device_filter(ttype, value, allow_downcast=None, what="value"):
    """Check a cupy array against TensorType `ttype` as ``ttype.filter`` checks a numpy one:
    the same dtype (or a safe cast, or any cast with `allow_downcast`), ndim and static
    sizes. Returns the (possibly cast) cupy array."""
    want = ttype.numpy_dtype
    if value.dtype != want:
        if not (allow_downcast or np.can_cast(value.dtype, want, "safe")):
            raise TypeError(f"{what}: a cupy array of dtype {value.dtype} cannot be safely "
                            f"cast to {ttype.dtype} ({ttype}); cast it or pass "
                            f"allow_input_downcast=True")
        value = value.astype(want)
    if value.ndim != ttype.ndim:
        raise TypeError(f"{what}: expected {ttype.ndim}-d array ({ttype}), got {value.ndim}-d "
                        f"cupy array of shape {value.shape}")
    for i, (s, a) in enumerate(zip(ttype.shape, value.shape)):
        if s is not None and s != a:
            raise ValueError(f"{what}: dimension {i} must have size {s} ({ttype}), got shape "
                             f"{value.shape}")
    return value


# -- NVRTC and the cache ----------------------------------------------------------------------

def nvrtc_version():
    """NVRTC's (major, minor); CudaUnavailableError when cupy or libnvrtc cannot be loaded."""
    cp = cupy_or_none()
    if cp is None:
        raise CudaUnavailableError("NVRTC through cupy: cupy is not installed "
                                   "(pip install 'symgraph[cuda]')")
    try:
        from cupy.cuda import nvrtc
        return tuple(nvrtc.getVersion())
    except Exception as e:
        raise CudaUnavailableError(
            f"cupy {cp.__version__} cannot load NVRTC ({type(e).__name__}: {e}); install the "
            f"NVRTC wheel matching cupy's CUDA major version (nvidia-cuda-nvrtc-cu12 for "
            f"cupy-cuda12x)") from e


def target():
    """(kind, arch): ('cubin', the device's compute capability) with a device, else
    ('ptx', DEFAULT_ARCH)."""
    if device_available():
        import cupy
        return "cubin", str(cupy.cuda.Device().compute_capability)
    return "ptx", DEFAULT_ARCH


def _options(kind, arch):
    return NVRTC_OPTIONS + ((f"-arch=sm_{arch}",) if kind == "cubin" else
                            (f"-arch=compute_{arch}",))


def _root():
    return os.path.join(os.path.abspath(os.path.expanduser(config.compiledir)), "cuda")


def key_parts(source, kind, arch):
    """The named parts the key hashes (kept in meta.json to explain a miss)."""
    return {"cache_format": CACHE_FORMAT,
            "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
            "nvrtc": ".".join(map(str, nvrtc_version())),
            "options": " ".join(_options(kind, arch)), "target": f"{kind}:{arch}"}


def _nvrtc_compile(source, options, kind):
    from cupy.cuda import compiler
    prog = compiler._NVRTCProgram(source, name="symgraph.cu", method=kind)
    try:
        binary, _ = prog.compile(options)
    except compiler.CompileException as e:
        raise CompileError(f"NVRTC failed to compile a symgraph CUDA module:\n{e}") from e
    return binary if isinstance(binary, bytes) else bytes(binary)


def _read_entry(entry):
    try:
        with open(os.path.join(entry, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(entry, meta["binary"]), "rb") as f:
            data = f.read()
    except (OSError, ValueError, KeyError):
        return None, None
    if hashlib.sha256(data).hexdigest() != meta.get("binary_sha256"):
        return None, None
    return meta, data


def compile_source(source, kind=None, arch=None):
    """The compiled binary of CUDA `source` (PTX or cubin), from the disk cache or built now.
    Returns (path of the binary, key, parts)."""
    if kind is None:
        kind, arch = target()
    parts = key_parts(source, kind, arch)
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    shard = os.path.join(_root(), key[:2])
    entry = os.path.join(shard, key)
    meta, _ = _read_entry(entry)
    if meta is not None:
        stats["disk_hits"] += 1
        return os.path.join(entry, meta["binary"]), key, parts
    try:
        os.makedirs(shard, exist_ok=True)
    except OSError as e:
        raise CompileError(f"symgraph cannot write its CUDA cache under {_root()!r} ({e}); set "
                           f"config.compiledir to a writable folder") from e
    with open(os.path.join(shard, key + ".lock"), "a") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        meta, _ = _read_entry(entry)          # another process may have built it meanwhile
        if meta is not None:
            stats["disk_hits"] += 1
            return os.path.join(entry, meta["binary"]), key, parts
        if os.path.lexists(entry):
            shutil.rmtree(entry, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=shard)
        try:
            with open(os.path.join(tmp, "source.cu"), "w") as f:
                f.write(source)
            t0 = time.perf_counter()
            data = _nvrtc_compile(source, _options(kind, arch), kind)
            binary = "module." + kind
            with open(os.path.join(tmp, binary), "wb") as f:
                f.write(data)
            meta = {"key": key, "binary": binary, "binary_size": len(data),
                    "binary_sha256": hashlib.sha256(data).hexdigest(), "parts": parts,
                    "build_seconds": round(time.perf_counter() - t0, 4),
                    "created": time.time()}
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                json.dump(meta, f, indent=1)
            os.replace(tmp, entry)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    stats["builds"] += 1
    log = os.environ.get("SYMGRAPH_BUILD_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"cuda {key} {os.getpid()}\n")
    return os.path.join(entry, binary), key, parts


def get_module(source):
    """The loaded cupy.RawModule of `source` (needs a device). Returns (module, key, parts)."""
    cp = require_device("running CUDA kernels")
    path, key, parts = compile_source(source)
    mod = _loaded.get(key)
    if mod is not None:
        stats["memory_hits"] += 1
        return mod, key, parts
    with _lock:
        mod = _loaded.get(key)
        if mod is None:
            mod = cp.RawModule(path=path)
            _loaded[key] = mod
    return mod, key, parts


# -- rendering --------------------------------------------------------------------------------

def render(template, **params):
    """Render ``kernels/cuda/<template>.cu.j2``."""
    return templates().get_template(f"cuda/{template}.cu.j2").render(**params)


def _strides_tree(block):
    out, s = [], block // 2
    while s >= 1:
        out.append(s)
        s //= 2
    return out


def module_source(kernels, origins):
    """The whole CUDA source: origins comment, prelude, kernel sources."""
    prelude = render("prelude", ints=_INTS, floats=["float", "double"])
    return render("module", origins=origins, prelude=prelude, kernels=kernels)


class LaunchPlan(NamedTuple):
    """One kernel launch: the function name, grid (x, and y for the parts of a split row)
    and block size."""
    kernel: str
    grid: int
    block: int
    grid_y: int = 1


def elemwise_plan(name, n):
    """The launch of an elementwise-shaped kernel over `n` items (grid-stride beyond
    MAX_GRID blocks); None for n == 0."""
    if n == 0:
        return None
    return LaunchPlan(name, min(-(-n // BLOCK), MAX_GRID), BLOCK)


def rows_plan(name, rows):
    """The launch of a row kernel (softmax): one block per row."""
    if rows == 0:
        return None
    return LaunchPlan(name, min(rows, MAX_GRID), BLOCK)


SMALL_ROW = 16          # rows at most this long: one thread per row (`_small`)
SPLIT_ROW = 16 * BLOCK  # rows longer than this, when there are few: split over blocks
FEW_BLOCKS = 1024       # fewer (row, part) blocks than this leave a big GPU idle


def reduce_plan(name, rows, m):
    """The launches of a reduction of `rows` rows of `m` elements (kernels of
    reduce.cu.j2), with the `chunk` each block reduces: ([LaunchPlan...], chunk).
    Short rows: one thread per row. Long rows: one block per row; when rows are few and
    long, each row is split into parts over gridDim.y, then `_final` reduces the parts."""
    if rows == 0:
        return [], m
    if m <= SMALL_ROW and rows >= BLOCK:
        return [LaunchPlan(f"{name}_small", min(-(-rows // BLOCK), MAX_GRID), BLOCK)], m
    parts = 1
    if m > SPLIT_ROW and rows < FEW_BLOCKS:
        parts = min(-(-m // SPLIT_ROW), max(1, FEW_BLOCKS // rows))
    chunk = -(-m // parts) if m else 0
    parts = -(-m // chunk) if m else 1
    first = LaunchPlan(name, min(rows, MAX_GRID), BLOCK, parts)
    if parts == 1:
        return [first], chunk
    return [first, LaunchPlan(f"{name}_final", min(rows, MAX_GRID), BLOCK)], chunk


# -- lowering: node -> (kernel source, device thunk factory) ----------------------------------

_REDUCE = {"Sum", "Prod", "ProdWithoutZeros", "Max", "Min", "Any", "All"}


def _elemwise_source(node, name):
    spelled = elemwise_expr(node)
    if spelled is None:
        return None
    op = node.op
    out, dts, body, expr = spelled
    inplace = dict(op.inplace_pattern).get(0)
    ins = [{"pos": k, "ctype": CTYPE[d], "scalar": _is_scalar_type(v), "restrict": k != inplace}
           for k, (v, d) in enumerate(zip(node.inputs, dts))]
    return render("elemwise", name=name, origin=f"{name}: {_origin(node)}", ins=ins,
                  out_ctype=CTYPE[out], expr=expr, body=body, ndim=node.outputs[0].ndim,
                  block=BLOCK)


def _literal(value, ctype):
    if ctype == "_Bool":
        return "true" if value else "false"
    return f"(({ctype}){int(value)})"


def _reduce_source(node, name):
    op = node.op
    kind = type(op).__name__
    if kind not in _REDUCE:
        return None
    din, dout = node.inputs[0].dtype, node.outputs[0].dtype
    if din not in CTYPE or dout not in CTYPE:
        return None
    acc = CTYPE[dout]
    if kind in ("Max", "Min") and is_float(dout):
        combine = f"sg_{kind.lower()}_{acc}(a, b)"
    else:
        combine = op.combine.format(a="a", b="b")
    if op.identity is None:
        init = f"(({acc})row[lo])"
    else:
        init = _literal(op.identity, acc)
    return render("reduce", name=name, origin=f"{name}: {_origin(node)}", in_ctype=CTYPE[din],
                  out_ctype=CTYPE[dout], acc=acc, combine=combine, init=init, block=BLOCK,
                  strides=_strides_tree(BLOCK))


def _softmax_source(node, name):
    kind = type(node.op).__name__
    dt = node.outputs[0].dtype
    if kind not in ("Softmax", "LogSoftmax") or node.inputs[0].dtype != dt or not is_float(dt):
        return None
    return render("softmax", name=name, origin=f"{name}: {_origin(node)}", ctype=CTYPE[dt],
                  log=kind == "LogSoftmax", block=BLOCK, strides=_strides_tree(BLOCK))


def _crossentropy_source(node, name):
    kind = type(node.op).__name__
    if kind not in ("CrossentropyCategorical1Hot", "NegLogProb1Hot"):
        return None
    p, labels = node.inputs
    if p.dtype not in ("float32", "float64") or labels.dtype not in CTYPE:
        return None
    return render("crossentropy", name=name, origin=f"{name}: {_origin(node)}",
                  ctype=CTYPE[p.dtype], label_ctype=CTYPE[labels.dtype], block=BLOCK,
                  from_log=kind == "NegLogProb1Hot")


_ATOMIC = ("float32", "float64", "int32", "int64", "uint32", "uint64")


def _inc_rows_ok(node):
    op = node.op
    if type(op).__name__ != "AdvancedIncSubtensor" or op.set_instead_of_inc:
        return False
    if len(op.idx_list) != 1 or not isinstance(op.idx_list[0], str):
        return False
    x, v, idx = node.inputs
    return (x.dtype in _ATOMIC and v.dtype == x.dtype and idx.ndim == 1
            and idx.dtype in CTYPE and idx.dtype != "bool" and x.ndim >= 1
            and v.ndim == x.ndim)


def _inc_rows_source(node, name):
    if not _inc_rows_ok(node):
        return None
    x, v, idx = node.inputs
    return render("inc_rows", name=name, origin=f"{name}: {_origin(node)}",
                  ctype=CTYPE[x.dtype], idx_ctype=CTYPE[idx.dtype], block=BLOCK)


_LOWER = (_elemwise_source, _reduce_source, _softmax_source, _crossentropy_source,
          _inc_rows_source)


def lower_node(node, name):
    """(kind, CUDA source) of the kernel(s) named `name`... for `node`, or None when it has
    no generated kernel. kind is one of 'elemwise', 'reduce', 'softmax', 'crossentropy',
    'inc_rows'."""
    for fn in _LOWER:
        src = fn(node, name)
        if src is not None:
            return fn.__name__[1:-len("_source")], src
    return None


def kernel_names(kind, name):
    """The ``extern "C"`` functions a lowered kernel of `kind` defines."""
    if kind == "elemwise":
        return [f"{name}_contig", f"{name}_strided"]
    if kind == "reduce":
        return [name, f"{name}_final", f"{name}_small"]
    return [name]


def launch_args_elemwise(node, shapes, strides_list, itemsizes, contiguous):
    """The scalar arguments of an elemwise launch: (n,) for the contiguous kernel; n, the
    output shape and each operand's element strides (0 where it broadcasts) for the strided
    one. `shapes`/`strides_list`/`itemsizes` cover the inputs then the output."""
    out_shape = shapes[-1]
    n = int(np.prod(out_shape, dtype=np.int64))
    if contiguous:
        return [np.int64(n)]
    args = [np.int64(n)] + [np.int64(s) for s in out_shape]
    for shape, strides, size in zip(shapes, strides_list, itemsizes):
        for d in range(len(out_shape)):
            bcast = shape[d] == 1 and out_shape[d] != 1
            args.append(np.int64(0 if bcast else strides[d] // size))
    return args


def reduce_layout(shape, axes, keepdims):
    """(permutation moving `axes` last, rows, row length, output shape) of a reduction."""
    keep = [d for d in range(len(shape)) if d not in axes]
    perm = keep + sorted(axes)
    rows = int(np.prod([shape[d] for d in keep], dtype=np.int64))
    m = int(np.prod([shape[d] for d in axes], dtype=np.int64))
    if keepdims:
        out = tuple(1 if d in axes else shape[d] for d in range(len(shape)))
    else:
        out = tuple(shape[d] for d in keep)
    return perm, rows, m, out


# -- device thunks ----------------------------------------------------------------------------

def _launch(fn, plan, args):
    grid = (plan.grid,) if plan.grid_y == 1 else (plan.grid, plan.grid_y)
    fn(grid, (plan.block,), tuple(args))


def _elemwise_thunk(mod, name, node):
    import cupy as cp
    op = node.op
    contig_fn = mod.get_function(f"{name}_contig")
    strided_fn = mod.get_function(f"{name}_strided")
    dtype = node.outputs[0].type.numpy_dtype
    ndim = node.outputs[0].ndim
    full = [i for i, v in enumerate(node.inputs) if not _is_scalar_type(v)]
    inplace = dict(op.inplace_pattern).get(0)

    def perform(node, args, storage):
        args = [to_device(a) for a in args]
        args = [a.astype(v.dtype) if a.dtype != v.type.numpy_dtype else a
                for a, v in zip(args, node.inputs)]
        shapes = [a.shape for a in args]
        if full:
            shape = shapes[full[0]]
            same = all(shapes[i] == shape for i in full)
        else:
            shape, same = (1,) * ndim, True
        if not same or not full:
            _check_runtime_broadcast(op, node, args)
            shape = tuple(np.broadcast_shapes(*shapes)) if shapes else ()
        out = args[inplace] if inplace is not None else cp.empty(shape, dtype)
        plan = elemwise_plan(name, out.size)
        if plan is not None:
            contiguous = same and all(args[i].flags.c_contiguous for i in full) and \
                out.flags.c_contiguous and all(a.size == 1 for k, a in enumerate(args)
                                               if k not in full)
            arrays = args + [out]
            scal = launch_args_elemwise(node, [a.shape for a in arrays],
                                        [a.strides for a in arrays],
                                        [a.itemsize for a in arrays], contiguous)
            _launch(contig_fn if contiguous else strided_fn, plan, scal + arrays)
        storage[0][0] = out
    return perform


def _reduce_thunk(mod, name, node):
    import cupy as cp
    op = node.op
    fns = {k: mod.get_function(k) for k in kernel_names("reduce", name)}
    dtype = node.outputs[0].type.numpy_dtype
    host = _host_thunk(node)

    def perform(node, args, storage):
        x = to_device(args[0])
        perm, rows, m, oshape = reduce_layout(x.shape, op.axis, op.keepdims)
        if m == 0 and op.identity is None and rows:
            return host(node, args, storage)            # numpy's error for an empty max
        xt = cp.ascontiguousarray(x.transpose(perm))
        out = cp.empty(rows, dtype)
        plans, chunk = reduce_plan(name, rows, m)
        if len(plans) == 1:
            _launch(fns[plans[0].kernel], plans[0], (np.int64(rows), np.int64(m),
                                                     np.int64(chunk), xt, out))
        elif plans:
            first, final = plans
            parts = np.int64(first.grid_y)
            partial = cp.empty(rows * first.grid_y, dtype)
            _launch(fns[first.kernel], first, (np.int64(rows), np.int64(m), np.int64(chunk),
                                               xt, partial))
            _launch(fns[final.kernel], final, (np.int64(rows), parts, parts, partial, out))
        storage[0][0] = out.reshape(oshape)
    return perform


def _softmax_thunk(mod, name, node):
    import cupy as cp
    fn = mod.get_function(name)
    axis = node.op.axis

    def perform(node, args, storage):
        x = to_device(args[0])
        xt = cp.ascontiguousarray(cp.moveaxis(x, axis, -1))
        out = cp.empty_like(xt)
        rows = xt.size // xt.shape[-1] if xt.shape[-1] else 0
        plan = rows_plan(name, rows)
        if plan is not None:
            _launch(fn, plan, (np.int64(rows), np.int64(xt.shape[-1]), xt, out))
        storage[0][0] = cp.moveaxis(out, -1, axis)
    return perform


def _crossentropy_thunk(mod, name, node):
    import cupy as cp
    fn = mod.get_function(name)
    dtype = node.outputs[0].type.numpy_dtype
    op = node.op

    def perform(node, args, storage):
        p, labels = (to_device(a) for a in args)
        m = p.shape[-1]
        out = cp.empty(labels.shape, dtype)
        rows = out.size
        p2 = cp.ascontiguousarray(p).reshape(rows, m) if rows else p
        lab = cp.ascontiguousarray(labels).reshape(rows)
        bad = cp.zeros(1, np.int32)
        plan = elemwise_plan(name, rows)
        if plan is not None:
            if m == 0:
                raise IndexError(f"{op}: a label is out of range for 0 classes")
            _launch(fn, plan, (np.int64(rows), np.int64(m), p2, lab, out, bad))
            if int(to_host(bad)[0]):
                raise IndexError(f"{op}: a label is out of range for {m} classes")
        storage[0][0] = out
    return perform


def _inc_rows_thunk(mod, name, node):
    import cupy as cp
    fn = mod.get_function(name)
    op = node.op

    def perform(node, args, storage):
        x, v, idx = (to_device(a) for a in args)
        out = x if op.inplace and x.flags.c_contiguous else cp.array(x, order="C")
        n = idx.shape[0]
        want = (n,) + x.shape[1:]
        try:
            v = cp.ascontiguousarray(cp.broadcast_to(v, want))
        except ValueError:
            raise ValueError(f"{op}: cannot add values of shape {v.shape} to the indexed "
                             f"rows of shape {want}") from None
        inner = int(np.prod(x.shape[1:], dtype=np.int64))
        bad = cp.zeros(1, np.int32)
        plan = elemwise_plan(name, n * inner)
        if plan is not None:
            _launch(fn, plan, (np.int64(n), np.int64(inner), np.int64(x.shape[0]),
                               np.int64(inner), cp.ascontiguousarray(idx), v, out, bad))
            if int(to_host(bad)[0]):
                raise IndexError(f"{op}: an index is out of bounds for axis 0 with size "
                                 f"{x.shape[0]}")
        storage[0][0] = out
    return perform


_THUNKS = {"elemwise": _elemwise_thunk, "reduce": _reduce_thunk, "softmax": _softmax_thunk,
           "crossentropy": _crossentropy_thunk, "inc_rows": _inc_rows_thunk}


# -- ops through cupy (no generated kernel) -----------------------------------------------------

def conv2d_forward(op, x, w, dtype, xp=np):
    """Conv2d's forward pass as im2col + one batched gemm with array module `xp` (numpy or
    cupy): the same geometry (padding, strides, dilation, flip) as ``op.forward``."""
    ph, pw, ho, wo = op._geometry(x.shape, w.shape)
    n = x.shape[0]
    o, _, kh, kw = w.shape
    cols = op._cols(x, kh, kw, ph, pw, ho, wo, dtype, xp=xp)
    w2 = xp.ascontiguousarray(op._eff(w).astype(dtype, copy=False)).reshape(o, -1)
    out = xp.matmul(w2, cols)
    return out.reshape(n, o, ho, wo)


def _cast_out(node, value):
    return value.astype(node.outputs[0].type.numpy_dtype, copy=False)


def _cupy_dot(node, args):
    import cupy as cp
    return _cast_out(node, cp.dot(*args))


def _cupy_matmul(node, args):
    import cupy as cp
    a, b = args
    if a.ndim >= 3 or b.ndim >= 3:
        return None                 # the reference checks broadcasting of batch dims
    return _cast_out(node, cp.matmul(a, b))


def _cupy_tensordot(node, args):
    import cupy as cp
    return _cast_out(node, cp.tensordot(args[0], args[1],
                                        (list(node.op.axes_a), list(node.op.axes_b))))


def _cupy_conv2d(node, args):
    import cupy as cp
    return conv2d_forward(node.op, args[0], args[1], node.outputs[0].type.numpy_dtype, cp)


def _cupy_read(node, args):
    x, *idx = args
    index = node.op._np_index([to_host(i) for i in idx])
    return x[index]


def _own_perform(node, args):
    """The op's numpy `perform` on cupy arrays: the numpy functions it calls (np.sum,
    np.exp, np.transpose...) dispatch to cupy (``__array_function__``/``__array_ufunc__``).
    None (the host runs it) when the perform converts to numpy, which cupy refuses."""
    cell = [None]
    try:
        node.op.perform(node, args, [cell])
    except TypeError:
        return None
    return cell[0] if is_device_array(cell[0]) else None


def _cupy_reshape(node, args):
    x, shp = args
    return _own_perform(node, [x, to_host(shp)])      # the shape vector is read on the host


def _labels_flat(op, labels, m):
    """Flat row offsets r * m + label (negative labels wrap), IndexError when out of range."""
    import cupy as cp
    lab = labels.reshape(-1).astype(np.int64)
    if lab.size and bool(((lab < -m) | (lab >= m)).any()):
        raise IndexError(f"{op}: a label is out of range for {m} classes")
    return cp.arange(lab.size, dtype=np.int64) * m + lab % max(m, 1)


def _cupy_scatter_grad(node, args):
    """NegLogProb1HotGrad (-g at the labels) and CrossentropyCategorical1HotGrad
    (-g / p at the labels) into zeros like the distribution."""
    import cupy as cp
    g, p, y = args
    dtype = node.outputs[0].type.numpy_dtype
    m = p.shape[-1]
    flat = _labels_flat(node.op, y, m)
    vals = -g.reshape(-1)
    if type(node.op).__name__ == "CrossentropyCategorical1HotGrad":
        vals = vals / p.reshape(-1)[flat]
    out = cp.zeros(p.size, dtype)
    out[flat] = vals.astype(dtype)
    return out.reshape(p.shape)


_CUPY_OPS = {"DimShuffle": _own_perform, "SoftmaxGrad": _own_perform,
             "LogSoftmaxGrad": _own_perform, "_AxisSum": _own_perform, "Reshape": _cupy_reshape,
             "Dot": _cupy_dot, "MatMul": _cupy_matmul, "TensorDot": _cupy_tensordot,
             "Gemm": _own_perform,
             "Conv2d": _cupy_conv2d, "Subtensor": _cupy_read,
             "NegLogProb1HotGrad": _cupy_scatter_grad,
             "CrossentropyCategorical1HotGrad": _cupy_scatter_grad}


def _random_thunk(node):
    """uniform / normal draws with cupy's generator (XORWOW), seeded from the node's PCG64
    state, which advances on the host as the reference's does: a device stream is
    reproducible from the same seed but differs from numpy's numbers."""
    import cupy as cp
    from ..ops.random import pack_state, unpack_state
    op = node.op
    ftype = np.dtype(op.dtype)

    def perform(node, args, storage):
        state, size, *params = args
        g = unpack_state(to_host(state))
        seed = int(g.integers(2 ** 63))
        params = [to_device(p) for p in params]
        if op.has_size:
            shape = tuple(int(v) for v in to_host(size))
        else:
            shape = tuple(np.broadcast_shapes(*(p.shape for p in params)))
        rg = cp.random.default_rng(seed)
        a, b = params
        if op.dist == "uniform":
            sample = a + (b - a) * rg.random(shape, dtype=ftype)
        else:
            if bool((b < 0).any()):
                raise ValueError(f"{op}: scale < 0")
            sample = a + b * rg.standard_normal(shape, dtype=ftype)
        storage[0][0] = pack_state(g)
        storage[1][0] = cp.ascontiguousarray(cp.broadcast_to(sample, shape).astype(ftype))
    return perform


def _random_ok(node):
    op = node.op
    return (type(op).__name__ == "RandomVariable" and op.dist in ("uniform", "normal")
            and op.dtype in ("float32", "float64") and len(node.inputs) == 4)


def _cupy_thunk(fn, node):
    host = _host_thunk(node)

    def perform(node, args, storage):
        dev = [to_device(a) for a in args]
        out = fn(node, dev)
        if out is None:
            return host(node, args, storage)
        storage[0][0] = out
    return perform


def _host_thunk(node, perform=None):
    """Run the node's numpy `perform` on host copies; outputs go back to the device."""
    perform = perform or node.op.perform

    def run(node, args, storage):
        perform(node, [to_host(a) for a in args], storage)
        for cell in storage:
            if isinstance(cell[0], (np.ndarray, np.generic)):
                cell[0] = to_device(np.asarray(cell[0]))
    return run


# -- the program ------------------------------------------------------------------------------

class CudaProgram(PyProgram):
    """PyProgram's schedule with device thunks. Inputs are moved to the device; outputs come
    back as numpy arrays except those in ``borrow`` (indices) and the updates, which stay on
    the device. ``host_only``: the numpy reference on host copies (mode='py' with device
    shared variables)."""

    def __init__(self, fgraph, thunks, nan_guard=False, host_only=False):
        super().__init__(fgraph, nan_guard=nan_guard)
        self.host_only = host_only
        if not host_only:
            # constants live on the device once, not copied in each call
            self.template = [to_device(v) if isinstance(v, np.ndarray) else v
                             for v in self.template]
            self.steps = [(thunks.get(node) or _host_thunk(node, perform), node, ins, outs,
                           frees) for perform, node, ins, outs, frees in self.steps]
        self.n_out = getattr(fgraph, "n_outputs", len(fgraph.outputs))
        self.borrow = set(k for k, b in enumerate(getattr(fgraph, "borrow_outputs", ()))
                          if b)

    def __call__(self, inputs):
        if self.host_only:
            results = super().__call__([to_host(v) for v in inputs])
            return [to_host(r) if k < self.n_out else to_device(r)
                    for k, r in enumerate(results)]
        results = super().__call__([to_device(v) for v in inputs])
        out = []
        for k, r in enumerate(results):
            if k >= self.n_out or k in self.borrow:
                out.append(to_device(r))
            else:
                out.append(to_host(r))
        return out


def build_program(fgraph, mode):
    """The program of `fgraph` under ``config.device='cuda'``: generated kernels for the nodes
    that have one (`lower_node`), cupy for dense algebra and conv2d, the numpy `perform` on
    host copies for the rest. mode='py' and DebugMode run the numpy reference on host copies.
    Sets ``fgraph.placement``."""
    order = fgraph.toposort()
    fgraph.mode = mode         # ops with inner graphs (ifelse, scan) compile them in this mode
    if mode.name in ("py", "DebugMode"):
        fgraph.placement = {node: "py" for node in order}
        if not device_available():       # no device values can exist: plain numpy
            return PyProgram(fgraph, nan_guard=mode.nan_guard)
        return CudaProgram(fgraph, {}, nan_guard=mode.nan_guard, host_only=True)
    require_device()
    kernels, origins, lowered, by_sig = [], [], {}, {}
    for node in order:
        if getattr(node.op, "prepare_perform", None) is not None:
            continue
        sig = (node.op, tuple(i.type for i in node.inputs), tuple(o.type for o in node.outputs))
        if sig in by_sig:
            lowered[node] = by_sig[sig]
            continue
        name = f"sg_k{len(kernels)}"
        res = lower_node(node, name)
        if res is not None:
            kind, src = res
            kernels.append(src)
            origins.append(f"{name}: {_origin(node)}")
            by_sig[sig] = lowered[node] = (kind, name)
    thunks = {}
    prog_info = {}
    if kernels:
        source = module_source(kernels, origins)
        mod, key, parts = get_module(source)
        prog_info = {"source": source, "cache_info": {"key": key, "parts": parts}}
        for node, (kind, name) in lowered.items():
            thunks[node] = _THUNKS[kind](mod, name, node)
    for node in order:
        if node in thunks or getattr(node.op, "prepare_perform", None) is not None:
            continue
        if type(node.op).__name__ in _CUPY_OPS:
            thunks[node] = _cupy_thunk(_CUPY_OPS[type(node.op).__name__], node)
        elif _random_ok(node):
            thunks[node] = _random_thunk(node)
    fgraph.placement = {node: ("cuda" if node in thunks else "py") for node in order}
    prog = CudaProgram(fgraph, thunks, nan_guard=mode.nan_guard)
    prog.placement = fgraph.placement
    prog.source = prog_info.get("source")
    prog.cache_info = prog_info.get("cache_info")
    return prog
