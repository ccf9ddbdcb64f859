"""RandomStream: moments, reproducibility, default updates, symbolic sizes, dropout."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import Lop
from symgraph.tensor.random import RandomStream
from symgraph.tensor.shared_randomstreams import RandomStreams

N = 100_000


def fn(outs, inputs=(), **kw):
    return symgraph.function(list(inputs), outs, mode="py", **kw)


def within(sample_stat, mean, se, k=4):
    assert abs(sample_stat - mean) < k * se, (sample_stat, mean, se)


def test_uniform_moments_and_range():
    srng = RandomStream(1)
    u = srng.uniform((N,), low=-1.0, high=3.0, dtype="float64")
    v = fn(u)()
    assert v.shape == (N,) and v.dtype == np.float64
    assert v.min() >= -1 and v.max() < 3
    var = 16 / 12
    within(v.mean(), 1.0, np.sqrt(var / N))
    # variance of a uniform sample: se of s^2 is sqrt((mu4 - var^2) / N), mu4 = 4^4 / 80
    within(v.var(), var, np.sqrt((4 ** 4 / 80 - var ** 2) / N))


def test_normal_moments():
    srng = RandomStream(2)
    x = srng.normal((N // 100, 100), avg=2.0, std=3.0, dtype="float64")
    v = fn(x)()
    assert v.shape == (N // 100, 100)
    within(v.mean(), 2.0, 3.0 / np.sqrt(N))
    within(v.var(), 9.0, 9.0 * np.sqrt(2 / N))


def test_binomial_moments():
    srng = RandomStream(3)
    b = srng.binomial((N,), n=5, p=0.3)
    v = fn(b)()
    assert v.dtype == np.int64 and v.min() >= 0 and v.max() <= 5
    within(v.mean(), 1.5, np.sqrt(5 * 0.3 * 0.7 / N))
    # fourth central moment of a binomial: npq (1 + 3 (n - 2) pq)
    mu4 = 1.05 * (1 + 3 * 3 * 0.21)
    within(v.var(), 1.05, np.sqrt((mu4 - 1.05 ** 2) / N))


def test_default_dtype_is_floatx_and_static_shape():
    srng = RandomStream(0)
    u = srng.uniform((2, 3))
    assert u.dtype == symgraph.config.floatX and u.type.shape == (2, 3)
    b = srng.binomial((4,), p=0.5, dtype="float32")
    v = fn(b)()
    assert v.dtype == np.float32 and set(np.unique(v)) <= {0.0, 1.0}


def test_same_seed_same_draws_successive_calls_differ():
    a, b = RandomStream(42), RandomStream(42)
    fa = fn([a.uniform((5,)), a.normal((3,))])
    fb = fn([b.uniform((5,)), b.normal((3,))])
    a1, a2 = fa(), fa()
    b1, b2 = fb(), fb()
    for x, y in zip(a1 + a2, b1 + b2):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a1[0], a2[0]) and not np.array_equal(a1[1], a2[1])
    c = RandomStream(43)
    assert not np.array_equal(fn(c.uniform((5,)))(), a1[0])


def test_two_draws_of_one_stream_differ():
    srng = RandomStream(5)
    u1, u2 = srng.uniform((4,)), srng.uniform((4,))
    x, y = fn([u1, u2])()
    assert not np.array_equal(x, y)


def test_no_default_updates_repeats():
    srng = RandomStream(7)
    u = srng.uniform((6,))
    f = fn(u, no_default_updates=True)
    np.testing.assert_array_equal(f(), f())
    g = fn(u)
    first = g()
    assert not np.array_equal(first, g())


def test_seed_reseeds():
    srng = RandomStream(9)
    u = srng.normal((4,))
    f = fn(u)
    x1, x2 = f(), f()
    srng.seed(9)
    np.testing.assert_array_equal(f(), x1)
    np.testing.assert_array_equal(f(), x2)
    srng.seed(10)
    assert not np.array_equal(f(), x1)


def test_alias_module():
    assert RandomStreams is RandomStream


def test_symbolic_size_entries():
    srng = RandomStream(11)
    n = T.lscalar("n")
    u = srng.uniform((n, 3))
    assert u.type.shape == (None, 3)
    f = fn(u, [n])
    assert f(4).shape == (4, 3) and f(0).shape == (0, 3)


@pytest.mark.skipif(not hasattr(T, "shape"),
                    reason="T.shape (symgraph/ops/shape.py) not written yet")
def test_size_from_shape_of_variable():
    srng = RandomStream(12)
    x = T.dmatrix("x")
    mask = srng.binomial(x.shape, p=0.5, dtype="float64")
    f = fn(mask * x, [x])
    assert f(np.ones((3, 5))).shape == (3, 5)


def test_size_none_broadcasts_parameters():
    srng = RandomStream(13)
    mu = T.dvector("mu")
    x = srng.normal(avg=mu, std=1e-9, dtype="float64")
    v = fn(x, [mu])(np.array([1.0, 5.0, -2.0]))
    np.testing.assert_allclose(v, [1.0, 5.0, -2.0], atol=1e-6)


def test_choice_permutation_integers():
    srng = RandomStream(14)
    c = srng.choice((4,), a=10, replace=False)
    cp = srng.choice((2000,), a=3, p=[0.0, 0.5, 0.5])
    ca = srng.choice((3,), a=np.array([2.5, 7.5]))
    p = srng.permutation(6)
    i = srng.integers(3, 8, size=(1000,))
    cv, cpv, cav, pv, iv = fn([c, cp, ca, p, i])()
    assert len(set(cv)) == 4 and cv.max() < 10
    assert 0 not in cpv and set(cpv) == {1, 2}
    assert set(cav) <= {2.5, 7.5}
    assert sorted(pv) == list(range(6)) and p.type.shape == (6,)
    assert iv.min() >= 3 and iv.max() <= 7 and set(iv) == set(range(3, 8))


def test_dropout_mask_changes_in_training_function():
    srng = RandomStream(15)
    x = T.dmatrix("x")
    w = symgraph.shared(np.ones((4, 3)), name="w")
    mask = srng.binomial((4, 3), p=0.5, dtype="float64")
    y = x * mask * w
    gw = Lop(y, w, T.constant(np.ones((4, 3))))
    train = symgraph.function([x], mask, updates=[(w, w - 0.01 * gw)], mode="py")
    xv = np.ones((4, 3))
    masks = [train(xv) for _ in range(4)]
    for a, b in zip(masks, masks[1:]):
        assert not np.array_equal(a, b)
    # w changed by 0.01 exactly where the masks were 1
    np.testing.assert_allclose(w.get_value(), 1 - 0.01 * sum(masks))
