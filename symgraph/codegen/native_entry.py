"""A compiled function's native entry point: one CPython call that checks the arguments,
computes the shapes, allocates the outputs and runs every kernel (issue 10, W1).

Taken where a `CProgram`'s schedule is all Elemwise C kernels (the common case of small
functions: ``x + 1``, a fused loss term). The runner (``kernels/c/entry.c``) is one module
for the process, built once and cached on disk like the kernels; each function hands it a
flat int64 plan of its schedule. A call the runner does not take (keywords, a list, another
dtype, a shape that needs broadcasting at run time, a strided view) goes to the function's
generated Python call before anything has run, so conversions and error messages are that
path's. Measured on W1 (``x + 1`` on a 0-d array, one core): 1.47 us through the Python
call and one cffi call, 0.4 us here, against numpy's own 0.95 us.
"""
from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from . import cache

__all__ = ["entry_for", "native_plan"]

# steps over at least this many elements release the GIL while their kernel runs (below
# it, releasing and taking the GIL back costs more than other threads gain)
NOGIL_MIN = 16_384
# longer schedules gain nothing measurable from one call less (their kernels dominate)
MAX_STEPS = 64

_runner = None
_runner_lock = threading.Lock()


def _runner_new():
    """``sg_entry_new(spec) -> entry`` of the process's runner module (built or loaded)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from .cbackend import CFLAGS, kernels_dir
            with open(os.path.join(kernels_dir(), "c", "entry.c")) as f:
                source = f.read()
            # the full C API (the type object, numpy's macros): cffi's limited API off
            flags = CFLAGS + ("-D_CFFI_NO_LIMITED_API", "-I", np.get_include())
            mod, _, _ = cache.get_module(source, "void *sg_entry_new(void *spec);", flags,
                                         label="runtime")
            address = int(mod.ffi.cast("intptr_t", mod.ffi.addressof(mod.lib, "sg_entry_new")))
            # PYFUNCTYPE: called with the GIL held, a NULL result raises the C error set
            _runner = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(address)
        return _runner


def native_plan(program, n_inputs, single):
    """(plan bytes, keep tuple) for `program`, or None when its schedule is not all
    Elemwise kernels the runner can take."""
    steps, template = program.steps, program.template
    if not steps or len(steps) > MAX_STEPS or program.n_inputs != n_inputs or \
            getattr(program, "nan_guard", False):
        return None
    keep, index = [program], {}

    def obj(o):
        if id(o) not in index:
            index[id(o)] = len(keep)
            keep.append(o)
        return index[id(o)]

    fgraph = program.fgraph
    code = [n_inputs, len(template), len(steps), len(program.out_idx), int(single)]
    for v in fgraph.inputs[:n_inputs]:
        t = v.type
        code += [obj(t.numpy_dtype), t.ndim] + [-1 if s is None else s for s in t.shape]
    consts = [(i, val) for i, val in enumerate(template) if i >= n_inputs and val is not None]
    if any(type(val) is not np.ndarray for _, val in consts):
        return None
    code.append(len(consts))
    for i, val in consts:
        code += [i, obj(val)]
    for perform, node, ins, outs, frees in steps:
        info = getattr(perform, "inline", None)
        if info is None or len(outs) != 1:
            return None
        ffi = info["ffi"]
        try:
            address = int(ffi.cast("intptr_t", ffi.addressof(info["lib"], "sg_run")))
        except (TypeError, AttributeError):
            return None       # not a cffi module's kernel (plan.py's recording proxy)
        full, inplace = info["full"], info["inplace"]
        if inplace is not None and full and inplace not in full:
            return None           # the output would not have the in-place operand's shape
        ptrs = info["const_ptrs"]
        code += [address, info["k"], len(ptrs), outs[0],
                 -1 if inplace is None else inplace, obj(info["dtype"]), info["ndim"],
                 NOGIL_MIN, len(frees), *frees]
        for j, ptr in enumerate(ptrs):
            if ptr is not None:
                # a constant's pointer, taken once; the program (kept) keeps it alive
                code += [1, int(ffi.cast("intptr_t", ptr)), 0]
            else:
                code += [0, ins[j], int(j in full)]
    code += program.out_idx
    return np.array(code, dtype=np.int64).tobytes(), tuple(keep)


def entry_for(program, n_inputs, single, fallback):
    """A callable running `program` natively, `fallback(*args, **kwargs)` for the calls it
    does not take; None when the program's schedule is not one it can run, or when the
    runner cannot be built (no compiler: the Python call is as correct, only slower)."""
    plan = native_plan(program, n_inputs, single)
    if plan is None:
        return None
    code, keep = plan
    try:
        new = _runner_new()
    except cache.CompileError:
        return None
    return new((fallback, keep, code))
