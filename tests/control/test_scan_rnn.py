"""An Elman RNN and an LSTM written with scan: they learn to sum a short sequence (the loss
falls at least 5x), and their gradients equal those of the same model unrolled in Python
(no scan) to 1e-8 in float64."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad

N_IN, N_HID, STEPS, BATCH = 1, 8, 5, 64


def _data(rng, n=BATCH):
    x = rng.uniform(-1, 1, (STEPS, n, N_IN))
    return x, x.sum(axis=(0, 2))


def _shared(rng, shape, scale, name):
    return symgraph.shared(rng.normal(0, scale, shape), name=name)


def elman_params(rng):
    return dict(W=_shared(rng, (N_IN, N_HID), 0.5, "W"), U=_shared(rng, (N_HID, N_HID), 0.3, "U"),
                b=_shared(rng, (N_HID,), 0.0, "b"), V=_shared(rng, (N_HID,), 0.3, "V"),
                c=symgraph.shared(np.float64(0.0), name="c"))


def elman_step(x_t, h, W, U, b):
    return T.tanh(T.dot(x_t, W) + T.dot(h, U) + b)


def elman(x, p, unrolled=False):
    h0 = T.zeros((x.shape[1], N_HID), dtype="float64")
    if unrolled:
        h = h0
        for t in range(STEPS):
            h = elman_step(x[t], h, p["W"], p["U"], p["b"])
        return T.dot(h, p["V"]) + p["c"]
    hs, _ = symgraph.scan(elman_step, sequences=x, outputs_info=h0,
                          non_sequences=[p["W"], p["U"], p["b"]])
    return T.dot(hs[-1], p["V"]) + p["c"]


def lstm_params(rng):
    return dict(W=_shared(rng, (N_IN, 4 * N_HID), 0.5, "W"),
                U=_shared(rng, (N_HID, 4 * N_HID), 0.3, "U"),
                b=symgraph.shared(np.r_[np.zeros(N_HID), np.ones(N_HID), np.zeros(2 * N_HID)],
                                  name="b"),
                V=_shared(rng, (N_HID,), 0.3, "V"), c=symgraph.shared(np.float64(0.0), name="c"))


def lstm_step(x_t, h, c, W, U, b):
    z = T.dot(x_t, W) + T.dot(h, U) + b
    i = T.sigmoid(z[:, :N_HID])
    f = T.sigmoid(z[:, N_HID:2 * N_HID])
    o = T.sigmoid(z[:, 2 * N_HID:3 * N_HID])
    g = T.tanh(z[:, 3 * N_HID:])
    c_new = f * c + i * g
    return [o * T.tanh(c_new), c_new]


def lstm(x, p, unrolled=False):
    h0 = T.zeros((x.shape[1], N_HID), dtype="float64")
    if unrolled:
        h, c = h0, h0
        for t in range(STEPS):
            h, c = lstm_step(x[t], h, c, p["W"], p["U"], p["b"])
        return T.dot(h, p["V"]) + p["c"]
    (hs, cs), _ = symgraph.scan(lstm_step, sequences=x, outputs_info=[h0, h0],
                                non_sequences=[p["W"], p["U"], p["b"]])
    return T.dot(hs[-1], p["V"]) + p["c"]


def adam(params, grads, lr=0.03, b1=0.9, b2=0.999):
    updates = []
    t = symgraph.shared(np.float64(0.0), name="t")
    t1 = t + 1
    updates.append((t, t1))
    for p, g in zip(params, grads):
        m = symgraph.shared(np.zeros_like(p.get_value()))
        v = symgraph.shared(np.zeros_like(p.get_value()))
        m1 = b1 * m + (1 - b1) * g
        v1 = b2 * v + (1 - b2) * g ** 2
        step = lr * (m1 / (1 - b1 ** t1)) / (T.sqrt(v1 / (1 - b2 ** t1)) + 1e-8)
        updates += [(m, m1), (v, v1), (p, p - step)]
    return updates


@pytest.mark.parametrize("model,make", [(elman, elman_params), (lstm, lstm_params)],
                         ids=["elman", "lstm"])
def test_learns_to_sum(model, make):
    rng = np.random.default_rng(5)
    p = make(rng)
    x, y = T.dtensor3('x'), T.dvector('y')
    loss = ((model(x, p) - y) ** 2).mean()
    params = list(p.values())
    train = symgraph.function([x, y], loss, updates=adam(params, grad(loss, params)),
                              mode="FAST_COMPILE")
    evaluate = symgraph.function([x, y], loss, mode="FAST_COMPILE")
    test_x, test_y = _data(np.random.default_rng(99), 256)
    before = evaluate(test_x, test_y)
    for _ in range(150):
        train(*_data(rng))
    after = evaluate(test_x, test_y)
    assert after * 5 <= before, (before, after)


@pytest.mark.parametrize("model,make", [(elman, elman_params), (lstm, lstm_params)],
                         ids=["elman", "lstm"])
def test_gradients_equal_the_unrolled_graph(model, make):
    rng = np.random.default_rng(11)
    p = make(rng)
    params = list(p.values())
    x, y = T.dtensor3('x'), T.dvector('y')
    gs_scan = grad(((model(x, p) - y) ** 2).mean(), params)
    gs_unrolled = grad(((model(x, p, unrolled=True) - y) ** 2).mean(), params)
    f = symgraph.function([x, y], gs_scan + gs_unrolled, mode="py")
    xv, yv = _data(rng, 7)
    got = f(xv, yv)
    n = len(params)
    for a, b in zip(got[:n], got[n:]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
        assert np.abs(b).max() > 1e-4   # a real gradient, not zeros on both sides
    # and the gradient with respect to the input sequence
    gx_scan = grad(((model(x, p) - y) ** 2).mean(), x)
    gx_unrolled = grad(((model(x, p, unrolled=True) - y) ** 2).mean(), x)
    gxs = symgraph.function([x, y], [gx_scan, gx_unrolled], mode="py")(xv, yv)
    np.testing.assert_allclose(gxs[0], gxs[1], rtol=0, atol=1e-8)
