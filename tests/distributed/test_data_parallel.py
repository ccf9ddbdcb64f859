"""symgraph.distributed: sharding helpers and update rules in one process; data-parallel
training under ``mpiexec`` with 2 and 4 ranks (compared with the single-process run on the
full minibatches), a failing rank stopping the job, one compile per rank."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import distributed as dist

ROOT = Path(__file__).parents[2]
WORKER = Path(__file__).parent / "mpi_worker.py"

_spec = importlib.util.spec_from_file_location("symgraph_mpi_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    here = os.path.dirname(sys.executable)
    return shutil.which("mpiexec", path=here + os.pathsep + os.environ.get("PATH", ""))


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="needs mpi4py and an mpiexec (pip install 'symgraph[mpi]')")


# -- one process ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 3, 10, 37])
@pytest.mark.parametrize("size", [1, 2, 4, 5])
def test_shards_partition_like_array_split(n, size):
    a = np.arange(n * 2).reshape(n, 2)
    got = [dist.shard(a, r, size) for r in range(size)]
    want = np.array_split(a, size)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w, strict=True)
    np.testing.assert_array_equal(np.concatenate(got), a)
    cols = [dist.shard(a, r, size, axis=1) for r in range(size)]
    np.testing.assert_array_equal(np.concatenate(cols, axis=1), a)


def test_shard_rejects_a_rank_out_of_range():
    with pytest.raises(ValueError, match="rank 4"):
        dist.shard(np.arange(5), 4, 4)


def test_local_batches_concatenate_to_the_global_minibatches():
    X, Y = np.arange(23 * 2).reshape(23, 2), np.arange(23)
    per_rank = [list(dist.local_batches(X, Y, batch_size=8, seed=3, rank_=r, size_=3))
                for r in range(3)]
    order = np.random.default_rng(3).permutation(23)
    assert [len(p) for p in per_rank] == [3, 3, 3]
    for k, start in enumerate(range(0, 23, 8)):
        xs = np.concatenate([per_rank[r][k][0] for r in range(3)])
        ys = np.concatenate([per_rank[r][k][1] for r in range(3)])
        np.testing.assert_array_equal(xs, X[order[start:start + 8]])
        np.testing.assert_array_equal(ys, Y[order[start:start + 8]])
    dropped = list(dist.local_batches(X, batch_size=8, shuffle=False, drop_last=True,
                                      rank_=0, size_=1))
    assert len(dropped) == 2 and np.array_equal(dropped[1], X[8:16])
    with pytest.raises(ValueError, match="different lengths"):
        next(dist.local_batches(X, Y[:5], batch_size=4))


def _reference(rule_name, steps=None, mode="py"):
    """Losses and final parameters of the single-process run on the full minibatches (plain
    symgraph.function, no symgraph.distributed), starting from rank 0's weights."""
    cost, params, (x, y) = worker.build_model(seed=100)
    grads = symgraph.grad(cost, params)
    lr = worker.LR
    if rule_name == "momentum":
        vel = [symgraph.shared(np.zeros_like(p.get_value())) for p in params]
        ups = [(v, 0.5 * v - lr * g) for v, g in zip(vel, grads)]
        ups += [(p, p + 0.5 * v - lr * g) for p, v, g in zip(params, vel, grads)]
    else:
        ups = [(p, p - lr * g) for p, g in zip(params, grads)]
    train = symgraph.function([x, y], cost, updates=ups, mode=mode)
    X, Y = worker.data()
    losses = [float(train(X[o], Y[o])) for o in worker.batch_orders()[:steps]]
    return losses, {p.name: p.get_value() for p in params}


@pytest.mark.parametrize("rule_name", ["sgd", "momentum"])
def test_one_process_equals_the_plain_training_loop(rule_name):
    want_losses, want_params = _reference(rule_name)
    cost, params, inputs = worker.build_model(seed=100)
    step = dist.data_parallel(cost, params, inputs, worker.rule(rule_name), mode="py")
    X, Y = worker.data()
    losses = [step(X[o], Y[o]) for o in worker.batch_orders()]
    np.testing.assert_allclose(losses, want_losses, rtol=1e-13)
    for p in params:
        np.testing.assert_allclose(p.get_value(), want_params[p.name], rtol=1e-13, atol=1e-15)
    assert step.steps == len(losses) and set(step.times) == {"compute", "allreduce", "update"}
    assert dist.rank() == 0 and dist.size() == 1 and dist.in_sync(params)


def test_sum_reduction_and_float32_parameters():
    with symgraph.change_flags(floatX="float32"):
        w = symgraph.shared(np.array([1.0, -2.0], dtype="float32"), name="w")
        x = T.fmatrix("x")
        cost = T.sum(T.dot(x, w) ** 2)
        step = dist.DataParallel(cost, [w], [x], dist.sgd(0.01), reduction="sum", mode="py")
    xv = np.array([[1, 2], [3, 4], [0.5, 1]], dtype="float32")
    loss = step(xv)
    np.testing.assert_allclose(loss, np.sum((xv @ [1.0, -2.0]) ** 2), rtol=1e-6)
    g = 2 * xv.T @ (xv @ np.array([1.0, -2.0]))
    np.testing.assert_allclose(w.get_value(), [1.0, -2.0] - 0.01 * g, rtol=1e-5)
    assert w.get_value().dtype == np.float32 and step.dtype == np.float32


def test_without_mpi4py_one_process_is_rank_0_of_1_but_a_launched_job_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    for var in dist._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    assert (dist.rank(), dist.size()) == (0, 1)
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(dist.DistributedError, match="one of 4 .PMI_SIZE. but mpi4py"):
        dist.size()


def test_bad_arguments_are_refused():
    x = T.dvector("x")
    w = symgraph.shared(np.ones(3), name="w")
    with pytest.raises(TypeError, match="shared variables"):
        dist.DataParallel(T.sum(x), [x], [x], dist.sgd(0.1))
    with pytest.raises(ValueError, match="scalar"):
        dist.DataParallel(x * w, [w], [x], dist.sgd(0.1))
    with pytest.raises(ValueError, match="reduction"):
        dist.DataParallel(T.sum(x * w), [w], [x], dist.sgd(0.1), reduction="max")
    step = dist.DataParallel(T.sum(x * w), [w], [x], dist.sgd(0.1), mode="py")
    with pytest.raises(dist.DistributedError, match="empty"):
        step(np.zeros(0))


# -- under mpiexec ----------------------------------------------------------------------------

def _launch(tmp_path, n, args, timeout=60):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "compiledir"),
               SYMGRAPH_BUILD_LOG=str(tmp_path / "builds.log"),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("SYMGRAPH_FLAGS", None)
    proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(WORKER), *args, str(out)],
                          env=env, capture_output=True, text=True, timeout=timeout)
    results = [json.loads((out / f"rank{r}.json").read_text()) for r in range(n)
               if (out / f"rank{r}.json").exists()]
    log = tmp_path / "builds.log"
    builds = log.read_text().split("\n") if log.exists() else []
    return proc, results, [b.split()[:2] for b in builds if b]


@needs_mpi
@pytest.mark.parametrize("n,rule_name", [(2, "momentum"), (4, "sgd")])
def test_ranks_train_as_one_process_on_the_full_batch(tmp_path, n, rule_name):
    proc, results, builds = _launch(tmp_path, n, ["train", rule_name])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(results) == n and {r["size"] for r in results} == {n}
    want_losses, want_params = _reference(rule_name)
    for res in results:
        assert res["synced_at_start"] and all(res["in_sync"]) and res["same_shards"]
        np.testing.assert_allclose(res["losses"], want_losses, rtol=1e-10, atol=0)
        for name, value in res["params"].items():
            np.testing.assert_allclose(value, want_params[name], rtol=1e-10, atol=1e-12)
        assert res["params"] == results[0]["params"]          # bitwise, on every rank
        assert res["losses"] == results[0]["losses"]
        assert res["broadcast"] == {"i": [[[0] * 3] * 2, "int32"],
                                    "f": [[0.0, 1.0, 2.0, 3.0], "float32"], "v": [[7.0], "float64"]}
    # one compile per rank: rank 0 built every kernel, once; the others only loaded them
    keys = [k for k, _ in builds]
    assert keys and len(keys) == len(set(keys)), builds
    assert {int(pid) for _, pid in builds} == {results[0]["pid"]}
    assert results[0]["compile_stats"]["builds"] == len(keys)
    for res in results[1:]:
        assert res["compile_stats"]["builds"] == 0
        assert res["compile_stats"]["disk_hits"] >= len(keys)


@needs_mpi
def test_a_failing_rank_stops_the_job_with_its_error(tmp_path):
    proc, results, _ = _launch(tmp_path, 2, ["fail"], timeout=45)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "ValueError: rank 1 exploded at step 2" in out
    assert "uncaught exception on rank 1 of 2" in out
    assert results == []                    # rank 0 never finished: it was aborted


@needs_mpi
def test_a_stuck_rank_is_caught_by_the_step_timeout(tmp_path):
    t0 = time.monotonic()
    proc, results, _ = _launch(tmp_path, 2, ["hang"], timeout=45)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "rank 0 of 2 waited more than 2 s" in out and "timeout" in out
    assert results == [] and time.monotonic() - t0 < 40


@needs_mpi
def test_a_compile_failure_on_rank_0_stops_every_rank(tmp_path):
    proc, results, builds = _launch(tmp_path, 2, ["compile_fail"], timeout=45)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "the compiler exploded on rank 0" in out
    assert results == [] and builds == []       # rank 1 never compiled on its own


def _has_two_gpus():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() >= 2 and dist._nccl_available()
    except Exception:
        return False


@needs_mpi
@pytest.mark.gpu
@pytest.mark.skipif(not _has_two_gpus(), reason="NCCL allreduce needs cupy with NCCL and 2 GPUs")
def test_nccl_reducer_sums_device_buffers(tmp_path):
    script = tmp_path / "nccl.py"
    script.write_text(
        "import cupy, numpy as np\n"
        "from symgraph import distributed as dist\n"
        "r = dist.rank(); cupy.cuda.Device(r).use()\n"
        "red = dist._make_reducer(dist.comm_world(), cupy, 'float32')\n"
        "assert red.name == 'nccl'\n"
        "b = cupy.arange(5, dtype='float32') * (r + 1); red(b)\n"
        "assert np.array_equal(b.get(), np.arange(5) * 3), b\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
