"""Training with `updates` built from grad: logistic regression (Theano's example, on a
separable synthetic set) and a 2-layer MLP on a learnable regression task."""
import numpy as np

import symgraph
import symgraph.tensor as T


def test_logistic_regression_separable():
    rng = np.random.default_rng(0)
    N, feats = 300, 8
    true_w = rng.normal(size=feats)
    X = rng.normal(size=(N, feats))
    margin = X @ true_w
    keep = np.abs(margin) > 0.3          # a clear margin: separable
    X, Y = X[keep], (margin[keep] > 0).astype("float64")

    x = T.dmatrix("x")
    y = T.dvector("y")
    w = symgraph.shared(rng.normal(size=feats) * 0.01, name="w")
    b = symgraph.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.001 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = symgraph.function([x, y], [prediction, xent.mean()],
                              updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)], mode="py")
    predict = symgraph.function([x], prediction, mode="py")
    first = train(X, Y)[1]
    for _ in range(300):
        _, loss = train(X, Y)
    acc = np.mean(predict(X) == Y)
    assert acc >= 0.95, acc
    assert loss < first / 3


def test_two_layer_mlp_loss_falls_tenfold():
    rng = np.random.default_rng(1)
    N, d_in, hidden = 256, 2, 32
    X = rng.uniform(-1, 1, size=(N, d_in))
    Y = (np.sin(2 * X[:, 0]) + X[:, 1] ** 2)[:, None]

    x = T.dmatrix("x")
    y = T.dmatrix("y")
    W1 = symgraph.shared(rng.normal(size=(d_in, hidden)) / np.sqrt(d_in), name="W1")
    b1 = symgraph.shared(np.zeros(hidden), name="b1")
    W2 = symgraph.shared(rng.normal(size=(hidden, 1)) / np.sqrt(hidden), name="W2")
    b2 = symgraph.shared(np.zeros(1), name="b2")
    h = T.tanh(T.dot(x, W1) + b1)
    out = T.dot(h, W2) + b2
    loss = T.mean((out - y) ** 2)
    params = [W1, b1, W2, b2]
    grads = T.grad(loss, params)
    # momentum SGD, the velocities are shared variables too
    vel = [symgraph.shared(np.zeros_like(p.get_value())) for p in params]
    updates = []
    for p, g, v in zip(params, grads, vel):
        new_v = 0.9 * v - 0.05 * g
        updates += [(v, new_v), (p, p + new_v)]
    train = symgraph.function([x, y], loss, updates=updates, mode="py")
    first = train(X, Y)
    for _ in range(600):
        last = train(X, Y)
    assert last < first / 10, (first, last)
