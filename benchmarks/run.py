"""The benchmark runner: ``python -m benchmarks [--quick] [--workloads W1,W2] [--impls ...]``.

Each (workload, implementation) runs in its own Python process, one BLAS/OpenMP/XLA thread
each (as the issue's reference figures were taken), and the processes are interleaved round
by round so that a slow spell of the machine hits every implementation alike. Each process
builds its implementation, checks its first result against the numpy implementation's, then
times ``reps`` samples; the report gives the median of all samples, and the ratios of
symgraph to each other implementation from this same run.

Two targets are ratios within symgraph's own figures: W2's two OpenMP threads against one
and W4's step against its 8 GEMMs alone. Their verdicts use samples taken alternately in
one process (one thread, two threads; the step, the GEMMs), since on a shared machine a
ratio of processes run minutes apart measured the drift between them; W2's worker also
probes what a second thread adds on this machine to math with no memory traffic
(``scaling_probe.c``). The separate processes' medians are still in the table.

Compile-time workloads (W7, W7b) time one compile in a fresh process with an empty cache
('cold'), then another fresh process with the cache the first one filled ('warm').

``--quick`` (smaller sizes, one round, numpy and symgraph unless ``--impls`` names more)
finishes in under a minute. ``--write`` writes ``benchmarks/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ALL_IMPLS = ("numpy", "symgraph", "jax", "pytensor_c", "pytensor_numba")
LABEL = {"numpy": "numpy", "symgraph": "symgraph", "jax": "JAX (jit)",
         "pytensor_c": "PyTensor (C)", "pytensor_numba": "PyTensor (numba)",
         "gemms": "8 GEMMs alone", "symgraph_omp2": "symgraph, 2 OpenMP threads"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "BLIS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                           "intra_op_parallelism_threads=1",
              "JAX_PLATFORMS": "cpu", "SYMGRAPH_FLAGS": "quiet=true"}


# -- the worker (one implementation of one workload, in its own process) -------------------

def worker(key, impl, quick, reps, cache_dir=None):
    if impl != "symgraph_omp2" and hasattr(os, "sched_setaffinity"):
        # one core: XLA's Eigen pool ignores the one-thread flags and took both cores
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np
    from benchmarks.workloads import WORKLOADS, Unavailable
    wl = WORKLOADS[key](quick=quick)
    try:
        if getattr(wl, "compile_workload", False):
            _preimport(impl)
            seconds, step = wl.compile_once(impl)
            got = step()
            ok, note = wl.check(got, wl.numpy()())
            return {"times": [seconds], "ok": ok, "note": note}
        step, compile_s = wl.build("symgraph" if impl == "symgraph_omp2" else impl)
        first = step()
        if impl in ("numpy", "gemms"):
            ok, note = True, "reference" if impl == "numpy" else "anchor"
        else:
            ok, note = wl.check(first, wl.numpy()())
        step()
        number = max(1, wl.number // (10 if quick else 1))

        def sample():
            t0 = time.perf_counter()
            for _ in range(number):
                step()
            return (time.perf_counter() - t0) / number / wl.per_step
        if impl == "symgraph_omp2":
            # one thread and two, sample by sample in this one process: the memory
            # bandwidth the second core gets drifts over minutes on a shared machine, and a
            # ratio of samples taken minutes apart measured the drift
            times, one, machine = [], [], []
            probe = _scaling_probe()
            for _ in range(reps):
                _omp_threads(1)
                one.append(sample())
                _omp_threads(2)
                times.append(sample())
                if probe is not None:
                    # the same question asked of the machine, with no memory traffic
                    n = 2000 if quick else 20000
                    machine.append(2 * probe(1, n) / probe(2, n))
            return {"times": times, "one_thread": one, "machine": machine, "ok": bool(ok),
                    "note": note, "compile": compile_s}
        if impl == "symgraph" and hasattr(wl, "gemms"):
            # W4's anchor sampled alternately with symgraph in this process, as W2's
            # threads are: the two see the same spell of the machine
            gemms = wl.gemms()
            gemms()
            times, anchor = [], []
            for _ in range(reps):
                times.append(sample())
                t0 = time.perf_counter()
                for _ in range(number):
                    gemms()
                anchor.append((time.perf_counter() - t0) / number / wl.per_step)
            return {"times": times, "anchor": anchor, "ok": bool(ok), "note": note,
                    "compile": compile_s}
        times = [sample() for _ in range(reps)]
        return {"times": times, "ok": bool(ok), "note": note, "compile": compile_s}
    except Unavailable as e:
        return {"skip": str(e)}
    except Exception as e:                     # reported in the table, not fatal
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    finally:
        np.seterr(all="warn")


def _scaling_probe():
    """probe(nt, reps) -> seconds from scaling_probe.c, built with gcc into a temporary
    folder (None without gcc)."""
    import ctypes
    out = os.path.join(tempfile.mkdtemp(prefix="symgraph-probe-"), "probe.so")
    cmd = ["gcc", "-O2", "-march=native", "-fno-math-errno", "-fopenmp", "-shared", "-fPIC",
           os.path.join(HERE, "scaling_probe.c"), "-o", out, "-lm"]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    fn = ctypes.CDLL(out).probe
    fn.restype, fn.argtypes = ctypes.c_double, [ctypes.c_int, ctypes.c_int]
    return fn


def _omp_threads(n):
    """The team size of the OpenMP loops this thread starts next (libgomp, which the
    kernels' modules loaded)."""
    import ctypes
    ctypes.CDLL("libgomp.so.1").omp_set_num_threads(n)


def _preimport(impl):
    if impl == "symgraph":
        import symgraph  # noqa: F401
        import symgraph.tensor  # noqa: F401
    elif impl == "jax":
        from benchmarks.workloads import _jax
        jax = _jax()
        d = os.environ.get("BENCH_CACHE")
        if d:
            jax.config.update("jax_compilation_cache_dir", os.path.join(d, "jax"))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    elif impl.startswith("pytensor"):
        import pytensor  # noqa: F401
        import pytensor.tensor  # noqa: F401


def _spawn(key, impl, quick, reps, cache=None, timeout=600):
    env = dict(os.environ, **ONE_THREAD)
    if impl == "symgraph_omp2":
        env["OMP_NUM_THREADS"] = "2"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    if cache:
        env["BENCH_CACHE"] = cache
        env["SYMGRAPH_COMPILEDIR"] = os.path.join(cache, "symgraph")
        env["PYTENSOR_FLAGS"] = f"compiledir={os.path.join(cache, 'pytensor')}"
        env["NUMBA_CACHE_DIR"] = os.path.join(cache, "numba")
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", key, impl, "--reps", str(reps)]
    if quick:
        cmd.append("--quick")
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": f"worker exited {proc.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


# -- the driver ------------------------------------------------------------------------------

def _importable(impl):
    mod = {"numpy": "numpy", "symgraph": "symgraph", "jax": "jax", "pytensor_c": "pytensor",
           "pytensor_numba": "numba"}[impl]
    import importlib.util
    if impl == "pytensor_numba" and importlib.util.find_spec("pytensor") is None:
        return False
    return importlib.util.find_spec(mod) is not None


def _byte_compile():
    """Write symgraph's bytecode as ``pip install`` does: an editable install or
    PYTHONDONTWRITEBYTECODE leaves none, and every worker would compile the sources of the
    modules a compile imports again (~40 ms of W7's warm compile), while JAX and PyTensor
    load theirs from the bytecode pip wrote. Likewise the kernel templates' compiled form,
    which the first compile on a machine writes (`cbackend.templates`), and cffi's side of
    every module (`cache._front`, written beside them): the cold rows measure an empty
    compile cache, not symgraph's first use."""
    import compileall
    import symgraph
    from symgraph.codegen import cache, cbackend
    compileall.compile_dir(os.path.dirname(symgraph.__file__), quiet=1)
    env = cbackend.templates()
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)
    cache._front(cbackend.CDEF, cache.compiler())


def run(keys, impls, quick, rounds, reps, log=print):
    from benchmarks.workloads import WORKLOADS
    results = {}        # (row key, impl) -> {"times": [...], "ok": .., ...}
    if "symgraph" in impls:
        _byte_compile()

    def merge(row, impl, res):
        cur = results.setdefault((row, impl), {"times": [], "ok": True, "notes": []})
        if "times" in res:
            cur["times"] += res["times"]
            for extra in ("one_thread", "machine", "anchor"):
                cur.setdefault(extra, []).extend(res.get(extra, []))
            cur["ok"] &= res["ok"]
            cur["notes"].append(res["note"])
        else:
            cur.setdefault("fail", res.get("error") or res.get("skip"))
            cur["skipped"] = "skip" in res

    for r in range(rounds):
        for key in keys:
            wl = WORKLOADS[key]
            mine = [i for i in impls if i in wl.impls]
            if key == "W4" and "numpy" in impls:
                mine.append("gemms")
            if key == "W2" and "symgraph" in impls:
                mine.append("symgraph_omp2")
            for impl in mine:
                t0 = time.perf_counter()
                if getattr(wl, "compile_workload", False):
                    cache = tempfile.mkdtemp(prefix="symgraph-bench-")
                    try:
                        merge(f"{key} cold", impl, _spawn(key, impl, quick, 1, cache))
                        merge(f"{key} warm", impl, _spawn(key, impl, quick, 1, cache))
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
                else:
                    merge(key, impl, _spawn(key, impl, quick, reps))
                log(f"  round {r + 1}/{rounds} {key:4s} {impl:15s} "
                    f"{time.perf_counter() - t0:6.1f}s")
    return results


def _fmt(seconds, unit):
    scale = {"s": 1, "ms": 1e3, "us": 1e6}[unit]
    v = seconds * scale
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


# target of each row (issue 10): (text, test on the medians {impl: seconds})
TARGETS = {
    "W1": ("≤ 1.5× numpy", lambda m: m["symgraph"] <= 1.5 * m["numpy"]),
    "W2": ("≥ 2× faster than JAX; 2 threads ≥ 1.7× more",
           lambda m: m["symgraph"] <= 0.5 * m["jax"] and m["omp2_speedup"] >= 1.7),
    "W3": ("≤ JAX", lambda m: m["symgraph"] <= m["jax"]),
    "W4": ("≤ 1.1× the 8 GEMMs", lambda m: m.get("gemms_paired", m["symgraph"] /
                                                  m["gemms"]) <= 1.1),
    "W5": ("≤ 0.5× JAX, ≤ 0.8× numpy",
           lambda m: m["symgraph"] <= 0.5 * m["jax"] and m["symgraph"] <= 0.8 * m["numpy"]),
    "W6": ("≤ JAX", lambda m: m["symgraph"] <= m["jax"]),
    "W7 cold": ("≤ 0.5 s", lambda m: m["symgraph"] <= 0.5),
    "W7 warm": ("≤ 0.08 s", lambda m: m["symgraph"] <= 0.08),
    "W7b cold": ("≤ 1.0 s", lambda m: m["symgraph"] <= 1.0),
    "W7b warm": ("≤ 0.15 s", lambda m: m["symgraph"] <= 0.15),
    "W8": ("≤ 10 ms", lambda m: m["symgraph"] <= 0.01),
}


def table(results, keys, impls, quick):
    from benchmarks.workloads import WORKLOADS
    rows, notes = [], []
    shown = [i for i in ALL_IMPLS if i in impls]
    header = ["workload", "unit"] + [LABEL[i] for i in shown] + \
        [f"symgraph / {LABEL[i]}" for i in shown if i != "symgraph"] + \
        ["results agree with numpy", "target", "met"]
    for key in keys:
        wl = WORKLOADS[key](quick=quick) if key not in ("W7", "W7b") else WORKLOADS[key]
        row_keys = [f"{key} cold", f"{key} warm"] if getattr(wl, "compile_workload", False) \
            else [key]
        for rk in row_keys:
            med, cells, agree = {}, [], []
            extra = {"W4": ["gemms"], "W2": ["symgraph_omp2"]}.get(key, [])
            for impl in shown + extra:
                res = results.get((rk, impl))
                if res is None:
                    continue
                if res["times"]:
                    med[impl] = statistics.median(res["times"])
                    if impl not in ("numpy", "gemms") and not res["ok"]:
                        agree.append(f"{LABEL[impl]} NO ({'; '.join(res['notes'])})")
                elif res.get("fail"):
                    tag = "skipped" if res.get("skipped") else "failed"
                    notes.append(f"{rk} {LABEL[impl]} {tag}: {res['fail']}")
            for impl in shown:
                if impl in med:
                    cells.append(_fmt(med[impl], wl.unit))
                elif impl in wl.impls:
                    fail = results.get((rk, impl), {})
                    cells.append("skipped" if fail.get("skipped") else
                                 "failed" if fail.get("fail") else "–")
                else:
                    cells.append("–")
            ratios = []
            for impl in shown:
                if impl == "symgraph":
                    continue
                ratios.append(f"{med['symgraph'] / med[impl]:.2f}" if "symgraph" in med and
                              impl in med and med[impl] > 0 else "–")
            title = wl.title + (f" ({rk.split()[1]} cache)" if " " in rk else "")
            if key == "W4" and "gemms" in med:
                title += f"; the 8 GEMMs alone: {_fmt(med['gemms'], wl.unit)} ms"
            mine = results.get((rk, "symgraph"), {})
            if key == "W4" and mine.get("anchor"):
                med["gemms_paired"] = statistics.median(
                    a / b for a, b in zip(mine["times"], mine["anchor"]))
                title += (f", {med['gemms_paired']:.2f}× them in samples taken alternately "
                          f"with symgraph's in its process")
            pairs = results.get((rk, "symgraph_omp2"), {})
            if key == "W2" and pairs.get("one_thread"):
                # the two-thread clause: the median of one / two threads over samples
                # taken side by side in one process (run.py's worker)
                med["omp2_speedup"] = statistics.median(
                    a / b for a, b in zip(pairs["one_thread"], pairs["times"]))
                title += (f"; symgraph with 2 OpenMP threads: "
                          f"{_fmt(med['symgraph_omp2'], wl.unit)} ms, "
                          f"{med['omp2_speedup']:.2f}× its one-thread samples taken "
                          f"alternately with them "
                          f"({_fmt(statistics.median(pairs['one_thread']), wl.unit)} ms)")
                if pairs.get("machine"):
                    title += (f"; in the same minutes the machine's second core gave "
                              f"{statistics.median(pairs['machine']):.2f}× on math with no "
                              f"memory traffic (benchmarks/scaling_probe.c; 2.00 on two "
                              f"free cores)")
            target = TARGETS.get(rk)
            met = "–"
            if target:
                try:
                    met = "met" if target[1](med) else "not met"
                except KeyError:
                    met = "n/a"
            checked = [i for i in med if i not in ("numpy", "gemms")]
            if getattr(wl, "compile_workload", False) and rk.startswith("W7b"):
                agree_text = "–"
            else:
                agree_text = "; ".join(agree) if agree else ("yes" if checked else "–")
            rows.append([f"{rk}: {title}", wl.unit] + cells + ratios +
                        [agree_text, target[0] if target else "", met])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines), notes


def _load():
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    vers = [f"numpy {numpy.__version__}"]
    for mod in ("jax", "pytensor", "numba"):
        try:
            vers.append(f"{mod} {__import__(mod).__version__}")
        except Exception:
            pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; " + ", ".join(vers))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one round (< 1 min)")
    ap.add_argument("--workloads", default=None, help="comma-separated keys, e.g. W1,W2")
    ap.add_argument("--impls", default=None, help=f"comma-separated, from {ALL_IMPLS}")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--reps", type=int, default=None, help="timing samples per process")
    ap.add_argument("--write", nargs="?", const=os.path.join(HERE, "RESULTS.md"),
                    default=None, help="write the table (default benchmarks/RESULTS.md)")
    ap.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "IMPL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, quick=args.quick, reps=args.reps or 5)))
        return 0
    from benchmarks.workloads import WORKLOADS
    keys = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads {unknown}; they are {list(WORKLOADS)}")
    if args.impls:
        impls = args.impls.split(",")
        bad = [i for i in impls if i not in ALL_IMPLS]
        if bad:
            ap.error(f"unknown implementations {bad}; they are {ALL_IMPLS}")
    else:
        impls = ["numpy", "symgraph"] if args.quick else \
            [i for i in ALL_IMPLS if _importable(i)]
    rounds = args.rounds or (1 if args.quick else 3)
    reps = args.reps or (3 if args.quick else 5)
    t0 = time.perf_counter()
    load0 = _load()
    print(f"symgraph benchmarks: {', '.join(keys)} × {', '.join(impls)}, {rounds} round(s)",
          file=sys.stderr)
    results = run(keys, impls, args.quick, rounds, reps,
                  log=lambda s: print(s, file=sys.stderr))
    text, notes = table(results, keys, impls, args.quick)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    report = (f"# symgraph benchmarks\n\nRun {when} on {machine()}.\n\n"
              f"`python -m benchmarks{' --quick' if args.quick else ''}`: {rounds} round(s) of "
              f"{reps} samples, each implementation in its own process with one thread, "
              f"interleaved; medians (times per call; W5 per time step). Ratios are "
              f"symgraph's time over the other's (below 1: symgraph is faster). "
              f"Total {time.perf_counter() - t0:.0f} s. Load average (1 min) "
              f"{load0} before, {_load()} after: other processes on the machine slow "
              f"every column alike, ratios less so.\n\n{text}\n")
    if notes:
        report += "\nNot run:\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print(report)
    if args.write:
        with open(args.write, "w") as f:
            f.write(report)
    failed = [k for k, r in results.items() if r["times"] and not r["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
