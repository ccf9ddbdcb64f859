"""The C backend: a compiled function's C kernels rendered from ``kernels/c/*.c.j2``, built
into one cffi module, and run by the executor beside the numpy `perform` of the other nodes.

Choices (measured on the 2-core AVX2 build machine, see ../shared/MEASUREMENTS.md):

- **cffi API mode, gcc called directly** on ``ffi.emit_c_code()`` output (no setuptools: it
  adds ~90 ms and Python's ``-g``). A one-kernel module builds in about 0.25-0.3 s; a cached
  one loads in ~0.1-1 ms.
- **One exported function per module**, ``sg_run(k, n, data, meta)``, dispatching to
  ``static`` kernels by number: every exported cffi function costs ~45 ms of gcc time for its
  Python wrapper, so a 50-kernel module builds ~4x faster with one entry point.
- Flags: ``-O2 -march=native -fno-math-errno -ffp-contract=off -fwrapv -fopenmp-simd -g0``.
  ``-O2``, not ``-O3``: every hot loop is an ``omp simd`` loop, which gcc vectorises at -O2
  too (libmvec calls included), and -O3 doubled gcc's time (W4's module: 1.35 s against
  0.67) for no measurable speed (W2, W3, W4, W5, W6 within noise, 2026-11-24).
  ``-fno-math-errno`` plus hand-written ``simd("notinbranch")`` declarations of glibc's
  libmvec functions vectorises exp/log/sin/... (glibc declares them only under fast-math);
  no ``-ffast-math``, so NaN/Inf/-0.0 behave as numpy's. ``-ffp-contract=off`` keeps FMA
  contraction from changing results by an ulp; ``-fwrapv`` makes signed overflow wrap as
  numpy's does (plain C leaves it undefined). The libmvec results differ from numpy's by a
  few ulps (about 1e-16 relative).
- Each Elemwise kernel has a contiguous loop (``#pragma omp simd``; operands whose static
  type is all-1 are loaded once before the loop) and a strided n-d loop (byte strides, 0 on
  broadcast dimensions, any ndim, negative strides). The Python side picks one per call.
- The scalar expression comes from each op's ``c_expr``; `_SPELLINGS` gives the C spelling
  where C's semantics differ from numpy's (floor division and modulo of ints and floats with
  Python's signs, min/max NaN propagation, sign, abs of ints, bool invert, sigmoid and
  softplus helpers in ``kernels/c/prelude.c.j2``) or where another spelling is faster at
  the same accuracy (float64 tanh through expm1). Inputs are cast to the dtype numpy
  computes in, and ``<tgmath.h>`` picks the float32 functions (expf, ...) for float32.
- Other kernels, each in its own module: reductions (`reduce_c`, ``reduce.c.j2``), Dot
  through numpy's own OpenBLAS by function pointers (`blas`, ``gemm.c.j2``), softmax and
  the label crossentropies (`nnet_c`, ``softmax.c.j2``, ``crossentropy.c.j2``), advanced
  indexing and its increments (`subtensor_c`, ``take.c.j2``, ``inc_subtensor.c.j2``). Each is a
  `lowerings()` entry; nodes whose kernels would be equal share one.
- Kept in Python (their `perform`): complex dtypes, float16, integer power (numpy raises on
  negative exponents), erfinv/psi/trigamma, and every op without a lowering.
- OpenMP (``config.openmp``): ``-fopenmp``, and loops over more than `OMP_MIN` elements
  shared among ``OMP_NUM_THREADS`` threads, behind a C branch (a false OpenMP ``if()``
  clause still costs a libgomp call, ~1.5 us); not in functions that call BLAS, whose
  threads fight OpenMP's (`_uses_blas`), and with ``OMP_WAIT_POLICY=PASSIVE`` unless set.
- A call runs straight-line Python generated for the schedule (`CProgram`): values in
  locals, Elemwise kernels called inline (``ffi.from_buffer`` per array, ~0.35 us;
  constants' pointers taken once). Measured numbers: ``benchmarks/NOTES-cbackend.md``.
  Where the schedule is all Elemwise kernels, Function calls `native_entry` instead: the
  checks, shapes, allocations and kernels of the whole call in one C call, this Python its
  fallback. Other schedules make one C call per C node.

``fn.maker.fgraph.placement`` maps every node to ``'c'`` or ``'py'``; the program's
``source`` is the generated C and ``cache_info`` its cache key and parts
(``symgraph.codegen.cache.explain(fn)``).
"""
from __future__ import annotations

import os
import platform
import sysconfig

import numpy as np

from ..config import config
from ..ops.elemwise import Elemwise, _check_runtime_broadcast
from ..types import is_bool, is_float, is_int, upcast
from . import cache
from ..graph import Constant
from .executor import PyProgram, run_error
from .shared_kernels import constant_thunk_maker, shareable_lifts

__all__ = ["CProgram", "build_program", "lower_elemwise", "render", "templates",
           "lowerings", "perform_of", "reference_of",
           "CFLAGS", "LDFLAGS", "kernels_dir"]

CFLAGS = ("-O2", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-fwrapv",
          "-fopenmp-simd", "-g0", "-shared", "-fPIC", "-w")
LDFLAGS = ("-lm",)
# loops over more elements than this use OpenMP threads (config.openmp; OMP_NUM_THREADS
# sets how many): below it, starting the team costs more than the loop (measured, see the
# docstring)
OMP_MIN = 100_000
CDEF = "int sg_run(int k, int64_t n, void **data, const int64_t *meta);"

CTYPE = {"bool": "_Bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
         "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t",
         "uint64": "uint64_t", "float32": "float", "float64": "double"}
_INTS = [(CTYPE[d], d.startswith("int")) for d in
         ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")]

# glibc's libmvec: functions with vector variants (x86_64), by the glibc version adding them
_MVEC_UNARY = {(2, 22): ("cos", "sin", "exp", "log"),
               (2, 35): ("acos", "acosh", "asin", "asinh", "atan", "atanh", "cbrt", "cosh",
                         "erf", "erfc", "exp10", "exp2", "expm1", "log10", "log1p", "log2",
                         "sinh", "tan", "tanh")}
_MVEC_BINARY = {(2, 22): ("pow",), (2, 35): ("atan2", "hypot")}


def kernels_dir():
    """The folder of kernel templates: ``kernels/`` beside the package (a checkout or an
    editable install), else the one a wheel installs under ``<prefix>/share/symgraph``."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for cand in (os.path.join(here, "kernels"),
                 os.path.join(sysconfig.get_path("data"), "share", "symgraph", "kernels")):
        if os.path.isfile(os.path.join(cand, "c", "elemwise.c.j2")):
            return cand
    raise FileNotFoundError("symgraph's kernel templates (kernels/c/*.c.j2) are missing: "
                            f"looked beside the package ({here}) and under the install prefix")


_env = None


def templates():
    """The process's one jinja2 Environment over kernels/. Compiling a template to Python
    took 0.12-0.22 s of a cold compile for the six a training function uses, so their
    compiled form is kept, as Python keeps its bytecode: in ``kernels/__pycache__`` where
    that can be written, else under ``config.compiledir``; jinja2 checks each against its
    template's source before using it."""
    global _env
    if _env is None:
        import jinja2
        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(kernels_dir()),
                                  undefined=jinja2.StrictUndefined, trim_blocks=True,
                                  lstrip_blocks=True, keep_trailing_newline=True,
                                  autoescape=False, bytecode_cache=_template_cache(jinja2))
    return _env


def _template_cache(jinja2):
    for folder in (os.path.join(kernels_dir(), "__pycache__"),
                   os.path.join(config.compiledir, "templates")):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return jinja2.FileSystemBytecodeCache(folder, "%s.jinja2.cache")
    return None


def render(template, **params):
    """Render ``kernels/c/<template>.c.j2``."""
    return templates().get_template(f"c/{template}.c.j2").render(**params)


def _simd_decls():
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    lib, ver = platform.libc_ver()
    if lib != "glibc":
        return []
    try:
        have = tuple(int(p) for p in ver.split(".")[:2])
    except ValueError:
        return []
    out = []
    for table, nargs in ((_MVEC_UNARY, 1), (_MVEC_BINARY, 2)):
        for since, names in table.items():
            if have < since:
                continue
            for fn in names:
                for t, suf in (("double", ""), ("float", "f")):
                    args = ", ".join([t] * nargs)
                    out.append(f'__attribute__((simd("notinbranch"))) {t} {fn}{suf}({args});')
    return out


# -- scalar expressions ---------------------------------------------------------------------

def _cast(expr, frm, to):
    return expr if frm == to else f"(({CTYPE[to]})({expr}))"


def _float_helper(helper):
    def spell(sop, args, dts, out):
        if is_float(out):
            return f"sg_{helper}_{CTYPE[out]}({', '.join(_cast(a, d, out) for a, d in zip(args, dts))})"
        return _default(sop, args, dts, out)
    return spell


def _int_identity(sop, args, dts, out):
    if is_float(out):
        return _default(sop, args, dts, out)
    return _cast(args[0], dts[0], out)


def _divmod(helper):
    def spell(sop, args, dts, out):
        return f"sg_{helper}_{CTYPE[out]}({_cast(args[0], dts[0], out)}, {_cast(args[1], dts[1], out)})"
    return spell


def _abs(sop, args, dts, out):
    x = _cast(args[0], dts[0], out)
    if is_float(out):
        return f"fabs({x})"
    return f"(({x}) < 0 ? -({x}) : ({x}))"


def _compare(sop, args, dts, out):
    work = upcast(*dts)
    return sop.c_expr.format(*(_cast(a, d, work) for a, d in zip(args, dts)))


def _is_nan_inf(sop, args, dts, out):
    return sop.c_expr.format(args[0]) if is_float(dts[0]) else "0"


def _invert(sop, args, dts, out):
    x = _cast(args[0], dts[0], out)
    return f"(!({x}))" if is_bool(out) else f"(~({x}))"


def _switch(sop, args, dts, out):
    return f"(({args[0]}) ? {_cast(args[1], dts[1], out)} : {_cast(args[2], dts[2], out)})"


def _second(sop, args, dts, out):
    return _cast(args[1], dts[1], out)


def _cast_op(sop, args, dts, out):
    return _cast(args[0], dts[0], out)


def _pow(sop, args, dts, out):
    if not is_float(out):
        return None                  # numpy raises on negative integer exponents
    return _default(sop, args, dts, out)


def _default(sop, args, dts, out):
    if sop.c_expr is None:
        return None
    if len(args) > 2 and sop.associative:   # n-ary add/mul: numpy's left fold, dtype by dtype
        expr, dt = args[0], dts[0]
        for a, d in zip(args[1:], dts[1:]):
            w = upcast(dt, d) if not sop.cast_inputs else out
            expr, dt = sop.c_expr.format(_cast(expr, dt, w), _cast(a, d, w)), w
        return expr
    return sop.c_expr.format(*(_cast(a, d, out) for a, d in zip(args, dts)))


def _tanh(sop, args, dts, out):
    if out == "float64":
        return f"sg_tanh_double({_cast(args[0], dts[0], out)})"
    return _default(sop, args, dts, out)


def _minmax(helper):
    spell_f = _float_helper(helper)

    def spell(sop, args, dts, out):
        if is_float(out) and len(args) == 2:
            return spell_f(sop, args, dts, out)
        return _default(sop, args, dts, out) if len(args) == 2 else None
    return spell


def _clip(sop, args, dts, out):
    if not is_float(out):
        return _default(sop, args, dts, out)
    x, lo, hi = (_cast(a, d, out) for a, d in zip(args, dts))
    t = CTYPE[out]
    return f"sg_min_{t}(sg_max_{t}({x}, {lo}), {hi})"


def _sgn(sop, args, dts, out):
    if is_float(out):
        return f"sg_sgn_{CTYPE[out]}({_cast(args[0], dts[0], out)})"
    return _default(sop, args, dts, out)


def _unsupported(sop, args, dts, out):
    return None


# C spellings where `c_expr` alone would not match numpy, by scalar op class name
_SPELLINGS = {
    "IntDiv": _divmod("floordiv"), "Mod": _divmod("mod"), "Abs": _abs, "Sgn": _sgn,
    "Minimum": _minmax("min"), "Maximum": _minmax("max"), "Clip": _clip,
    "EQ": _compare, "NEQ": _compare, "LT": _compare, "LE": _compare, "GT": _compare,
    "GE": _compare, "IsNan": _is_nan_inf, "IsInf": _is_nan_inf, "Invert": _invert,
    "Switch": _switch, "Second": _second, "Cast": _cast_op, "Pow": _pow,
    "Floor": _int_identity, "Ceil": _int_identity, "Trunc": _int_identity,
    "Round": _int_identity,
    "Tanh": _tanh, "Gamma": _float_helper("gamma"), "Sigmoid": _float_helper("sigmoid"), "Softplus": _float_helper("softplus"),
    "Erfinv": _unsupported, "Psi": _unsupported, "TriGamma": _unsupported,
    "Real": _unsupported, "Imag": _unsupported, "Conj": _unsupported,
}


def scalar_c(sop, args, in_dtypes, out_dtype):
    """The C expression of scalar op `sop` on C expressions `args` of `in_dtypes`, giving
    `out_dtype`; None when it has no C spelling (the node then runs in Python)."""
    if out_dtype not in CTYPE or any(d not in CTYPE for d in in_dtypes):
        return None
    spell = _SPELLINGS.get(type(sop).__name__, _default)
    return spell(sop, list(args), list(in_dtypes), out_dtype)


def c_literal(value, dtype):
    """A scalar constant as a C literal of `dtype`."""
    t, kind = CTYPE[dtype], np.dtype(dtype).kind
    if kind == "b":
        return "1" if value else "0"
    if kind in "iu":
        v = int(value)
        if v == -(1 << 63):
            return "((int64_t)(-9223372036854775807LL - 1))"
        return f"(({t}){v}{'ULL' if kind == 'u' else 'LL'})"
    v = float(value)
    if v != v:
        return f"(({t})NAN)"
    if v in (float("inf"), float("-inf")):
        return f"(({t}){'' if v > 0 else '-'}INFINITY)"
    return f"(({t}){v!r})"


def composite_c(comp, args, dts):
    """C statements ``T tj = ...;`` for each step of a Composite (each step spelled as its
    own Elemwise node would be), or [] when a step has no C spelling."""
    lines, step_dts = [], []
    for j, (sop, refs, dtype) in enumerate(comp.steps):
        texts, adts = [], []
        for kind, k in refs:
            if kind == "i":
                texts.append(args[k])
                adts.append(dts[k])
            elif kind == "c":
                cdt = comp.consts[k][0]
                if cdt not in CTYPE:
                    return []
                texts.append(c_literal(np.asarray(comp._values[k]).item(), cdt))
                adts.append(cdt)
            else:
                texts.append(f"t{k}")
                adts.append(step_dts[k])
        expr = scalar_c(sop, texts, adts, dtype)
        if expr is None:
            return []
        lines.append(f"const {CTYPE[dtype]} t{j} = ({CTYPE[dtype]})({expr});")
        step_dts.append(dtype)
    return lines


# -- kernels --------------------------------------------------------------------------------

def _is_scalar_type(var):
    return all(s == 1 for s in var.type.shape)


def elemwise_expr(node):
    """How an Elemwise `node` is spelled in C (and CUDA): ``(output dtype, input dtypes,
    Composite temporaries, result expression)`` over arguments ``v0, v1, ...``, or None."""
    op = node.op
    if not isinstance(op, Elemwise) or len(node.outputs) != 1:
        return None
    out = node.outputs[0].dtype
    dts = [i.dtype for i in node.inputs]
    args = [f"v{k}" for k in range(len(dts))]
    body = []
    if type(op.scalar_op).__name__ == "Composite":
        body = composite_c(op.scalar_op, args, dts)
        expr = body and f"t{len(body) - 1}"
    else:
        expr = scalar_c(op.scalar_op, args, dts, out)
    return (out, dts, body, expr) if expr else None


def lower_elemwise(node, name, omp_min=0):
    """The C source of an Elemwise `node` as kernel `name`, or None; loops over more than
    `omp_min` elements use OpenMP threads (0: never)."""
    if node.outputs[0].ndim > 32:
        return None
    spelled = elemwise_expr(node)
    if spelled is None:
        return None
    out, dts, body, expr = spelled
    ins = [{"pos": k, "ctype": CTYPE[d], "scalar": _is_scalar_type(v)}
           for k, (v, d) in enumerate(zip(node.inputs, dts))]
    return render("elemwise", name=name, origin=f"{name}: {_origin(node)}", ins=ins,
                  out_ctype=CTYPE[out], expr=expr, body=body, omp_min=omp_min)


def _origin(node):
    # the op and types only: the user's line would make equal graphs miss the cache
    return (f"{node.op}({', '.join(str(i.type) for i in node.inputs)}) -> "
            f"{', '.join(str(o.type) for o in node.outputs)}")


def _signature(node):
    # what the kernel's source depends on: not the ndim, not the non-1 static sizes
    return (node.op, tuple((i.dtype, _is_scalar_type(i)) for i in node.inputs),
            tuple(o.dtype for o in node.outputs))


def perform_of(compute):
    """A `perform`-shaped function around ``compute(args) -> output`` (one output); the
    CProgram calls ``compute`` directly."""
    def perform(node, args, storage):
        storage[0][0] = compute(args)
    perform.compute = compute
    return perform


def reference_of(node):
    """``args -> output`` by the node's numpy `perform` (kernels fall back to it for the
    cases they leave to numpy, e.g. to raise numpy's error)."""
    op = node.op

    def reference(args):
        cells = [[None]]
        op.perform(node, args, cells)
        return cells[0][0]
    return reference


def _elemwise_thunk(lib, ffi, k, node):
    """A `perform`-shaped function calling kernel `k` for Elemwise `node`; its ``compute``
    attribute maps the input values to the output (the CProgram's fast path)."""
    op = node.op
    ndim = node.outputs[0].ndim
    dtype = node.outputs[0].type.numpy_dtype
    full = [i for i, v in enumerate(node.inputs) if not _is_scalar_type(v)]
    inplace = dict(op.inplace_pattern).get(0)
    run, from_buffer, cast, NULL = lib.sg_run, ffi.from_buffer, ffi.cast, ffi.NULL
    ndarray, empty = np.ndarray, np.empty
    scalar_shape = (1,) * ndim
    # constants: their pointers taken once (the arrays live as long as the graph)
    const_ptrs = [None] * len(node.inputs)
    for i, v in enumerate(node.inputs):
        data = getattr(v, "data", None) if isinstance(v, Constant) else None
        # only all-1 constants: a full-shaped one must still meet compute()'s shape check
        if type(data) is ndarray and data.flags.c_contiguous and \
                data.dtype == v.type.numpy_dtype and i != inplace and i not in full:
            const_ptrs[i] = from_buffer(data)
    checks = [(i, const_ptrs[i], i in full) for i in range(len(node.inputs))]
    first = full[0] if full else None

    def general(args):
        args = [a if type(a) is ndarray else np.asarray(a) for a in args]
        if full:
            shape = args[full[0]].shape
            same = all(args[i].shape == shape for i in full)
        else:
            shape, same = scalar_shape, all(a.shape == scalar_shape for a in args)
        if not same:
            _check_runtime_broadcast(op, node, args)
            shape = np.broadcast_shapes(*(a.shape for a in args))
        out = args[inplace] if inplace is not None else empty(shape, dtype)
        arrays = args + [out]
        if same and all(a.flags.c_contiguous for a in arrays):
            run(k, out.size, [from_buffer(a) for a in arrays], NULL)
        else:
            ptrs = [cast("void *", a.ctypes.data) for a in arrays]
            meta = list(shape)
            for a in arrays:
                meta += [0 if a.shape[d] == 1 and shape[d] != 1 else a.strides[d]
                         for d in range(ndim)]
            meta_arr = np.array(meta, dtype=np.int64)
            run(k, ndim, ptrs, from_buffer("int64_t[]", meta_arr))
        return out

    def compute(args):
        # the common case: ndarrays, C-contiguous, full inputs of one shape
        shape = scalar_shape if first is None else args[first].shape
        ptrs = []
        for i, ptr, is_full in checks:
            if ptr is None:
                a = args[i]
                if type(a) is not ndarray or (is_full and a.shape != shape) or \
                        (ndim and not a.flags.c_contiguous):
                    return general(args)
                ptr = from_buffer(a)
            ptrs.append(ptr)
        if inplace is None:
            out = empty(shape, dtype)
        else:
            out = args[inplace]
        ptrs.append(from_buffer(out))
        run(k, out.size, ptrs, NULL)
        return out

    def perform(node, args, storage):
        storage[0][0] = compute(args)
    perform.compute = compute
    # lib, ffi: native_entry.py takes sg_run's address from them (a C caller, no cffi call)
    perform.inline = dict(k=k, run=run, from_buffer=from_buffer, NULL=NULL, empty=empty,
                          lib=lib, ffi=ffi,
                          const_ptrs=const_ptrs, full=full, ndim=ndim, dtype=dtype,
                          inplace=inplace, scalar_shape=scalar_shape, general=general)
    return perform


def _lower_elemwise_node(node, omp_min=0):
    if not isinstance(node.op, Elemwise):
        return None
    if lower_elemwise(node, "k") is None:
        return None

    def thunk(lib, ffi, k):
        return _elemwise_thunk(lib, ffi, k, node)
    return _signature(node), (lambda name: lower_elemwise(node, name, omp_min)), thunk


def lowerings():
    """The functions that give a node its C kernel, tried in turn: each maps (node,
    omp_min) to (signature, render(name) -> source, make_thunk(lib, ffi, k) -> perform) or
    None. Nodes with equal signatures share one kernel."""
    from .blas import lower_dot
    from .nnet_c import lower_nnet
    from .reduce_c import lower_reduce
    from .subtensor_c import lower_subtensor
    return [_lower_elemwise_node, lower_reduce, lower_dot, lower_nnet, lower_subtensor]


class CProgram(PyProgram):
    """PyProgram's schedule with the nodes that have C kernels calling them instead.

    A call runs straight-line Python generated for this schedule (`_straight_line`, up to
    `STRAIGHT_LINE_MAX` steps): the values live in local variables, an Elemwise C node's
    common case (ndarrays, C-contiguous, full inputs of one shape) calls its kernel inline,
    other C nodes call their ``compute`` and the rest their `perform`. Longer schedules loop
    over one closure per step (`_looped`). With a profile or nan_guard it runs PyProgram's
    loop over the same kernels.
    """

    def __init__(self, fgraph, thunks, nan_guard=False):
        super().__init__(fgraph, nan_guard=nan_guard)
        self.steps = [(thunks.get(node, perform), node, ins, outs, frees)
                      for perform, node, ins, outs, frees in self.steps]
        # run_values(*inputs): the straight-line schedule called with the input values as
        # arguments, returning the one output itself (a list when there are several), which
        # Function's fast path calls directly (no list in, no list out: W1's call overhead)
        self.single = len(self.out_idx) == 1
        self.run_body = None
        if len(self.steps) <= STRAIGHT_LINE_MAX:
            self.run_source, self._run, self.run_values = _straight_line(self)
        else:
            self.run_source, self._run, self.run_values = None, _looped(self), None

    def __call__(self, inputs):
        if self.profile is not None or self.nan_guard:
            return super().__call__(inputs)
        return self._run(inputs)

    # a replayed program (replay.py) reads its source from the cache entry when asked
    _source = None
    _source_key = None

    @property
    def source(self):
        """The generated C of the program's kernels."""
        if self._source is None and self._source_key is not None:
            self._source = cache.source_of(self._source_key)
        return self._source

    @source.setter
    def source(self, text):
        self._source = text


# schedules up to this many steps run as generated straight-line Python; Python's compile()
# costs ~0.1-0.3 ms a step (measured), so longer ones loop over one closure per step
STRAIGHT_LINE_MAX = 40
# schedules up to this many steps are inlined into Function's generated fast call (a second
# compile() of the body: worth it only where the call's overhead is a large part)
INLINE_CALL_MAX = 8
# Composites of one function that differ only in +-*/ min/max constants share one kernel
# (fewer, faster gcc runs; shared_kernels.py says why results do not change)
SHARE_CONSTANT_KERNELS = True


def _looped(prog):
    """A function running `prog`'s schedule as a loop over one closure per step."""
    steps = [_fast_step(*step) for step in prog.steps]
    template, n, out_idx = prog.template, prog.n_inputs, prog.out_idx

    def run(inputs):
        vals = template.copy()
        vals[:n] = inputs
        for step in steps:
            step(vals)
        return [vals[i] for i in out_idx]
    return run


def _fast_step(perform, node, ins, outs, frees):
    """A closure running one step of the schedule on the value list."""
    compute = getattr(perform, "compute", None)
    if compute is not None and len(outs) == 1:
        (o,) = outs

        def fast(vals):
            args = [vals[i] for i in ins]
            try:
                vals[o] = compute(args)
            except Exception as e:
                raise run_error(node, args, e) from e
            for i in frees:
                vals[i] = None
        return fast

    def step(vals):
        args = [vals[i] for i in ins]
        cells = [[None] for _ in outs]
        try:
            perform(node, args, cells)
        except Exception as e:
            raise run_error(node, args, e) from e
        for j, cell in zip(outs, cells):
            vals[j] = cell[0]
        for i in frees:
            vals[i] = None
    return step


def _elemwise_inline(s, info, ins, out):
    """Lines computing Elemwise step `s` inline (kernel `info`), its general path else."""
    ns = {f"run{s}": info["run"], f"general{s}": info["general"], f"dt{s}": info["dtype"],
          f"shape{s}": info["scalar_shape"]}
    args = [f"v{i}" for i in ins]
    ptrs, types, shapes, contig = [], [], [], []
    full, first = info["full"], (info["full"][0] if info["full"] else None)
    for j, (a, ptr) in enumerate(zip(args, info["const_ptrs"])):
        if ptr is not None:
            ns[f"p{s}_{j}"] = ptr
            ptrs.append(f"p{s}_{j}")
            continue
        ptrs.append(f"fb({a})")
        types.append(f"type({a}) is ndarray")
        if j in full and j != first:
            shapes.append(f"{a}.shape == {args[first]}.shape")
        if info["ndim"]:
            contig.append(f"{a}.flags.c_contiguous")
    for j, ptr in enumerate(info["const_ptrs"][len(args):], start=len(args)):
        ns[f"p{s}_{j}"] = ptr                  # lifted constants (shared_kernels.py)
        ptrs.append(f"p{s}_{j}")
    cond = " and ".join(types + shapes + contig) or "True"
    inplace = info["inplace"]
    alloc = (args[inplace] if inplace is not None else
             f"empty({args[first] + '.shape' if first is not None else f'shape{s}'}, dt{s})")
    size = "1" if info["ndim"] == 0 else f"v{out}.size"
    lines = [f"if {cond}:",
             f"    v{out} = {alloc}",
             f"    run{s}({info['k']}, {size}, [{', '.join(ptrs)}, fb(v{out})], NULL)",
             "else:",
             f"    v{out} = general{s}([{', '.join(args)}])"]
    return lines, ns


def _straight_line(prog):
    """(source, function) running `prog`'s schedule as straight-line Python."""
    ns = {"ndarray": np.ndarray, "empty": np.empty}
    n = prog.n_inputs
    for i, val in enumerate(prog.template):
        if i >= n and val is not None:
            ns[f"v{i}"] = val                      # constants: globals of the function
    body = []
    for s, (perform, node, ins, outs, frees) in enumerate(prog.steps):
        body.append(f"k = {s}")
        info = getattr(perform, "inline", None)
        args = ", ".join(f"v{i}" for i in ins)
        if info is not None and len(outs) == 1:
            lines, extra = _elemwise_inline(s, info, ins, outs[0])
            ns.update(extra)
            ns.setdefault("fb", info["from_buffer"])
            ns.setdefault("NULL", info["NULL"])
            body += lines
        elif getattr(perform, "compute", None) is not None and len(outs) == 1:
            ns[f"compute{s}"] = perform.compute
            body.append(f"v{outs[0]} = compute{s}([{args}])")
        else:
            ns[f"perform{s}"], ns[f"node{s}"] = perform, node
            body.append(f"cells = [{', '.join('[None]' for _ in outs)}]")
            body.append(f"perform{s}(node{s}, [{args}], cells)")
            body += [f"v{o} = cells[{j}][0]" for j, o in enumerate(outs)]
        body += [f"v{i} = None" for i in frees]
    steps, template = prog.steps, prog.template

    def fail(k, exc, local):
        _, node, ins, _, _ = steps[k]
        return run_error(node, [local.get(f"v{i}", template[i]) for i in ins], exc)
    ns["fail"] = fail
    outs = ", ".join(f"v{i}" for i in prog.out_idx)
    inner = ["k = 0", "try:"] + [f"    {line}" for line in body or ["pass"]]
    inner += ["except Exception as e:",
              "    raise fail(k, e, locals()) from e",
              f"return {outs if len(prog.out_idx) == 1 else f'[{outs}]'}"]
    lines = [f"def run_values({', '.join(f'v{i}' for i in range(n))}):"]
    lines += [f"    {line}" for line in inner]
    lines += ["def run(inputs):",
              f"    return {'[run_values(*inputs)]' if len(prog.out_idx) == 1 else 'run_values(*inputs)'}"]
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<symgraph CProgram>", "exec"), ns)
    # short schedules: Function's fast path inlines this body (inputs named v0, v1, ...)
    # in its own generated call, over this namespace (one Python call less: W1)
    prog.run_body = (inner, ns) if len(prog.steps) <= INLINE_CALL_MAX else None
    return source, ns["run"], ns["run_values"]


def _uses_blas(fgraph):
    """Whether `fgraph` calls BLAS (OpenBLAS's threads and OpenMP's, both spinning on the
    same cores, made an MLP step's elementwise loops 40-100x slower: measured)."""
    from ..ops.blas import Dot, Gemm, MatMul, TensorDot
    return any(isinstance(n.op, (Dot, Gemm, MatMul, TensorDot)) or
               type(n.op).__module__.endswith(".linalg") for n in fgraph.apply_nodes)


def _start_inner_compiles(fgraph, mode):
    """Compile the inner functions of the nodes holding inner graphs (scan, ifelse) in
    threads while this module renders and builds: each is a module of its own, and their
    gcc runs beside this one's (W5's three modules: 1.45 -> 0.85 s cold on two cores).
    The executor's ``prepare_perform`` then finds them compiled, or waits on the inner
    graph's lock; a worker that failed leaves nothing behind, and the executor compiles
    again in the caller's thread, raising there. Not with a profile (its compile split is
    kept per thread) nor on one core. Returns the join."""
    nodes = [n for n in fgraph.toposort() if hasattr(n.op, "prepare_perform")]
    cpus = os.cpu_count() or 1
    if not nodes or cpus < 2 or mode.profile:
        return lambda: None
    from concurrent.futures import ThreadPoolExecutor

    def compile_inner(node):
        try:
            node.op.prepare_perform(node, mode)
        except Exception:       # the caller's thread compiles it again and raises
            pass
    pool = ThreadPoolExecutor(max_workers=min(len(nodes), cpus),
                              thread_name_prefix="symgraph-inner")
    for node in nodes:
        pool.submit(compile_inner, node)
    return lambda: pool.shutdown(wait=True)


def build_program(fgraph, mode, plan=None):
    """A CProgram for `fgraph` (a PyProgram when no node has a C kernel). Sets
    ``fgraph.placement``. Raises cache.NoCompilerError / CompileError when gcc fails.

    `plan`: the ``program.plan`` an earlier build of this very graph recorded (the graph
    cache keeps it): the kernels' module is then loaded by its key, with no rendering,
    when it is still on disk (`replay.program_from_plan`)."""
    join = _start_inner_compiles(fgraph, mode)
    try:
        return _build_program(fgraph, mode, plan)
    finally:
        join()


def _build_program(fgraph, mode, plan):
    if plan is not None:
        from .replay import program_from_plan
        prog = program_from_plan(fgraph, mode, plan)
        if prog is not None:
            return prog
    kernels, names, origins, lowered, by_sig = [], [], [], {}, {}
    rule_of = {}
    makers = {}
    rules = lowerings()
    omp_min = OMP_MIN if config.openmp and not _uses_blas(fgraph) else 0
    if omp_min:
        # OpenMP's team sleeps between loops instead of spinning against numpy's OpenBLAS
        # threads (the user's OMP_WAIT_POLICY wins; read when libgomp loads)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    order = fgraph.toposort()
    lifts = shareable_lifts(order, _signature) if SHARE_CONSTANT_KERNELS else {}
    for node in order:
        lifted = lifts.get(node)
        target = lifted[0] if lifted is not None else node
        for rule in rules:
            found = rule(target, omp_min)
            if found is not None:
                break
        if found is None:
            continue
        rule_of[node] = rule.__name__
        sig, source, make_thunk = found
        if lifted is not None:
            make_thunk = constant_thunk_maker(make_thunk, lifted[1])
        makers[node] = make_thunk
        if sig in by_sig:
            lowered[node] = by_sig[sig]
            continue
        name = f"k{len(kernels)}"
        kernels.append(source(name))
        names.append(name)
        origins.append(f"{name}: {_origin(target)}")
        by_sig[sig] = lowered[node] = len(kernels) - 1
    fgraph.placement = {node: ("c" if node in lowered else "py") for node in order}
    if not kernels:
        prog = PyProgram(fgraph, nan_guard=mode.nan_guard)
        prog.plan = {"module": None}
        return prog
    prelude = render("prelude", ints=_INTS,
                     floats=["float", "double"])
    source = render("module", origins=origins,
                    simd_decls=_simd_decls(), prelude=prelude, kernels=kernels, names=names)
    omp = ("-fopenmp",) if omp_min else ()
    mod, key, parts = cache.get_module(source, CDEF, CFLAGS + omp, LDFLAGS + omp)
    thunks = {node: makers[node](mod.lib, mod.ffi, k) for node, k in lowered.items()}
    prog = CProgram(fgraph, thunks, nan_guard=mode.nan_guard)
    prog.source = source
    prog.placement = fgraph.placement
    prog.cache_info = {"key": key, "parts": parts}
    # what a later process needs to rebuild this program from the same graph without
    # rendering: the module's key and, per node in schedule order, its kernel and lowering
    prog.plan = {"module": key, "share": SHARE_CONSTANT_KERNELS,
                 "nodes": [(lowered[n], rule_of[n]) if n in lowered else None for n in order]}
    # plan.py builds these thunks again over a module proxy that records their calls
    prog.module, prog.thunk_makers = mod, {n: (makers[n], k) for n, k in lowered.items()}
    return prog
