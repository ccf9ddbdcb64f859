"""grad: paths, dtypes, disconnected and integer inputs, consider_constant, known_grads,
errors for ops without gradient, gradient-only ops, deep chains, higher orders."""
import sys
import warnings

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import DisconnectedInputError, GradientError
from symgraph.gradient import (consider_constant, disconnected_grad, grad, grad_clip,
                               grad_scale, zero_grad)
from symgraph.graph import Apply, Op

RNG = np.random.default_rng(11)


def fn(inputs, outputs):
    return symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")


class NoGrad(Op):
    """x * 2 without a gradient (test op)."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] * 2


class NotImplGrad(NoGrad):
    """x * 2 whose L_op raises NotImplementedError (test op)."""

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError("later")


class WrongRank(NoGrad):
    """x * 2 whose L_op returns a gradient of the wrong rank (test op)."""

    def L_op(self, inputs, outputs, output_grads):
        return [T.sum(output_grads[0])]


class TwoOut(Op):
    """(2x, 3x) (test op with two outputs)."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type(), x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] * 2
        out[1][0] = inputs[0] * 3

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0] * 2 + output_grads[1] * 3]


def test_gradient_refers_to_the_cost_inputs_as_theano():
    # function([x], grad(x * 2, x)) is accepted: the gradient graph uses x (through the
    # fill of the cost), as in Theano, even though its value does not depend on x
    x = T.dscalar("x")
    f = symgraph.function([x], grad(x * 2, x), mode="py")
    assert f(3.0) == 2.0


def test_square_and_dtype():
    x = T.dscalar("x")
    gx = grad(x ** 2, x)
    assert gx.dtype == "float64" and gx.ndim == 0
    assert fn([x], gx)(4.0) == 8.0
    xf = T.fvector("xf")
    gf = grad(T.sum(xf ** 2), xf)
    assert gf.dtype == "float32"
    out = fn([xf], gf)(np.array([1, 2], "float32"))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2, 4])


def test_every_path_is_summed():
    x = T.dvector("x")
    y = T.exp(x)
    cost = T.sum(y * y + T.sin(y) * x + y)
    g = fn([x], grad(cost, x))
    xv = RNG.uniform(-1, 1, 5)
    e = np.exp(xv)
    want = 2 * e * e + np.cos(e) * e * xv + np.sin(e) + e
    np.testing.assert_allclose(g(xv), want, rtol=1e-12)


def test_list_and_single_wrt_and_intermediate():
    x, y = T.dscalars("x", "y")
    h = x * y
    cost = T.sin(h) + h * x
    gs = grad(cost, [x, y, h])
    assert isinstance(gs, list) and len(gs) == 3
    xv, yv = 0.7, -1.3
    gx, gy, gh = fn([x, y], gs)(xv, yv)
    hv = xv * yv
    assert np.isclose(gx, np.cos(hv) * yv + hv + xv * yv)
    assert np.isclose(gy, np.cos(hv) * xv + xv * xv)
    assert np.isclose(gh, np.cos(hv) + xv)
    single = grad(cost, x)
    assert not isinstance(single, list)
    assert isinstance(grad(cost, (x, y)), tuple)


def test_disconnected_modes():
    x, y = T.dscalars("x", "y")
    cost = y * 2
    with pytest.raises(DisconnectedInputError, match="'x'"):
        grad(cost, x)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        g = grad(cost, x, disconnected_inputs="warn")
    assert any("does not depend" in str(m.message) for m in w)
    assert fn([x], g)(3.0) == 0.0
    assert grad(cost, x, disconnected_inputs="ignore", return_disconnected="None") is None
    with pytest.raises(ValueError, match="disconnected_inputs"):
        grad(cost, x, disconnected_inputs="maybe")


def test_integer_inputs_get_floatx_zeros_and_stop_the_flow():
    x = T.dscalar("x")
    i = T.iscalar("i")
    cost = T.cast(x * 3.0, "int32") * 2.0 + i * x
    gi, gx = grad(cost, [i, x])
    assert gi.dtype == symgraph.config.floatX
    vi, vx = fn([i, x], [gi, gx])(5, 1.5)
    assert vi == 0.0
    assert vx == 5.0  # only the i * x path: the int cast passes no gradient
    b = T.bvector("b")
    gb = grad(T.sum(b * x), b)
    assert gb.dtype == symgraph.config.floatX
    np.testing.assert_array_equal(fn([b, x], gb)(np.array([1, 2], "int8"), 1.0), [0, 0])


def test_integer_cost():
    i = T.iscalar("i")
    x = T.dscalar("x")
    g = grad(T.cast(x, "int32") * i, x)
    assert fn([i, x], g)(3, 2.5) == 0.0


def test_consider_constant():
    x = T.dscalar("x")
    y = x ** 2
    g = grad(y * x, x, consider_constant=[y])
    assert fn([x], g)(3.0) == 9.0
    with pytest.raises(DisconnectedInputError):
        grad(y * 2, x, consider_constant=[y])
    g2 = grad(consider_constant(y) * x, x)
    assert fn([x], g2)(3.0) == 9.0


def test_known_grads():
    x = T.dvector("x")
    y = T.tanh(x)
    gy = T.dvector("gy")
    gx = grad(None, x, known_grads={y: gy})
    xv, gv = RNG.uniform(-1, 1, 4), RNG.uniform(-1, 1, 4)
    np.testing.assert_allclose(fn([x, gy], gx)(xv, gv), gv * (1 - np.tanh(xv) ** 2))
    # with a cost as well: both contributions add up
    gx2 = grad(T.sum(x), x, known_grads={y: gy})
    np.testing.assert_allclose(fn([x, gy], gx2)(xv, gv), 1 + gv * (1 - np.tanh(xv) ** 2))
    with pytest.raises(ValueError, match="cost"):
        grad(None, x)


def test_cost_must_be_scalar():
    x = T.dvector("x")
    with pytest.raises(GradientError, match="scalar"):
        grad(x * 2, x)


def test_no_gradient_error_names_op_and_user_line():
    x = T.dvector("x")
    y = NoGrad()(x)  # the line the error must point at
    line = sys._getframe().f_lineno - 1
    with pytest.raises(GradientError) as e:
        grad(T.sum(y), x)
    msg = str(e.value)
    assert "NoGrad" in msg and f"test_grad_core.py:{line}" in msg
    z = NotImplGrad()(x)
    with pytest.raises(GradientError, match="NotImplGrad"):
        grad(T.sum(z), x)


def test_no_gradient_needed_only_on_path():
    x, y = T.dvectors("x", "y")
    cost = T.sum(NoGrad()(y)) + T.sum(x * 2)
    g = grad(cost, x)
    np.testing.assert_array_equal(fn([x, y], g)(np.ones(3), np.ones(3)), [2, 2, 2])
    # null_gradients='return': None for the wrt that needs it, the others are computed
    gx, gy = grad(cost, [x, y], null_gradients="return")
    assert gy is None
    np.testing.assert_array_equal(fn([x, y], gx)(np.ones(2), np.ones(2)), [2, 2])


def test_wrong_rank_gradient_is_reported():
    x = T.dvector("x")
    with pytest.raises(GradientError, match="WrongRank"):
        grad(T.sum(WrongRank()(x)), x)


def test_multi_output_missing_grads_are_zeros():
    x = T.dvector("x")
    a, b = TwoOut()(x)
    xv = RNG.uniform(size=3)
    np.testing.assert_array_equal(fn([x], grad(T.sum(b), x))(xv), [3, 3, 3])
    np.testing.assert_array_equal(fn([x], grad(T.sum(a * b), x))(xv), 12 * xv)


def test_deep_chain_default_recursion_limit():
    assert sys.getrecursionlimit() <= 1000 + 100
    x = T.dscalar("x")
    y = x
    for _ in range(10000):
        y = y * 1.0001
    g = grad(y, x)
    assert np.isclose(fn([x], g)(2.0), 1.0001 ** 10000, rtol=1e-9)


def test_higher_orders():
    x = T.dscalar("x")
    y = x ** 3 + T.sin(x)
    g1 = grad(y, x)
    g2 = grad(g1, x)
    g3 = grad(g2, x)
    v1, v2, v3 = fn([x], [g1, g2, g3])(0.8)
    assert np.isclose(v1, 3 * 0.64 + np.cos(0.8))
    assert np.isclose(v2, 6 * 0.8 - np.sin(0.8))
    assert np.isclose(v3, 6 - np.cos(0.8))


def test_gradient_only_ops():
    x = T.dvector("x")
    xv = np.array([0.5, -2.0, 3.0])
    f = fn([x], [zero_grad(x), grad(T.sum(zero_grad(x) * x), x)])
    val, g = f(xv)
    np.testing.assert_array_equal(val, xv)
    np.testing.assert_array_equal(g, xv)
    # disconnected_grad: no path at all
    with pytest.raises(DisconnectedInputError):
        grad(T.sum(disconnected_grad(x) * 2), x)
    g = grad(T.sum(disconnected_grad(x) * x), x)
    np.testing.assert_array_equal(fn([x], g)(xv), xv)
    # grad_clip: the gradient flowing back is clipped
    g = grad(T.sum(grad_clip(x, -1.0, 1.5) * x * 2), x)
    np.testing.assert_allclose(fn([x], g)(xv), np.clip(2 * xv, -1, 1.5) + 2 * xv)
    with pytest.raises(ValueError):
        grad_clip(x, 2, 1)
    g = grad(T.sum(grad_scale(x, 0.5) ** 2), x)
    np.testing.assert_allclose(fn([x], g)(xv), 0.5 * 2 * xv)
    # forward values are x itself
    np.testing.assert_array_equal(
        fn([x], [grad_clip(x, 0, 1), grad_scale(x, 3.0), disconnected_grad(x)])(xv)[1], xv)


def test_grad_is_ordinary_graph_and_shares_work():
    x = T.dvector("x")
    cost = T.sum(T.exp(x) * 3.0)
    g = grad(cost, x)
    # differentiate the gradient again (Hessian diagonal via sum)
    gg = grad(T.sum(g), x)
    xv = RNG.uniform(size=4)
    np.testing.assert_allclose(fn([x], gg)(xv), 3 * np.exp(xv))


class Unsummed(Op):
    """a + b whose L_op forgets to sum b's gradient over b's broadcast rows (test op)."""

    def make_node(self, a, b):
        a, b = T.as_tensor_variable(a), T.as_tensor_variable(b)
        return Apply(self, [a, b], [T.TensorType("float64", (None, None))()])

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] + inputs[1]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0], output_grads[0]]


def test_broadcast_dimensions_collect_the_sum():
    a = T.dmatrix("a")
    b = T.tensor("float64", shape=(1, None), name="b")
    gb = grad(T.sum(Unsummed()(a, b) * 2.0), b)
    assert gb.type.shape == (1, None)
    np.testing.assert_array_equal(fn([a, b], gb)(np.ones((3, 2)), np.ones((1, 2))), [[6, 6]])


def test_wrt_the_cost_itself_and_repeated():
    x = T.dscalar("x")
    c = x * 3
    assert fn([x], grad(c, [c, x, x]))(2.0) == [1.0, 3.0, 3.0]
