"""Gemm in C (beta * z + alpha * dot(x, y) through numpy's own BLAS: gemm, gemv, ger and dot
for the degenerate shapes) against numpy: every shape of the Dot tests, transposed,
strided, reversed and broadcast operands, float32 and float64, alpha and beta (0 and 1
included), in place and out of place, the shape error and the fallback without BLAS."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import blas
from symgraph.ops.blas import Gemm, gemm_no_inplace

RNG = np.random.default_rng(11)
SHAPES = [(3, 4, 5), (1, 4, 5), (3, 4, 1), (3, 1, 5), (1, 1, 1), (1, 7, 1), (0, 3, 2),
          (3, 0, 2), (2, 3, 0), (40, 33, 27)]

needs_blas = pytest.mark.skipif(blas.provider() is None,
                                reason="numpy's BLAS was not found: Gemm runs its perform")


def _views(a):
    out = [a, np.asfortranarray(a), a[::-1], np.broadcast_to(a[:1], a.shape)]
    if a.ndim == 2:
        big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
        big[::2, ::3] = a
        out.append(big[::2, ::3])
    return out


def _want(z, alpha, x, y, beta):
    dt = z.dtype
    return (beta * z.astype(np.float64) + alpha * np.dot(x.astype(np.float64),
                                                        y.astype(np.float64))).astype(dt)


def _check(got, z, alpha, x, y, beta, what):
    want = _want(z, alpha, x, y, beta)
    assert got.dtype == z.dtype and got.shape == z.shape, what
    eps = np.finfo(got.dtype).eps
    k = x.shape[-1]
    bound = 8 * eps * (max(k, 1) * abs(alpha) * np.dot(np.abs(x).astype(np.float64),
                                                        np.abs(y).astype(np.float64))
                       + abs(beta) * np.abs(z) + np.abs(want))
    assert np.all(np.abs(got - want) <= bound + np.finfo(got.dtype).tiny), what


def _gemm_fns(dtype):
    z2, z1 = T.tensor(dtype, shape=(None, None)), T.tensor(dtype, shape=(None,))
    A, B = T.tensor(dtype, shape=(None, None)), T.tensor(dtype, shape=(None, None))
    u, v = T.tensor(dtype, shape=(None,)), T.tensor(dtype, shape=(None,))
    a, b = T.scalar(dtype=dtype), T.scalar(dtype=dtype)
    mm = symgraph.function([z2, a, A, B, b], gemm_no_inplace(z2, a, A, B, b))
    mv = symgraph.function([z1, a, A, v, b], gemm_no_inplace(z1, a, A, v, b))
    vm = symgraph.function([z1, a, u, B, b], gemm_no_inplace(z1, a, u, B, b))
    for f in (mm, mv, vm):
        assert {w for n, w in f.maker.fgraph.placement.items()
                if isinstance(n.op, Gemm)} == {"c"}
    return mm, mv, vm


@needs_blas
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_matches_numpy_on_every_shape_and_layout(compiledir, dtype):
    mm, mv, vm = _gemm_fns(dtype)
    coefs = [(1.0, 1.0), (-0.3, 1.0), (2.0, 0.0), (0.5, -1.5)]
    for m, k, n in SHAPES:
        a0 = RNG.normal(size=(m, k)).astype(dtype)
        b0 = RNG.normal(size=(k, n)).astype(dtype)
        u0 = RNG.normal(size=k).astype(dtype)
        v0 = RNG.normal(size=k).astype(dtype)
        for j, (a, b) in enumerate(zip(_views(a0), _views(b0))):
            alpha, beta = coefs[j % len(coefs)]
            al, be = np.asarray(alpha, dtype), np.asarray(beta, dtype)
            for z in _views(RNG.normal(size=(m, n)).astype(dtype)):
                z0 = z.copy()
                _check(mm(z, al, a, b, be), z0, alpha, a, b, beta, f"mm {m}x{k}x{n} {j}")
                np.testing.assert_array_equal(z, z0)        # z is copied, not written
            for u, v in zip(_views(u0), _views(v0)[::-1]):
                zm = RNG.normal(size=m).astype(dtype)
                _check(mv(zm, al, a, v, be), zm, alpha, a, v, beta, f"mv {m}x{k} {j}")
                zn = RNG.normal(size=n).astype(dtype)
                _check(vm(zn, al, u, b, be), zn, alpha, u, b, beta, f"vm {k}x{n} {j}")


@needs_blas
def test_beta_zero_and_alpha_zero_propagate_nan_and_inf_as_numpy(compiledir):
    mm, mv, _ = _gemm_fns("float64")
    z = np.array([[np.nan, 1.0], [np.inf, 2.0]])
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 2))
    with np.errstate(invalid="ignore"):
        want = 0.0 * z + 1.5 * (x @ y)
        np.testing.assert_array_equal(np.isnan(mm(z, 1.5, x, y, 0.0)), np.isnan(want))
        xi = x.copy()
        xi[0, 0] = np.inf
        got = mm(np.ones((2, 2)), 0.0, xi, y, 1.0)
        np.testing.assert_array_equal(got, 1.0 + 0.0 * (xi @ y))
        got = mv(np.ones(2), 0.0, xi, y[:, 0], 1.0)
        np.testing.assert_array_equal(got, 1.0 + 0.0 * (xi @ y[:, 0]))


@needs_blas
def test_rewritten_graphs_in_c_match_py(compiledir):
    for dtype in ("float64", "float32"):
        z, x, y = (T.tensor(dtype, shape=(None, None)) for _ in range(3))
        lr = T.scalar(dtype=dtype)
        outs = [z - lr * T.dot(x.T, y), T.exp(z) + T.dot(x.T, T.sqr(y))]
        f = symgraph.function([z, x, y, lr], outs)
        fp = symgraph.function([z, x, y, lr], outs, mode="py")
        nodes = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Gemm)]
        assert len(nodes) == 2 and {n.op.inplace for n in nodes} == {True, False}
        assert {f.maker.fgraph.placement[n] for n in nodes} == {"c"}
        for m, k, n in [(5, 7, 3), (1, 4, 6), (5, 4, 1), (1, 1, 1), (0, 3, 2)]:
            vals = [RNG.normal(size=(k, n)).astype(dtype), RNG.normal(size=(m, k)).astype(dtype),
                    RNG.normal(size=(m, n)).astype(dtype), np.asarray(0.25, dtype)]
            z0 = vals[0].copy()
            for g, w in zip(f(*vals), fp(*vals)):
                assert g.dtype == w.dtype and g.shape == w.shape
                np.testing.assert_allclose(g, w, rtol=1e-5 if dtype == "float32" else 1e-12,
                                           atol=1e-6 if dtype == "float32" else 1e-13)
            np.testing.assert_array_equal(vals[0], z0)      # the input z is not written


@needs_blas
def test_shape_mismatch_is_numpys_error_naming_gemm(compiledir):
    mm, mv, _ = _gemm_fns("float64")
    with pytest.raises(ValueError, match="Gemm"):
        mm(np.ones((2, 5)), 1.0, np.ones((3, 4)), np.ones((4, 5)), 1.0)
    with pytest.raises(ValueError):
        mm(np.ones((3, 5)), 1.0, np.ones((3, 4)), np.ones((3, 5)), 1.0)
    with pytest.raises(ValueError, match="Gemm"):
        mv(np.ones(2), 1.0, np.ones((3, 4)), np.ones(4), 1.0)


def test_missing_blas_falls_back_to_perform(compiledir, monkeypatch):
    monkeypatch.setattr(blas, "_found", [None])
    z, x, y = T.dmatrix("z"), T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([z, x, y], z - 0.5 * T.dot(x, y))
    (node,) = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Gemm)]
    assert f.maker.fgraph.placement[node] == "py"
    p, q, r = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    np.testing.assert_allclose(f(p, q, r), p - 0.5 * (q @ r), rtol=1e-14)
