"""OpenMP in the C backend: config.openmp builds with -fopenmp and shares loops above
cbackend.OMP_MIN elements among threads (results unchanged); with it off the source has no
parallel loop; OMP_NUM_THREADS is read by the OpenMP runtime in each process."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cbackend

RNG = np.random.default_rng(2)


def _build(openmp):
    x, y = T.dmatrix("x"), T.dvector("y")
    m = T.dmatrix("m")
    outs = [T.exp(-x * x) * T.sin(y) + T.log1p(abs(x)) * 0.5, T.sum(x, axis=1),
            T.max(x, axis=1), T.argmin(x, axis=1), T.nnet.softmax(m)]
    with symgraph.change_flags(openmp=openmp):
        f = symgraph.function([x, y, m], outs)
    return f, outs


def test_openmp_flag_builds_parallel_loops_with_unchanged_results(compiledir):
    f_on, outs = _build(True)
    f_off, _ = _build(False)
    assert "omp parallel for" in f_on.program.source
    assert "-fopenmp" in f_on.program.cache_info["parts"]["flags"].split()
    assert "omp parallel for" not in f_off.program.source
    assert "-fopenmp" not in f_off.program.cache_info["parts"]["flags"].split()
    n = cbackend.OMP_MIN // 100 + 7                 # 100 x n elements: above OMP_MIN
    a, b = RNG.normal(size=(100, n)), RNG.normal(size=n)
    s = RNG.normal(size=(700, 300))
    for got, want, out in zip(f_on(a, b, s), f_off(a, b, s), outs):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15, err_msg=str(out))
    want = np.exp(-a * a) * np.sin(b) + np.log1p(np.abs(a)) * 0.5
    np.testing.assert_allclose(f_on(a, b, s)[0], want, rtol=1e-15, atol=1e-15)


SCRIPT = textwrap.dedent("""
    import os
    import numpy as np, symgraph, symgraph.tensor as T
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 2.0)
    small, big = np.linspace(-1, 1, 1000), np.linspace(-1, 1, 300001)
    before = len(os.listdir("/proc/self/task"))
    np.testing.assert_allclose(f(small), np.exp(small) * 2.0, rtol=1e-15)
    below = len(os.listdir("/proc/self/task"))
    np.testing.assert_allclose(f(big), np.exp(big) * 2.0, rtol=1e-15)
    print(below - before, len(os.listdir("/proc/self/task")) - before)
""")


def test_omp_num_threads_is_respected(tmp_path):
    """The threads the process gains from a loop above OMP_MIN (OpenMP keeps its team):
    none with OMP_NUM_THREADS=1, one with 2; none below the threshold."""
    root = Path(__file__).parents[2]
    for nt, extra in (("1", 0), ("2", 1)):
        env = dict(os.environ, OMP_NUM_THREADS=nt, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
                   PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("SYMGRAPH_FLAGS", None)
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["0", str(extra)], (nt, out.stdout)


def test_no_openmp_next_to_blas(compiledir):
    """A function calling BLAS gets no OpenMP loops: OpenBLAS's threads and OpenMP's fight
    for the cores (measured: an MLP step's elementwise loops 40-100x slower)."""
    x, w = T.dmatrix("x"), T.dmatrix("w")
    with symgraph.change_flags(openmp=True):
        f = symgraph.function([x, w], T.exp(T.dot(x, w)) + T.sum(x))
        g = symgraph.function([x], T.exp(x) + T.sum(x))
    assert "omp parallel" not in f.program.source
    assert "omp parallel" in g.program.source
    a, b = RNG.normal(size=(600, 200)), RNG.normal(size=(200, 300)) * 0.01
    np.testing.assert_allclose(f(a, b), np.exp(a @ b) + a.sum(), rtol=1e-12)
