"""A compiled function pickles with its shared variables' values and loads in a fresh Python
process, finding its C kernels in the cache (no compiler run) and giving identical outputs."""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T


def test_shared_variable_pickles_with_value_and_type():
    w = symgraph.shared(np.arange(6, dtype="float32").reshape(2, 3), "w")
    w2 = pickle.loads(pickle.dumps(w))
    assert w2.name == "w" and w2.type == w.type
    assert np.array_equal(w2.get_value(), w.get_value())
    w2.set_value(np.zeros((2, 3), dtype="float32"))
    assert w.get_value()[1, 2] == 5                      # independent storage after loading


def test_function_pickles_in_process_and_keeps_updates():
    x = T.dvector("x")
    acc = symgraph.shared(np.zeros(3), "acc")
    f = symgraph.function([x], (acc * x).sum(), updates=[(acc, acc + x)], mode="py")
    f(np.ones(3))
    g = pickle.loads(pickle.dumps(f))
    v = np.array([1.0, 2.0, 3.0])
    assert g(v) == f(v) == 6.0
    assert np.array_equal(g(v), f(v))                     # both accumulated the same way


CHILD = textwrap.dedent("""
    import os, pickle, sys
    import numpy as np
    with open(sys.argv[1], "rb") as fh:
        fn, args = pickle.load(fh)
    outs = [fn(*args), fn(*args)]
    with open(sys.argv[2], "wb") as fh:
        pickle.dump((outs, os.getpid(), fn.maker.fgraph.placement and
                     sorted(set(fn.maker.fgraph.placement.values()))), fh)
""")


def test_function_loads_in_a_fresh_process_from_the_kernel_cache(tmp_path, monkeypatch):
    cdir, log = tmp_path / "compiledir", tmp_path / "builds.log"
    monkeypatch.setenv("SYMGRAPH_BUILD_LOG", str(log))
    x = T.dmatrix("x")
    w = symgraph.shared(np.zeros((3, 2)), "w")
    b = symgraph.shared(np.zeros(2), "b")
    h = T.tanh(T.dot(x, w) + b)
    cost = (T.exp(-h * h) * T.sin(h) + T.log1p(abs(h))).sum()
    gw, gb = symgraph.grad(cost, [w, b])
    with symgraph.change_flags(compiledir=str(cdir)):
        f = symgraph.function([x], [cost, h], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    if "c" not in f.maker.fgraph.placement.values():
        pytest.skip("no C compiler")
    rng = np.random.default_rng(1)
    w.set_value(rng.normal(size=(3, 2)))                 # values set after compiling travel
    b.set_value(np.array([0.5, -0.25]))
    xv = rng.normal(size=(4, 3))
    parent_builds = log.read_text().splitlines()
    assert parent_builds                                # the parent built the module
    with open(tmp_path / "fn.pkl", "wb") as fh:
        pickle.dump((f, (xv,)), fh)
    expected = [f(xv), f(xv)]                           # the same two calls, in this process
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(cdir), SYMGRAPH_BUILD_LOG=str(log))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "fn.pkl"),
                           str(tmp_path / "out.pkl")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "out.pkl", "rb") as fh:
        outs, child_pid, placement = pickle.load(fh)
    assert child_pid != os.getpid() and "c" in placement
    assert log.read_text().splitlines() == parent_builds   # the child built nothing
    for got, want in zip(outs, expected):
        for a, e in zip(got, want):
            assert a.dtype == e.dtype and a.shape == e.shape
            assert np.array_equal(a, e)                 # identical, bit for bit
    assert not np.array_equal(outs[0][0], outs[1][0])     # the updates ran in the child
