"""dot, matmul, tensordot, outer, batched_dot against numpy: values, dtypes, static types,
build errors and gradients."""
import itertools

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.testing import check_infer_shape
from symgraph.gradient import Rop, grad, verify_grad

RNG = np.random.default_rng(11)

# one shape per ndim for a and b, with the summed dim 3 in the numpy.dot position
A_SHAPES = {0: (), 1: (3,), 2: (2, 3), 3: (4, 2, 3), 4: (2, 1, 2, 3)}
B_SHAPES = {0: (), 1: (3,), 2: (3, 5), 3: (2, 3, 5), 4: (1, 2, 3, 5)}
# for matmul: batch dims that broadcast without size-1 dims
MA_SHAPES = {1: (3,), 2: (2, 3), 3: (2, 2, 3), 4: (3, 2, 2, 3)}
MB_SHAPES = {1: (3,), 2: (3, 5), 3: (2, 3, 5), 4: (3, 2, 3, 5)}


def _data(shape, dtype):
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if dtype.startswith("int"):
        return RNG.integers(-3, 4, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


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
    assert all(s is None or s == g for s, g in zip(out_var.type.shape, got.shape)), \
        (out_var.type.shape, got.shape)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(got, want)


def _rtol(*dtypes):
    return 1e-4 if "float32" in dtypes else 1e-10


@pytest.mark.parametrize("na,nb", list(itertools.product(range(5), range(5))))
def test_dot_matches_numpy_all_ndims(na, nb):
    a, b = _data(A_SHAPES[na], "float64"), _data(B_SHAPES[nb], "float64")
    for static in (False, True):
        out, got = _run(T.dot, a, b, static=static)
        _check(out, got, np.dot(a, b))
    if static and na and nb:
        assert None not in out.type.shape


@pytest.mark.parametrize("da,db", [("float32", "float32"), ("float32", "float64"),
                                   ("int32", "int32"), ("int64", "int32"),
                                   ("int32", "float32"), ("bool", "bool"),
                                   ("int8", "int8")])
def test_dot_dtypes_follow_numpy(da, db):
    for na, nb in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3)]:
        a, b = _data(A_SHAPES[na], da), _data(B_SHAPES[nb], db)
        out, got = _run(T.dot, a, b)
        _check(out, got, np.dot(a, b), _rtol(da, db))


def test_dot_empty_and_degenerate():
    for sa, sb in [((2, 0), (0, 3)), ((0, 3), (3, 4)), ((0,), (0,)), ((2, 3), (3, 0)),
                   ((1, 3), (3, 1))]:
        a, b = _data(sa, "float64"), _data(sb, "float64")
        for static in (False, True):
            out, got = _run(T.dot, a, b, static=static)
            _check(out, got, np.dot(a, b))


def test_dot_static_shape_and_broadcastable():
    row = T.tensor("float64", shape=(1, None))
    m = T.tensor("float64", shape=(None, 4))
    assert T.dot(row, m).type.shape == (1, 4)
    assert T.dot(T.dvector(), m).type.shape == (4,)
    assert T.dot(T.dvector(), T.dvector()).type.shape == ()
    assert T.dot(T.tensor("float64", shape=(2, 3, None)), m).type.shape == (2, 3, 4)
    assert T.dot(T.dmatrix(), T.dmatrix()).dtype == "float64"
    assert T.dot(T.imatrix(), T.imatrix()).dtype == "int32"
    assert T.dot(T.fmatrix(), T.dmatrix()).dtype == "float64"
    x = T.dmatrix("x")
    assert x.dot(x).owner.op == T.dot(x, x).owner.op


def _dims_error(fn, a_shape, b_shape, opname):
    a = T.tensor("float64", shape=a_shape, name="a")
    b = T.tensor("float64", shape=b_shape, name="b")
    with pytest.raises(ValueError) as info:
        fn(a, b)
    msg = str(info.value)
    assert opname in msg and "test_blas.py" in msg, msg
    assert str(a_shape) in msg and str(b_shape) in msg, msg


def test_mismatched_inner_dims_raise_at_build_time():
    _dims_error(T.dot, (2, 3), (4, 5), "Dot")
    _dims_error(T.dot, (3,), (4,), "Dot")
    _dims_error(T.dot, (2, 2, 3), (2, 4, 5), "TensorDot")
    _dims_error(T.matmul, (2, 2, 3), (2, 4, 5), "MatMul")
    _dims_error(T.matmul, (2, 2, 3), (3, 3, 5), "MatMul")   # batch dims 2 vs 3
    _dims_error(lambda a, b: T.tensordot(a, b, axes=[[0], [1]]), (2, 3), (3, 4), "TensorDot")
    _dims_error(T.batched_dot, (2, 2, 3), (2, 4, 5), "MatMul")


def test_mismatched_dims_at_run_time_name_the_op():
    with pytest.raises(ValueError, match="Dot"):
        _run(T.dot, _data((2, 3), "float64"), _data((4, 5), "float64"))


@pytest.mark.parametrize("na,nb", [(n, m) for n in range(1, 5) for m in range(1, 5)])
def test_matmul_matches_numpy(na, nb):
    a, b = _data(MA_SHAPES[na], "float64"), _data(MB_SHAPES[nb], "float64")
    for static in (False, True):
        out, got = _run(T.matmul, a, b, static=static)
        _check(out, got, np.matmul(a, b))
        out, got = _run(lambda x, y: x @ y, a, b, static=static)
        _check(out, got, a @ b)


def test_matmul_broadcasts_static_ones_and_dtypes():
    a = _data((2, 1, 2, 3), "float32")
    b = _data((1, 4, 3, 5), "float32")
    x = T.tensor("float32", shape=(None, 1, None, None))
    y = T.tensor("float32", shape=(1, None, None, None))
    out = x @ y
    assert out.type.shape == (None, None, None, None)
    _check(out, symgraph.function([x, y], out, mode="py")(a, b), a @ b, 1e-5)
    i = _data((3, 2, 3), "int32")
    out, got = _run(T.matmul, i, _data((3, 4), "int32"))
    assert out.dtype == "int32"
    with pytest.raises(ValueError, match="0-d"):
        T.matmul(T.dscalar(), T.dvector())


def test_matmul_size_one_batch_dim_must_be_declared():
    a, b = _data((1, 2, 3), "float64"), _data((4, 3, 5), "float64")
    with pytest.raises(ValueError, match="broadcast"):
        _run(T.matmul, a, b)


@pytest.mark.parametrize("axes", [0, 1, 2, [[1], [0]], [[0, 2], [2, 0]], [[-1], [0]],
                                  ([2, 1], [1, 0]), (2, 0)])
def test_tensordot_matches_numpy(axes):
    a = _data((2, 3, 4), "float64")
    b = {0: (5, 2), 1: (4, 5), 2: (3, 4, 5)}.get(axes, None) if isinstance(axes, int) else None
    b_shapes = {repr([[1], [0]]): (3, 5), repr([[0, 2], [2, 0]]): (4, 5, 2),
                repr([[-1], [0]]): (4, 2), repr(([2, 1], [1, 0])): (3, 4, 5),
                repr((2, 0)): (4, 6)}
    b = _data(b if b is not None else b_shapes[repr(axes)], "float64")
    for static in (False, True):
        out, got = _run(lambda x, y: T.tensordot(x, y, axes=axes), a, b, static=static)
        _check(out, got, np.tensordot(a, b, axes=axes))


def test_tensordot_bad_axes():
    a, b = T.dtensor3("a"), T.dmatrix("b")
    with pytest.raises(ValueError, match="tensordot"):
        T.tensordot(a, b, axes=3)
    with pytest.raises(ValueError, match="out of bounds"):
        T.tensordot(a, b, axes=[[3], [0]])
    with pytest.raises(ValueError, match="as many axes"):
        T.tensordot(a, b, axes=[[0, 1], [0]])
    with pytest.raises(ValueError, match="distinct"):
        T.tensordot(a, b, axes=[[0, 0], [0, 1]])


def test_outer():
    for sx, sy, dt in [((3,), (4,), "float64"), ((), (4,), "float64"), ((3,), (4,), "int32"),
                       ((0,), (2,), "float64")]:
        x, y = _data(sx, dt), _data(sy, dt)
        out, got = _run(T.outer, x, y)
        _check(out, got, np.outer(x, y))


@pytest.mark.skipif(not hasattr(T, "flatten"), reason="T.flatten (shape module) not there")
def test_outer_flattens_matrices():
    x, y = _data((2, 3), "float64"), _data((2, 2), "float64")
    out, got = _run(T.outer, x, y)
    _check(out, got, np.outer(x, y))


def _np_batched_dot(a, b):
    if a.ndim == 1 or b.ndim == 1:
        a2 = a.reshape(a.shape + (1,) * (b.ndim - 1)) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,) * (a.ndim - 1)) if b.ndim == 1 else b
        return a2 * b2
    if a.ndim == b.ndim == 3:
        return np.matmul(a, b)
    return np.stack([np.dot(x, y) for x, y in zip(a, b)])


BATCHED = [((4, 3), (4, 3)), ((4, 2, 3), (4, 3, 5)), ((4, 2, 3), (4, 3)), ((4, 3), (4, 3, 5)),
           ((4, 2, 6, 3), (4, 3, 5)), ((4, 2, 3), (4, 7, 3, 5)), ((4, 2, 6, 3), (4, 7, 3, 5)),
           ((4, 2, 6, 3), (4, 3)), ((4,), (4, 3)), ((4, 2, 3), (4,)), ((0, 2, 3), (0, 3, 5))]


@pytest.mark.parametrize("sa,sb", BATCHED)
def test_batched_dot_matches_reference(sa, sb):
    for dt in ("float64", "int32"):
        a, b = _data(sa, dt), _data(sb, dt)
        for static in (False, True):
            out, got = _run(T.batched_dot, a, b, static=static)
            _check(out, got, _np_batched_dot(a, b))


def test_batched_tensordot():
    a, b = _data((3, 5, 2, 4), "float64"), _data((3, 2, 6, 4), "float64")
    want = np.stack([np.tensordot(x, y, [[1, 2], [0, 2]]) for x, y in zip(a, b)])
    out, got = _run(lambda x, y: T.batched_tensordot(x, y, [[2, 3], [1, 3]]), a, b)
    _check(out, got, want)
    with pytest.raises(ValueError, match="batch"):
        T.batched_tensordot(T.dtensor3(), T.dtensor3(), [[0], [0]])


# -- gradients ----------------------------------------------------------------------------

@pytest.mark.parametrize("na,nb", list(itertools.product(range(5), range(5))))
def test_dot_grad_all_ndims(na, nb):
    a, b = _data(A_SHAPES[na], "float64"), _data(B_SHAPES[nb], "float64")
    verify_grad(T.dot, [a, b], rng=RNG)


@pytest.mark.parametrize("na,nb", [(1, 3), (3, 1), (3, 3), (4, 2), (2, 4), (4, 4), (1, 4)])
def test_matmul_grad(na, nb):
    a, b = _data(MA_SHAPES[na], "float64"), _data(MB_SHAPES[nb], "float64")
    verify_grad(T.matmul, [a, b], rng=RNG)


def test_matmul_grad_broadcast_batch():
    # verify_grad makes dims of size 1 broadcastable, so these batch dims broadcast
    verify_grad(T.matmul, [_data((2, 1, 2, 3), "float64"), _data((1, 3, 3, 4), "float64")],
                rng=RNG)
    verify_grad(T.matmul, [_data((1, 2, 3), "float64"), _data((4, 3, 2), "float64")], rng=RNG)


@pytest.mark.parametrize("axes,sb", [(0, (2,)), (1, (4, 2)), (2, (3, 4, 2)),
                                     ([[1], [0]], (3, 2)), ([[0, 2], [2, 0]], (4, 3, 2)),
                                     ([[2, 0], [0, 1]], (4, 2, 3))])
def test_tensordot_grad(axes, sb):
    a, b = _data((2, 3, 4), "float64"), _data(sb, "float64")
    verify_grad(lambda x, y: T.tensordot(x, y, axes=axes), [a, b], rng=RNG)


@pytest.mark.parametrize("sa,sb", BATCHED[:-1])
def test_batched_dot_grad(sa, sb):
    verify_grad(T.batched_dot, [_data(sa, "float64"), _data(sb, "float64")], rng=RNG)


def test_outer_and_batched_tensordot_grad():
    verify_grad(T.outer, [_data((3,), "float64"), _data((4,), "float64")], rng=RNG)
    verify_grad(lambda x, y: T.batched_tensordot(x, y, [[2, 3], [1, 3]]),
                [_data((2, 3, 2, 4), "float64"), _data((2, 2, 3, 4), "float64")], rng=RNG)


def test_dot_grad_dtypes():
    x, w = T.fmatrix("x"), T.dmatrix("w")
    gx, gw = grad(T.sum(T.dot(x, w)), [x, w])
    assert gx.dtype == "float32" and gw.dtype == "float64"
    i, v = T.imatrix("i"), T.dvector("v")
    out = T.dot(i, v)
    assert out.owner.op.L_op([i, v], [out], [T.dvector()])[0] is None
    g = symgraph.function([i, v], grad(T.sum(out), v), mode="py")
    a = _data((2, 3), "int32")
    np.testing.assert_allclose(g(a, np.ones(3)), a.sum(axis=0))


def test_second_order_through_dot():
    # H of x^T A x is A + A^T
    a = _data((3, 3), "float64")
    x = T.dvector("x")
    gx = grad(T.dot(x, T.dot(a, x)), x)
    h = symgraph.function([x], grad(T.sum(gx * np.arange(3.0)), x), mode="py")
    np.testing.assert_allclose(h(np.ones(3)), np.arange(3.0) @ (a + a.T), rtol=1e-12)
    verify_grad(lambda m: T.sum(grad(T.sum(T.dot(m, m) ** 2), m) ** 2),
                [_data((2, 2), "float64")], rng=RNG)


def test_rop_of_dot_and_matmul():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    va, vb = T.dmatrix("va"), T.dmatrix("vb")
    x, y = _data((2, 3), "float64"), _data((3, 4), "float64")
    ex, ey = _data((2, 3), "float64"), _data((3, 4), "float64")
    f = symgraph.function([a, b, va, vb], Rop(T.dot(a, b), [a, b], [va, vb]),
                          mode="py")
    np.testing.assert_allclose(f(x, y, ex, ey), ex @ y + x @ ey, rtol=1e-12)
    a3, va3 = T.dtensor3("a3"), T.dtensor3("va3")
    x3, e3 = _data((2, 2, 3), "float64"), _data((2, 2, 3), "float64")
    f = symgraph.function([a3, b, va3], Rop(T.matmul(a3, b), a3, va3), mode="py",
                          on_unused_input="ignore")
    np.testing.assert_allclose(f(x3, y, e3), e3 @ y, rtol=1e-12)


def test_infer_shape():
    cases = [(T.dot, (2, 3), (3, 4)), (T.dot, (3,), (3, 4)), (T.dot, (2, 3), (3,)),
             (T.dot, (3,), (3,)), (T.dot, (4, 2, 3), (2, 3, 5)),
             (lambda a, b: T.tensordot(a, b, [[0, 2], [2, 0]]), (2, 3, 4), (4, 5, 2)),
             (T.matmul, (2, 2, 3), (2, 3, 4)), (T.matmul, (3, 1, 2, 3), (1, 4, 3, 5)),
             (T.matmul, (3, 2, 3), (3, 4))]
    for fn, sa, sb in cases:
        a = T.tensor("float64", shape=tuple(1 if s == 1 else None for s in sa))
        b = T.tensor("float64", shape=tuple(1 if s == 1 else None for s in sb))
        out = fn(a, b)
        while type(out.owner.op).__name__ == "DimShuffle":
            out = out.owner.inputs[0]
        check_infer_shape(out, [a, b], [_data(sa, "float64"), _data(sb, "float64")])
