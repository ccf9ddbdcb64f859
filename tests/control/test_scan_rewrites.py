"""Scan rewrites: a loop returning only its last state stores only that (memory independent
of the number of steps); the rewrite leaves values, gradients and zero-step errors alone."""
import tracemalloc

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad
from symgraph.opt import REGISTRY
from symgraph.scan import Scan

def _scan_keeps(fn):
    return [n.op.keep for n in fn.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def test_last_state_only_uses_memory_independent_of_the_step_count():
    n = T.lscalar('n')
    x0 = T.dvector('x0')
    xs, _ = symgraph.scan(lambda h: h * 0.5 + 1.0, outputs_info=x0, n_steps=n)
    f = symgraph.function([x0, n], xs[-1], mode="FAST_RUN")
    assert _scan_keeps(f) == [("end",)]
    x0v = np.zeros(1000)     # 8 kB a step: storing 100,000 steps would take 800 MB
    # tracemalloc (which slows each step ~10x) on 1,000 and 10,000 steps: the same peak
    peaks = []
    for steps in (1_000, 10_000):
        tracemalloc.start()
        got = f(x0v, steps)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        np.testing.assert_allclose(got, 2.0 - 2.0 * 0.5 ** steps)
    assert peaks[1] < 1_000_000 and peaks[1] < 2 * peaks[0] + 100_000, peaks
    # 100,000 steps: the process's peak memory grows by far less than the history's 800 MB
    before = _max_rss()
    np.testing.assert_allclose(f(x0v, 100_000), 2.0)
    assert _max_rss() - before < 100_000_000


def _max_rss():
    """The process's peak resident memory in bytes (Linux reports kB, macOS bytes)."""
    import resource
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def test_the_rewrite_is_registered_and_can_be_turned_off():
    assert "scan_save_mem" in REGISTRY.rules
    x0 = T.dvector('x0')
    xs, _ = symgraph.scan(lambda h: h + 1.0, outputs_info=x0, n_steps=3)
    f = symgraph.function([x0], xs[-1], mode=symgraph.Mode("FAST_RUN",
                                                          excluding=["scan_save_mem"]))
    assert _scan_keeps(f) == [("all",)]
    np.testing.assert_allclose(f(np.zeros(2)), [3.0, 3.0])


def test_tap_window_and_py_mode():
    x0 = T.dmatrix('x0')
    xs, _ = symgraph.scan(lambda a, b: a + b, outputs_info=dict(initial=x0, taps=[-2, -1]),
                          n_steps=10)
    fast = symgraph.function([x0], xs[-1], mode="FAST_RUN")
    py = symgraph.function([x0], xs[-1], mode="py")
    assert _scan_keeps(fast) == [("end",)] and _scan_keeps(py) == [("all",)]
    x0v = np.array([[0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(fast(x0v), py(x0v))
    np.testing.assert_allclose(fast(x0v)[0], 89.0)   # Fibonacci


def test_history_kept_when_read_or_differentiated():
    x = T.dvector('x')
    h0 = T.dscalar('h0')
    hs, _ = symgraph.scan(lambda v, h: h * v, sequences=x, outputs_info=h0)
    both = symgraph.function([x, h0], [hs[-1], hs.sum()], mode="FAST_RUN")
    assert _scan_keeps(both) == [("all",)]
    g = symgraph.function([x, h0], grad(hs[-1], x), mode="FAST_RUN")
    assert ("all",) in _scan_keeps(g)
    np.testing.assert_allclose(g(np.array([2., 3.]), 1.0), [3., 2.])


def test_zero_steps_still_raise_index_error():
    x = T.dvector('x')
    hs, _ = symgraph.scan(lambda v, h: h + v, sequences=x,
                          outputs_info=T.constant(0.0, dtype="float64"))
    f = symgraph.function([x], hs[-1], mode="FAST_RUN")
    assert f(np.array([1., 2.])) == 3.0
    with pytest.raises(IndexError):
        f(np.zeros(0))


def _n_scans(fn):
    return len(_scan_keeps(fn))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_independent_loops_over_the_same_sequence_merge(mode):
    x = T.dmatrix('x')
    w = T.dvector('w')
    a, _ = symgraph.scan(lambda r, h: h + r, sequences=x, outputs_info=T.zeros_like(x[0]))
    b, _ = symgraph.map(lambda r, w: (r * w).sum(), x, non_sequences=w)
    f = symgraph.function([x, w], [a, b, a[-1]], mode=mode)
    py = symgraph.function([x, w], [a, b, a[-1]], mode="py")
    assert _n_scans(f) == 1 and _n_scans(py) == 2
    xv, wv = np.arange(6.).reshape(3, 2), np.array([1., 2.])
    for got, want in zip(f(xv, wv), py(xv, wv)):
        np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(f(xv, wv)[1], xv @ wv)


def test_loops_that_depend_on_each_other_or_differ_do_not_merge():
    x = T.dmatrix('x')
    n = T.lscalar('n')
    a, _ = symgraph.map(lambda r: r * 2, x)
    b, _ = symgraph.scan(lambda r, s: s + r, sequences=x, outputs_info=a.sum(axis=0))
    c, _ = symgraph.scan(lambda r, s: s * r, sequences=x, outputs_info=T.ones_like(x[0]),
                         n_steps=n)
    d, _ = symgraph.scan(lambda r, s: (s - r, symgraph.scan_module.until(T.gt(s.sum(), 5))),
                         sequences=x, outputs_info=T.ones_like(x[0]))
    f = symgraph.function([x, n], [a, b, c, d], mode="FAST_RUN")
    py = symgraph.function([x, n], [a, b, c, d], mode="py")
    assert _n_scans(f) == 4
    xv = np.arange(6.).reshape(3, 2)
    for got, want in zip(f(xv, 2), py(xv, 2)):
        np.testing.assert_allclose(got, want)
