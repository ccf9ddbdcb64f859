"""Reductions against numpy: values, dtypes, static types, axes, errors and gradients."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.testing import check_infer_shape
from symgraph.gradient import grad, verify_grad

RNG = np.random.default_rng(7)
SHAPES = [(), (0,), (5,), (3, 4), (2, 1, 3), (2, 0, 3)]
NUMERIC = ["float32", "float64", "int32", "int64"]


def _data(shape, dtype, low=-3.0, high=3.0):
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if dtype.startswith("int") or dtype.startswith("uint"):
        return RNG.integers(max(int(low), 0 if dtype.startswith("u") else int(low)),
                            int(high) + 1, size=shape).astype(dtype)
    return RNG.uniform(low, high, size=shape).astype(dtype)


def _run(fn, *arrays, static=False):
    """fn applied to symbolic inputs (static shapes when `static`), compiled and run."""
    vs = [T.tensor(a.dtype, shape=a.shape if static else (None,) * a.ndim) for a in arrays]
    out = fn(*vs)
    return out, symgraph.function(vs, out, mode="py")(*arrays)


def _check(out_var, got, want, rtol=1e-6):
    want = np.asarray(want)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.dtype(out_var.dtype), (got.dtype, out_var.dtype)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.ndim == out_var.ndim
    assert all(s is None or s == g for s, g in zip(out_var.type.shape, got.shape))
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def _axes_for(ndim):
    """Axis arguments worth trying on an ndim-d input."""
    out = [None]
    if ndim >= 1:
        out += [0, -1, ()]
    if ndim >= 2:
        out += [(0, 1), (-1, 0), 1]
    if ndim >= 3:
        out += [(0, 2), (0, 1, 2)]
    return out


def _np_arg(np_fn, x, axis, keepdims):
    """numpy's argmax/argmin, extended to tuples of axes (flattened in C order)."""
    if axis is None or isinstance(axis, int):
        return np_fn(x, axis=axis, keepdims=keepdims)
    axes = sorted(a % x.ndim for a in axis)
    kept = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, kept + axes)
    flat = moved.reshape(moved.shape[:len(kept)] + (int(np.prod([x.shape[a] for a in axes])),))
    r = np_fn(flat, axis=-1) if axes else np.zeros(flat.shape[:-1], np.int64)
    if keepdims:
        r = r.reshape([1 if d in axes else x.shape[d] for d in range(x.ndim)])
    return r


REDUCTIONS = [
    # name, symgraph fn, numpy fn, dtypes, defined on empty reductions
    ("sum", T.sum, np.sum, NUMERIC + ["bool"], True),
    ("prod", T.prod, np.prod, NUMERIC + ["bool"], True),
    ("max", T.max, np.max, NUMERIC + ["bool"], False),
    ("min", T.min, np.min, NUMERIC + ["bool"], False),
    ("any", T.any, np.any, NUMERIC + ["bool"], True),
    ("all", T.all, np.all, NUMERIC + ["bool"], True),
    ("mean", T.mean, np.mean, NUMERIC + ["bool"], False),
    ("var", T.var, np.var, NUMERIC, False),
    ("std", T.std, np.std, NUMERIC, False),
    ("argmax", T.argmax, lambda x, axis, keepdims: _np_arg(np.argmax, x, axis, keepdims),
     NUMERIC + ["bool"], False),
    ("argmin", T.argmin, lambda x, axis, keepdims: _np_arg(np.argmin, x, axis, keepdims),
     NUMERIC + ["bool"], False),
]


def _empty_reduction(shape, axis):
    if not shape:
        return False
    axes = range(len(shape)) if axis is None else \
        [a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)]
    return any(shape[a] == 0 for a in axes)


@pytest.mark.parametrize("name,fn,np_fn,dtypes,empty_ok", REDUCTIONS,
                         ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_matches_numpy(name, fn, np_fn, dtypes, empty_ok, dtype):
    if dtype not in dtypes:
        pytest.skip(f"{name} of {dtype} is not defined")
    rtol = 1e-5 if dtype == "float32" else 1e-10
    for shape in SHAPES:
        x = _data(shape, dtype)
        for axis in _axes_for(len(shape)):
            if name in ("argmax", "argmin") and axis == ():
                continue  # numpy has no argmax over no axes
            for keepdims in (False, True):
                empty = _empty_reduction(shape, axis)
                if empty and not empty_ok:
                    continue
                with np.errstate(all="ignore"):
                    want = np_fn(x, axis=axis, keepdims=keepdims)
                for static in (False, True):
                    out, got = _run(lambda v: fn(v, axis=axis, keepdims=keepdims), x,
                                    static=static)
                    _check(out, got, want, rtol)


@pytest.mark.parametrize("name,fn", [("max", T.max), ("min", T.min), ("argmax", T.argmax),
                                     ("argmin", T.argmin)])
def test_empty_reduction_raises_like_numpy(name, fn):
    for shape, axis in [((0,), None), ((2, 0), 1), ((0, 3), 0)]:
        x = np.zeros(shape)
        with pytest.raises(ValueError):
            getattr(np, name)(x, axis=axis)
        with pytest.raises(ValueError) as info:
            _run(lambda v: fn(v, axis=axis), x)
        assert name.capitalize() in str(info.value)
    # a non-empty reduction of an array with an empty kept dim is fine, as in numpy
    out, got = _run(lambda v: fn(v, axis=0), np.zeros((3, 0)))
    _check(out, got, getattr(np, name)(np.zeros((3, 0)), axis=0))


def test_mean_of_empty_is_nan_like_numpy():
    x = np.zeros((0, 3))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.mean(x, axis=0)
    out, got = _run(lambda v: T.mean(v, axis=0), x)
    _check(out, got, want)


@pytest.mark.parametrize("dtype,want", [("bool", "int64"), ("int8", "int64"),
                                        ("int16", "int64"), ("int32", "int64"),
                                        ("uint8", "uint64"), ("uint32", "uint64"),
                                        ("float16", "float16"), ("float32", "float32"),
                                        ("complex64", "complex64")])
def test_sum_prod_dtypes_follow_numpy(dtype, want):
    x = T.tensor(dtype, shape=(None, None))
    for fn, np_fn in ((T.sum, np.sum), (T.prod, np.prod)):
        assert fn(x).dtype == want == str(np_fn(np.ones((2, 2), dtype)).dtype)
        assert fn(x, axis=0).dtype == want
    if not dtype.startswith("complex"):
        assert T.max(x).dtype == dtype
        assert T.argmax(x).dtype == "int64"
    assert T.any(x).dtype == T.all(x).dtype == "bool"


def test_explicit_dtype_and_acc_dtype():
    a = _data((3, 4), "int32")
    out, got = _run(lambda v: T.sum(v, axis=1, dtype="float32"), a)
    _check(out, got, np.sum(a, axis=1, dtype="float32"))
    out, got = _run(lambda v: T.prod(v, dtype="int16"), a)
    _check(out, got, np.prod(a, dtype="int16"))
    out, got = _run(lambda v: T.mean(v, axis=0, dtype="float32"), a)
    _check(out, got, np.mean(a, axis=0, dtype="float32"), rtol=1e-6)
    f = _data((1000,), "float32")
    out, got = _run(lambda v: T.sum(v, acc_dtype="float64"), f)
    assert out.dtype == "float32"
    _check(out, got, np.float32(np.sum(f, dtype="float64")))


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "bool", "uint8"])
def test_mean_var_std_of_ints_give_float64(dtype):
    a = _data((4, 5), dtype)
    for fn, np_fn in ((T.mean, np.mean), (T.var, np.var), (T.std, np.std)):
        for axis in (None, 0, (0, 1)):
            out, got = _run(lambda v: fn(v, axis=axis), a)
            _check(out, got, np_fn(a, axis=axis), rtol=1e-12)
            assert out.dtype == "float64"


@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_var_std_ddof(ddof):
    a = _data((3, 5), "float64")
    for axis in (None, 0, 1, (0, 1)):
        for static in (False, True):
            for keepdims in (False, True):
                out, got = _run(lambda v: T.var(v, axis=axis, ddof=ddof, keepdims=keepdims),
                                a, static=static)
                _check(out, got, np.var(a, axis=axis, ddof=ddof, keepdims=keepdims), 1e-12)
                out, got = _run(lambda v: T.std(v, axis=axis, ddof=ddof, keepdims=keepdims),
                                a, static=static)
                _check(out, got, np.std(a, axis=axis, ddof=ddof, keepdims=keepdims), 1e-12)


def test_var_of_complex_is_real():
    a = (_data((3, 4), "float64") + 1j * _data((3, 4), "float64")).astype("complex128")
    out, got = _run(lambda v: T.var(v, axis=0), a)
    _check(out, got, np.var(a, axis=0), 1e-12)


def test_float16_mean_keeps_dtype():
    a = _data((50,), "float16")
    out, got = _run(T.mean, a)
    assert out.dtype == "float16" and got.dtype == np.float16
    np.testing.assert_allclose(got, np.mean(a), rtol=1e-3)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_numpy(axis, keepdims):
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-5)):
        a = _data((3, 4), dtype)
        out, got = _run(lambda v: T.logsumexp(v, axis=axis, keepdims=keepdims), a)
        want = np.log(np.sum(np.exp(a.astype("float64")), axis=axis, keepdims=keepdims))
        _check(out, got, want.astype(dtype), rtol)


def test_logsumexp_is_stable():
    cases = [
        ([1000.0, 1000.0], 1000.0 + np.log(2.0)),
        ([-1000.0, -1000.0], -1000.0 + np.log(2.0)),
        ([-np.inf, -np.inf], -np.inf),
        ([-np.inf, 0.0], 0.0),
        ([np.inf, 0.0], np.inf),
        ([np.inf, -np.inf], np.inf),
        ([np.nan, 0.0], np.nan),
        ([], -np.inf),
    ]
    for values, want in cases:
        out, got = _run(T.logsumexp, np.array(values, dtype="float64"))
        _check(out, got, np.float64(want))
    # along an axis, rows with and without infinities
    a = np.array([[1e4, 1e4 + 1, -np.inf], [-np.inf, -np.inf, -np.inf], [0.0, 0.0, 0.0]])
    out, got = _run(lambda v: T.logsumexp(v, axis=1), a)
    want = np.array([1e4 + 1 + np.log1p(np.exp(-1.0)), -np.inf, np.log(3.0)])
    _check(out, got, want, 1e-12)
    out, got = _run(T.logsumexp, _data((3,), "int32"))
    assert out.dtype == "float64"


def test_max_and_argmax():
    a = _data((3, 4), "float64")
    x = T.dmatrix("x")
    for axis in (None, 0, 1):
        m, i = T.max_and_argmax(x, axis=axis)
        got_m, got_i = symgraph.function([x], [m, i], mode="py")(a)
        _check(m, got_m, np.max(a, axis=axis))
        _check(i, got_i, np.argmax(a, axis=axis))


def test_static_shapes():
    x = T.tensor("float64", shape=(2, None, 3))
    assert T.sum(x, axis=1).type.shape == (2, 3)
    assert T.sum(x, axis=1, keepdims=True).type.shape == (2, 1, 3)
    assert T.max(x, axis=(0, -1)).type.shape == (None,)
    assert T.mean(x, axis=-1, keepdims=True).type.shape == (2, None, 1)
    assert T.argmax(x, axis=None, keepdims=True).type.shape == (1, 1, 1)
    assert T.var(x, axis=0).type.shape == (None, 3)
    assert T.sum(x).type.shape == ()
    assert T.logsumexp(x, axis=2).type.shape == (2, None)


def test_axis_is_canonical():
    x = T.dtensor3("x")
    assert T.sum(x, axis=-1).owner.op == T.sum(x, axis=2).owner.op
    assert T.sum(x, axis=(2, 0)).owner.op == T.sum(x, axis=[0, -1]).owner.op
    assert T.sum(x).owner.op.axis == (0, 1, 2)
    assert T.max(x, axis=1).owner.op.axis == (1,)
    assert T.sum(x, axis=np.array([2, 0])).owner.op.axis == (0, 2)
    assert T.sum(x, axis=np.int64(-1)).owner.op.axis == (2,)


def test_methods():
    a = _data((3, 4), "float64")
    x = T.dmatrix("x")
    outs = [x.sum(axis=0), x.prod(axis=1), x.mean(), x.var(ddof=1), x.std(axis=0), x.max(1),
            x.min(), x.argmax(axis=0), x.argmin(), x.any(), x.all(axis=1)]
    wants = [a.sum(axis=0), a.prod(axis=1), a.mean(), a.var(ddof=1), a.std(axis=0),
             a.max(1), a.min(), a.argmax(axis=0), a.argmin(), a.any(), a.all(axis=1)]
    got = symgraph.function([x], outs, mode="py")(a)
    for o, g, w in zip(outs, got, wants):
        _check(o, g, w, 1e-12)


@pytest.mark.parametrize("fn", [T.sum, T.prod, T.max, T.min, T.argmax, T.argmin, T.any,
                                T.all, T.mean, T.var, T.std, T.logsumexp])
def test_bad_axis_raises_at_build_time(fn):
    x = T.dmatrix("x")
    for axis in (2, -3, (0, 5)):
        with pytest.raises(np.exceptions.AxisError) as info:
            fn(x, axis=axis)
        msg = str(info.value)
        assert "out of bounds" in msg and "test_reduce.py" in msg, msg
        assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="duplicate"):
        fn(x, axis=(0, 0))
    with pytest.raises(TypeError):
        fn(x, axis=1.5)
    with pytest.raises(np.exceptions.AxisError):
        fn(T.dscalar(), axis=0)


def test_bad_axis_error_names_the_op():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match=r"^Sum\{"):
        T.sum(x, axis=3)
    with pytest.raises(ValueError, match=r"^Max\{"):
        T.max(x, axis=3)


# -- gradients ----------------------------------------------------------------------------

GRAD_AXES = [None, 0, 1, (0, 1), -1]


@pytest.mark.parametrize("axis", GRAD_AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fn", [T.sum, T.prod, T.max, T.min, T.mean, T.var, T.std,
                                T.logsumexp], ids=lambda f: f.__name__)
def test_verify_grad(fn, axis, keepdims):
    a = RNG.uniform(0.5, 2.0, size=(3, 4)) * RNG.choice([-1, 1], size=(3, 4))
    verify_grad(lambda v: fn(v, axis=axis, keepdims=keepdims), [a], rng=RNG)


def test_verify_grad_3d_and_ddof():
    a = RNG.standard_normal((2, 3, 4))
    verify_grad(lambda v: T.var(v, axis=(0, 2), ddof=1), [a], rng=RNG)
    verify_grad(lambda v: T.std(v, axis=1, ddof=1, keepdims=True), [a], rng=RNG)
    verify_grad(lambda v: T.prod(v, axis=(0, 2)), [a], rng=RNG)
    verify_grad(lambda v: T.logsumexp(v * 30.0, axis=(1, 2)), [a], rng=RNG)
    verify_grad(lambda v: T.mean(v, axis=(0, 2)), [a], rng=RNG)


def test_verify_grad_static_shapes():
    # the static-count path of mean/var (a Python constant instead of a size op)
    a = RNG.standard_normal((3, 4))
    for fn in (T.mean, T.var, T.std):
        x = T.tensor("float64", shape=(3, 4))
        out = fn(x, axis=0)
        g = grad(T.sum(out * np.arange(4.0)), x)
        got = symgraph.function([x], g, mode="py")(a)
        y = T.dmatrix()
        want = symgraph.function([y], grad(T.sum(fn(y, axis=0) * np.arange(4.0)), y),
                                 mode="py")(a)
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_prod_grad_with_zeros(axis):
    cases = [
        [[1.5, 0.0, 2.0, -1.0], [0.7, 1.2, -0.8, 1.1], [2.0, 0.5, 0.9, 1.3]],   # one zero
        [[1.5, 0.0, 2.0, 0.0], [0.7, 1.2, -0.8, 1.1], [0.0, 0.5, 0.9, 1.3]],    # several
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],     # all zeros
    ]
    for c in cases:
        a = np.array(c)
        # prod is multilinear, so central differences are exact even at zeros
        verify_grad(lambda v: T.prod(v, axis=axis), [a], rng=RNG)


def test_prod_grad_with_zeros_values():
    x = T.dvector("x")
    g = symgraph.function([x], grad(T.prod(x), x), mode="py")
    np.testing.assert_array_equal(g(np.array([2.0, 0.0, 3.0])), [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(g(np.array([2.0, 0.0, 0.0])), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g(np.array([2.0, 5.0, 3.0])), [15.0, 6.0, 10.0])
    gz = symgraph.function([x], grad(T.prod(x, no_zeros_in_input=True), x), mode="py")
    np.testing.assert_allclose(gz(np.array([2.0, 5.0, 3.0])), [15.0, 6.0, 10.0])


def test_max_grad_goes_to_every_maximum():
    x = T.dmatrix("x")
    a = np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.0]])
    g = symgraph.function([x], grad(T.sum(T.max(x, axis=1)), x), mode="py")(a)
    np.testing.assert_array_equal(g, [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    g = symgraph.function([x], grad(T.min(x), x), mode="py")(a)
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_logsumexp_grad_is_softmax_and_finite():
    x = T.dvector("x")
    g = symgraph.function([x], grad(T.logsumexp(x), x), mode="py")
    a = np.array([1000.0, 1001.0, -np.inf])
    e = np.exp(a - a.max())
    np.testing.assert_allclose(g(a), e / e.sum(), rtol=1e-12)
    np.testing.assert_array_equal(g(np.array([-np.inf, -np.inf])), [0.0, 0.0])


def test_int_inputs_have_no_gradient_but_argmax_any_are_zero():
    x = T.dvector("x")
    cost = T.sum(x) + T.cast(T.argmax(x), "float64") + T.cast(T.any(x), "float64") \
        + T.cast(T.argmin(x), "float64") + T.cast(T.all(x), "float64")
    got = symgraph.function([x], grad(cost, x), mode="py")(np.array([1.0, -2.0, 3.0]))
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0])
    i = T.ivector("i")
    for op in (T.sum(i).owner.op, T.max(i).owner.op, T.prod(i).owner.op):
        assert op.L_op([i], [op(i)], [T.dscalar()]) == [None]


def test_float32_grad_keeps_dtype():
    x = T.fmatrix("x")
    for fn in (T.sum, T.prod, T.max, T.mean, T.var, T.logsumexp):
        assert grad(T.sum(fn(x, axis=0)), x).dtype == "float32"
    g = grad(T.sum(T.sum(x, dtype="float64")), x)
    assert g.dtype == "float32"


@pytest.mark.parametrize("fn", [T.sum, T.prod, T.max, T.logsumexp, T.mean],
                         ids=lambda f: f.__name__)
def test_second_order(fn):
    # grad of grad: the gradient graph of each reduction is itself differentiable
    def inner_grad(v):
        c = T.sum(fn(v ** 3, axis=1) ** 2)
        return T.sum(grad(c, v) * T.sin(v))
    a = RNG.uniform(0.5, 1.5, size=(2, 3)) * np.array([1.0, -1.0, 1.0])
    verify_grad(inner_grad, [a], rng=RNG)


def test_hessian_of_prod_matches_analytic():
    x = T.dvector("x")
    h = grad(T.sum(grad(T.prod(x), x) * np.array([1.0, 2.0, 3.0])), x)
    a = np.array([2.0, 5.0, 3.0])
    got = symgraph.function([x], h, mode="py")(a)
    # d/dx_j sum_i w_i prod_{k != i} x_k = sum_{i != j} w_i prod_{k != i, j} x_k
    want = [2 * 3 + 3 * 5, 1 * 3 + 3 * 2, 1 * 5 + 2 * 2]
    np.testing.assert_allclose(got, want)


def test_rop_of_sum():
    x, v = T.dmatrix("x"), T.dmatrix("v")
    out = symgraph.function([x, v], symgraph.Rop(T.sum(x ** 2, axis=0), x, v), mode="py")
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    np.testing.assert_allclose(out(a, b), np.sum(2 * a * b, axis=0), rtol=1e-12)


@pytest.mark.parametrize("fn", [T.sum, T.prod, T.max, T.argmin, T.any, T.logsumexp],
                         ids=lambda f: f.__name__)
def test_infer_shape(fn):
    a = _data((2, 3, 4), "float64")
    x = T.dtensor3("x")
    for axis in (None, 1, (0, 2), ()):
        for keepdims in (False, True):
            check_infer_shape(fn(x, axis=axis, keepdims=keepdims), [x], [a])
    m = T.dmatrix("m")
    n = T.mean(m, axis=1)   # true_div(sum, cast(ReducedSize)): check the size op too
    size = next(v for v in symgraph.graph.ancestors([n])
                if v.owner is not None and type(v.owner.op).__name__ == "ReducedSize")
    check_infer_shape(size, [m], [_data((3, 5), "float64")])


def test_mean_of_ints_follows_floatx():
    with symgraph.change_flags(floatX="float32"):
        i = T.ivector("i")
        out = T.mean(i)
        assert out.dtype == "float32"
        got = symgraph.function([i], out, mode="py")(np.arange(5, dtype="int32"))
        assert got.dtype == np.float32 and got == 2.0
        assert T.mean(T.fvector()).dtype == "float32"
        assert T.mean(T.dvector()).dtype == "float64"
