"""Phase 'stabilize': finite, correct values (and gradients) where the graph as written
gives inf or NaN, in FAST_RUN and FAST_COMPILE alike."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from rewrite_helpers import check_against_py, op_names, reasons

STABLE = ("FAST_RUN", "FAST_COMPILE")


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with np.errstate(all="ignore"):      # the references underflow on purpose
        yield


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _values(build, inputs, values, mode):
    return symgraph.function(inputs, build(*inputs), mode=mode)(*values)


CASES = [
    # (name, build, exact numpy reference, extreme input, rule)
    ("log1p", lambda x: T.log(1 + x), np.log1p, [1e-20, -0.5, 3.0], "log1p_of_add_one"),
    ("log1p_sub", lambda x: T.log(1 - x), lambda v: np.log1p(-v), [1e-20, 0.5],
     "log1p_of_add_one"),
    ("expm1", lambda x: T.exp(x) - 1, np.expm1, [1e-20, -3.0, 2.0], "expm1_of_exp"),
    ("expm1_add", lambda x: T.exp(x) + (-1), np.expm1, [1e-20, 2.0], "expm1_of_exp"),
    ("softplus", lambda x: T.log(1 + T.exp(x)), _softplus, [800.0, -800.0, 1.0],
     "softplus_of_log1p_exp"),
    ("softplus_log1p", lambda x: T.log1p(T.exp(x)), _softplus, [800.0, -3.0],
     "softplus_of_log1p_exp"),
    ("log_sigmoid", lambda x: T.log(T.nnet.sigmoid(x)), lambda v: -_softplus(-v),
     [-800.0, 800.0, 0.3], "log_sigmoid"),
    ("log1m_sigmoid", lambda x: T.log(1 - T.nnet.sigmoid(x)), lambda v: -_softplus(v),
     [800.0, -800.0, 0.3], "one_minus_sigmoid"),
    ("one_minus_sigmoid", lambda x: 1 - T.nnet.sigmoid(x), lambda v: _sigmoid(-v),
     [40.0, -3.0], "one_minus_sigmoid"),
    ("manual_sigmoid", lambda x: 1 / (1 + T.exp(-x)), _sigmoid, [-800.0, 800.0, 0.1],
     "sigmoid_of_exp"),
    ("sqrt_sqr", lambda x: T.sqrt(x ** 2), np.abs, [1e200, -1e200, -3.0], "sqrt_of_square"),
    ("sqrt_mul", lambda x: T.sqrt(x * x), np.abs, [1e200, -2.0], "sqrt_of_square"),
    ("log_exp", lambda x: T.log(T.exp(x)), lambda v: v, [800.0, -800.0], "log_exp"),
]


@pytest.mark.parametrize("name,build,ref,extreme,rule", CASES, ids=[c[0] for c in CASES])
def test_stabilization_fires_and_gives_the_exact_value(name, build, ref, extreme, rule):
    x = T.dvector("x")
    ordinary = np.array([0.25, -0.75, 1.5])
    fns = check_against_py([x], build(x), [ordinary], rtol=1e-12)
    ext = np.array(extreme)
    want = ref(ext)
    for m in STABLE:
        assert rule in reasons(fns[m]), (m, reasons(fns[m]))
        got = fns[m](ext)
        assert np.isfinite(got).all(), (m, got)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=m)
    if name != "manual_sigmoid":      # 1 / (1 + inf) is right, only its inf is risky
        # the graph as written gets the extremes wrong (that is why the rule exists)
        naive = fns["py"](ext)
        assert not np.allclose(naive, want, rtol=1e-6, atol=0, equal_nan=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stabilizations_keep_float32(dtype):
    x = T.tensor(dtype, shape=(None,))
    out = [T.log(1 + x), T.exp(x) - 1, T.log(T.nnet.sigmoid(x)), T.sqrt(x ** 2)]
    v = np.array([1e-3, 0.5, 2.0], dtype)
    f = symgraph.function([x], out)
    w = v.astype("float64")
    refs = [np.log1p(w), np.expm1(w), -_softplus(-w), np.abs(w)]
    for o, ref in zip(f(v), refs):
        assert o.dtype == dtype
        # as exact as the dtype allows (float32's log(1 + 1e-3) alone is off by 5e-5)
        np.testing.assert_allclose(o, ref, rtol=4 * np.finfo(dtype).eps)


def test_stabilize_leaves_integers_alone():
    # int8 arithmetic wraps: 1 + 127 is -128, and the result must say so, as in 'py'
    i = T.bvector("i")
    out = [T.log(1 + i), T.sqrt(i ** 2)]
    v = np.array([127, 3], "int8")
    fns = check_against_py([i], out, [v])
    assert "log1p_of_add_one" not in reasons(fns["FAST_RUN"])
    assert "sqrt_of_square" not in reasons(fns["FAST_RUN"])


def test_stabilize_does_not_fire_on_lookalikes():
    x, y = T.dvectors("x", "y")
    f = symgraph.function([x, y], [T.log(2 + x), T.exp(x) - 2, T.log(y + x),
                                   T.sqrt(x * y), T.log(T.nnet.sigmoid(x) * 2)],
                          mode=Mode(excluding=["fusion"]))
    assert not {"Log1p", "Expm1", "Softplus", "Abs"} & set(op_names(f))


def test_log_of_softmax_and_its_gradient():
    x = T.dmatrix("x")
    out = T.log(T.nnet.softmax(x))
    logits = np.array([[1000.0, 0.0], [1.0, 2.0]])
    want = logits - np.log(np.sum(np.exp(logits - logits.max(1, keepdims=True)), 1,
                                  keepdims=True)) - logits.max(1, keepdims=True)
    g = symgraph.grad(T.sum(out * np.array([[0.0, 1.0]])), x)
    for m in STABLE:
        f = symgraph.function([x], [out, g], mode=m)
        val, grad = f(logits)
        assert "log_softmax" in reasons(f) and "log_softmax_grad" in reasons(f)
        np.testing.assert_allclose(val, want, rtol=1e-12)
        assert np.isfinite(grad).all()
        sm = np.exp(want)
        np.testing.assert_allclose(grad, np.array([[0.0, 1.0]]) - sm, atol=1e-12)
    assert not np.isfinite(symgraph.function([x], out, mode="py")(logits)).all()


def test_log_sum_exp():
    x = T.dmatrix("x")
    out = T.log(T.sum(T.exp(x), axis=1))
    v = np.array([[1000.0, 0.0], [1.0, 2.0]])
    m = v.max(1)
    want = m + np.log(np.exp(v - m[:, None]).sum(1))
    for mode in STABLE:
        f = symgraph.function([x], out, mode=mode)
        assert "log_sum_exp" in reasons(f)
        np.testing.assert_allclose(f(v), want, rtol=1e-12)


def test_crossentropy_of_a_softmax_with_huge_logits():
    x = T.dmatrix("x")
    y = T.lvector("y")
    p = T.nnet.softmax(x)
    losses = [T.nnet.categorical_crossentropy(p, y),
              T.nnet.categorical_crossentropy(p, T.constant(np.eye(2)[[1, 0]])),
              -T.sum(T.log(p) * np.eye(2)[[1, 0]], axis=1)]
    logits = np.array([[1e4, 0.0], [0.0, 1e4]])
    labels = np.array([1, 0])
    for loss in losses:
        g = symgraph.grad(loss.sum(), x)
        for m in STABLE:
            f = symgraph.function([x, y], [loss, g], mode=m, on_unused_input="ignore")
            val, grad = f(logits, labels)
            np.testing.assert_allclose(val, [1e4, 1e4], rtol=1e-12)
            np.testing.assert_allclose(grad, [[1.0, -1.0], [-1.0, 1.0]], atol=1e-12)


GRAD_CASES = [
    ("softplus", lambda x: T.log(1 + T.exp(x)), lambda v: _sigmoid(v)),
    ("softplus_log1p", lambda x: T.log1p(T.exp(x)), lambda v: _sigmoid(v)),
    ("log_sigmoid", lambda x: T.log(T.nnet.sigmoid(x)), lambda v: _sigmoid(-v)),
    ("log1m_sigmoid", lambda x: T.log(1 - T.nnet.sigmoid(x)), lambda v: -_sigmoid(v)),
]


@pytest.mark.parametrize("name,build,dref", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_of_the_stabilized_forms_are_finite(name, build, dref):
    x = T.dvector("x")
    cost = build(x).sum()
    g = symgraph.grad(cost, x)
    v = np.array([-800.0, 800.0, 0.5, -2.0])
    naive = symgraph.function([x], g, mode="py")(v)
    assert not np.isfinite(naive).all()          # the graph as written: NaN
    for m in STABLE:
        f = symgraph.function([x], g, mode=m)
        got = f(v)
        np.testing.assert_allclose(got, dref(v), rtol=1e-12, atol=1e-300, err_msg=m)
        assert "mul_div_cancel" in reasons(f)


def test_gradient_cancellation_keeps_ordinary_values():
    x, y = T.dvectors("x", "y")
    out = (x / y) * y * 3
    fns = check_against_py([x, y], out, [np.array([1.0, 2.0]), np.array([3.0, -0.5])])
    assert "mul_div_cancel" in reasons(fns["FAST_RUN"])
    # integer true division gives floats; the cancellation works on the float result
    i = T.ivector("i")
    check_against_py([i, y], (i / y) * y, [np.array([3, 4], "int32"), np.array([2.0, 3.0])])


def test_stabilizations_run_in_fast_compile_without_canonicalize():
    x = T.dvector("x")
    f = symgraph.function([x], T.log(1 + T.exp(x)), mode="FAST_COMPILE")
    assert "Softplus" in op_names(f)
    assert f([1000.0])[0] == 1000.0


def test_more_sigmoid_and_softmax_forms():
    x = T.dvector("x")
    v = np.array([-800.0, 800.0, 0.5])
    f = symgraph.function([x], T.log1p(-T.nnet.sigmoid(x)))
    assert "log1m_sigmoid" in reasons(f)
    np.testing.assert_allclose(f(v), -_softplus(v), rtol=1e-12)
    f = symgraph.function([x], T.exp(x) / (1 + T.exp(x)), mode="FAST_COMPILE")
    assert "sigmoid_of_exp_ratio" in reasons(f)
    np.testing.assert_allclose(f(v), _sigmoid(v), rtol=1e-12)


def test_crossentropy_ops_applied_to_a_softmax_directly():
    from symgraph.ops import nnet as N
    x = T.dmatrix("x")
    y = T.lvector("y")
    t = T.dmatrix("t")
    sm = N.Softmax(1)(x)
    logits = np.array([[1e4, 0.0], [0.0, 1e4]])
    labels = np.array([1, 0])
    for m in STABLE:
        f = symgraph.function([x, y], N.CrossentropyCategorical1Hot()(sm, y), mode=m)
        assert "crossentropy_softmax_1hot" in reasons(f)
        np.testing.assert_allclose(f(logits, labels), [1e4, 1e4])
        f = symgraph.function([x, t], N.CrossentropyCategoricalDense()(sm, t), mode=m)
        assert "crossentropy_softmax_dense" in reasons(f)
        np.testing.assert_allclose(f(logits, np.eye(2)[labels]), [1e4, 1e4])


def test_exp_of_log_softmax_is_softmax():
    x = T.dmatrix("x")
    v = np.array([[1.0, 2.0], [3.0, -1.0]])
    fns = check_against_py([x], T.exp(T.nnet.log_softmax(x)), [v], modes=("FAST_RUN",),
                           rtol=1e-12)
    assert "exp_log_softmax" in reasons(fns["FAST_RUN"])
    assert op_names(fns["FAST_RUN"]) == ["Softmax"]
