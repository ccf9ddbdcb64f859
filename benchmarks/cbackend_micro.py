"""Micro-benchmarks of the C backend (see NOTES-cbackend.md): W1 call overhead of ``x + 1``
on a 0-d input, W2 ``exp(-x*x)*sin(y) + log1p(abs(z))*0.5`` on 1e7 float64 (numpy, symgraph
with OpenMP off, and with OpenMP on: set OMP_NUM_THREADS), W3 softmax crossentropy forward
(4096 x 1000, int labels), and a sum over 1e7 doubles.

    python benchmarks/cbackend_micro.py [--n 10000000] [--repeat 5]

Prints medians; 'busy' is how many cores other processes kept busy right before (from
/proc/stat), since 2-thread timings mean nothing on a machine another job is using.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import timeit

import numpy as np


def busy(seconds=0.3):
    """Cores busy (all processes, this one idle) over `seconds`, from /proc/stat."""
    def read():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    try:
        t0, i0 = read()
        time.sleep(seconds)
        t1, i1 = read()
    except OSError:
        return float("nan")
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def median_time(fn, repeat):
    fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import symgraph
    import symgraph.tensor as T
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
          f"busy before: {busy():.2f} cores")

    # W1: call overhead
    x0 = T.dscalar("x")
    f1 = symgraph.function([x0], x0 + 1)
    v0 = np.asarray(1.5)
    loops = 20000
    t_sg = min(timeit.repeat(lambda: f1(v0), number=loops, repeat=5)) / loops
    t_np = min(timeit.repeat(lambda: v0 + 1, number=loops, repeat=5)) / loops
    print(f"W1 x + 1 (0-d): symgraph {t_sg * 1e6:.2f} us, numpy {t_np * 1e6:.2f} us, "
          f"ratio {t_sg / t_np:.2f}")

    # W2: the fused expression
    rng = np.random.default_rng(0)
    n = args.n
    xs, ys, zs = (rng.normal(size=n) for _ in range(3))
    x, y, z = T.dvectors("x", "y", "z")
    expr = T.exp(-x * x) * T.sin(y) + T.log1p(abs(z)) * 0.5
    want = np.exp(-xs * xs) * np.sin(ys) + np.log1p(np.abs(zs)) * 0.5
    t_np = median_time(lambda: np.exp(-xs * xs) * np.sin(ys) + np.log1p(np.abs(zs)) * 0.5,
                       args.repeat)
    t_copy = median_time(lambda: np.copyto(np.empty_like(xs), xs), args.repeat)
    res = {}
    for omp in (False, True):
        with symgraph.change_flags(openmp=omp):
            f2 = symgraph.function([x, y, z], expr)
        got = f2(xs, ys, zs)
        err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
        res[omp] = median_time(lambda: f2(xs, ys, zs), args.repeat)
        print(f"W2 n={n:.0e} openmp={omp}: {res[omp] * 1e3:.1f} ms (max abs err / max abs {err:.1e})")
    print(f"W2 numpy {t_np * 1e3:.1f} ms, copy of one input {t_copy * 1e3:.1f} ms; "
          f"numpy / symgraph: {t_np / res[False]:.1f}x (no OpenMP), "
          f"{t_np / res[True]:.1f}x (OpenMP); busy after: {busy():.2f} cores")

    # sum of 1e7 doubles
    f3 = symgraph.function([x], T.sum(x))
    print(f"sum n={n:.0e}: symgraph {median_time(lambda: f3(xs), args.repeat) * 1e3:.2f} ms, "
          f"numpy {median_time(lambda: xs.sum(), args.repeat) * 1e3:.2f} ms")

    # W3: softmax crossentropy forward
    m = T.dmatrix("m")
    lab = T.lvector("lab")
    f4 = symgraph.function([m, lab], T.nnet.categorical_crossentropy(T.nnet.softmax(m),
                                                                     lab).mean())
    mv = rng.normal(size=(4096, 1000))
    lv = rng.integers(0, 1000, size=4096)

    def np_xent():
        z = mv - mv.max(axis=1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -lp[np.arange(len(lv)), lv].mean()
    assert abs(f4(mv, lv) - np_xent()) < 1e-10
    print(f"W3 softmax xent 4096x1000: symgraph {median_time(lambda: f4(mv, lv), args.repeat) * 1e3:.1f} ms, "
          f"numpy {median_time(np_xent, args.repeat) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
