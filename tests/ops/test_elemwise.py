"""Elementwise ops against numpy: values, dtypes, static types and broadcasting."""
import math

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import ShapeError

RNG = np.random.default_rng(42)
SHAPES = [(), (0,), (5,), (3, 4), (2, 1, 3)]
FLOATS = ["float32", "float64"]
NUMERIC = ["float32", "float64", "int32", "int64"]


def _data(shape, dtype, low=-3.0, high=3.0):
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if dtype.startswith("int"):
        return RNG.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


def _run(fn, arrays):
    vars_ = [T.tensor(a.dtype, shape=(None,) * a.ndim) for a in arrays]
    out = fn(*vars_)
    f = symgraph.function(vars_, out, mode="py")
    return out, f(*arrays)


def _check(out_var, got, want, rtol):
    want = np.asarray(want)
    assert got.dtype == np.dtype(out_var.dtype), (got.dtype, out_var.dtype)
    assert got.ndim == out_var.ndim
    assert all(s is None or s == g for s, g in zip(out_var.type.shape, got.shape))
    assert got.shape == want.shape
    if want.dtype.kind == "f" and got.dtype != want.dtype:
        want = want.astype(got.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)


# (name, symgraph fn, numpy fn, input range, dtypes)
UNARY = [
    ("neg", T.neg, np.negative, (-3, 3), NUMERIC),
    ("abs", T.abs, np.abs, (-3, 3), NUMERIC),
    ("sgn", T.sgn, np.sign, (-3, 3), NUMERIC),
    ("sqr", T.sqr, np.square, (-3, 3), NUMERIC),
    ("exp", T.exp, np.exp, (-3, 3), NUMERIC),
    ("exp2", T.exp2, np.exp2, (-3, 3), FLOATS),
    ("expm1", T.expm1, np.expm1, (-3, 3), FLOATS),
    ("log", T.log, np.log, (0.1, 5), FLOATS),
    ("log2", T.log2, np.log2, (0.1, 5), FLOATS),
    ("log10", T.log10, np.log10, (0.1, 5), FLOATS),
    ("log1p", T.log1p, np.log1p, (-0.5, 5), FLOATS),
    ("sqrt", T.sqrt, np.sqrt, (0, 5), FLOATS),
    ("sin", T.sin, np.sin, (-3, 3), NUMERIC),
    ("cos", T.cos, np.cos, (-3, 3), FLOATS),
    ("tan", T.tan, np.tan, (-1, 1), FLOATS),
    ("arcsin", T.arcsin, np.arcsin, (-0.9, 0.9), FLOATS),
    ("arccos", T.arccos, np.arccos, (-0.9, 0.9), FLOATS),
    ("arctan", T.arctan, np.arctan, (-3, 3), FLOATS),
    ("sinh", T.sinh, np.sinh, (-3, 3), FLOATS),
    ("cosh", T.cosh, np.cosh, (-3, 3), FLOATS),
    ("tanh", T.tanh, np.tanh, (-3, 3), FLOATS),
    ("arcsinh", T.arcsinh, np.arcsinh, (-3, 3), FLOATS),
    ("arccosh", T.arccosh, np.arccosh, (1.1, 4), FLOATS),
    ("arctanh", T.arctanh, np.arctanh, (-0.9, 0.9), FLOATS),
    ("erf", T.erf, np.vectorize(math.erf, otypes=[float]), (-3, 3), FLOATS),
    ("erfc", T.erfc, np.vectorize(math.erfc, otypes=[float]), (-3, 3), FLOATS),
    ("gamma", T.gamma, np.vectorize(math.gamma, otypes=[float]), (0.2, 5), FLOATS),
    ("gammaln", T.gammaln, np.vectorize(math.lgamma, otypes=[float]), (0.2, 5), FLOATS),
    ("floor", T.floor, np.floor, (-3, 3), FLOATS),
    ("ceil", T.ceil, np.ceil, (-3, 3), FLOATS),
    ("trunc", T.trunc, np.trunc, (-3, 3), FLOATS),
    ("round", T.round, np.round, (-3, 3), FLOATS),
    ("isnan", T.isnan, np.isnan, (-3, 3), FLOATS),
    ("isinf", T.isinf, np.isinf, (-3, 3), FLOATS),
    ("sigmoid", T.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-5, 5), FLOATS),
    ("softplus", T.softplus, lambda x: np.log1p(np.exp(x)), (-5, 5), FLOATS),
]


@pytest.mark.parametrize("name,fn,ref,rng,dtypes", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_numpy(name, fn, ref, rng, dtypes):
    for dtype in dtypes:
        for shape in SHAPES:
            x = _data(shape, dtype, *rng)
            out, got = _run(fn, [x])
            with np.errstate(all="ignore"):
                want = ref(x.astype("float64") if dtype.startswith("int") and
                           out.dtype.startswith("float") else x)
            rtol = 1e-5 if "float32" in (dtype, out.dtype) else 1e-12
            _check(out, got, want, rtol)


BINARY = [
    ("add", T.add, np.add, NUMERIC),
    ("sub", T.sub, np.subtract, NUMERIC),
    ("mul", T.mul, np.multiply, NUMERIC),
    ("true_div", T.true_div, np.true_divide, FLOATS),
    ("int_div", T.int_div, np.floor_divide, NUMERIC),
    ("mod", T.mod, np.mod, NUMERIC),
    ("minimum", T.minimum, np.minimum, NUMERIC),
    ("maximum", T.maximum, np.maximum, NUMERIC),
    ("arctan2", T.arctan2, np.arctan2, FLOATS),
    ("eq", T.eq, np.equal, NUMERIC),
    ("neq", T.neq, np.not_equal, NUMERIC),
    ("lt", T.lt, np.less, NUMERIC),
    ("le", T.le, np.less_equal, NUMERIC),
    ("gt", T.gt, np.greater, NUMERIC),
    ("ge", T.ge, np.greater_equal, NUMERIC),
]
BROADCAST_PAIRS = [((), ()), ((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (3, 4)),
                   ((0, 3), (1, 3)), ((2, 1, 3), (4, 1))]


def _typed(shape, dtype):
    return T.tensor(dtype, shape=tuple(1 if s == 1 else None for s in shape))


@pytest.mark.parametrize("name,fn,ref,dtypes", BINARY, ids=[b[0] for b in BINARY])
def test_binary_matches_numpy_with_broadcasting(name, fn, ref, dtypes):
    for da, db in [(d, d) for d in dtypes] + [("int32", "float64"), ("float32", "int64")]:
        if da not in dtypes and db not in dtypes:
            continue
        for sa, sb in BROADCAST_PAIRS:
            a, b = _data(sa, da), _data(sb, db)
            if name in ("int_div", "mod", "true_div"):
                b = np.where(b == 0, 2, b).astype(db)
            x, y = _typed(sa, da), _typed(sb, db)
            out = fn(x, y)
            got = symgraph.function([x, y], out, mode="py")(a, b)
            rtol = 1e-5 if "float32" in (da, db) else 1e-12
            _check(out, got, ref(a, b), rtol)


def test_pow_matches_numpy():
    x, y = T.dvector("x"), T.dvector("y")
    a, b = RNG.uniform(0.1, 3, 6), RNG.uniform(-2, 2, 6)
    np.testing.assert_allclose(symgraph.function([x, y], x ** y, mode="py")(a, b), a ** b)
    i = T.lvector("i")
    out = i ** 2
    got = symgraph.function([i], out, mode="py")(np.arange(4))
    assert got.dtype == np.int64 and out.dtype == "int64"
    np.testing.assert_array_equal(got, np.arange(4) ** 2)


def test_int_true_division_gives_floatx():
    i, j = T.ivector("i"), T.ivector("j")
    out = i / j
    assert out.dtype == "float64"
    got = symgraph.function([i, j], out, mode="py")(np.array([1, 3], "int32"),
                                                     np.array([2, 4], "int32"))
    np.testing.assert_array_equal(got, [0.5, 0.75])
    with symgraph.change_flags(floatX="float32"):
        assert (T.ivector() / T.ivector()).dtype == "float32"


def test_python_scalars_follow_numpy_weak_promotion():
    assert (T.fvector() * 1.5).dtype == "float32"
    assert (T.fvector() + 1).dtype == "float32"
    assert (T.bvector() + 1).dtype == "int8"
    assert (T.ivector() * 1.5).dtype == "float64"
    assert (T.lvector() + 1).dtype == "int64"
    x = T.fvector("x")
    got = symgraph.function([x], x * 0.1, mode="py")(np.ones(3, "float32"))
    np.testing.assert_array_equal(got, np.ones(3, "float32") * 0.1)


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_bitwise_ops(dtype):
    a, b = _data((5,), dtype, 0, 7), _data((5,), dtype, 0, 7)
    x, y = T.tensor(dtype, shape=(None,)), T.tensor(dtype, shape=(None,))
    for fn, ref in [(T.and_, np.bitwise_and), (T.or_, np.bitwise_or),
                    (T.xor, np.bitwise_xor)]:
        out = fn(x, y)
        _check(out, symgraph.function([x, y], out, mode="py")(a, b), ref(a, b), 0)
    out = ~x
    _check(out, symgraph.function([x], out, mode="py")(a), np.invert(a), 0)


def test_bitwise_on_floats_raises_naming_op_and_line():
    with pytest.raises(TypeError) as err:
        T.and_(T.dvector(), T.dvector())
    assert "and_" in str(err.value) and "test_elemwise.py" in str(err.value)


def test_switch_clip_where_cast():
    c, a, b = T.bvector("c"), T.dvector("a"), T.drow("b")
    cv = np.array([1, 0, 1], "int8")
    av, bv = RNG.normal(size=3), RNG.normal(size=(1, 3))
    out = T.switch(c, a, b)
    _check(out, symgraph.function([c, a, b], out, mode="py")(cv, av, bv),
           np.where(cv, av, bv), 0)
    out = T.where(c, a, 0.0)
    _check(out, symgraph.function([c, a], out, mode="py")(cv, av), np.where(cv, av, 0), 0)
    out = T.clip(a, -0.5, 0.5)
    _check(out, symgraph.function([a], out, mode="py")(av), np.clip(av, -0.5, 0.5), 0)
    out = a.clip(-0.1, 0.1)
    _check(out, symgraph.function([a], out, mode="py")(av), np.clip(av, -0.1, 0.1), 0)
    for dtype in ["int32", "float32", "bool", "int8"]:
        out = T.cast(a, dtype)
        assert out.dtype == dtype
        _check(out, symgraph.function([a], out, mode="py")(av * 3), (av * 3).astype(dtype), 0)
    assert T.cast(a, "float64") is a


def test_nan_inf_and_signed_zero_like_numpy():
    x = T.dvector("x")
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0])
    for fn, ref in [(T.exp, np.exp), (T.log, np.log), (T.sqrt, np.sqrt), (T.neg, np.negative),
                    (T.abs, np.abs), (T.tanh, np.tanh), (T.sigmoid, None)]:
        got = symgraph.function([x], fn(x), mode="py")(v)
        if ref is None:
            want = np.array([np.nan, 1, 0, 0.5, 0.5, 1 / (1 + math.exp(-1))])
        else:
            with np.errstate(all="ignore"):
                want = ref(v)
        np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]),
                                      np.signbit(want[~np.isnan(want)]))
        np.testing.assert_allclose(got, want, equal_nan=True)


def test_integer_overflow_wraps_like_numpy():
    x = T.bvector("x")
    v = np.array([127, -128, 100], "int8")
    got = symgraph.function([x], x + x, mode="py")(v)
    np.testing.assert_array_equal(got, v + v)
    assert got.dtype == np.int8


def test_static_shapes_broadcast_and_conflict():
    a = T.tensor("float64", shape=(3, 1))
    b = T.tensor("float64", shape=(1, 4))
    assert (a + b).type.shape == (3, 4)
    assert (a + T.dmatrix()).type.shape == (3, None)
    assert (T.dvector() + T.dmatrix()).ndim == 2
    with pytest.raises(ShapeError) as err:
        T.tensor("float64", shape=(2, 3)) + T.tensor("float64", shape=(3, 3))
    assert "add" in str(err.value) and "test_elemwise.py" in str(err.value)


def test_runtime_size_one_without_broadcastable_type_is_an_error():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([x, y], x + y, mode="py")
    with pytest.raises(ValueError) as err:
        f(np.ones((1, 3)), np.ones((2, 3)))
    assert "broadcast" in str(err.value) and "test_elemwise.py" in str(err.value)


def test_dimshuffle_transpose_and_errors():
    x = T.tensor("float64", shape=(None, 1, None))
    v = RNG.normal(size=(2, 1, 3))
    out = x.dimshuffle(2, "x", 0)
    assert out.type.shape == (None, 1, None)
    got = symgraph.function([x], out, mode="py")(v)
    np.testing.assert_array_equal(got, v[:, 0, :].T[:, None, :])
    with pytest.raises(ValueError) as err:
        T.dmatrix().dimshuffle(1)
    assert "DimShuffle" in str(err.value) and "test_elemwise.py" in str(err.value)


def test_inputs_are_not_mutated():
    x = T.dvector("x")
    v = RNG.normal(size=4)
    keep = v.copy()
    symgraph.function([x], [T.exp(x) + x, x.dimshuffle("x", 0)], mode="py")(v)
    np.testing.assert_array_equal(v, keep)


@pytest.mark.parametrize("fn,name,lo,hi", [(T.erfinv, "erfinv", -0.999, 0.999),
                                           (T.psi, "psi", -4.5, 8),
                                           (T.tri_gamma, "polygamma1", 0.1, 8),
                                           (T.gammaln, "gammaln", 0.1, 30)])
def test_special_functions_match_scipy(fn, name, lo, hi):
    special = pytest.importorskip("scipy.special")
    ref = (lambda v: special.polygamma(1, v)) if name == "polygamma1" else getattr(special, name)
    x = T.dvector("x")
    v = RNG.uniform(lo, hi, 200)
    v = v[np.abs(v - np.round(v)) > 1e-3] if name == "psi" else v
    np.testing.assert_allclose(symgraph.function([x], fn(x), mode="py")(v), ref(v),
                               rtol=1e-9, atol=1e-12)


def test_bool_inputs_promote_where_numpy_refuses():
    b = T.tensor("bool", shape=(None,))
    v = np.array([True, False, True])
    for fn, want in [(T.neg, [-1, 0, -1]), (T.sgn, [1, 0, 1]), (T.sqr, [1, 0, 1])]:
        out = fn(b)
        got = symgraph.function([b], out, mode="py")(v)
        assert got.dtype == np.dtype(out.dtype) == np.int8
        np.testing.assert_array_equal(got, want)
