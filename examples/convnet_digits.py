"""A small convnet on scikit-learn's 8x8 digits, trained with momentum SGD.

conv2d (16 filters of 3x3, 'half' border) -> relu -> 2x2 max pool -> dense 256->10 -> softmax,
the crossentropy with integer labels from ``T.nnet.categorical_crossentropy``, gradients
from ``symgraph.grad`` and the momentum step as ``updates`` on shared parameters.
The digits ship with scikit-learn (no download).

    pip install -e ".[examples]"
    python examples/convnet_digits.py              # 15 epochs, about 98% test accuracy
    python examples/convnet_digits.py --quick      # 4 epochs, a few seconds, >= 90%
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import symgraph
import symgraph.tensor as T


def load(seed, test_fraction=0.25):
    """Digits as (N, 1, 8, 8) images scaled to [0, 1], shuffled and split into train and test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(symgraph.config.floatX)[:, None, :, :]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(len(x) * test_fraction)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def shared_param(value, name):
    return symgraph.shared(np.asarray(value, dtype=symgraph.config.floatX), name=name)


def build(rng, n_filters=16, n_out=10, momentum=0.9):
    """Compile the momentum-SGD training step and the predictor of the convnet."""
    x = T.tensor4("x")
    y = T.lvector("y")
    lr = T.scalar("lr")

    fan_in = 1 * 3 * 3
    w_conv = shared_param(rng.normal(0, np.sqrt(2.0 / fan_in), size=(n_filters, 1, 3, 3)),
                          "W_conv")
    b_conv = shared_param(np.zeros(n_filters), "b_conv")
    n_flat = n_filters * 4 * 4
    bound = np.sqrt(6.0 / (n_flat + n_out))
    w_out = shared_param(rng.uniform(-bound, bound, size=(n_flat, n_out)), "W_out")
    b_out = shared_param(np.zeros(n_out), "b_out")
    params = [w_conv, b_conv, w_out, b_out]

    conv = T.nnet.conv2d(x, w_conv, filter_shape=(n_filters, 1, 3, 3), border_mode="half")
    hidden = T.nnet.relu(conv + b_conv.dimshuffle("x", 0, "x", "x"))      # (N, 16, 8, 8)
    pooled = T.signal.pool.pool_2d(hidden, ws=(2, 2), ignore_border=True)  # (N, 16, 4, 4)
    flat = T.reshape(pooled, (x.shape[0], n_flat))
    p_y = T.nnet.softmax(T.dot(flat, w_out) + b_out)
    loss = T.mean(T.nnet.categorical_crossentropy(p_y, y))
    prediction = T.argmax(p_y, axis=1)
    errors = T.mean(T.neq(prediction, y))

    grads = symgraph.grad(loss, params)
    updates = []
    for p, g in zip(params, grads):
        velocity = symgraph.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        new_velocity = momentum * velocity - lr * g
        updates += [(velocity, new_velocity), (p, p + new_velocity)]
    train = symgraph.function([x, y, lr], [loss, errors], updates=updates, name="train",
                              allow_input_downcast=True)
    predict = symgraph.function([x], prediction, name="predict")
    return train, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a short run (4 epochs)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    epochs = 4 if args.quick else args.epochs

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
            losses.append(float(loss) * len(idx))
            errs.append(float(err) * len(idx))
        test_acc = float(np.mean(predict(x_test) == y_test))
        print(f"epoch {epoch:3d}  loss {np.sum(losses) / len(x_train):.4f}  "
              f"train accuracy {1 - np.sum(errs) / len(x_train):.4f}  "
              f"test accuracy {test_acc:.4f}")
    accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"trained {epochs} epochs in {time.perf_counter() - t0:.2f} s")
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
