"""A 64-64-10 multilayer perceptron on scikit-learn's 8x8 digits, trained with SGD.

Everything is built from basic ops: a tanh hidden layer, a numerically stable log-softmax
(subtract the row maximum before exponentiating), the crossentropy of the true class picked
by integer indexing, gradients from ``symgraph.grad`` and the SGD step as ``updates``.

    pip install -e ".[examples]"
    python examples/mlp_digits.py              # 40 epochs, about 97% test accuracy
    python examples/mlp_digits.py --quick      # 8 epochs, a few seconds
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import symgraph
import symgraph.tensor as T


def load(seed, test_fraction=0.25):
    """Digits scaled to [0, 1], shuffled and split into train and test sets."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(symgraph.config.floatX)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(len(x) * test_fraction)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def log_softmax(z):
    """log(softmax(z)) over the last axis, stable for large |z|."""
    shifted = z - T.max(z, axis=1, keepdims=True)
    return shifted - T.log(T.sum(T.exp(shifted), axis=1, keepdims=True))


def init_layer(rng, n_in, n_out, name):
    """Glorot-uniform weights and zero biases as shared variables."""
    bound = np.sqrt(6.0 / (n_in + n_out))
    dtype = symgraph.config.floatX
    w = rng.uniform(-bound, bound, size=(n_in, n_out)).astype(dtype)
    return (symgraph.shared(w, name=f"W_{name}"),
            symgraph.shared(np.zeros(n_out, dtype=dtype), name=f"b_{name}"))


def build(rng, n_in=64, n_hidden=64, n_out=10, l2=1e-4):
    """Compile the SGD step and the predictor of the MLP."""
    x = T.matrix("x")
    y = T.lvector("y")
    lr = T.scalar("lr")
    w1, b1 = init_layer(rng, n_in, n_hidden, "hidden")
    w2, b2 = init_layer(rng, n_hidden, n_out, "out")
    params = [w1, b1, w2, b2]

    hidden = T.tanh(T.dot(x, w1) + b1)
    log_p = log_softmax(T.dot(hidden, w2) + b2)
    nll = -T.mean(log_p[T.arange(y.shape[0]), y])  # crossentropy with the true class
    cost = nll + l2 * (T.sum(w1 ** 2) + T.sum(w2 ** 2))
    prediction = T.argmax(log_p, axis=1)
    errors = T.mean(T.neq(prediction, y))

    grads = symgraph.grad(cost, params)
    updates = [(p, p - lr * g) for p, g in zip(params, grads)]
    train = symgraph.function([x, y, lr], [nll, errors], updates=updates, name="train",
                              allow_input_downcast=True)
    predict = symgraph.function([x], prediction, name="predict")
    return train, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="a short run (8 epochs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = 8 if args.quick else args.epochs

    rng = np.random.default_rng(args.seed)
    x_train, y_train, x_test, y_test = load(args.seed)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")

    t0 = time.perf_counter()
    train, predict = build(rng)
    print(f"compiled in {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    n_batches = int(np.ceil(len(x_train) / args.batch_size))
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        losses, errs = [], []
        for k in range(n_batches):
            idx = order[k * args.batch_size:(k + 1) * args.batch_size]
            loss, err = train(x_train[idx], y_train[idx], args.lr)
            losses.append(float(loss))
            errs.append(float(err))
        test_acc = float(np.mean(predict(x_test) == y_test))
        print(f"epoch {epoch:3d}  loss {np.mean(losses):.4f}  "
              f"train accuracy {1 - np.mean(errs):.4f}  test accuracy {test_acc:.4f}")
    accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"trained {epochs} epochs in {time.perf_counter() - t0:.2f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
