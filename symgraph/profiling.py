"""Where the time goes: compile-time phases, per-node and per-op run times, and the progress
line of long compiles.

    f = symgraph.function([x], y, profile=True)     # or mode=symgraph.Mode(profile=True)
    f(data); f(data)
    f.profile.summary()                              # prints and returns the tables

Compile time is split into ``rewrite`` (the rewrite phases), ``codegen`` (lowering and
rendering the kernels, building the schedule), ``compiler`` (running the C compiler) and
``cache_load`` (loading built modules from the kernel cache). ``function()`` opens a
`CompileRecorder` for each compile; the steps it wraps report into it through `phase`, and
the kernel cache's ``get_module`` reports each module built or loaded (`_install_cache_hook`
wraps it once, so the C backend itself knows nothing of profiling).

A compile that takes longer than `PROGRESS_AFTER` seconds writes a progress line (phase,
kernels built / cached, elapsed time) to stderr when stderr is a terminal and
``config.quiet`` is off; nothing otherwise.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time

from .config import config

__all__ = ["ProfileStats", "CompileRecorder", "compile_recorder", "phase", "PROGRESS_AFTER"]

PROGRESS_AFTER = 1.0        # seconds of compiling before the progress line shows
_TICK = 0.25        # seconds between redraws of the progress line
_PHASES = ("rewrite", "codegen", "compiler", "cache_load")
_local = threading.local()


class CompileRecorder:
    """Seconds spent in each compile phase of one ``function()`` call, and the kernel
    modules it built or found in the cache."""

    def __init__(self, name=None):
        self.name = name
        self.times = {p: 0.0 for p in _PHASES}
        self.total = 0.0
        self.built = 0
        self.cached = 0
        self.current = "start"
        self._t0 = time.perf_counter()
        self._progress = None

    def add(self, name, seconds):
        self.times[name] = self.times.get(name, 0.0) + seconds

    def elapsed(self):
        return time.perf_counter() - self._t0

    def progress_text(self):
        what = f" {self.name!r}" if self.name else ""
        return (f"[symgraph] compiling{what}: {self.current}, kernels {self.built} built / "
                f"{self.cached} cached, {self.elapsed():.1f}s")


def _recorder():
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def compile_recorder(name=None):
    """Record the compile inside the block (``function()`` uses it); yields the recorder.
    Nested compiles (a scan compiling its inner function) get their own recorder."""
    _install_cache_hook()
    rec = CompileRecorder(name)
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(rec)
    progress = _Progress(rec) if _progress_wanted() and len(stack) == 1 else None
    try:
        yield rec
    finally:
        stack.pop()
        rec.total = rec.elapsed()
        rec.current = "done"
        if stack:                      # an inner compile counts in the outer one's split
            parent = stack[-1]
            for k, v in rec.times.items():
                parent.add(k, v)
            parent.built += rec.built
            parent.cached += rec.cached
        if progress is not None:
            progress.stop()


@contextlib.contextmanager
def phase(name):
    """Count the block's time as compile phase `name` of the current recorder (no-op
    outside ``function()``). Time already counted inside the block (the compiler inside
    code generation, an inner function's compile) is not counted twice."""
    rec = _recorder()
    if rec is None:
        yield
        return
    before = dict(rec.times)
    prev, rec.current = rec.current, name
    t0 = time.perf_counter()
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        nested = sum(rec.times[k] - before.get(k, 0.0) for k in rec.times)
        rec.add(name, dt - nested)
        rec.current = prev


_hooked = []


def _install_cache_hook():
    """Wrap ``symgraph.codegen.cache.get_module`` once so each module fetched is counted as
    built (``compiler`` time) or loaded (``cache_load`` time) by the current recorder."""
    if _hooked:
        return
    try:
        from .codegen import cache
    except ImportError:
        return
    inner = cache.get_module
    if getattr(inner, "_symgraph_timed", False):
        _hooked.append(inner)
        return

    def get_module(*args, **kwargs):
        rec = _recorder()
        if rec is None:
            return inner(*args, **kwargs)
        builds = cache.stats["builds"]
        prev, rec.current = rec.current, "building C kernels"
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            rec.current = prev
            if cache.stats["builds"] > builds:
                rec.built += 1
                rec.add("compiler", dt)
            else:
                rec.cached += 1
                rec.add("cache_load", dt)

    get_module._symgraph_timed = True
    get_module.__doc__ = inner.__doc__
    get_module.__wrapped__ = inner
    cache.get_module = get_module
    _hooked.append(get_module)


# -- the progress line ----------------------------------------------------------------------

def _progress_wanted():
    if config.quiet:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


class _Progress:
    """A daemon thread rewriting one stderr line while a compile runs past PROGRESS_AFTER."""

    def __init__(self, rec):
        self.rec = rec
        self.shown = False
        self.stream = sys.stderr
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="symgraph-progress")
        self._thread.start()

    def _write(self, text, end=""):
        try:
            self.stream.write("\r" + text + "\x1b[K" + end)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def _run(self):
        while not self._stop.wait(_TICK):
            if self.rec.elapsed() >= PROGRESS_AFTER:
                with self._lock:
                    if not self._stop.is_set():
                        self._write(self.rec.progress_text())
                        self.shown = True

    def stop(self):
        with self._lock:
            self._stop.set()
        self._thread.join()
        rec = self.rec
        if self.shown or rec.total >= PROGRESS_AFTER:
            what = f" {rec.name!r}" if rec.name else ""
            split = ", ".join(f"{k} {rec.times[k]:.2f}s" for k in _PHASES)
            self._write(f"[symgraph] compiled{what} in {rec.total:.1f}s ({split}; kernels "
                        f"{rec.built} built / {rec.cached} cached)", end="\n")


# -- run-time profile -----------------------------------------------------------------------

class ProfileStats:
    """The profile of one compiled function: ``fn.profile``.

    ``compile_times`` ({'rewrite', 'codegen', 'compiler', 'cache_load'} -> seconds),
    ``compile_time`` (the whole ``function()`` call), ``calls`` and ``call_time`` (seconds
    inside the program), and per schedule step ``node_calls`` / ``node_time``.
    """

    def __init__(self, fgraph, recorder=None, name=None):
        self.name = name
        self.fgraph = fgraph
        self.compile_times = dict(recorder.times) if recorder else {p: 0.0 for p in _PHASES}
        self.compile_time = recorder.total if recorder else 0.0
        self.kernels_built = recorder.built if recorder else 0
        self.kernels_cached = recorder.cached if recorder else 0
        self.nodes = []
        self.node_calls = []
        self.node_time = []
        self.calls = 0
        self.call_time = 0.0
        self._lock = threading.Lock()

    def attach(self, program):
        """Start timing `program` (an executor with a ``steps`` schedule)."""
        self.nodes = [step[1] for step in program.steps]
        self.node_calls = [0] * len(self.nodes)
        self.node_time = [0.0] * len(self.nodes)
        program.profile = self
        return self

    def record(self, times, total):
        """One call's per-step seconds (None for steps not run) and total seconds."""
        with self._lock:
            self.calls += 1
            self.call_time += total
            for k, t in enumerate(times):
                if t is not None:
                    self.node_calls[k] += 1
                    self.node_time[k] += t

    def op_table(self):
        """[(op class name, seconds, share of node time, calls, number of nodes)], slowest
        first."""
        agg = {}
        for node, n, t in zip(self.nodes, self.node_calls, self.node_time):
            key = _op_class(node.op)
            row = agg.setdefault(key, [0.0, 0, 0])
            row[0] += t
            row[1] += n
            row[2] += 1
        total = sum(self.node_time) or 1.0
        rows = [(k, t, t / total, n, m) for k, (t, n, m) in agg.items()]
        return sorted(rows, key=lambda r: -r[1])

    def node_table(self):
        """[(node, seconds, share, calls, where it runs ('c' or 'py'))], slowest first."""
        placement = getattr(self.fgraph, "placement", None) or {}
        total = sum(self.node_time) or 1.0
        rows = [(node, t, t / total, n, placement.get(node, "py"))
                for node, n, t in zip(self.nodes, self.node_calls, self.node_time)]
        return sorted(rows, key=lambda r: -r[1])

    def summary(self, file=None, n_ops=20, n_nodes=20):
        """Print the profile (to `file`, default stdout) and return its text."""
        from .errors import format_trace
        lines = [f"Function profile{' ' + repr(self.name) if self.name else ''}",
                 f"  compile time {self.compile_time:.3f}s: " + ", ".join(
                     f"{k} {self.compile_times.get(k, 0.0):.3f}s" for k in _PHASES),
                 f"  kernels: {self.kernels_built} built, {self.kernels_cached} loaded from "
                 f"the cache",
                 f"  {self.calls} call(s), {self.call_time:.6f}s in the program"
                 + (f" ({self.call_time / self.calls * 1e6:.1f} us a call)"
                    if self.calls else ""),
                 f"  {sum(self.node_time):.6f}s in {len(self.nodes)} node(s)", ""]
        lines.append("Ops (by class)")
        lines.append(f"  {'time(s)':>10} {'share':>6} {'calls':>7} {'nodes':>5}  op")
        for name, t, share, n, m in self.op_table()[:n_ops]:
            lines.append(f"  {t:10.6f} {share:6.1%} {n:7d} {m:5d}  {name}")
        lines += ["", "Nodes (Apply)"]
        lines.append(f"  {'time(s)':>10} {'share':>6} {'calls':>7} {'where':>5}  node")
        for node, t, share, n, where in self.node_table()[:n_nodes]:
            ins = ", ".join(f"{i.type.dtype}{i.type.shape}" if hasattr(i.type, "dtype")
                            else str(i.type) for i in node.inputs)
            lines.append(f"  {t:10.6f} {share:6.1%} {n:7d} {where:>5}  {node.op}({ins})"
                         f"  # {format_trace(node.trace)}")
        text = "\n".join(lines)
        print(text, file=file or sys.stdout)
        return text

    def __repr__(self):
        return (f"<ProfileStats {self.calls} calls, {self.call_time:.4f}s run, "
                f"{self.compile_time:.3f}s compile>")


def _op_class(op):
    sop = getattr(op, "scalar_op", None)
    name = type(op).__name__
    if sop is not None:
        name += "{" + (type(sop).__name__ if type(sop).__name__ == "Composite"
                       else str(sop)) + "}"
    return name
