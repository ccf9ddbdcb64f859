"""Data-parallel training over MPI: every rank holds the whole model and a shard of each
minibatch; gradients are averaged with one allreduce a step.

Launch one process per core (or per GPU), on one machine or many::

    mpiexec -n 4 python train.py

and in ``train.py``::

    import symgraph.distributed as dist
    step = dist.DataParallel(cost, [W, b], [x, y], dist.sgd(0.1))   # broadcasts W, b
    for xb, yb in dist.local_batches(X, Y, batch_size=256, seed=epoch):
        loss = step(xb, yb)         # this rank's shard of the global minibatch

MPI comes from mpi4py (``pip install "symgraph[mpi]"`` installs mpi4py and MPICH's wheel).
Without mpi4py, or run without ``mpiexec``, everything works as one process of one rank.

How a step works (`DataParallel`):

1. each rank runs one compiled function giving its local cost and the gradients of every
   parameter (``symgraph.grad``) on its shard of ``n_r`` samples;
2. it writes ``n_r * grad`` of every parameter, then ``n_r * cost`` and ``n_r``, into one
   flat buffer, and the ranks sum that buffer with ONE ``Allreduce`` (one message, not one
   per tensor: latency, not bandwidth, dominates small models);
3. dividing by ``N = sum n_r`` gives exactly the gradient of the full minibatch's mean cost,
   whatever the shard sizes (uneven shards and empty shards included; pass
   ``reduction='sum'`` for a cost that sums over samples);
4. a second compiled function applies the update rule to the shared variables. Every rank
   applies the same update to the same values with the same reduced gradients, so the
   parameters stay bitwise identical (`in_sync` checks it).

Compilation: rank 0 compiles first while the others wait; then the others compile the same
graphs, and the C backend finds the kernels rank 0 put in ``config.compiledir`` (a shared or
node-local folder: the cache locks per key, so ranks of other machines sharing a folder never
build a kernel twice either). If rank 0 fails to compile, every rank raises its error.

Failures: `DataParallel` installs `install_abort_hook`: an uncaught exception on any rank
prints that rank's traceback and calls ``MPI_Abort``, so the whole job stops with that error
instead of the other ranks waiting forever in the next allreduce. A rank stuck without
raising is caught by ``timeout=``: the ranks waiting for it abort the job after that long.

GPU ranks: when the parameters' values are cupy arrays, the buffer stays on the device and is
reduced with NCCL through ``cupy.cuda.nccl`` when cupy has it (one communicator made from a
unique id that rank 0 broadcasts over MPI), else with MPI through a host copy.

Overlap of the allreduce with the backward pass is NOT done, because it does not pay here.
Starting the reduction of the late layers' gradients while the earlier ones are computed
needs (a) the gradient function split at layer boundaries (several compiled calls instead of
one) and (b) the reduction progressing while the rank computes. ``benchmarks/
distributed_mlp.py`` measured on this machine (2 cores, MPICH over shared memory, one rank
per core; a 784-256-256-10 MLP, 269,322 float64 gradients = 2.1 MB, global batch 512):

- the one allreduce costs 2-5 ms after a barrier (runs on a machine shared with other
  work vary), 4-13 % of a 38-49 ms step at 2 ranks: that bounds what any overlap could save;
- an ``Iallreduce`` started before 25-30 ms of gradient computation still waited 8-10 ms in
  ``Wait`` afterwards, no less than the blocking call: MPICH advances a nonblocking
  collective only inside MPI calls, so nothing moves while the kernels run;
- MPICH's progress thread (``MPICH_ASYNC_PROGRESS=1``) does move it, but it spins on a core
  that the ranks need: the computation took 64-82 ms instead of 25-34 and the step
  106-141 ms instead of 38-49.

So with as many ranks as cores the reduction cannot run beside the computation for free;
overlap pays with spare cores or a NIC that progresses collectives by itself, and larger
models. The place for it would be a split of the gradient function by layer group, reducing
one slice of the flat buffer per group (the layout already allows it). What limits scaling
here is compute sharing two cores (and their memory bandwidth) with each other and with
other work, then the allreduce and the wait for the slower rank.
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
import time

import numpy as np

from .compile.function import function
from .errors import SymgraphError
from .gradient import grad as _grad
from .shared import SharedVariable
from .tensor.var import as_tensor_variable

__all__ = ["DataParallel", "data_parallel", "DistributedError", "rank", "size", "comm_world",
           "broadcast_parameters", "in_sync", "shard", "shard_bounds", "local_batches",
           "install_abort_hook", "sgd", "momentum", "updates_builder"]


class DistributedError(SymgraphError, RuntimeError):
    """A failure of the distributed machinery (another rank failed, shapes differ, ...)."""


# -- the communicator ------------------------------------------------------------------------

class _SelfComm:
    """The communicator of a job of one process (no mpi4py): every collective is the identity."""

    rank, size = 0, 1

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Allreduce(self, sendbuf, recvbuf, op=None):
        pass

    def Bcast(self, buf, root=0):
        pass

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj):
        return [obj]

    def Barrier(self):
        pass

    def Abort(self, code=1):
        os._exit(code)


_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")    # MPICH / Intel MPI / srun, Open MPI


def comm_world():
    """``MPI.COMM_WORLD`` from mpi4py, or a one-process stand-in when mpi4py is missing (an
    error instead when a launcher started several processes: they would each train alone)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        for var in _LAUNCHER_SIZE_VARS:
            if os.environ.get(var, "1").isdigit() and int(os.environ.get(var, "1")) > 1:
                raise DistributedError(
                    f"this process was started as one of {os.environ[var]} ({var}) but mpi4py "
                    f"is not installed, so it cannot talk to the others: "
                    f"pip install 'symgraph[mpi]'") from None
        return _SelfComm()
    from mpi4py import MPI
    return MPI.COMM_WORLD


def _comm(comm):
    return comm_world() if comm is None else comm


def rank(comm=None) -> int:
    """This process's rank in `comm` (default: every process of the job), from 0."""
    return _comm(comm).Get_rank()


def size(comm=None) -> int:
    """The number of processes in `comm` (1 without mpi4py or without ``mpiexec``)."""
    return _comm(comm).Get_size()


def _in_place():
    from mpi4py import MPI
    return MPI.IN_PLACE


def install_abort_hook(comm=None):
    """Make an uncaught exception on this rank stop the whole job (``MPI_Abort``) after
    printing its traceback, instead of leaving the other ranks blocked in a collective.
    Covers the main thread (``sys.excepthook``) and other threads. Idempotent."""
    comm = _comm(comm)
    if comm.Get_size() == 1 or getattr(sys.excepthook, "_symgraph_abort", False):
        return
    prev_sys, prev_thread = sys.excepthook, threading.excepthook
    who = f"rank {comm.Get_rank()} of {comm.Get_size()}"

    def abort(print_it):
        try:
            sys.stderr.write(f"symgraph.distributed: uncaught exception on {who}; "
                             f"aborting the job\n")
            print_it()
            sys.stderr.flush()
            # mpiexec forwards output through its proxies, which MPI_Abort kills at once:
            # give them a moment so the user sees the traceback that stopped the job
            time.sleep(0.5)
        finally:
            comm.Abort(1)

    def sys_hook(tp, value, tb):
        abort(lambda: prev_sys(tp, value, tb))

    def thread_hook(args):
        if args.exc_type is SystemExit:
            return prev_thread(args)
        abort(lambda: prev_thread(args))

    sys_hook._symgraph_abort = True
    sys.excepthook = sys_hook
    threading.excepthook = thread_hook


class _Watchdog:
    """Aborts the job when an armed deadline passes (a rank stuck without raising: a deadlock,
    an endless loop, a lost machine). Arming and disarming cost a lock, not a thread."""

    def __init__(self, comm, seconds: float):
        self.comm, self.seconds = comm, float(seconds)
        self._deadline = None
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="symgraph-distributed-watchdog",
                         daemon=True).start()

    def arm(self):
        with self._cond:
            self._deadline = time.monotonic() + self.seconds
            self._cond.notify()

    def disarm(self):
        with self._cond:
            self._deadline = None

    def _run(self):
        with self._cond:
            while True:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        sys.stderr.write(
            f"symgraph.distributed: rank {self.comm.Get_rank()} of {self.comm.Get_size()} "
            f"waited more than {self.seconds:g} s for the other ranks in a training step "
            f"(timeout); one of them is stuck or gone; aborting the job\n")
        sys.stderr.flush()
        time.sleep(0.5)  # let mpiexec forward the message before Abort kills its proxies
        self.comm.Abort(1)


# -- parameters -------------------------------------------------------------------------------

def _params_list(params):
    params = list(params) if isinstance(params, (list, tuple)) else [params]
    for p in params:
        if not isinstance(p, SharedVariable):
            raise TypeError(f"symgraph.distributed: parameters must be shared variables, "
                            f"got {p!r} ({type(p).__name__})")
    if len(set(params)) != len(params):
        raise ValueError("symgraph.distributed: a parameter is listed twice")
    return params


def _array_module(value):
    if type(value).__module__.split(".")[0] == "cupy":
        import cupy
        return cupy
    return np


def broadcast_parameters(params, root: int = 0, comm=None):
    """Give every rank `root`'s values of the shared variables `params` (do this once, before
    training, so that all ranks start from the same model).

    >>> dist.broadcast_parameters([W, b])      # now W and b equal rank 0's everywhere

    Values are packed into one buffer per dtype: one ``Bcast`` per dtype, not per tensor.
    """
    params = _params_list(params)
    comm = _comm(comm)
    if comm.Get_size() == 1:
        return
    values = [p.get_value(borrow=True) for p in params]
    layout = [(tuple(v.shape), np.dtype(v.dtype).str) for v in values]
    root_layout = comm.bcast(layout, root=root)
    if [(tuple(s), d) for s, d in root_layout] != layout and comm.Get_rank() != root:
        # shapes may legitimately differ before the broadcast (e.g. unset placeholders)
        values = [np.empty(s, dtype=d) for s, d in root_layout]
    groups = {}
    for k, (shape, dtype) in enumerate(root_layout):
        groups.setdefault(dtype, []).append(k)
    for dtype, idx in groups.items():
        xp = _array_module(values[idx[0]])
        n = sum(int(np.prod(root_layout[k][0])) for k in idx)
        buf = xp.empty(n, dtype=dtype)
        if comm.Get_rank() == root:
            _pack(buf, [values[k] for k in idx])
        _bcast(comm, buf, root)
        off = 0
        for k in idx:
            shape = tuple(root_layout[k][0])
            m = int(np.prod(shape))
            params[k].set_value(buf[off:off + m].reshape(shape).copy(), borrow=True)
            off += m


def _pack(buf, values):
    off = 0
    for v in values:
        m = v.size
        buf[off:off + m] = v.reshape(-1)
        off += m


def _bcast(comm, buf, root):
    if isinstance(buf, np.ndarray):
        comm.Bcast(buf, root=root)
    else:                                   # a device buffer: through the host
        import cupy
        host = cupy.asnumpy(buf)
        comm.Bcast(host, root=root)
        buf.set(host)


def in_sync(params, comm=None) -> bool:
    """True when every rank holds bitwise the same values of `params` (a collective: call it
    on every rank). Compares a sha256 of the values."""
    params = _params_list(params)
    h = hashlib.sha256()
    for p in params:
        v = p.get_value(borrow=True)
        v = v.get() if hasattr(v, "get") and not isinstance(v, np.ndarray) else v
        h.update(str((v.shape, v.dtype.str)).encode())
        h.update(np.ascontiguousarray(v).tobytes())
    digests = _comm(comm).allgather(h.hexdigest())
    return len(set(digests)) == 1


# -- sharding ---------------------------------------------------------------------------------

def shard_bounds(n: int, rank_: int | None = None, size_: int | None = None,
                 comm=None) -> tuple[int, int]:
    """The slice ``[start, stop)`` of `n` items that rank `rank_` of `size_` owns: contiguous
    blocks as ``numpy.array_split`` makes them (the first ``n % size`` ranks get one more)."""
    r = rank(comm) if rank_ is None else rank_
    s = size(comm) if size_ is None else size_
    if not 0 <= r < s:
        raise ValueError(f"shard: rank {r} is not in range for {s} ranks")
    q, extra = divmod(n, s)
    start = r * q + min(r, extra)
    return start, start + q + (1 if r < extra else 0)


def shard(array, rank_: int | None = None, size_: int | None = None, comm=None, axis: int = 0):
    """This rank's block of `array` along `axis` (a view).

    >>> dist.shard(np.arange(10), 1, 4)       # blocks of 3, 3, 2, 2
    array([3, 4, 5])
    """
    a = array
    start, stop = shard_bounds(a.shape[axis], rank_, size_, comm)
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]


def local_batches(*arrays, batch_size: int, shuffle: bool = True, seed=0, drop_last=False,
                  rank_: int | None = None, size_: int | None = None, comm=None):
    """Iterate over global minibatches of `arrays` (all of the same length), yielding this
    rank's shard of each: a tuple of arrays (or one array for one input).

    Every rank must pass the same `seed` so that they agree on the order (shuffle with
    ``numpy.random.default_rng(seed)``; change the seed each epoch). The concatenation of the
    ranks' shards of a step is exactly the global minibatch.
    """
    if not arrays:
        raise TypeError("local_batches() needs at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"local_batches(): arrays have different lengths "
                         f"{[len(a) for a in arrays]}")
    if batch_size < 1:
        raise ValueError("local_batches(): batch_size must be positive")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = shard(order[start:start + batch_size], rank_, size_, comm)
        out = tuple(a[idx] for a in arrays)
        yield out[0] if len(out) == 1 else out


# -- update rules -----------------------------------------------------------------------------

def updates_builder(fn):
    """Mark `fn(params, grads) -> [(shared, new_value), ...]` as a builder of the whole update
    list (for rules with state of their own, like momentum); an unmarked function is a
    per-parameter rule ``fn(p, g) -> new value of p``."""
    fn.builds_updates = True
    return fn


def sgd(learning_rate):
    """Plain SGD: ``p - learning_rate * g`` for every parameter."""
    return lambda p, g: p - learning_rate * g


def momentum(learning_rate, mu=0.9):
    """SGD with momentum (a builder: one velocity shared variable per parameter)."""
    import symgraph

    @updates_builder
    def build(params, grads):
        ups = []
        for p, g in zip(params, grads):
            v = symgraph.shared(np.zeros_like(p.get_value(borrow=True)),
                                name=f"velocity_{p.name or 'p'}", shape=p.type.shape)
            v_new = mu * v - learning_rate * g
            ups += [(v, v_new), (p, p + v_new)]
        return ups

    return build


def _updates(rule, params, grads):
    from .tensor import cast
    if getattr(rule, "builds_updates", False):
        ups = rule(params, grads)
        return list(ups.items()) if isinstance(ups, dict) else list(ups)
    if not callable(rule):
        raise TypeError(f"data_parallel: update_rule must be callable, got {rule!r}")
    ups = []
    for p, g in zip(params, grads):
        new = as_tensor_variable(rule(p, g))
        if new.dtype != p.dtype:
            new = cast(new, p.dtype)
        ups.append((p, new))
    return ups


# -- reducers ---------------------------------------------------------------------------------

class _MPIReducer:
    name = "mpi"

    def __init__(self, comm):
        self.comm = comm

    def __call__(self, buf):
        if self.comm.Get_size() == 1:
            return
        if isinstance(buf, np.ndarray):
            self.comm.Allreduce(_in_place(), buf)
        else:                               # device buffer, MPI not CUDA-aware: via the host
            import cupy
            host = cupy.asnumpy(buf)
            self.comm.Allreduce(_in_place(), host)
            buf.set(host)


class _NCCLReducer:
    """Sum a cupy buffer across ranks with NCCL (one GPU per rank)."""

    name = "nccl"

    def __init__(self, comm):
        from cupy.cuda import nccl
        self.nccl = nccl
        uid = nccl.get_unique_id() if comm.Get_rank() == 0 else None
        uid = comm.bcast(uid, root=0)
        self.ncomm = nccl.NcclCommunicator(comm.Get_size(), uid, comm.Get_rank())
        self.types = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                      "float64": nccl.NCCL_FLOAT64}

    def __call__(self, buf):
        import cupy
        stream = cupy.cuda.get_current_stream()
        self.ncomm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self.types[buf.dtype.name],
                             self.nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()


def _nccl_available() -> bool:
    try:
        from cupy.cuda import nccl  # noqa: F401
    except Exception:               # ImportError, or cupy without a driver
        return False
    return getattr(nccl, "available", True)


def _make_reducer(comm, xp, dtype):
    if xp is not np and comm.Get_size() > 1 and _nccl_available() and \
            np.dtype(dtype).name in ("float16", "float32", "float64"):
        return _NCCLReducer(comm)
    return _MPIReducer(comm)


# -- the training step ------------------------------------------------------------------------

def _check_same_layout(comm, layout, dtype):
    """Every rank must reduce the same buffer (else MPI would fail or mix up tensors)."""
    if comm.Get_size() == 1:
        return
    mine = (layout, dtype)
    for r, theirs in enumerate(comm.allgather(mine)):
        if theirs != mine:
            raise DistributedError(
                f"DataParallel: rank {comm.Get_rank()} has parameters {layout} ({dtype}) but "
                f"rank {r} has {theirs[0]} ({theirs[1]}); every rank must build the same "
                f"model")


def _compile_in_turn(comm, build):
    """Rank 0 builds first (filling the on-disk cache); then the others build, loading what
    rank 0 compiled. A failure on rank 0 is raised on every rank."""
    if comm.Get_size() == 1:
        return build()
    if comm.Get_rank() == 0:
        try:
            result = build()
        except BaseException as e:
            comm.bcast(f"{type(e).__name__}: {e}", root=0)
            raise
        comm.bcast(None, root=0)
        return result
    failure = comm.bcast(None, root=0)
    if failure is not None:
        raise DistributedError(f"rank 0 failed to compile the training step: {failure}")
    return build()


class DataParallel:
    """A data-parallel training step: ``loss = step(*local_inputs)``.

    >>> step = DataParallel(cost, [W, b], [x, y], sgd(0.1))
    >>> loss = step(x_shard, y_shard)       # on every rank, each with its shard

    `cost` is a scalar expression of `inputs` and the shared variables `params`, the MEAN over
    the samples of the minibatch (``reduction='mean'``) or their SUM (``reduction='sum'``);
    the samples are along `batch_axis` of the first input. `update_rule` is ``(p, g) ->
    new p`` (e.g. ``sgd(lr)`` or ``lambda p, g: p - lr * g``) or a builder marked with
    `updates_builder` (e.g. ``momentum(lr)``). Each call returns the cost of the whole global
    minibatch (before the update) and updates `params` identically on every rank, with
    exactly the gradient of that global minibatch.

    `timeout` (seconds, default none): a rank that waits longer than that in the step's
    allreduce aborts the whole job, for ranks stuck without raising (an exception is already
    handled by `install_abort_hook`). Give it a generous margin over the slowest rank's step.

    `times` accumulates seconds spent in ``'compute'`` (local gradients), ``'allreduce'``
    and ``'update'`` over `steps` calls. `mode` is passed to ``symgraph.function``.
    """

    def __init__(self, cost, params, inputs, update_rule, comm=None, mode=None,
                 reduction: str = "mean", batch_axis: int = 0, broadcast: bool = True,
                 root: int = 0, timeout: float | None = None):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"DataParallel: reduction must be 'mean' or 'sum', "
                             f"got {reduction!r}")
        self.comm = _comm(comm)
        self.params = _params_list(params)
        self.inputs = list(inputs)
        self.reduction = reduction
        self.batch_axis = batch_axis
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise ValueError(f"DataParallel: the cost must be a scalar, got {cost.type}")
        install_abort_hook(self.comm)
        if broadcast:
            broadcast_parameters(self.params, root=root, comm=self.comm)

        values = [p.get_value(borrow=True) for p in self.params]
        self._xp = _array_module(values[0]) if values else np
        self._shapes = [tuple(v.shape) for v in values]
        sizes = [int(np.prod(s)) for s in self._shapes]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        dtypes = [p.dtype for p in self.params] + [cost.dtype]
        self.dtype = np.result_type(*dtypes, np.float32) if dtypes else np.float64
        total = self._offsets[-1]
        self._buf = self._xp.zeros(total + 2, dtype=self.dtype)   # grads, n*cost, n
        _check_same_layout(self.comm, [(p.name, s) for p, s in zip(self.params, self._shapes)],
                           np.dtype(self.dtype).str)
        self.reduce = _make_reducer(self.comm, self._xp, self.dtype)

        grads = _grad(cost, self.params) if self.params else []
        g_in = [p.type() for p in self.params]
        for g, p in zip(g_in, self.params):
            g.name = f"grad_{p.name}" if p.name else None
        ups = _updates(update_rule, self.params, g_in)

        def build():
            gf = function(self.inputs, [cost] + list(grads), mode=mode,
                          name="data_parallel_gradients")
            uf = function(g_in, [], updates=ups, mode=mode, allow_input_downcast=True,
                          on_unused_input="ignore", name="data_parallel_update")
            return gf, uf

        self.grad_fn, self.update_fn = _compile_in_turn(self.comm, build)
        self.times = {"compute": 0.0, "allreduce": 0.0, "update": 0.0}
        self.steps = 0
        self._watchdog = _Watchdog(self.comm, timeout) \
            if timeout is not None and self.comm.Get_size() > 1 else None

    def _local_count(self, args):
        if not args:
            raise TypeError("DataParallel step: the first input holds the samples; got none")
        first = args[0]
        shape = getattr(first, "shape", None)
        if shape is None:
            shape = np.shape(first)
        if len(shape) <= self.batch_axis:
            raise ValueError(f"DataParallel step: the first input has {len(shape)} dims, no "
                             f"batch axis {self.batch_axis}")
        return shape[self.batch_axis]

    def __call__(self, *args):
        t0 = time.perf_counter()
        n = self._local_count(args)
        buf, off = self._buf, self._offsets
        weight = n if self.reduction == "mean" else 1
        if n == 0:                  # an empty shard adds nothing (its mean would be NaN)
            buf[:] = 0
        else:
            out = self.grad_fn(*args)
            cost, grads = out[0], out[1:]
            for k, g in enumerate(grads):
                if tuple(g.shape) != self._shapes[k]:
                    raise DistributedError(
                        f"DataParallel: the gradient of {self.params[k]!r} has shape "
                        f"{tuple(g.shape)}, not {self._shapes[k]} (parameter shapes must not "
                        f"change after DataParallel is built)")
                self._xp.multiply(g.reshape(-1), weight, out=buf[off[k]:off[k + 1]])
            buf[-2] = cost * weight
            buf[-1] = n
        t1 = time.perf_counter()
        if self._watchdog is None:
            self.reduce(buf)
        else:
            self._watchdog.arm()
            self.reduce(buf)
            self._watchdog.disarm()
        t2 = time.perf_counter()
        total = buf[-1]
        if total == 0:
            raise DistributedError("DataParallel step: the global minibatch is empty")
        scale = 1.0 / total if self.reduction == "mean" else 1.0
        if scale != 1.0:
            buf[:-1] *= scale
        self.update_fn(*[buf[off[k]:off[k + 1]].reshape(s)
                         for k, s in enumerate(self._shapes)])
        t3 = time.perf_counter()
        self.times["compute"] += t1 - t0
        self.times["allreduce"] += t2 - t1
        self.times["update"] += t3 - t2
        self.steps += 1
        return float(buf[-2])

    step = __call__

    def reset_times(self):
        """Zero `times` and `steps` (e.g. after warm-up steps)."""
        self.times = dict.fromkeys(self.times, 0.0)
        self.steps = 0


def data_parallel(cost, params, inputs, update_rule, **kwargs) -> DataParallel:
    """``DataParallel(cost, params, inputs, update_rule, **kwargs)``: the training step."""
    return DataParallel(cost, params, inputs, update_rule, **kwargs)
