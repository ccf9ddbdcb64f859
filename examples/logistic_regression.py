"""Logistic regression on synthetic data, trained with gradient descent.

Theano's classic first model, written for symgraph: shared weights, a cost built from basic
ops, gradients from ``symgraph.grad`` and the training step as in-graph ``updates``.

    python examples/logistic_regression.py            # 400 steps
    python examples/logistic_regression.py --quick    # a few seconds
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import symgraph
import symgraph.tensor as T


def make_data(rng, n, n_features, noise=0.5):
    """Points with a linear class boundary, labels drawn from the logistic model."""
    true_w = rng.standard_normal(n_features)
    x = rng.standard_normal((n, n_features))
    logits = x @ true_w / np.sqrt(n_features) * 4 + noise * rng.standard_normal(n)
    y = (logits > 0).astype(np.float64)
    return x, y


def build(n_features, learning_rate, l2):
    """Compile the training step and the predictor."""
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = symgraph.shared(np.zeros(n_features), name="w")
    b = symgraph.shared(0.0, name="b")

    z = T.dot(x, w) + b
    p_1 = T.sigmoid(z)  # probability that the label is 1
    prediction = p_1 > 0.5
    # -y log p - (1 - y) log(1 - p), written with softplus so it never takes log(0)
    xent = y * T.softplus(-z) + (1 - y) * T.softplus(z)
    cost = xent.mean() + l2 * (w ** 2).sum()
    gw, gb = symgraph.grad(cost, [w, b])

    train = symgraph.function([x, y], [cost, T.mean(T.eq(prediction, y))],
                              updates=[(w, w - learning_rate * gw),
                                       (b, b - learning_rate * gb)],
                              name="train")
    predict = symgraph.function([x], prediction, name="predict")
    return train, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="gradient steps")
    parser.add_argument("--quick", action="store_true", help="a short run (50 steps)")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    steps = 50 if args.quick else args.steps

    rng = np.random.default_rng(args.seed)
    x, y = make_data(rng, args.samples, args.features)
    n_train = int(0.8 * len(x))
    x_train, y_train, x_test, y_test = x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    t0 = time.perf_counter()
    train, predict = build(args.features, args.lr, args.l2)
    print(f"compiled in {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    report = max(1, steps // 10)
    for step in range(1, steps + 1):
        cost, acc = train(x_train, y_train)
        if step % report == 0 or step == 1:
            print(f"step {step:4d}  cost {float(cost):.4f}  train accuracy {float(acc):.3f}")
    accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"trained {steps} steps in {time.perf_counter() - t0:.2f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
