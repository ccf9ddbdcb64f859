"""Phase 'specialize' (pow, x*x, shapes, reductions of fills) and the reduce and shape rules
of 'canonicalize'."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from symgraph.graph import Constant
from rewrite_helpers import RNG, check_against_py, op_names, reasons

NO_FUSE = Mode("FAST_RUN", excluding=["fusion", "inplace"])


def run(inputs, out, values, rtol=1e-12, **kw):
    check_against_py(inputs, out, values, rtol=rtol, **kw)
    return symgraph.function(inputs, out, mode=NO_FUSE, on_unused_input="ignore")


V = np.array([0.5, 1.5, 3.0, 7.0])


@pytest.mark.parametrize("p,ops", [
    (2, ["Sqr"]), (0.5, ["Sqrt"]), (-1, ["TrueDiv"]), (-0.5, ["Sqrt", "TrueDiv"]),
    (3, ["Sqr", "Mul"]), (4, ["Sqr", "Sqr"]), (5, ["Sqr", "Sqr", "Mul"]),
    (-3, ["Sqr", "Mul", "TrueDiv"]), (16, ["Sqr"] * 4),
])
def test_pow_by_constants(p, ops):
    x = T.dvector("x")
    f = run([x], x ** p, [V])
    assert "pow_specialize" in reasons(f)
    assert sorted(op_names(f)) == sorted(ops)


def test_pow_stays_where_it_must():
    x = T.dvector("x")
    y = T.dvector("y")
    for out in (x ** 17, x ** 2.5, x ** y):
        f = run([x, y], out, [V, V])
        assert "Pow" in op_names(f)
    i = T.ivector("i")
    # numpy refuses negative integer powers of integers: leave the error to run time
    f = symgraph.function([i], i ** -1, mode=NO_FUSE)
    assert "Pow" in op_names(f)
    with pytest.raises(ValueError):
        f(np.array([2], "int32"))


def test_integer_powers_wrap_like_numpy():
    b = T.bvector("b")
    f = run([b], b ** 3, [np.array([7, -100, 5], "int8")])
    assert "Pow" not in op_names(f)


def test_pow_computes_in_the_result_dtype():
    x = T.fvector("x")
    out = x ** np.float64(2.0)                  # float32 ** float64 -> float64
    f = run([x], out, [V.astype("float32") / 3])
    assert f(V.astype("float32")).dtype == np.float64
    assert op_names(f) == ["Cast", "Sqr"]


def test_mul_self_is_sqr():
    x = T.dvector("x")
    f = run([x], x * x, [V])
    assert op_names(f) == ["Sqr"]


def test_static_shapes_become_constants():
    x = T.tensor("float64", shape=(3, None))
    f = symgraph.function([x], [x.shape[0], x.shape, x.shape[1]], mode=NO_FUSE)
    outs = f.maker.fgraph.outputs
    assert isinstance(outs[0], Constant) and outs[0].data == 3
    assert "shape_constant" in reasons(f)
    assert not isinstance(outs[1], Constant) and not isinstance(outs[2], Constant)
    v = np.zeros((3, 5))
    r = f(v)
    assert int(r[0]) == 3 and list(r[1]) == [3, 5] and int(r[2]) == 5
    y = T.tensor("float64", shape=(2, 4))
    g = symgraph.function([y], y.shape, mode=NO_FUSE)
    assert isinstance(g.maker.fgraph.outputs[0], Constant)
    assert list(g(np.zeros((2, 4)))) == [2, 4]


def test_reshape_chains():
    x = T.dmatrix("x")
    v = RNG.normal(size=(3, 4))
    f = run([x], x.reshape((12,)).reshape((4, 3)), [v])
    assert op_names(f) == ["Reshape"] and "reshape_of_reshape" in reasons(f)
    y = T.tensor("float64", shape=(3, 4))
    f = run([y], y.reshape((3, 4)) * 2, [v])
    assert "Reshape" not in op_names(f) and "reshape_noop" in reasons(f)


def test_sum_of_sum():
    x = T.tensor3("x")
    v = RNG.normal(size=(2, 3, 4))
    f = run([x], x.sum(axis=1).sum(axis=1), [v])
    assert op_names(f) == ["Sum"] and "sum_of_sum" in reasons(f)
    (node,) = f.maker.fgraph.apply_nodes
    assert node.op.axis == (1, 2)
    f = run([x], x.sum(axis=0, keepdims=True).sum(axis=2, keepdims=True), [v])
    assert op_names(f) == ["Sum"]
    # mixed keepdims cannot be one sum
    f = run([x], x.sum(axis=0, keepdims=True).sum(axis=2), [v])
    assert op_names(f) == ["Sum", "Sum"]
    # an inner sum read elsewhere stays
    inner = x.sum(axis=0)
    f = run([x], [inner.sum(), inner], [v])
    assert op_names(f).count("Sum") == 2


def test_sums_over_broadcast_dimensions_vanish():
    r = T.drow("r")
    v = RNG.normal(size=(1, 5))
    f = run([r], r.sum(axis=0), [v])
    assert "Sum" not in op_names(f) and "reduce_without_axes" in reasons(f)


def test_sum_and_mean_of_filled_values():
    x = T.dmatrix("x")
    v = RNG.normal(size=(3, 4))
    for out in (T.ones_like(x).sum(), T.ones_like(x).mean(), T.fill(x, 2.5).sum(axis=0),
                T.alloc(np.float64(1.5), x.shape[0], 4).sum(axis=1, keepdims=True)):
        f = run([x], out, [v])
        assert "Sum" not in op_names(f) and "sum_of_filled" in reasons(f), out
    f = run([x], T.zeros((3, 5)).sum(), [v])            # all constant: folded
    assert op_names(f) == [] and "constant_folding" in reasons(f)
    i = T.imatrix("i")
    f = run([i], T.ones_like(i).sum(), [np.zeros((2, 3), "int32")])
    assert f(np.zeros((2, 3), "int32")).dtype == np.int64


def test_log_sum_exp_keeps_axis_and_keepdims():
    x = T.dtensor3("x")
    v = RNG.normal(size=(2, 3, 4)) * 300
    for axis, kd in [(1, False), ((0, 2), True), (None, False)]:
        f = run([x], T.log(T.exp(x).sum(axis=axis, keepdims=kd)), [v / 300])
        assert "LogSumExp" in op_names(f)
        got = f(v)
        m = v.max(axis=axis, keepdims=True)
        ref = np.log(np.exp(v - m).sum(axis=axis, keepdims=True)) + m
        ref = ref if kd else np.squeeze(ref, axis=axis)
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_sum_of_filled_empty_and_infinite_values():
    x = T.dmatrix("x")
    empty = np.zeros((0, 3))
    for c in (np.inf, np.nan):
        f = run([x], T.fill(x, c).sum(), [empty])
        assert "Sum" in op_names(f)            # inf * 0 would be NaN; the sum of nothing is 0
        assert f(empty) == 0.0
    f = run([x], T.fill(x, 2.0).sum(), [empty])
    assert "Sum" not in op_names(f) and f(empty) == 0.0
