"""Data-parallel MLP training step over MPI: step time and samples/s for 1 and 2 ranks, with
the allreduce time shown separately, and a probe of whether overlapping the allreduce with
computation could pay.

    python benchmarks/distributed_mlp.py                 # launches the runs with mpiexec
    python benchmarks/distributed_mlp.py --batch 256 --steps 20

Strong scaling: the global minibatch is fixed (``--batch``) and split over the ranks. Each
configuration runs in its own ``mpiexec`` job:

- 1 rank, 1 thread: the baseline a rank of the 2-rank job is compared with;
- 1 rank, ``--threads`` threads (default 2): one process using the whole machine through
  the BLAS and OpenMP threads, the fair alternative to 2 ranks on a 2-core machine (on a
  busy machine OpenBLAS's spinning threads can make this several times slower than 1);
- 2 ranks, 1 thread each;
- 2 ranks with MPICH's asynchronous progress thread (``MPICH_ASYNC_PROGRESS=1``), the only
  way MPICH advances a nonblocking allreduce while a rank computes.

Columns: ``step`` (ms, wall time of a training step on rank 0), ``compute`` (local
gradients), ``allreduce`` (the one Allreduce of the flat gradient buffer, including any wait
for a slower rank), ``update`` (applying SGD), samples/s over the global minibatch. The
overlap probe (2 ranks) times a blocking Allreduce of the gradient buffer after a barrier
(the pure communication cost), and an Iallreduce started before one gradient computation and
waited for after it: if MPI progressed the reduction during the computation, the wait would
be near zero.
Needs ``pip install "symgraph[mpi]"``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(sizes, seed=0):
    import symgraph
    import symgraph.tensor as T
    rng = np.random.default_rng(seed)
    params, h = [], None
    x, y = T.dmatrix("x"), T.lvector("y")
    h = x
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = symgraph.shared(rng.standard_normal((a, b)) * np.sqrt(2.0 / a), name=f"W{k}")
        c = symgraph.shared(np.zeros(b), name=f"b{k}")
        params += [W, c]
        h = T.dot(h, W) + c
        if k < len(sizes) - 2:
            h = T.nnet.relu(h)
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
    return cost, params, [x, y]


def worker(args):
    from symgraph import distributed as dist
    r, n = dist.rank(), dist.size()
    sizes = [int(s) for s in args.sizes.split("-")]
    cost, params, inputs = build(sizes)
    step = dist.data_parallel(cost, params, inputs, dist.sgd(0.01))
    rng = np.random.default_rng(1)
    X = rng.standard_normal((args.batch, sizes[0]))
    Y = rng.integers(0, sizes[-1], args.batch)
    xb, yb = dist.shard(X), dist.shard(Y)
    for _ in range(args.warmup):
        step(xb, yb)
    step.reset_times()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(xb, yb)
    wall = (time.perf_counter() - t0) / args.steps
    res = {"ranks": n, "threads": int(os.environ.get("OMP_NUM_THREADS", "0")),
           "batch": args.batch, "n_params": int(step._offsets[-1]), "step_ms": wall * 1e3,
           "samples_per_s": args.batch / wall}
    res.update({k + "_ms": v / args.steps * 1e3 for k, v in step.times.items()})
    if n > 1:
        res.update(overlap_probe(step, xb, yb, args.steps))
    if r == 0:
        print("RESULT " + json.dumps(res), flush=True)


def overlap_probe(step, xb, yb, reps):
    """Blocking Allreduce after a barrier vs an Iallreduce hidden behind one gradient
    computation."""
    from mpi4py import MPI
    comm = step.comm
    buf = np.ones_like(step._buf)
    pure = compute = waited = 0.0
    for _ in range(reps):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buf)
        pure += time.perf_counter() - t0
        comm.Barrier()
        t0 = time.perf_counter()
        req = comm.Iallreduce(MPI.IN_PLACE, buf)
        step.grad_fn(xb, yb)
        t1 = time.perf_counter()
        req.Wait()
        compute += t1 - t0
        waited += time.perf_counter() - t1
    return {"pure_allreduce_ms": pure / reps * 1e3, "probe_compute_ms": compute / reps * 1e3,
            "iallreduce_wait_ms": waited / reps * 1e3}


def mpiexec():
    here = os.path.dirname(sys.executable)
    found = shutil.which("mpiexec", path=here + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        sys.exit("mpiexec not found: pip install 'symgraph[mpi]'")
    return found


def launch(args, ranks, threads, compiledir, **extra_env):
    env = dict(os.environ, **extra_env, OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               SYMGRAPH_COMPILEDIR=compiledir,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, os.path.abspath(__file__), "--worker",
           "--batch", str(args.batch), "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--sizes", args.sizes]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]), env=" ".join(f"{k}={v}" for k, v in
                                                            extra_env.items()))
    sys.exit(f"run with {ranks} ranks failed:\n{proc.stdout}\n{proc.stderr}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=512, help="global minibatch (samples)")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--sizes", default="784-256-256-10", help="layer widths")
    p.add_argument("--threads", type=int, default=2, help="threads of the 1-rank full run")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    compiledir = os.environ.get("SYMGRAPH_COMPILEDIR") or tempfile.mkdtemp(prefix="sg-dist-")
    rows = [launch(args, 1, 1, compiledir), launch(args, 1, args.threads, compiledir),
            launch(args, 2, 1, compiledir),
            launch(args, 2, 1, compiledir, MPICH_ASYNC_PROGRESS="1")]
    base = rows[0]["step_ms"]
    print(f"MLP {args.sizes}, float64, {rows[0]['n_params']} parameters, global batch "
          f"{args.batch}, {args.steps} steps, {os.cpu_count()} cores")
    print(f"{'ranks':>5} {'threads':>7} {'step ms':>8} {'compute':>8} {'allreduce':>9} "
          f"{'update':>7} {'samples/s':>10} {'speedup':>7}  environment")
    for r in rows:
        print(f"{r['ranks']:>5} {r['threads']:>7} {r['step_ms']:>8.2f} {r['compute_ms']:>8.2f} "
              f"{r['allreduce_ms']:>9.3f} {r['update_ms']:>7.2f} {r['samples_per_s']:>10.0f} "
              f"{base / r['step_ms']:>7.2f}  {r['env']}")
    for two in rows[2:]:
        print(f"overlap probe (2 ranks{', ' + two['env'] if two['env'] else ''}): blocking "
              f"Allreduce of {two['n_params'] + 2} float64 after a barrier "
              f"{two['pure_allreduce_ms']:.3f} ms; an Iallreduce started before "
              f"{two['probe_compute_ms']:.2f} ms of gradient computation then waited "
              f"{two['iallreduce_wait_ms']:.3f} ms")


if __name__ == "__main__":
    main()
