"""A compiled function's native entry point: one CPython call that checks the arguments
and runs the whole schedule (issue 10, W1).

The runner (``kernels/c/entry.c``) is one module for all functions: the extension
``symgraph._entry`` that setup.py builds at install time, or, where that did not build,
the same source built once per compiledir and cached like the kernels. Each function
hands it a flat int64 plan of its `CProgram`'s schedule. It checks the inputs as the
generated Python call does (exact ndarray, dtype, ndim, static sizes; anything else, and
keywords, go to that call, its fallback, before anything has run). Then per step: an
Elemwise kernel is called from C, with its output allocated there, when its arguments are
ndarrays: one contiguous call when they are C-contiguous and of one shape, else its strided
call over their broadcast shape and strides (a bias row, a transpose: 19 -> 0.4 us for a
4x3 ``x + row``; what does not broadcast as the types allow goes to the step's
``general``, which raises the error); a DimShuffle's view, a Reshape's view (or copy, as
numpy.reshape), a Subtensor's view, Shape, Shape_i and an int64 MakeVector are made in C
(a flatten before a Dot 7.9 -> 0.95 us, ``x[1:, :2] * 2`` 3.2 -> 0.41 us); a Dot's or
Gemm's BLAS kernel when BLAS takes both operands as they are (a Gemm into z itself when in place,
else into z's copy; else their ``compute``, which copies or casts); a reduction's kernel
with the layout its ``compute`` would make (else that ``compute``); other steps call their
``compute`` or ``perform``. A step that raises is
reported by `run_error` (op, values, the user's line), as on the Python path. Shared
variables' values are read from their containers after the checks; results that could
alias are copied and the updates written under the function's lock, as
`Function._call_general` does. Measured on W1 (``x + 1`` on a 0-d array, one core): 1.47
us through the generated Python and one cffi call, 0.25 us here, against numpy's own 0.96.
"""
from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import threading

import numpy as np

from . import cache
from ..config import config
from ..ops.elemwise import DimShuffle
from ..ops.shape import MakeVector, Reshape, Shape, Shape_i
from ..ops.subtensor import Slice as SliceEntry, Subtensor
from .executor import run_error

__all__ = ["entry_for", "native_plan"]

# steps over at least this many elements (a Dot: multiply-adds) release the GIL while their
# kernel runs (below it, releasing and taking the GIL back costs more than others gain)
NOGIL_MIN = 16_384
# take the runner setup.py built when it imports (tests set False to check the cache's)
USE_INSTALLED = True
# step kinds (kernels/c/entry.c)
ELEMWISE, COMPUTE, PERFORM, DOT, REDUCE, GEMM, DIMSHUFFLE, SHAPE = 0, 1, 2, 3, 4, 5, 6, 7
# SHAPE steps: which op
SHAPE_I, MAKEVECTOR, RESHAPE, SHAPE_OF, SUBTENSOR = 0, 1, 2, 3, 4

_runner = None
_runner_failed = None        # why the runner could not be built (no second try)
_runner_lock = threading.Lock()


def _runner_new():
    """``new(spec) -> entry`` of the runner: the extension setup.py built at install time,
    else the same source built into the compile cache (loaded from there once built)."""
    global _runner
    with _runner_lock:
        if _runner is not None:
            return _runner
        from .cbackend import CFLAGS, kernels_dir
        with open(os.path.join(kernels_dir(), "c", "entry.c"), "rb") as f:
            data = f.read()
        if USE_INSTALLED:
            try:
                from .. import _entry
                # only when built from this very source (an editable install whose entry.c
                # changed since would read plans it does not know)
                if getattr(_entry, "source_sha256", None) == hashlib.sha256(data).hexdigest():
                    _runner = _entry.new
            except ImportError:
                pass
        if _runner is None:
            source = data.decode()
            # the full C API (the type object, numpy's macros): cffi's limited API off; a
            # call numpy's headers do not declare fails the build, not the later dlopen
            flags = tuple(f for f in CFLAGS if f != "-w") + (
                "-Werror=implicit-function-declaration", "-D_CFFI_NO_LIMITED_API",
                "-I", np.get_include())
            mod, _, _ = cache.get_module(source, "void *sg_entry_new(void *spec);", flags,
                                         label="runtime")
            address = int(mod.ffi.cast("intptr_t", mod.ffi.addressof(mod.lib, "sg_entry_new")))
            # PYFUNCTYPE: called with the GIL held, a NULL result raises the C error set
            _runner = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(address)
        return _runner


def native_plan(program, n_inputs, single, n_out=None, shared=(), updates=(), copy=None,
                lock=None):
    """(plan bytes, keep tuple) for `program`'s schedule, or None when it has none the
    runner can take (a nan_guard, an Elemwise kernel outside a cffi module).

    `n_inputs` explicit inputs, then one per `shared` container (its ``value`` read at each
    call); the program's results are `n_out` outputs, then one new value per `updates`
    container, written under `lock`; `copy[k]`: result k is copied before it is returned
    or stored (it could alias an input, a constant or another result)."""
    steps, template = program.steps, program.template
    n_res = len(program.out_idx)
    n_out = n_res if n_out is None else n_out
    copy = [False] * n_res if copy is None else list(copy)
    if not steps or program.n_inputs != n_inputs + len(shared) or \
            n_res != n_out + len(updates) or len(copy) != n_res or \
            (updates and lock is None) or getattr(program, "nan_guard", False):
        return None

    def on_error(s, args, exc):
        raise run_error(steps[s][1], args, exc) from exc

    keep, index = [on_error, _copy, program], {}

    def obj(o):
        if id(o) not in index:
            index[id(o)] = len(keep)
            keep.append(o)
        return index[id(o)]

    fgraph = program.fgraph
    code = [n_inputs, len(template), len(steps), n_out, int(single), len(shared),
            len(updates)]
    for v in fgraph.inputs[:n_inputs]:
        t = v.type
        code += [obj(t.numpy_dtype), t.ndim] + [-1 if s is None else s for s in t.shape]
    code += [obj(c) for c in shared]
    consts = [(i, val) for i, val in enumerate(template) if i >= n_inputs and val is not None]
    code.append(len(consts))
    for i, val in consts:
        code += [i, obj(val)]
    for perform, node, ins, outs, frees in steps:
        info = getattr(perform, "inline", None)
        compute = getattr(perform, "compute", None)
        head = [len(ins), len(outs), len(frees), *frees, *outs]
        if info is not None and len(outs) == 1:
            ffi, ptrs, full, inplace = info["ffi"], info["const_ptrs"], info["full"], \
                info["inplace"]
            address = _kernel_address(info)
            if address is None:
                return None
            head[0] = len(ptrs)
            code += [ELEMWISE, *head, address, info["k"], -1 if inplace is None else inplace,
                     obj(info["dtype"]), info["ndim"], NOGIL_MIN, obj(info["general"]),
                     len(ins), *ins]
            for j, ptr in enumerate(ptrs):
                if ptr is not None:
                    # a constant's pointer, taken once; the program (kept) keeps it alive
                    code += [1, int(ffi.cast("intptr_t", ptr)), 0]
                else:
                    # which dims may broadcast at run time (the strided call's check)
                    shape = node.inputs[j].type.shape
                    ones = sum(1 << (1 + d) for d, n in enumerate(shape[:32]) if n == 1)
                    code += [0, ins[j], int(j in full) | ones]
        elif getattr(perform, "dot", None) is not None and len(ins) == 2:
            d = perform.dot
            address = _kernel_address(d)
            if address is None:
                return None
            code += [DOT, *head, address, d["k"], obj(d["dtype"]), d["nda"], d["ndb"],
                     NOGIL_MIN, obj(compute), *ins]
        elif getattr(perform, "gemm", None) is not None and len(ins) >= 5:
            g = perform.gemm
            address = _kernel_address(g)
            if address is None:
                return None
            code += [GEMM, *head, address, g["k"], obj(g["dtype"]), g["nda"], g["ndb"],
                     NOGIL_MIN, obj(compute), int(g["inplace"]), *ins]
        elif getattr(perform, "reduce", None) is not None and len(ins) == 1:
            r = perform.reduce
            address = _kernel_address(r)
            if address is None:
                return None
            code += [REDUCE, *head, address, r["k"], obj(r["in_dtype"]), obj(r["out_dtype"]),
                     int(r["fold"]), int(r["needs_items"]), int(r["keepdims"]), NOGIL_MIN,
                     obj(compute), len(r["axes"]), *r["axes"], r["ndim"], *ins]
        elif compute is not None and len(outs) == 1:
            code += [COMPUTE, *head, obj(compute), *ins]
        elif type(node.op) is DimShuffle and perform == node.op.perform and len(ins) == 1:
            op = node.op
            code += [DIMSHUFFLE, *head, obj(perform), obj(node), op.input_ndim,
                     len(op.new_order), *(-1 if o == "x" else o for o in op.new_order),
                     len(op.drop), *op.drop, *ins]
        elif perform == node.op.perform and len(outs) == 1 and \
                (shape_step := _shape_step(node)) is not None:
            which, data = shape_step
            code += [SHAPE, *head, obj(perform), obj(node), which, len(data), *data, *ins]
        else:
            code += [PERFORM, *head, obj(perform), obj(node), *ins]
    code += program.out_idx
    code += [int(bool(c)) for c in copy]
    code += [obj(c) for c in updates]
    if updates:
        code.append(obj(lock))
    return np.array(code, dtype=np.int64).tobytes(), tuple(keep)


def _shape_step(node):
    """(which, data) of a SHAPE step for `node`, or None when the runner does not make its
    value (kernels/c/entry.c `shape_step`)."""
    op = node.op
    if type(op) is Shape_i:
        return SHAPE_I, [op.i]
    if type(op) is MakeVector and op.dtype == "int64":
        return MAKEVECTOR, []
    if type(op) is Reshape:
        return RESHAPE, [op.ndim]
    if type(op) is Shape:
        return SHAPE_OF, []
    if type(op) is Subtensor:
        return _subtensor_index(op.idx_list)
    return None


def _subtensor_index(idx_list):
    """A Subtensor's index as entry.c's `subtensor` reads it, or None."""
    sym = itertools.count()

    def part(p):
        if p is None:
            return [0, 0]
        if isinstance(p, str):                  # a symbolic input, in order
            return [2, next(sym)]
        return [1, p] if abs(p) < 1 << 62 else None

    data = []
    for e in idx_list:
        if e is None:
            data.append(0)
            continue
        parts = list(e) if isinstance(e, SliceEntry) else [e]
        coded = [part(p) for p in parts]
        if any(c is None for c in coded):
            return None
        data += [2 if isinstance(e, SliceEntry) else 1, *(v for c in coded for v in c)]
    return SUBTENSOR, data


def _copy(value):
    return np.array(value, copy=True)


def _kernel_address(info):
    """sg_run's address in the module of a thunk's `info` (its lib and ffi), or None when
    that is not a cffi module (plan.py's recording proxy)."""
    ffi = info["ffi"]
    try:
        return int(ffi.cast("intptr_t", ffi.addressof(info["lib"], "sg_run")))
    except (TypeError, AttributeError):
        return None


def entry_for(program, n_inputs, single, fallback, **results):
    """A callable running `program` natively, `fallback(*args, **kwargs)` for the calls it
    does not take; None when the program's schedule is not one it can run, or when the
    runner cannot be built (no compiler: the Python call is as correct, only slower).
    `results`: native_plan's shared inputs, updates and copies."""
    plan = native_plan(program, n_inputs, single, **results)
    if plan is None:
        return None
    code, keep = plan
    global _runner_failed
    if _runner_failed is not None:
        return None
    try:
        new = _runner_new()
    except (cache.CompileError, OSError) as e:
        # no compiler, a read-only or full compiledir: the Python call is as correct
        _runner_failed = e
        return None
    return new((fallback, keep, code, config.alloc_cache_mb << 20))
