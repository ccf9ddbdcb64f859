"""Random graphs (hypothesis): the rewritten functions (FAST_RUN, FAST_COMPILE) agree with
mode='py', and no input or shared value changes except through updates."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph
import symgraph.tensor as T

# ops on values of shape (3, 4) (or broadcastable to it), kept in safe ranges: every value
# is squashed by tanh before exp, logs and square roots see 1 + |x| and |x|
UNARY = {
    "exp": lambda a: T.exp(T.tanh(a)),
    "log1p": lambda a: T.log(1 + abs(a)),
    "neg": lambda a: -a,
    "negneg": lambda a: -(-a),
    "sqr": lambda a: a ** 2,
    "cube": lambda a: T.tanh(a) ** 3,
    "sqrt": lambda a: T.sqrt(abs(a)),
    "half": lambda a: abs(a) ** 0.5,
    "sigmoid": lambda a: T.nnet.sigmoid(a),
    "one_minus_sigmoid": lambda a: 1 - T.nnet.sigmoid(a),
    "log_sigmoid": lambda a: T.log(T.nnet.sigmoid(a)),
    "softplus": lambda a: T.log(1 + T.exp(T.tanh(a))),
    "expm1": lambda a: T.exp(T.tanh(a)) - 1,
    "tanh": T.tanh,
    "times_one": lambda a: a * 1 + 0,
    "cast": lambda a: T.cast(T.cast(a, "float32"), "float64"),
    "sum0": lambda a: a.sum(axis=0, keepdims=True) * a,
    "sum1": lambda a: a.sum(axis=1).dimshuffle(0, "x") + a,
    "sumsum": lambda a: a.sum(axis=0).sum() + a,
    "transpose2": lambda a: a.T.T,
    "log_sum_exp": lambda a: T.log(T.exp(T.tanh(a)).sum(axis=1, keepdims=True)) + a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + b * b),
    "max": T.maximum,
    "min": T.minimum,
    "switch": lambda a, b: T.switch(T.gt(a, b), a, b),
    "sub_neg": lambda a, b: a - (-b),
    "dot": lambda a, b: T.dot(T.tanh(a), T.tanh(b).T).sum(axis=1, keepdims=True) * b,
    "row": lambda a, b: a + b.sum(axis=0).dimshuffle("x", 0),
}

step = st.one_of(
    st.tuples(st.just(1), st.sampled_from(sorted(UNARY)), st.integers(0, 100)),
    st.tuples(st.just(2), st.sampled_from(sorted(BINARY)), st.integers(0, 100),
              st.integers(0, 100)))


def _build(steps, inputs):
    pool = list(inputs)
    for s in steps:
        if s[0] == 1:
            pool.append(UNARY[s[1]](pool[s[2] % len(pool)]))
        else:
            pool.append(BINARY[s[1]](pool[s[2] % len(pool)], pool[s[3] % len(pool)]))
    return pool


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(step, min_size=1, max_size=9), n_out=st.integers(1, 3),
       seed=st.integers(0, 2 ** 16))
def test_random_elementwise_graphs_agree_with_py(steps, n_out, seed):
    rng = np.random.default_rng(seed)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    r = T.drow("r")
    w = symgraph.shared(rng.normal(size=(3, 4)), "w")
    pool = _build(steps, [x, y, r + x, w])
    outs = pool[-n_out:]
    update = w - 0.01 * pool[-1]
    vals = [rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(1, 4))]
    w0 = w.get_value()
    results = {}
    for mode in ("py", "FAST_COMPILE", "FAST_RUN"):
        w.set_value(w0)
        f = symgraph.function([x, y, r], outs, updates=[(w, update)], mode=mode,
                              on_unused_input="ignore")
        copies = [v.copy() for v in vals]
        got = f(*vals)
        for v, c in zip(vals, copies):
            np.testing.assert_array_equal(v, c, err_msg=f"{mode} changed an input")
        results[mode] = (got, w.get_value())
        # a second call sees the updated value and the same inputs
        f(*vals)
    want, want_w = results["py"]
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        got, got_w = results[mode]
        for g, e in zip(got, want):
            assert g.dtype == e.dtype and g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12, equal_nan=True,
                                       err_msg=f"{mode}: {steps}")
        np.testing.assert_allclose(got_w, want_w, rtol=1e-9, atol=1e-12,
                                   err_msg=f"{mode} update: {steps}")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=6), seed=st.integers(0, 2 ** 16))
def test_random_graphs_and_their_gradients(steps, seed):
    rng = np.random.default_rng(seed)
    x, y = T.dmatrix("x"), T.dmatrix("y")
    pool = _build(steps, [x, y])
    cost = T.sum(pool[-1] * pool[-1]) + T.sum(T.tanh(pool[-1]))
    g = symgraph.grad(cost, [x, y], disconnected_inputs="ignore")
    vals = [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))]
    want = symgraph.function([x, y], [cost] + g, mode="py")(*vals)
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        got = symgraph.function([x, y], [cost] + g, mode=mode)(*vals)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10, equal_nan=True,
                                       err_msg=f"{mode}: {steps}")
