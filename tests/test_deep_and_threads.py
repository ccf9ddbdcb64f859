"""A 10,000-deep chain (no recursion anywhere) and one compiled function used from 8 threads."""
import sys
import threading

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T

DEPTH = 10_000


def _chain(x, depth=DEPTH):
    y = x
    for _ in range(depth):
        y = y * 1.0001 + 0.5
    return y


def _chain_numpy(v, depth=DEPTH):
    y = np.array(v, dtype=np.float64)
    for _ in range(depth):
        y = y * 1.0001 + 0.5
    return y


@pytest.fixture(scope="module")
def deep():
    x = T.dvector("x")
    return x, _chain(x)


def test_deep_chain_builds_compiles_runs_and_prints(deep):
    limit = sys.getrecursionlimit()
    x, y = deep
    f = symgraph.function([x], y, mode="py")
    v = np.array([0.0, 1.0, -3.5])
    np.testing.assert_allclose(f(v), _chain_numpy(v), rtol=1e-12)
    assert f(v).dtype == np.float64

    text = symgraph.debugprint(y, file="str")
    lines = text.splitlines()
    # 2 Apply nodes per step, each with a constant input, plus the input x
    assert len(lines) == 4 * DEPTH + 1
    assert lines[0].startswith("add [id A]")
    assert sum(1 for ln in lines if "x [id" in ln) == 1
    # the text stays linear in the depth (indentation is capped for deep levels)
    assert len(text) < 200 * len(lines)

    ftext = symgraph.debugprint(f, file="str")
    assert len(ftext.splitlines()) == 4 * DEPTH + 1
    formula = symgraph.pp(y)
    # the constants are broadcast to 1-d, so they print as [1.0001] and [0.5]
    assert formula.startswith("(" * (2 * DEPTH) + "x * [1.0001]) + [0.5]) * [1.0001]) + [0.5])")
    assert formula.count("x") == 1 and formula.count("+ [0.5])") == DEPTH
    assert sys.getrecursionlimit() == limit


def test_deep_chain_clone_and_givens(deep):
    x, y = deep
    z = T.dvector("z")
    f = symgraph.function([z], y, givens={x: z * 2}, mode="py")
    np.testing.assert_allclose(f([1.5]), _chain_numpy([3.0]), rtol=1e-12)
    y2 = symgraph.clone_replace(y, {x: z - 1})
    assert y2 is not y
    np.testing.assert_allclose(y2.eval({z: np.array([1.0, 2.0])}, mode="py"),
                               _chain_numpy([0.0, 1.0]), rtol=1e-12)


def test_deep_chain_eval_in_the_default_mode():
    x = T.dscalar("x")
    y = _chain(x, 3000)
    np.testing.assert_allclose(y.eval({x: 2.0}), _chain_numpy(2.0, 3000), rtol=1e-12)


def test_function_called_from_eight_threads():
    x = T.dmatrix("x")
    s = T.dscalar("s")
    out = T.tanh(x * s) + T.exp(-x) * 2 - s
    out = out * out
    for _ in range(50):
        out = out * 0.999 + x
    f = symgraph.function([x, s], [out, x * s], mode="py")

    def reference(xv, sv):
        o = np.tanh(xv * sv) + np.exp(-xv) * 2 - sv
        o = o * o
        for _ in range(50):
            o = o * 0.999 + xv
        return o

    n_threads, n_calls = 8, 25
    rng = np.random.default_rng(0)
    inputs = [(rng.standard_normal((k + 2, 7)), float(k) / 3) for k in range(n_threads)]
    results = [None] * n_threads
    errors = []
    barrier = threading.Barrier(n_threads)

    def work(k):
        try:
            xv, sv = inputs[k]
            barrier.wait()
            got = []
            for _ in range(n_calls):
                o, p = f(xv, sv)
                got.append((o, p))
            results[k] = got
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k, got in enumerate(results):
        xv, sv = inputs[k]
        want = reference(xv, sv)
        assert len(got) == n_calls
        for o, p in got:
            assert o.shape == (k + 2, 7)
            np.testing.assert_allclose(o, want, rtol=1e-12)
            np.testing.assert_allclose(p, xv * sv, rtol=1e-15)

