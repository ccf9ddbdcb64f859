"""Dot in C through numpy's own BLAS (function pointers found with dlsym) against numpy:
matrix-matrix, matrix-vector, vector-vector, the degenerate shapes that dispatch to gemv,
ger and dot, empty shapes, transposed, strided, reversed and broadcast (zero-stride)
inputs, float32/float64/mixed, and the numpy fallback when no BLAS is found."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import blas
from symgraph.ops.blas import Dot

RNG = np.random.default_rng(5)
SHAPES = [(3, 4, 5), (1, 4, 5), (3, 4, 1), (3, 1, 5), (1, 1, 1), (1, 7, 1), (0, 3, 2),
          (3, 0, 2), (2, 3, 0), (40, 33, 27)]


def _views(a):
    out = [a, np.asfortranarray(a), a[::-1], np.broadcast_to(a[:1], a.shape)]
    if a.ndim == 2:
        big = np.zeros((a.shape[0] * 2, a.shape[1] * 3), a.dtype)
        big[::2, ::3] = a
        out.append(big[::2, ::3])                       # no unit stride: copied
        out.append(np.ascontiguousarray(a.T).T)         # column-major
    return out


def _check(got, want, a, b, what):
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got, want)
    eps = np.finfo(got.dtype).eps
    k = a.shape[-1]
    bound = 8 * eps * max(k, 1) * np.dot(np.abs(a).astype(want.dtype),
                                         np.abs(b).astype(want.dtype))
    assert np.all(np.abs(got - want) <= bound + np.finfo(got.dtype).tiny), what


def _dots(da, db):
    A, B = T.tensor(da, shape=(None, None)), T.tensor(db, shape=(None, None))
    u, v = T.tensor(da, shape=(None,)), T.tensor(db, shape=(None,))
    return [A, B, u, v], [T.dot(A, B), T.dot(A, v), T.dot(u, B), T.dot(u, v)]


@pytest.mark.parametrize("da,db", [("float64", "float64"), ("float32", "float32"),
                                   ("float32", "float64")])
def test_dot_matches_numpy_on_every_shape_and_layout(compiledir, da, db):
    if blas.provider() is None:
        pytest.skip("numpy's BLAS was not found: Dot runs its numpy perform")
    ins, outs = _dots(da, db)
    f = symgraph.function(ins, outs)
    assert {w for n, w in f.maker.fgraph.placement.items() if isinstance(n.op, Dot)} == {"c"}
    for m, k, n in SHAPES:
        a0 = RNG.normal(size=(m, k)).astype(da)
        b0 = RNG.normal(size=(k, n)).astype(db)
        u0, v0 = RNG.normal(size=k).astype(da), RNG.normal(size=k).astype(db)
        for a, b in zip(_views(a0), _views(b0)):
            for u, v in zip(_views(u0), _views(v0)[::-1]):
                got = f(a, b, u, v)
                pairs = [(a, b), (a, v), (u, b), (u, v)]
                for g, (x, y), what in zip(got, pairs, ["mm", "mv", "vm", "vv"]):
                    _check(g, np.dot(x, y), x, y, f"{what} {m}x{k}x{n} {da},{db}")


def test_outer_and_gemm_shapes_and_mismatch_error(compiledir):
    x, y = T.fvector("x"), T.fvector("y")
    A, B = T.dmatrix("A"), T.dmatrix("B")
    f = symgraph.function([x, y, A, B], [T.outer(x, y), T.dot(A, B.T)])
    a, b = RNG.normal(size=6).astype("float32"), RNG.normal(size=9).astype("float32")
    P, Q = RNG.normal(size=(64, 50)), RNG.normal(size=(70, 50))
    got = f(a, b, P, Q)
    _check(got[0], np.outer(a, b), a[:, None], b[None, :], "outer (ger)")
    _check(got[1], P @ Q.T, P, Q.T, "gemm with a transposed operand")
    with pytest.raises(ValueError, match="Dot"):
        f(a, b, P, Q[:, :49])


def test_integer_dot_runs_numpy_and_missing_blas_falls_back(compiledir, monkeypatch):
    A, v = T.lmatrix("A"), T.lvector("v")
    f = symgraph.function([A, v], T.dot(A, v))
    assert {w for n, w in f.maker.fgraph.placement.items() if isinstance(n.op, Dot)} == {"py"}
    a, b = RNG.integers(-9, 9, size=(4, 3)), RNG.integers(-9, 9, size=3)
    np.testing.assert_array_equal(f(a, b), a @ b)
    monkeypatch.setattr(blas, "_found", [None])
    X, Y = T.dmatrix("X"), T.dmatrix("Y")
    g = symgraph.function([X, Y], T.dot(X, Y) + 1.0)
    assert {w for n, w in g.maker.fgraph.placement.items() if isinstance(n.op, Dot)} == {"py"}
    p, q = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    np.testing.assert_allclose(g(p, q), p @ q + 1.0, rtol=1e-14)
