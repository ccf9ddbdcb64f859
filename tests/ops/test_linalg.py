"""matrix_inverse, det, solve, cholesky against numpy.linalg: values, dtypes, static types,
errors and gradients."""
import subprocess
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.testing import check_infer_shape
from symgraph.gradient import grad, verify_grad
from symgraph.tensor import nlinalg, slinalg

RNG = np.random.default_rng(5)


def _spd(n, dtype="float64"):
    a = RNG.standard_normal((n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


def _well_conditioned(n, dtype="float64"):
    return (RNG.standard_normal((n, n)) + 3 * np.eye(n)).astype(dtype)


def _run(fn, *arrays, static=False):
    vs = [T.tensor(a.dtype, shape=a.shape if static else (None,) * a.ndim) for a in arrays]
    out = fn(*vs)
    return out, symgraph.function(vs, out, mode="py")(*arrays)


def _check(out_var, got, want, rtol=1e-10):
    want = np.asarray(want)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.dtype(out_var.dtype) == want.dtype, (got.dtype, out_var.dtype,
                                                                  want.dtype)
    assert got.ndim == out_var.ndim
    assert all(s is None or s == g for s, g in zip(out_var.type.shape, got.shape))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_inverse_and_det_match_numpy(dtype, n):
    rtol = 1e-4 if dtype == "float32" else 1e-9
    if dtype.startswith("int"):
        a = (RNG.integers(-2, 3, (n, n)) + 6 * np.eye(n, dtype=int)).astype(dtype)
    else:
        a = _well_conditioned(n, dtype)
    for static in (False, True):
        out, got = _run(nlinalg.matrix_inverse, a, static=static)
        _check(out, got, np.linalg.inv(a), rtol)
        out, got = _run(nlinalg.det, a, static=static)
        _check(out, got, np.linalg.det(a), rtol)


def test_det_of_empty_matrix_is_one():
    out, got = _run(nlinalg.det, np.zeros((0, 0)))
    _check(out, got, np.linalg.det(np.zeros((0, 0))))


@pytest.mark.parametrize("b_shape", [(4,), (4, 1), (4, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_solve_matches_numpy(b_shape, dtype):
    rtol = 1e-4 if dtype == "float32" else 1e-10
    a, b = _well_conditioned(4, dtype), RNG.standard_normal(b_shape).astype(dtype)
    for static in (False, True):
        out, got = _run(slinalg.solve, a, b, static=static)
        _check(out, got, np.linalg.solve(a, b), rtol)
    out, got = _run(slinalg.solve, a.astype("float32"), b.astype("float64"))
    assert out.dtype == "float64"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_cholesky_matches_numpy(dtype, n):
    rtol = 1e-4 if dtype == "float32" else 1e-10
    a = _spd(n, dtype)
    out, got = _run(slinalg.cholesky, a)
    _check(out, got, np.linalg.cholesky(a), rtol)
    out, got = _run(lambda v: slinalg.cholesky(v, lower=False), a, static=True)
    _check(out, got, np.linalg.cholesky(a).T, rtol)
    np.testing.assert_allclose(got.T @ got, a, rtol=10 * rtol, atol=10 * rtol)


def test_cholesky_of_non_pd_matrix():
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(np.linalg.LinAlgError) as info:
        _run(slinalg.cholesky, bad)
    assert "Cholesky" in str(info.value) and "test_linalg.py" in str(info.value)
    out, got = _run(lambda v: slinalg.cholesky(v, on_error="nan"), bad)
    assert np.isnan(got).all()


def test_singular_inverse_raises_naming_the_op():
    with pytest.raises(np.linalg.LinAlgError, match="MatrixInverse"):
        _run(nlinalg.matrix_inverse, np.zeros((2, 2)))


def test_static_shapes_and_dtypes():
    m = T.tensor("float32", shape=(3, 3))
    assert nlinalg.matrix_inverse(m).type == T.TensorType("float32", (3, 3))
    assert nlinalg.det(m).type == T.TensorType("float32", ())
    assert nlinalg.det(T.imatrix()).dtype == "float64"
    assert slinalg.solve(T.dmatrix(), T.tensor("float64", shape=(None, 2))).type.shape == \
        (None, 2)
    assert slinalg.solve(T.tensor("float64", shape=(4, None)), T.dvector()).type.shape == (4,)
    assert slinalg.cholesky(m).type.shape == (3, 3)


def test_build_errors():
    with pytest.raises(TypeError) as info:
        nlinalg.matrix_inverse(T.dvector("v"))
    assert "MatrixInverse" in str(info.value) and "test_linalg.py" in str(info.value)
    with pytest.raises(ValueError) as info:
        nlinalg.det(T.tensor("float64", shape=(2, 3), name="r"))
    assert "Det" in str(info.value) and "square" in str(info.value)
    with pytest.raises(ValueError) as info:
        slinalg.solve(T.tensor("float64", shape=(3, 3)), T.tensor("float64", shape=(4,)))
    assert "Solve" in str(info.value) and "test_linalg.py" in str(info.value)
    with pytest.raises(TypeError):
        slinalg.solve(T.dmatrix(), T.dtensor3())
    with pytest.raises(ValueError):
        slinalg.cholesky(T.dmatrix(), on_error="ignore")


def test_namespaces():
    assert T.nlinalg.matrix_inverse is nlinalg.matrix_inverse
    assert T.slinalg.solve is slinalg.solve and T.slinalg.cholesky is slinalg.cholesky
    a = _well_conditioned(3)
    b, c = _well_conditioned(3), _well_conditioned(3)
    out, got = _run(nlinalg.matrix_dot, a, b, c)
    _check(out, got, a @ b @ c)


def test_no_scipy_imported():
    code = ("import sys, symgraph, symgraph.tensor as T; "
            "from symgraph.tensor import nlinalg, slinalg; "
            "x = T.dmatrix(); f = symgraph.function([x], [slinalg.cholesky(x), "
            "nlinalg.det(x), slinalg.solve(x, x)], mode='py'); "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


# -- gradients ----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 3])
def test_inverse_grad(n):
    verify_grad(nlinalg.matrix_inverse, [_well_conditioned(n)], rng=RNG)


@pytest.mark.parametrize("n", [1, 3])
def test_det_grad(n):
    verify_grad(nlinalg.det, [_well_conditioned(n)], rng=RNG)


@pytest.mark.parametrize("b_shape", [(3,), (3, 2)])
def test_solve_grad(b_shape):
    verify_grad(slinalg.solve, [_well_conditioned(3), RNG.standard_normal(b_shape)], rng=RNG)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_grad_of_spd_function(lower):
    # the input made symmetric positive definite inside the graph
    def fn(m):
        return slinalg.cholesky(T.dot(m, m.dimshuffle(1, 0)) + 3 * np.eye(3), lower=lower)
    verify_grad(fn, [RNG.standard_normal((3, 3))], rng=RNG)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_grad_reads_one_triangle(lower):
    # numpy reads only one triangle, so the true gradient is zero in the other one
    verify_grad(lambda m: slinalg.cholesky(m, lower=lower), [_spd(4)], rng=RNG)
    x = T.dmatrix("x")
    g = symgraph.function([x], grad(T.sum(slinalg.cholesky(x, lower=lower) ** 2), x),
                          mode="py")(_spd(4))
    other = np.triu(g, 1) if lower else np.tril(g, -1)
    assert np.all(other == 0)


def test_second_order_det_and_inverse():
    def fn(m):
        return T.sum(grad(nlinalg.det(m), m) * grad(T.sum(nlinalg.matrix_inverse(m)), m))
    verify_grad(fn, [_well_conditioned(3)], rng=RNG)


def test_float32_grads_keep_dtype():
    x = T.fmatrix("x")
    for fn in (nlinalg.matrix_inverse, nlinalg.det, slinalg.cholesky):
        assert grad(T.sum(fn(x)), x).dtype == "float32"
    verify_grad(nlinalg.det, [_well_conditioned(2, "float32")], rng=RNG)


def test_infer_shape():
    a, b, v = T.dmatrix("a"), T.dmatrix("b"), T.dvector("v")
    av, bv, vv = _spd(3), RNG.standard_normal((3, 2)), RNG.standard_normal(3)
    for out in (nlinalg.matrix_inverse(a), nlinalg.det(a), slinalg.cholesky(a),
                slinalg.solve(a, b), slinalg.solve(a, v)):
        check_infer_shape(out, [a, b, v], [av, bv, vv])
