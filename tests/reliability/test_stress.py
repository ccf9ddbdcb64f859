"""Stress: 8 threads calling one compiled function; 8 processes compiling the same 20
different functions into one fresh compiledir (each key built once, all results right)."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T

from .conftest import have_cc


@pytest.mark.parametrize("mode", ["FAST_RUN", "py"])
def test_eight_threads_call_one_function(compiledir, mode):
    x, y = T.dmatrix("x"), T.dvector("y")
    out = T.tanh(T.dot(x, y)) * 2 + T.exp(x).sum(axis=1) - x[:, 0]
    f = symgraph.function([x, y], [out, (x * y).sum()], mode=mode)
    errors, done = [], []
    barrier = threading.Barrier(8)

    def worker(k):
        rng = np.random.default_rng(k)
        try:
            barrier.wait()
            for i in range(150):
                n = 1 + (i + k) % 7
                a, b = rng.random((n, 5)), rng.random(5)
                r, s = f(a, b)
                ref = np.tanh(a @ b) * 2 + np.exp(a).sum(axis=1) - a[:, 0]
                if not (np.allclose(r, ref, rtol=1e-12) and np.isclose(s, (a * b).sum())):
                    errors.append((k, i, r, ref))
                    return
            done.append(k)
        except Exception as e:                   # noqa: BLE001  (reported below)
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:2]
    assert sorted(done) == list(range(8))


CHILD = textwrap.dedent("""
    import numpy as np, symgraph, symgraph.tensor as T
    x, y = T.dvector("x"), T.dvector("y")
    a, b = np.linspace(-1, 1, 9), np.linspace(0.5, 2, 9)
    for k in range(20):                       # 20 different functions (different kernels)
        c = 1.0 + k / 8
        f = symgraph.function([x, y], T.tanh(x * c) + T.exp(y) / c - x * y * (k + 1),
                              mode="FAST_RUN")
        ref = np.tanh(a * c) + np.exp(b) / c - a * b * (k + 1)
        assert np.allclose(f(a, b), ref, rtol=1e-12), (k, f(a, b), ref)
        assert "c" in set(f.maker.fgraph.placement.values())
    print("ok")
""")


@pytest.mark.skipif(not have_cc(), reason="needs a C compiler")
def test_eight_processes_compile_twenty_functions_into_one_compiledir(tmp_path):
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
               SYMGRAPH_BUILD_LOG=str(tmp_path / "builds.log"))
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(8)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-3000:]
    builds = [line for line in (tmp_path / "builds.log").read_text().splitlines()
              if not line.endswith(" runtime")]             # the native entry's runner
    keys = [line.split()[0] for line in builds]
    assert len(keys) == len(set(keys)) == 20, builds   # each function built exactly once
    entries = [d for d in (tmp_path / "cd").glob("*/*") if len(d.name) == 64 and
               '"label": "runtime"' not in (d / "meta.json").read_text()]
    assert len(entries) == 20
