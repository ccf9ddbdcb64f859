"""Scan loops run in C (symgraph/codegen/plan.py, Scan._run_native) against the Python loop
over the same compiled step and against mode='py': an RNN with its BPTT, an LSTM-like
step with two states, taps, several sequences, outputs not fed back, states only kept at
their end (ping-pong buffers, odd and even lengths), swapped states, until, T=0 and T=1,
float32 and float64; a step with an op that has no C kernel keeps the Python loop, and a
loop whose kernels report an error reruns in Python."""
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad
from symgraph.scan_module import until

import symgraph.codegen.plan as plan_mod

scan_op = sys.modules["symgraph.scan.op"]


@pytest.fixture
def native_calls(monkeypatch):
    """The number of C loops run (counted around plan.loop)."""
    count = [0]
    real = plan_mod.loop

    def counting(*a, **k):
        count[0] += 1
        return real(*a, **k)
    monkeypatch.setattr(plan_mod, "loop", counting)
    return count


def _three_ways(inputs, outputs, args, rtol=1e-10):
    """Values of `outputs` by the C loop; checks them against the Python loop over the same
    compiled step (equal) and against mode='py' (close)."""
    f = symgraph.function(inputs, outputs)
    got = f(*args)
    scan_op.NATIVE = False
    try:
        loop = f(*args)
    finally:
        scan_op.NATIVE = True
    ref = symgraph.function(inputs, outputs, mode="py")(*args)
    for g, lo, r in zip(got, loop, ref):
        np.testing.assert_array_equal(g, lo)
        assert np.asarray(g).dtype == np.asarray(r).dtype
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol)
    return got


def _rnn(dtype):
    X = T.tensor3("X", dtype=dtype)
    W, U, h0 = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype), \
        T.matrix("h0", dtype=dtype)
    b = T.vector("b", dtype=dtype)
    hs, _ = symgraph.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                          sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    return [X, W, U, b, h0], hs


def _rnn_args(rng, steps, dtype):
    return [rng.standard_normal(s).astype(dtype) * k for s, k in
            (((steps, 3, 4), 1), ((4, 5), 1), ((5, 5), 0.5), ((5,), 1), ((3, 5), 1))]


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 2e-4)])
@pytest.mark.parametrize("steps", [1, 2, 9])
def test_rnn_forward_and_bptt(native_calls, dtype, rtol, steps):
    ins, hs = _rnn(dtype)
    cost = 0.5 * (hs * hs).sum()
    args = _rnn_args(np.random.default_rng(steps), steps, dtype)
    _three_ways(ins, [hs, cost] + grad(cost, ins), args, rtol)
    assert native_calls[0] >= 2          # the forward loop and the backward one


def test_zero_steps_keep_the_python_loop(native_calls):
    ins, hs = _rnn("float64")
    cost = 0.5 * (hs * hs).sum()
    args = _rnn_args(np.random.default_rng(0), 0, "float64")
    got = _three_ways(ins, [hs, cost] + grad(cost, ins), args)
    assert got[0].shape == (0, 3, 5)
    assert native_calls[0] == 0


def test_lstm_like_two_states(native_calls):
    rng = np.random.default_rng(1)
    X, h0, c0 = T.dtensor3("X"), T.dmatrix("h0"), T.dmatrix("c0")
    Wx, Wh = T.dmatrix("Wx"), T.dmatrix("Wh")
    n = 4

    def step(x, h, c, Wx, Wh):
        z = T.dot(x, Wx) + T.dot(h, Wh)
        i, f = T.sigmoid(z[:, :n]), T.sigmoid(z[:, n:2 * n])
        o, g = T.sigmoid(z[:, 2 * n:3 * n]), T.tanh(z[:, 3 * n:])
        c2 = f * c + i * g
        return o * T.tanh(c2), c2
    (hs, cs), _ = symgraph.scan(step, sequences=X, outputs_info=[h0, c0],
                                non_sequences=[Wx, Wh])
    cost = (hs ** 2).sum() + cs[-1].sum()
    ins = [X, h0, c0, Wx, Wh]
    args = [rng.standard_normal((6, 2, 3)), rng.standard_normal((2, n)),
            rng.standard_normal((2, n)), rng.standard_normal((3, 4 * n)) * 0.5,
            rng.standard_normal((n, 4 * n)) * 0.5]
    _three_ways(ins, [hs, cs, cost] + grad(cost, ins), args)
    # both loops: the forward Gemm copies the sequence row first, the backward step builds
    # the gates' gradient with IncSubtensor (a copy and an increment of a view)
    assert native_calls[0] >= 2


def test_taps_and_several_sequences(native_calls):
    rng = np.random.default_rng(2)
    a, b, x0, w = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("x0"), T.dvector("w")

    def step(a_m1, a_0, a_p1, b_t, x_m2, x_m1, w):
        return T.tanh(x_m2 * w + x_m1 * 0.5 + a_m1 - a_0 * a_p1 + b_t)
    xs, _ = symgraph.scan(step, sequences=[dict(input=a, taps=[-1, 0, 1]), b],
                          outputs_info=dict(initial=x0, taps=[-2, -1]), non_sequences=w)
    cost = (xs * xs).sum()
    ins = [a, b, x0, w]
    args = [rng.standard_normal((9, 3)), rng.standard_normal((8, 3)),
            rng.standard_normal((2, 3)), rng.standard_normal(3)]
    _three_ways(ins, [xs, cost] + grad(cost, ins), args)
    # the forward loop (the window of the last two values is a Join: copies); the backward
    # step splits and increments windows in Python, so it keeps the Python loop
    assert native_calls[0] >= 1


def test_outputs_not_fed_back(native_calls):
    rng = np.random.default_rng(3)
    X, W = T.dtensor3("X"), T.dmatrix("W")
    ys, _ = symgraph.scan(lambda x, W: T.exp(T.dot(x, W)).sum(axis=1), sequences=X,
                          non_sequences=W)
    _three_ways([X, W], [ys], [rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 4))])
    assert native_calls[0] == 1


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_scalar_steps_over_a_vector(native_calls, dtype):
    # a vector's rows are numpy scalars, not arrays: the step is still planned (0-d
    # views), and its gradient's loop too
    x, h0, a = T.vector("x", dtype=dtype), T.scalar("h0", dtype=dtype), \
        T.scalar("a", dtype=dtype)
    hs, _ = symgraph.scan(lambda xt, h, a: h * a + xt, sequences=x, outputs_info=h0,
                          non_sequences=a)
    v = (np.arange(1, 8) % 4).astype(dtype)
    got = _three_ways([x, h0, a], [hs, hs[-1]], [v, dtype_one(dtype), dtype_one(dtype) * 2],
                      rtol=1e-6 if dtype == "float32" else 1e-12)
    want, h = [], 1
    for t in v:
        h = h * 2 + t
        want.append(h)
    np.testing.assert_array_equal(got[0], np.array(want, dtype))
    assert native_calls[0] == 1
    if dtype == "int64":
        return
    g = grad(hs.sum(), [x, h0, a])
    _three_ways([x, h0, a], g, [v, dtype_one(dtype), np.asarray(0.5, dtype)],
                rtol=1e-5 if dtype == "float32" else 1e-12)
    assert native_calls[0] >= 3


def dtype_one(dtype):
    return np.asarray(1, dtype)


@pytest.mark.parametrize("steps", [1, 4, 5])
def test_states_kept_at_their_end_and_swapped(native_calls, steps):
    # only the last values are read: the loop keeps them in ping-pong buffers; the first
    # state is the other's previous value, so one shared buffer would give wrong results
    rng = np.random.default_rng(steps)
    x, p0, q0 = T.dmatrix("x"), T.dvector("p0"), T.dvector("q0")
    (ps, qs), _ = symgraph.scan(lambda x_t, p, q: [q, T.cos(p) + x_t], sequences=x,
                                outputs_info=[p0, q0])
    outs = [ps[-1], qs[-1]]
    _three_ways([x, p0, q0], outs + grad(outs[0].sum() + outs[1].sum(), [x, p0, q0]),
                [rng.standard_normal((steps, 3)), rng.standard_normal(3),
                 rng.standard_normal(3)])
    assert native_calls[0] >= 1


def test_until(native_calls):
    v0, bound = T.dvector("v0"), T.dscalar("bound")
    vals, _ = symgraph.scan(lambda prev, bound: (prev * 2, until((prev * 2).sum() > bound)),
                            outputs_info=v0, non_sequences=bound, n_steps=50)
    got = _three_ways([v0, bound], [vals], [np.array([1.0, 0.5]), np.array(100.0)])
    assert len(got[0]) == 7
    assert native_calls[0] == 1


def test_step_with_a_python_op_keeps_the_python_loop(native_calls):
    rng = np.random.default_rng(4)
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = symgraph.scan(lambda x_t, h: T.erfinv(T.tanh(h * x_t) * 0.5), sequences=x,
                          outputs_info=h0)
    _three_ways([x, h0], [hs], [rng.standard_normal((5, 3)), rng.standard_normal(3)])
    assert native_calls[0] == 0


def test_a_kernel_error_reruns_in_python(monkeypatch):
    # the loop reports a kernel error: the scan reruns in Python (same results here)
    monkeypatch.setattr(plan_mod, "loop", lambda *a, **k: (0, True))
    ins, hs = _rnn("float64")
    args = _rnn_args(np.random.default_rng(5), 4, "float64")
    _three_ways(ins, [hs], args)


def test_strided_sequences_and_parameters(native_calls):
    # a sequence read through a transpose and a reversed one: rows with other strides
    rng = np.random.default_rng(6)
    X, W, h0 = T.dtensor3("X"), T.dmatrix("W"), T.dmatrix("h0")
    hs, _ = symgraph.scan(lambda x, y, h, W: T.tanh(T.dot(x, W) + y + h),
                          sequences=[X.dimshuffle(0, 2, 1), X[::-1].dimshuffle(0, 2, 1)],
                          outputs_info=h0, non_sequences=W.T)
    args = [rng.standard_normal((5, 3, 2)), rng.standard_normal((3, 3)),
            rng.standard_normal((2, 3))]
    _three_ways([X, W, h0], [hs], args)
    assert native_calls[0] == 1


def test_hoisted_products_are_2d_gemms_over_the_stacks(native_calls):
    # dot(x_t, W) of every step and the backward loop's sums of x_t.T da_t, h_t.T da_t
    # become 2-d products of the stacked rows (no tensordot), with equal results
    ins, hs = _rnn("float64")
    cost = 0.5 * (hs * hs).sum()
    outs = [cost] + grad(cost, ins)
    f = symgraph.function(ins, outs)
    names = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
    assert "TensorDot" not in names and "Dot" in names
    # h_{t-1}.T da_t: h0.T da_0 and the history's rows, not their concatenation
    assert "Join" not in names
    for steps in (0, 1, 6):
        _three_ways(ins, outs, _rnn_args(np.random.default_rng(7), steps, "float64"))


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 7])
def test_truncated_gradient_over_the_history_rows(steps):
    # the backward loop runs min(k, T) steps: the rows of h0 and of the history it sums
    ins, hs = _rnn("float64")
    X, W, U, b, h0 = ins
    hs, _ = symgraph.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                          sequences=X, outputs_info=h0, non_sequences=[W, U, b],
                          truncate_gradient=2)
    cost = 0.5 * (hs * hs).sum()
    _three_ways(ins, grad(cost, ins), _rnn_args(np.random.default_rng(steps), steps,
                                                "float64"))


def test_hoisted_product_of_4d_slices():
    rng = np.random.default_rng(8)
    X, W, s0 = T.tensor4("X"), T.dmatrix("W"), T.dtensor3("s0")
    ss, _ = symgraph.scan(lambda x, s, W: T.tanh(T.dot(x, W)) + s, sequences=X,
                          outputs_info=s0, non_sequences=W)
    cost = (ss ** 2).sum()
    _three_ways([X, W, s0], [ss] + grad(cost, [X, W, s0]),
                [rng.standard_normal((4, 2, 3, 5)), rng.standard_normal((5, 6)),
                 rng.standard_normal((2, 3, 6))])


def test_a_failing_step_raises_as_in_the_python_loop(native_calls):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = symgraph.scan(lambda x_t, h: T.tanh(h + x_t), sequences=x, outputs_info=h0)
    f = symgraph.function([x, h0], hs)
    args = (np.ones((3, 2)), np.ones(4))        # rows of 2 against a state of 4
    with pytest.raises(ValueError) as native:
        f(*args)
    scan_op.NATIVE = False
    try:
        with pytest.raises(ValueError) as python:
            f(*args)
    finally:
        scan_op.NATIVE = True
    assert str(native.value) == str(python.value) and "step 0" in str(native.value)
    assert native_calls[0] == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_increments_of_views_in_the_step(native_calls, dtype):
    # set_subtensor / inc_subtensor with constant indices (strided, reversed, broadcast
    # increments), into a copy of a carry or of an intermediate
    rng = np.random.default_rng(9)
    x = T.tensor3("x", dtype=dtype)
    h0 = T.matrix("h0", dtype=dtype)

    def step(x_t, h):
        a = T.set_subtensor(h[:, 1:3], x_t[:, ::-1][:, :2])
        b = T.inc_subtensor(T.tanh(a)[::2, ::-1], x_t[0, 0])
        c = T.inc_subtensor(b[1], T.exp(h[0]))
        return c * 0.5
    hs, _ = symgraph.scan(step, sequences=x, outputs_info=h0)
    cost = (hs ** 2).sum()
    _three_ways([x, h0], [hs] + grad(cost, [x, h0]),
                [rng.standard_normal((5, 4, 3)).astype(dtype),
                 rng.standard_normal((4, 4)).astype(dtype)],
                rtol=2e-5 if dtype == "float32" else 1e-10)
    assert native_calls[0] >= 1
