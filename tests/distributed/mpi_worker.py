"""One rank of the distributed tests (run under ``mpiexec -n N python mpi_worker.py ...``).

``train RULE OUTDIR``: trains the small MLP of `build_model` with `DataParallel` on this
rank's shards and writes ``OUTDIR/rank<r>.json`` (losses, final parameters, compile stats).
``fail OUTDIR``: like train, but rank 1 raises at its third step; the job must stop with
that error (rank 0 is then waiting in the allreduce).
``hang OUTDIR``: rank 1 sleeps at its third step; rank 0's step timeout aborts the job.
``compile_fail OUTDIR``: compiling fails on rank 0; every rank must stop with that error.

`build_model`, `DATA` and `batches` are also imported by the tests for the single-process
reference run on the full minibatches.
"""
import json
import os
import sys
import time

import numpy as np

import symgraph
import symgraph.tensor as T

N_SAMPLES, N_IN, N_HID, N_OUT = 37, 6, 5, 3
SIZES, EPOCHS, LR = (10, 14, 10, 3), 2, 0.2      # global minibatch sizes of an epoch


def data():
    rng = np.random.default_rng(1234)
    return rng.standard_normal((N_SAMPLES, N_IN)), rng.integers(0, N_OUT, N_SAMPLES)


def build_model(seed):
    """(cost, params, inputs) of a tanh MLP with softmax cross-entropy (mean over samples);
    the initial weights depend on `seed`."""
    rng = np.random.default_rng(seed)
    W1 = symgraph.shared(rng.standard_normal((N_IN, N_HID)) * 0.5, name="W1")
    b1 = symgraph.shared(rng.standard_normal(N_HID) * 0.1, name="b1")
    W2 = symgraph.shared(rng.standard_normal((N_HID, N_OUT)) * 0.5, name="W2")
    b2 = symgraph.shared(np.zeros(N_OUT), name="b2")
    x, y = T.dmatrix("x"), T.lvector("y")
    p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, W1) + b1), W2) + b2)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    return cost, [W1, b1, W2, b2], [x, y]


def batch_orders():
    """The sample indices of every global minibatch. Their sizes split unevenly over 2 and 4
    ranks (14 over 4 gives 4, 4, 3, 3), and 3 over 4 ranks leaves one rank an empty shard."""
    out = []
    for epoch in range(EPOCHS):
        order = np.random.default_rng(epoch).permutation(N_SAMPLES)
        bounds = np.cumsum((0,) + SIZES)
        out += [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return out


def rule(name):
    from symgraph import distributed as dist
    if name == "momentum":
        return dist.momentum(LR, mu=0.5)
    return lambda p, g: p - LR * g


def main(argv):
    from symgraph import distributed as dist
    from symgraph.codegen import cache

    what, out_dir = argv[0], argv[-1]
    r, n = dist.rank(), dist.size()
    cost, params, inputs = build_model(seed=100 + r)     # differs per rank until broadcast
    if what == "compile_fail" and r == 0:
        def broken_function(*args, **kwargs):
            raise RuntimeError("the compiler exploded on rank 0")
        dist.function = broken_function
    step = dist.data_parallel(cost, params, inputs, rule(argv[1] if what == "train" else "sgd"),
                              timeout=2.0 if what == "hang" else None)
    compile_stats = dict(cache.stats)
    synced_at_start = dist.in_sync(params)
    X, Y = data()
    losses, in_sync = [], []
    for k, order in enumerate(batch_orders()):
        if what == "fail" and r == 1 and k == 2:
            raise ValueError(f"rank {r} exploded at step {k}")
        if what == "hang" and r == 1 and k == 2:
            time.sleep(600)                 # stuck, without raising
        xb, yb = dist.shard(X[order]), dist.shard(Y[order])
        losses.append(step(xb, yb))
        in_sync.append(dist.in_sync(params))
    # the iterator must give the same shards as slicing the global batches by hand
    it = list(dist.local_batches(X, Y, batch_size=10, seed=0))
    order = np.random.default_rng(0).permutation(N_SAMPLES)
    same_shards = len(it) == 4 and all(
        np.array_equal(a, dist.shard(X[order[10 * k:10 * k + 10]]))
        and np.array_equal(b, dist.shard(Y[order[10 * k:10 * k + 10]]))
        for k, (a, b) in enumerate(it))
    others = [symgraph.shared(np.full((2, 3), r, dtype="int32"), name="i"),
              symgraph.shared(np.arange(4, dtype="float32") * (r + 1), name="f"),
              symgraph.shared(np.full(r + 1, 7.0), name="v")]   # a shape of its own per rank
    dist.broadcast_parameters(others)
    result = {"broadcast": {p.name: [p.get_value().tolist(), p.get_value().dtype.name]
                            for p in others},
              "rank": r, "size": n, "pid": os.getpid(), "losses": losses,
              "synced_at_start": synced_at_start, "in_sync": in_sync,
              "same_shards": same_shards,
              "params": {p.name: p.get_value().tolist() for p in params},
              "compile_stats": compile_stats, "times": step.times}
    with open(os.path.join(out_dir, f"rank{r}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
