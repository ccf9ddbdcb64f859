"""Large outputs of compiled functions in reused memory (kernels/c/entry.c's pool,
``config.alloc_cache_mb``): the block of a freed output of at least 32 MiB is taken by the
next output of the same size, and nothing the caller still holds, views included, is
ever written."""
import threading

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:                                     # numpy < 2
    from numpy.core.multiarray import get_handler_name

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")

N = 4_300_000                        # 34 MB of float64: above the pool's 32 MiB floor


def _addr(a):
    return a.__array_interface__["data"][0]


def _fn():
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 2 + x * x)
    assert type(f._call).__name__ == "NativeEntry"
    return f, lambda a: np.exp(a) * 2 + a * a


def test_a_freed_large_output_is_reused_by_the_next_call():
    f, ref = _fn()
    a = np.random.default_rng(0).standard_normal(N)
    r = f(a)
    assert get_handler_name(r) == "symgraph_reuse" and r.flags.owndata
    np.testing.assert_allclose(r, ref(a), rtol=1e-14)
    where = _addr(r)
    del r
    r = f(a + 1)
    assert _addr(r) == where
    np.testing.assert_allclose(r, ref(a + 1), rtol=1e-14)


def test_outputs_and_views_the_caller_holds_are_never_written():
    f, ref = _fn()
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(N) for _ in range(3))
    r1 = f(a)
    r2 = f(b)
    assert not np.shares_memory(r1, r2)
    view = r2[::3]
    del r2                                  # the view keeps its block alive
    r3 = f(c)
    assert not np.shares_memory(view, r3) and not np.shares_memory(r1, r3)
    np.testing.assert_allclose(r1, ref(a), rtol=1e-14)
    np.testing.assert_allclose(view, ref(b)[::3], rtol=1e-14)
    np.testing.assert_allclose(r3, ref(c), rtol=1e-14)


def test_dot_and_reduction_outputs_and_small_ones():
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    f = symgraph.function([x, y, z], [T.dot(x, y), z.sum(axis=0), z.sum(axis=1)])
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2100, 30)), rng.standard_normal((30, 2100))
    c = rng.standard_normal((3, N))
    d, s0, s1 = f(a, b, c)
    assert get_handler_name(d) == get_handler_name(s0) == "symgraph_reuse"
    assert get_handler_name(s1) == "default_allocator"     # 24 bytes
    np.testing.assert_allclose(d, a @ b, rtol=1e-12)
    np.testing.assert_allclose(s0, c.sum(axis=0), rtol=1e-14)
    np.testing.assert_allclose(s1, c.sum(axis=1), rtol=1e-12)


def test_a_pooled_output_resizes_like_any_array():
    f, ref = _fn()
    a = np.linspace(-1, 1, N)
    r = f(a)
    r.resize(N + 1000, refcheck=False)
    np.testing.assert_allclose(r[:N], ref(a), rtol=1e-14)
    assert (r[N:] == 0).all()
    del r
    np.testing.assert_allclose(f(a), ref(a), rtol=1e-14)


def test_alloc_cache_mb_zero_leaves_numpys_allocator():
    try:
        with symgraph.config.change_flags(alloc_cache_mb=0):
            f, ref = _fn()
        a = np.ones(N)
        r = f(a)
        assert get_handler_name(r) == "default_allocator"
        np.testing.assert_allclose(r, ref(a), rtol=1e-14)
    finally:
        _fn()                                # compiling again restores the default cap
    with pytest.raises(ValueError, match="alloc_cache_mb"):
        symgraph.config.alloc_cache_mb = -1


def test_threads_sharing_the_pool():
    f, ref = _fn()
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal(N) for _ in range(4)]
    want = [f(a).copy() for a in inputs]
    for a, w in zip(inputs, want):
        np.testing.assert_allclose(w, ref(a), rtol=1e-14)
    wrong = []

    def work(a, w):
        for _ in range(6):
            r = f(a)
            if not np.array_equal(r, w):
                wrong.append(r)
    threads = [threading.Thread(target=work, args=aw) for aw in zip(inputs, want)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
