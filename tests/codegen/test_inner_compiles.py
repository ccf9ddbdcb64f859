"""Inner functions (scan and ifelse bodies) compiled in threads beside their outer
function's module (cbackend._start_inner_compiles): the same results as mode='py', the
process's stdout left alone, a worker's failure compiled again and raised in the caller's
thread, no workers with a profile."""
import sys
import threading

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache
from symgraph.ifelse import ifelse

pytestmark = [pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler"),
              pytest.mark.skipif((__import__("os").cpu_count() or 1) < 2,
                                 reason="one core: inner functions compile in sequence")]

inner_mod = sys.modules["symgraph.scan.inner"]


@pytest.fixture
def compiled_in(monkeypatch):
    """The names of the threads that compiled an inner function."""
    names = []
    real = inner_mod.InnerGraph.function

    def recording(self, mode=None):
        if inner_mod.mode_key(mode) not in self._fns:
            names.append(threading.current_thread().name)
        return real(self, mode)
    monkeypatch.setattr(inner_mod.InnerGraph, "function", recording)
    return names


def _graph():
    x, c = T.dmatrix("x"), T.dscalar("c")
    hs, _ = symgraph.scan(lambda r, h: T.tanh(h + r), sequences=x, outputs_info=x[0] * 0)
    out = ifelse(T.gt(c, 0), hs.sum(axis=0), T.exp(x).sum(axis=0))
    return [x, c], [out, symgraph.grad(hs.sum(), x)]


def _check(f):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 3))
    ref = symgraph.function(*_graph(), mode="py")
    for c in (1.0, -1.0):
        for got, want in zip(f(a, c), ref(a, c)):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_inner_functions_compile_in_threads_and_agree(fresh_compiledir, compiled_in, capsys):
    stdout = sys.stdout
    f = symgraph.function(*_graph())
    assert sys.stdout is stdout          # a build must not swap the process's stream
    print("still printing")
    assert "still printing" in capsys.readouterr().out
    assert any(n.startswith("symgraph-inner") for n in compiled_in), compiled_in
    _check(f)


def test_a_failing_worker_leaves_the_compile_to_the_caller(fresh_compiledir, compiled_in,
                                                           monkeypatch):
    scan_op = sys.modules["symgraph.scan.op"].Scan
    real = scan_op.prepare_perform

    def failing_in_workers(self, node, mode):
        if threading.current_thread().name.startswith("symgraph-inner"):
            raise RuntimeError("worker failure")
        return real(self, node, mode)
    monkeypatch.setattr(scan_op, "prepare_perform", failing_in_workers)
    f = symgraph.function(*_graph())
    _check(f)


def test_no_workers_with_a_profile(fresh_compiledir, compiled_in):
    f = symgraph.function(*_graph(), mode=symgraph.Mode(profile=True))
    assert compiled_in and not any(n.startswith("symgraph-inner") for n in compiled_in)
    _check(f)
