"""Plans: the kernel calls one run of a `CProgram` makes, replayed in C by a loop (scan).

A plan holds, for one layout of the program's inputs (shapes, strides, dtypes), the list of
``sg_run(k, n, data, meta)`` calls that one run makes, each data pointer written as
(slot, byte offset): the slots are the program's inputs, the constants it reads, and the
intermediate buffers its nodes allocate (allocated once per loop and reused every step).
`loop` then runs ``T`` steps in one foreign call: before each step it points the input
slots at that step's values (sequence rows, carries), runs the calls, and copies the step's
outputs into their histories or the next step's carries.

The plan is recorded by running the program twice on copies of the inputs (same layout,
same values) with thunks built over a module proxy that logs each call (build_program
leaves ``program.thunk_makers`` for this). Only programs whose every node is known to call
its kernel the same way for every input of one layout get a plan (`_plannable`): Elemwise,
Dot, Gemm with constant alpha and beta, reductions, the views DimShuffle and constant-index
Subtensor, and, done by the runner itself, Join along the first axis and constant-index
IncSubtensor (copies, and ``out[idx] (+)= v`` element by element as numpy does it). Every
pointer must resolve to a slot, every C node's output must be a buffer it writes itself,
and both runs must make the same calls. Anything else (a node in Python, a copy made in
Python, a kernel that falls back to numpy for these inputs) gives no plan and the caller
keeps its Python loop. A kernel returning an error code stops the loop; the
caller then reruns in Python, which raises the proper error.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np

from ..graph import Constant

__all__ = ["Plan", "plan_for", "loop", "layout_of"]

MAX_DATA = 64                  # data pointers of one call (the C runner's stack array)
COPY = -2                      # a call the runner does itself: memcpy(data[0], data[1], n)
INC = -3                       # and sg_inc: data[0][...] (+)= data[1][...] over a view

_RUNNER = r"""
#include <stdint.h>
#include <string.h>

typedef int (*sg_run_fn)(int, int64_t, void **, const int64_t *);

/* dst[i] = src[i] or dst[i] += src[i] over an nd-d view: m = (dtype 0: double, 1: float;
   set; shape[nd]; dst byte strides[nd]; src byte strides[nd]) -- numpy's out[idx] += v */
static void sg_inc(char *dst, const char *src, int64_t nd, const int64_t *m)
{
    const int64_t code = m[0], set = m[1];
    const int64_t *shape = m + 2, *ds = m + 2 + nd, *ss = m + 2 + 2 * nd;
    int64_t idx[32], total = 1;
    for (int64_t d = 0; d < nd; ++d) {
        total *= shape[d];
        idx[d] = 0;
    }
    for (int64_t i = 0; i < total; ++i) {
        if (code == 0) {
            double *o = (double *)dst;
            const double v = *(const double *)src;
            *o = set ? v : *o + v;
        } else {
            float *o = (float *)dst;
            const float v = *(const float *)src;
            *o = set ? v : *o + v;
        }
        for (int64_t d = nd - 1; d >= 0; --d) {
            dst += ds[d]; src += ss[d];
            if (++idx[d] < shape[d]) break;
            dst -= ds[d] * shape[d]; src -= ss[d] * shape[d]; idx[d] = 0;
        }
    }
}

/* a pointer for step t: d = (mode, a, b, c); 0: a + t*b, 1: t even ? a : b,
   2: t == 0 ? a : b + (t-1)*c */
static inline char *sg_at(const int64_t *d, int64_t t)
{
    if (d[0] == 0) return (char *)(intptr_t)(d[1] + t * d[2]);
    if (d[0] == 1) return (char *)(intptr_t)((t & 1) ? d[2] : d[1]);
    return (char *)(intptr_t)(t == 0 ? d[1] : d[2] + (t - 1) * d[3]);
}

/* T steps of a plan. slots: one address each. patch: per input slot (slot, d[4]) set
   before each step. calls: per call (k, n, meta offset or -1, ndata, (slot, offset) *
   ndata). copies: per copy (slot, offset, nbytes, d[4]) after each step. A step whose stop
   flag (a byte at slot stop_slot + stop_off, stop_slot >= 0) is set ends the loop.
   info = (steps done, failing step, failing call); returns the kernel's error code. */
int sg_loop(int64_t fn, int64_t T, int64_t *slots, int64_t npatch, const int64_t *patch,
            int64_t ncalls, const int64_t *calls, const int64_t *metapool,
            int64_t ncopy, const int64_t *copies, int64_t stop_slot, int64_t stop_off,
            int64_t *info)
{
    sg_run_fn run = (sg_run_fn)(intptr_t)fn;
    void *data[64];
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t p = 0; p < npatch; ++p)
            slots[patch[5 * p]] = (int64_t)(intptr_t)sg_at(patch + 5 * p + 1, t);
        const int64_t *c = calls;
        for (int64_t i = 0; i < ncalls; ++i) {
            int64_t nd = c[3];
            for (int64_t j = 0; j < nd; ++j)
                data[j] = (char *)(intptr_t)slots[c[4 + 2 * j]] + c[5 + 2 * j];
            int rc = 0;
            if (c[0] == -2) memcpy(data[0], data[1], (size_t)c[1]);
            else if (c[0] == -3) sg_inc((char *)data[0], (const char *)data[1], c[1],
                                        metapool + c[2]);
            else rc = run((int)c[0], c[1], data, c[2] < 0 ? NULL : metapool + c[2]);
            if (rc != 0) {
                info[0] = t; info[1] = t; info[2] = i;
                return rc;
            }
            c += 4 + 2 * nd;
        }
        for (int64_t p = 0; p < ncopy; ++p) {
            const int64_t *d = copies + 7 * p;
            memmove(sg_at(d + 3, t), (char *)(intptr_t)slots[d[0]] + d[1], (size_t)d[2]);
        }
        if (stop_slot >= 0 && *((unsigned char *)(intptr_t)slots[stop_slot] + stop_off)) {
            info[0] = t + 1; info[1] = -1;
            return 0;
        }
    }
    info[0] = T; info[1] = -1;
    return 0;
}
"""
_RUNNER_CDEF = ("int sg_loop(int64_t fn, int64_t T, int64_t *slots, int64_t npatch, "
                "const int64_t *patch, int64_t ncalls, const int64_t *calls, "
                "const int64_t *metapool, int64_t ncopy, const int64_t *copies, "
                "int64_t stop_slot, int64_t stop_off, int64_t *info);")

_runner = []
_lock = threading.Lock()
_plans = weakref.WeakKeyDictionary()     # program -> {layout: Plan or None}
_proxies = {}                            # id(lib) -> (lib, proxy): kept alive (see _Proxy)


def _runner_module():
    """The runner's cffi module (built once, then from the cache), or None without gcc."""
    if not _runner:
        from . import cache
        from .cbackend import CFLAGS, LDFLAGS
        try:
            mod, _, _ = cache.get_module(_RUNNER, _RUNNER_CDEF, CFLAGS, LDFLAGS)
        except cache.NoCompilerError:
            mod = None
        _runner.append(mod)
    return _runner[0]


class Plan:
    """The calls of one program run at one input layout; `outputs` are (slot, offset,
    nbytes) of each program output (C-contiguous)."""

    def __init__(self, n_inputs, slots, canon, calls, metapool, outputs, out_types, keep):
        self.n_inputs = n_inputs
        self.slots = slots          # per extra slot: ('const', address) or ('buf', nbytes)
        self.canon = canon          # the slots as two runs must agree on them
        self.ncalls = len(calls)
        self.calls = np.array([x for e in calls for x in e] or [0], np.int64)
        self.metapool = np.array(metapool or [0], np.int64)
        self.outputs = outputs      # (slot, offset, nbytes) of each program output
        self.out_types = out_types  # (shape, dtype) of each output
        self.keep = keep            # what the calls' addresses point into (constants)
        self.fn_ptr = None          # the program module's sg_run, as an integer

    def canonical(self):
        return (self.canon, self.calls.tolist(), self.metapool.tolist(), self.outputs,
                self.out_types)

    def slot_values(self):
        """(int64 array of slot addresses, inputs left 0; the buffers it points into)."""
        vals = np.zeros(self.n_inputs + len(self.slots), np.int64)
        bufs = []
        for s, (kind, v) in enumerate(self.slots, start=self.n_inputs):
            if kind == "const":
                vals[s] = v
            else:
                b = np.empty(max(v, 1), np.uint8)
                bufs.append(b)
                vals[s] = b.ctypes.data
        return vals, bufs


def layout_of(a):
    """What a plan depends on in an input value: dtype, shape, strides."""
    return a.dtype.str, a.shape, a.strides


def plan_for(prog, samples):
    """The Plan of CProgram `prog` for inputs laid out as `samples` (ndarrays whose values
    the recording run reads), or None when the program cannot be replayed by a plan."""
    from .cbackend import CProgram
    # exactly a CProgram: subclasses (DebugMode's) check every node, so they keep their loop
    if type(prog) is not CProgram or prog.profile is not None or prog.nan_guard or \
            getattr(prog, "cache_info", None) is None:
        return None
    if any(type(a) is not np.ndarray or a.size == 0 for a in samples):
        return None
    key = tuple(layout_of(a) for a in samples)
    with _lock:
        table = _plans.setdefault(prog, {})
        if key in table:
            return table[key]
        if len(table) > 16:
            table.clear()
        try:
            plan = _record(prog, samples)
        except Exception:       # _NoPlan, or the step fails: the Python loop says how
            plan = None
        table[key] = plan
        return plan


def loop(plan, T, patches, copies, stop=None):
    """Run `plan` for T steps. `patches`: (input slot, d) per input, `copies`: (output,
    d) per step output to store (a copy, or the output's own buffer pointed at its row),
    d a pointer rule (mode, a, b, c) as the runner's ``sg_at``; `stop`: the output index of
    a bool stop flag, or None.
    Returns (steps done, failed): failed is True when a kernel returned an error."""
    mod = _runner_module()
    ffi, lib = mod.ffi, mod.lib
    slots, bufs = plan.slot_values()
    rows = [[s, *d] for s, d in patches]
    shared = {}
    for slot, _, _ in plan.outputs:
        shared[slot] = shared.get(slot, 0) + 1
    cp = []
    for o, d in copies:
        slot, off, nbytes = plan.outputs[o]
        if off == 0 and shared[slot] == 1 and slot >= plan.n_inputs and \
                plan.slots[slot - plan.n_inputs] == ("buf", nbytes):
            # the output fills a buffer of its own: the step writes it straight into its
            # row (the buffer's slot pointed there before each step), no copy after it
            rows.append([slot, *d])
        else:
            cp.append([slot, off, nbytes, *d])
    patch = np.array(rows, np.int64).reshape(-1)
    cp = np.array(cp, np.int64).reshape(-1)
    stop_slot, stop_off = (plan.outputs[stop][:2] if stop is not None else (-1, 0))
    info = np.zeros(3, np.int64)
    fb = ffi.from_buffer
    empty = np.zeros(1, np.int64)
    rc = lib.sg_loop(plan.fn_ptr, T, fb("int64_t[]", slots), len(rows),
                     fb("int64_t[]", patch if patch.size else empty), plan.ncalls,
                     fb("int64_t[]", plan.calls), fb("int64_t[]", plan.metapool),
                     len(cp) // 7, fb("int64_t[]", cp if cp.size else empty),
                     stop_slot, stop_off, fb("int64_t[]", info))
    del bufs                                  # alive until here: the calls wrote into them
    return int(info[0]), rc != 0


# -- recording ------------------------------------------------------------------------------

class _NoPlan(Exception):
    pass


class _Proxy:
    """Stands for a module's ``lib`` while thunks are built for recording: ``sg_run`` logs
    each call and runs it. One per module, kept alive: blas.install remembers modules by
    id(lib), and a dead proxy's id reused by another module would skip its install."""

    def __init__(self, lib):
        self.lib = lib
        self.log = None

    def sg_run(self, k, n, data, meta):
        rc = self.lib.sg_run(k, n, data, meta)
        if k >= 0 and self.log is not None:
            self.log.append((k, n, data, meta, rc))
        return rc


def _plannable(node, placed_c):
    """How `node` is replayed: 'c' (or 'gemm') when its kernel calls depend only on its
    inputs' layout, 'view' for a view whose offset does, 'join' for a concatenation along
    the first axis (copies), 'inc' for an increment of a constant-index view (a copy and
    sg_inc), None when it cannot be."""
    from ..ops.blas import Dot, Gemm
    from ..ops.elemwise import DimShuffle, Elemwise
    from ..ops.reduce import Reduce
    from ..ops.shape import Join
    from ..ops.subtensor import IncSubtensor, Subtensor
    op = node.op
    if placed_c:
        if isinstance(op, (Elemwise, Dot, Reduce)):
            return "c"
        if isinstance(op, Gemm) and isinstance(node.inputs[1], Constant) \
                and isinstance(node.inputs[4], Constant):
            return "gemm"
        return None
    if isinstance(op, DimShuffle) or (type(op) is Subtensor and op.n_sym == 0):
        return "view"
    if type(op) is Join and op.axis == 0:
        return "join"
    if type(op) is IncSubtensor and op.n_sym == 0:
        return "inc"
    return None


def _extent(a):
    """(lowest, one past the highest) byte address of ndarray `a`'s elements."""
    addr = a.__array_interface__["data"][0]
    lo = hi = 0
    for n, s in zip(a.shape, a.strides):
        if n > 1:
            lo, hi = (lo + (n - 1) * s, hi) if s < 0 else (lo, hi + (n - 1) * s)
    return addr + lo, addr + hi + a.itemsize


def _copy_like(a):
    """A copy of `a` in fresh memory with the same shape, strides and values."""
    lo, hi = _extent(a)
    addr = a.__array_interface__["data"][0]
    raw = np.empty(hi - lo, np.uint8)
    out = np.ndarray(a.shape, a.dtype, buffer=raw, offset=addr - lo, strides=a.strides)
    out[...] = a
    return out


class _Roots:
    """Address ranges of the values a recording run has seen, each mapped to a slot."""

    def __init__(self, n_inputs):
        self.ranges = []           # (lo, hi, slot, base address)
        self.extra = []            # per slot >= n_inputs: ('const', addr) / ('buf', nbytes)
        self.canon = []            # the same, frozen constants by their bytes
        self.n_inputs = n_inputs

    def find(self, addr):
        for lo, hi, slot, base in self.ranges:
            if lo <= addr < hi:
                return slot, addr - base
        return None

    def add_input(self, i, a):
        lo, hi = _extent(a)
        self.ranges.append((lo, hi, i, a.__array_interface__["data"][0]))

    def add_const(self, a, canon=None):
        if type(a) is not np.ndarray or a.size == 0:
            return
        lo, hi = _extent(a)
        self.add_range(lo, hi, canon)

    def add_range(self, lo, hi, canon=None):
        if self.find(lo) is not None:
            return
        self.extra.append(("const", lo))
        self.canon.append(canon or ("const", lo))
        self.ranges.append((lo, hi, self.n_inputs + len(self.extra) - 1, lo))

    def add_buf(self, a):
        lo, hi = _extent(a)
        self.extra.append(("buf", hi - lo))
        self.canon.append(("buf", hi - lo))
        slot = self.n_inputs + len(self.extra) - 1
        self.ranges.append((lo, hi, slot, lo))
        return slot


def _record(prog, samples):
    """The Plan of `prog` at the layout of `samples`: two recording runs on fresh copies of
    the samples must give the same calls (raises _NoPlan otherwise)."""
    makers = getattr(prog, "thunk_makers", None)
    mod = getattr(prog, "module", None)
    if makers is None or mod is None or len(samples) != prog.n_inputs or \
            _runner_module() is None:
        raise _NoPlan("no recordable program")
    lib, ffi = mod.lib, mod.ffi
    entry = _proxies.get(id(lib))
    if entry is None or entry[0] is not lib:
        entry = _proxies[id(lib)] = (lib, _Proxy(lib))
    proxy = entry[1]
    thunks = {node: make(proxy, ffi, k) for node, (make, k) in makers.items()}
    runs = [_run_logged(prog, thunks, proxy, [_copy_like(a) for a in samples])
            for _ in range(2)]
    # pointers taken once, when a thunk was built (a lifted constant): the same object in
    # both runs; every other pointer is made per call
    fixed = {}
    for step1, step2 in zip(*runs):
        for c1, c2 in zip(step1[-1], step2[-1]):
            for p1, p2 in zip(c1[2], c2[2]):
                if p1 is p2:
                    fixed[int(ffi.cast("intptr_t", p1))] = p1
    plans = [_build(prog, ffi, run, fixed) for run in runs]
    if plans[0].canonical() != plans[1].canonical():
        raise _NoPlan("two runs made different calls")
    plan = plans[0]
    plan.fn_ptr = int(ffi.cast("intptr_t", ffi.addressof(lib, "sg_run")))
    plan.keep.append(thunks)
    return plan


class _Run(list):
    """[(node, kind, input cells, output cell, its calls)] of one recording run, with the
    run's values in `vals`."""


def _run_logged(prog, thunks, proxy, inputs):
    """Run `prog`'s schedule on `inputs` with the recording thunks, keeping every value."""
    run = _Run()
    vals = list(prog.template)
    vals[:prog.n_inputs] = inputs
    proxy.log = log = []
    try:
        for perform, node, ins, outs, _ in prog.steps:
            kind = _plannable(node, node in thunks)
            if kind is None or len(outs) != 1:
                raise _NoPlan(f"{node.op} cannot be planned")
            cells = [[None]]
            start = len(log)
            (thunks[node] if kind in ("c", "gemm") else perform)(node, [vals[i] for i in ins],
                                                                cells)
            vals[outs[0]] = cells[0][0]
            run.append((node, kind, ins, outs[0], log[start:]))
    finally:
        proxy.log = None
    run.vals = vals
    return run


def _build(prog, ffi, run, fixed):
    """The Plan of one recording run (raises _NoPlan when a call cannot be replayed)."""
    vals = run.vals
    roots = _Roots(prog.n_inputs)
    for i in range(prog.n_inputs):
        roots.add_input(i, vals[i])
    for v in prog.template[prog.n_inputs:]:
        roots.add_const(v)
    keep = [prog.template]
    for addr, p in fixed.items():
        roots.add_range(addr, addr + (ffi.sizeof(p) if ffi.typeof(p).kind == "array" else 1))
        keep.append(p)
    calls, metapool = [], []

    def where(a):
        return roots.find(_extent(a)[0])
    for node, kind, ins, o, log in run:
        out = vals[o]
        if type(out) is not np.ndarray or out.size == 0:
            raise _NoPlan(f"{node.op} gave no array")
        found = where(out)
        if kind == "view":
            if log or found is None:
                raise _NoPlan(f"{node.op} is not a view here")
            continue
        if kind == "join":          # C-contiguous blocks one after another: copies
            parts = [vals[i] for i in ins]
            if found is not None or not out.flags.c_contiguous or \
                    sum(p.nbytes for p in parts) != out.nbytes or \
                    any(not p.flags.c_contiguous or p.dtype != out.dtype for p in parts):
                raise _NoPlan(f"{node.op} is not a copy of blocks here")
            slot, off = roots.add_buf(out), 0
            for p in parts:
                at = where(p) if p.size else None
                if p.size and at is None:
                    raise _NoPlan(f"{node.op}: an input is not in a slot")
                if p.size:
                    calls.append([COPY, p.nbytes, -1, 2, slot, off, *at])
                off += p.nbytes
            continue
        if kind == "inc":
            _replay_inc(node, vals[ins[0]], vals[ins[1]], out, found, roots, calls, metapool)
            continue
        if not log:
            raise _NoPlan(f"{node.op} ran in Python")
        if found is None:
            found = (roots.add_buf(out), 0)
        elif found[0] < roots.n_inputs or roots.extra[found[0] - roots.n_inputs][0] != "buf":
            raise _NoPlan(f"{node.op} writes into an input or constant")
        first = len(calls)
        if kind == "gemm":
            z = vals[ins[0]]
            zat = where(z) if type(z) is np.ndarray else None
            if zat is None:
                raise _NoPlan(f"{node.op}: z is not in a slot")
            if zat != found:        # z copied into the output first (Gemm's own copy)
                if not z.flags.c_contiguous or z.dtype != out.dtype or z.shape != out.shape:
                    raise _NoPlan(f"{node.op}: z is not copied as one block")
                calls.append([COPY, out.nbytes, -1, 2, *found, *zat])
        for j, (k, n, data, meta, rc) in enumerate(log):
            if rc != 0 or not isinstance(data, list) or len(data) > MAX_DATA:
                raise _NoPlan(f"{node.op}: call {j} cannot be replayed")
            entry = [k, int(n), -1, len(data)]
            if meta != ffi.NULL:
                if ffi.typeof(meta).kind != "array":
                    raise _NoPlan(f"{node.op}: meta of unknown length")
                entry[2] = len(metapool)
                metapool += ffi.unpack(ffi.cast("int64_t *", meta), ffi.sizeof(meta) // 8)
            for pos, p in enumerate(data):
                addr = int(ffi.cast("intptr_t", p))
                at = roots.find(addr)
                if at is None and kind == "gemm" and pos in (3, 4) and \
                        ffi.typeof(p).kind == "array":
                    # alpha and beta: copies of the node's constants, made per call
                    frozen = np.frombuffer(bytes(ffi.buffer(p)), np.uint8).copy()
                    keep.append(frozen)
                    roots.add_const(frozen, ("frozen", frozen.tobytes()))
                    at = roots.find(frozen.ctypes.data)
                if at is None:
                    raise _NoPlan(f"{node.op}: call {j} reads memory made in Python")
                entry += list(at)
            calls.append(entry)
        if found[0] not in {e[4 + 2 * q] for e in calls[first:] for q in range(e[3])}:
            raise _NoPlan(f"{node.op}: its output is not a kernel's")
    outputs, out_types = [], []
    for i in prog.out_idx:
        v = vals[i]
        if type(v) is not np.ndarray or not v.flags.c_contiguous or v.size == 0:
            raise _NoPlan("an output is not a contiguous array")
        at = where(v)
        if at is None:
            raise _NoPlan("an output is not in a slot")
        outputs.append((at[0], at[1], v.nbytes))
        out_types.append((v.shape, v.dtype))
    return Plan(prog.n_inputs, roots.extra, roots.canon, calls, metapool, outputs, out_types,
                keep)


_INC_DTYPES = {np.dtype("float64"): 0, np.dtype("float32"): 1}


def _replay_inc(node, x, v, out, found, roots, calls, metapool):
    """Calls doing IncSubtensor's ``out = x.copy(); out[idx] += v`` (or ``= v``) again:
    a COPY (unless in place) and an INC over the view."""
    op = node.op
    if type(x) is not np.ndarray or type(v) is not np.ndarray or v.dtype != out.dtype or \
            out.dtype not in _INC_DTYPES or v.size == 0:
        raise _NoPlan(f"{op}: not replayable here")
    xat = roots.find(_extent(x)[0])
    vat = roots.find(v.__array_interface__["data"][0])     # where sg_inc starts reading
    if xat is None or vat is None:
        raise _NoPlan(f"{op}: an input is not in a slot")
    if op.inplace:
        if found != xat or found[0] < roots.n_inputs or \
                roots.extra[found[0] - roots.n_inputs][0] != "buf":
            raise _NoPlan(f"{op}: writes into an input or constant")
    else:
        if found is not None or not x.flags.c_contiguous or not out.flags.c_contiguous or \
                x.shape != out.shape or x.dtype != out.dtype:
            raise _NoPlan(f"{op}: x is not copied as one block")
        found = (roots.add_buf(out), 0)
        calls.append([COPY, out.nbytes, -1, 2, *found, *xat])
    if vat[0] == found[0]:
        raise _NoPlan(f"{op}: the increment overlaps the output")
    view = out[op._np_index([]) + (Ellipsis,)]
    if view.size == 0:
        return
    if view.ndim > 32:
        raise _NoPlan(f"{op}: too many dimensions")
    try:
        vb = np.broadcast_to(v, view.shape)
    except ValueError:
        raise _NoPlan(f"{op}: the increment does not broadcast") from None
    at = roots.find(view.__array_interface__["data"][0])
    if at is None or at[0] != found[0]:
        raise _NoPlan(f"{op}: the view is not in the output")
    entry = [INC, view.ndim, len(metapool), 2, *at, *vat]
    metapool += [_INC_DTYPES[out.dtype], int(op.set_instead_of_inc), *view.shape,
                 *view.strides, *vb.strides]
    calls.append(entry)
