"""The rewritten-graph cache: a warm process skips rewriting and rendering.

A compile in a fresh process spends most of its time, once the C module is on disk, in
importing the rewrite rules, rewriting, and importing jinja2 to render the kernels again
only to find the module's key (W7 warm: ~0.12 s). Here the rewritten graph, with the
`plan` of its program (the module's key, each node's kernel: `cbackend.build_program`), is
pickled under a key over the input graph's structure, so a later compile of the same
graph loads both and `codegen/replay.py` builds the program from the module by its key.

The key (`graph_key`) is a sha256 over everything the result depends on:

- the graph: for each input, constant and node in topological order, the variable's class,
  type, name and tag, a constant's dtype, shape and data (its bytes' sha256), each op's
  class and ``__props__`` (what op equality, merging and kernel sharing already rely on),
  the outputs, how many are outputs and which inputs the updates write (not the user's
  source traces: the loaded graph's nodes get the traces of this compile's nodes they were
  rewritten from, so errors name this compile's lines);
- the mode (name, including/excluding, profile, nan_guard, linker, optimizer), every
  config flag but ``compiledir`` and ``quiet``, the C compiler's identity, the CBLAS found
  (path, ilp64), the C backend's flags and the folder its templates are read from;
- symgraph's code: path, size and mtime of every ``.py`` file of the package and every
  kernel template, plus Python's and numpy's versions and `FORMAT`.

A graph is not cached (its key is None) when anything in it is outside what the key can
describe: an op or type defined outside symgraph, an op with its own ``__eq__`` (scan,
ifelse, Vectorized: their inner graphs), a value of an unknown kind in props or tags, a
rewrite rule registered from outside symgraph or removed (``REGISTRY.custom``), or a mode
other than FAST_RUN on the CPU.

An entry is ``<compiledir>/graphs/<key[:2]>/<key>``: a header naming the format and the
key, the payload's sha256, then the payload (the plan and two pickles: the outputs of the
rewritten graph and, loaded only when read, its history). The function's input variables
are pickled as references ("input k") and bound to the new function's inputs on load; a
shared variable reached any other way makes the graph uncacheable. An entry that is
truncated, corrupt, of another key or format, or whose outputs do not fit the graph's is
ignored and replaced by the next build. Entries are written to a temporary file and
published with ``os.replace``; a compiledir that cannot be written just caches nothing.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tempfile

import numpy as np

from ..config import config

__all__ = ["graph_key", "load", "store", "ENABLED", "FORMAT", "stats"]

#: turn the cache off (tests compare against it; ``SYMGRAPH_GRAPH_CACHE=0`` in the
#: environment does the same)
ENABLED = os.environ.get("SYMGRAPH_GRAPH_CACHE", "1") not in ("0", "false", "no", "off")
FORMAT = 1
_MAGIC = b"symgraph rewritten graph\n"
stats = {"hits": 0, "misses": 0, "stores": 0, "uncacheable": 0, "bad": 0}
_code = []


class Uncacheable(Exception):
    """The graph holds something the key cannot describe."""


# -- the key --------------------------------------------------------------------------------

def _code_id():
    """symgraph's code and the versions it runs on, once a process."""
    if not _code:
        from ..codegen.cbackend import kernels_dir
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256(f"{FORMAT}|{sys.version}|{np.__version__}".encode())
        for top, suffix in ((pkg, ".py"), (kernels_dir(), ".j2")):
            for path in sorted(_files(top, suffix)):
                st = os.stat(path)
                h.update(f"{os.path.relpath(path, top)}|{st.st_size}|{st.st_mtime_ns}\n"
                         .encode())
        _code.append(h.hexdigest())
    return _code[0]


def _files(top, suffix):
    stack = [top]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append(e.path)
                elif e.name.endswith(suffix):
                    yield e.path


_PRIMS = (str, int, float, bool, type(None), bytes, complex)


def _enc(x, memo=None):
    """A repr-stable description of `x` (props, tags, types), or Uncacheable. `memo`
    (id -> description) spares describing an op or a type again within one key."""
    t = type(x)
    if t in _PRIMS:
        return x
    if t is tuple or t is list:
        if all(type(i) in _PRIMS for i in x):
            return (t.__name__,) + tuple(x)
        return (t.__name__,) + tuple(_enc(i) for i in x)
    if memo is not None:
        # only for the graph's own ops and types: they outlive the key's computation, so
        # their ids cannot be reused by another object meanwhile
        from ..graph import Op, Type
        from ..ops.scalar import ScalarOp
        if isinstance(x, (Op, ScalarOp, Type)):
            got = memo.get(id(x))
            if got is None:
                got = memo[id(x)] = _enc_obj(x)
            return got
    return _enc_obj(x)


def _enc_obj(x):
    from ..graph import Op, Type
    from ..ops.scalar import ScalarOp
    t = type(x)
    if t is dict:
        return ("dict",) + tuple(sorted((repr(_enc(k)), _enc(v)) for k, v in x.items()))
    if t is set or t is frozenset:
        return ("set",) + tuple(sorted(repr(_enc(i)) for i in x))
    if isinstance(x, np.ndarray):
        if x.dtype.hasobject:
            raise Uncacheable("an object array")
        return ("nd", x.dtype.str, x.shape,
                hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest())
    if isinstance(x, np.generic):
        return ("np", x.dtype.str, repr(x.item()))
    if isinstance(x, np.dtype):
        return ("dtype", x.str)
    if isinstance(x, (Op, ScalarOp)):
        cls = type(x)
        _own_class(cls)
        if cls.__eq__ not in (Op.__eq__, ScalarOp.__eq__):
            raise Uncacheable(f"{cls.__name__} has its own equality")
        return ("op", cls.__module__, cls.__qualname__) + \
            tuple(_enc(getattr(x, p)) for p in cls.__props__)
    if isinstance(x, Type):
        _own_class(type(x))
        return ("type", type(x).__module__, type(x).__qualname__, _enc(vars(x)))
    raise Uncacheable(f"a {t.__name__} in the graph")


def _own_class(cls):
    if not cls.__module__.startswith("symgraph."):
        raise Uncacheable(f"{cls.__qualname__} is defined outside symgraph")


def _var(v, memo):
    return (type(v).__module__, type(v).__qualname__, _enc(v.type, memo), v.name,
            _enc(v.tag) if v.tag else None, getattr(v, "weak", None))


def graph_key(fgraph, mode, extra=()):
    """``(key, traces)``: the cache key of `fgraph` (not yet rewritten) compiled in `mode`
    and its nodes' source traces in topological order, or ``(None, None)`` when the graph
    cannot be cached. `extra`: more of the request that the result depends on."""
    if not ENABLED or mode.name != "FAST_RUN" or config.device != "cpu":
        return None, None
    from ..graph import Constant
    from ..opt.engine import REGISTRY
    if REGISTRY.custom:
        return None, None
    try:
        from ..codegen import blas, cache, cbackend
        cc = cache._compiler_id(cache.compiler())
        # which CBLAS the Dot/Gemm kernels call, if any: a plan made with one must not be
        # replayed without it (and one made without it would keep Dot in Python)
        prov = blas.provider()
        blas_id = None if prov is None else (prov.path, prov.ilp64)
        ids, parts, memo, traces = {}, [], {}, []
        for v in fgraph.inputs:
            ids[v] = len(ids)
            parts.append(("in", _var(v, memo)))
        for node in fgraph.toposort():
            ins = []
            for v in node.inputs:
                if v not in ids:
                    if not isinstance(v, Constant):
                        raise Uncacheable(f"{v!r} is neither an input nor a constant")
                    ids[v] = len(ids)
                    parts.append(("const", _var(v, memo), _enc(v.data)))
                ins.append(ids[v])
            outs = []
            for o in node.outputs:
                ids[o] = len(ids)
                outs.append(_var(o, memo))
            parts.append(("node", _enc(node.op, memo), tuple(ins), tuple(outs),
                          _enc(node.tag) if node.tag else None))
            traces.append(node.trace)
        for o in fgraph.outputs:
            if o not in ids:
                if not isinstance(o, Constant):
                    raise Uncacheable(f"output {o!r} is not computed from the inputs")
                ids[o] = len(ids)
                parts.append(("const", _var(o, memo), _enc(o.data)))
        parts.append(("outputs", tuple(ids[o] for o in fgraph.outputs),
                      getattr(fgraph, "n_outputs", None)))
        parts.append(("extra", _enc(tuple(extra))))
        flags = tuple(sorted((k, repr(v)) for k, v in config._values.items()
                             if k not in ("compiledir", "quiet")))
        env = cbackend._env             # the templates the kernels would be rendered from
        templates = tuple(getattr(env.loader, "searchpath", ("?",))) if env is not None \
            else (cbackend.kernels_dir(),)
        parts.append(("mode", repr(mode), mode.profile, mode.nan_guard, repr(mode.linker),
                      repr(mode.optimizer), flags, cc, cbackend.SHARE_CONSTANT_KERNELS,
                      cbackend.OMP_MIN, cbackend.CFLAGS, templates, blas_id, _code_id()))
    except Uncacheable:
        stats["uncacheable"] += 1
        return None, None
    except Exception:               # a compiler missing, an odd prop: compile as before
        stats["uncacheable"] += 1
        return None, None
    return hashlib.sha256(repr(parts).encode()).hexdigest(), traces


# -- entries --------------------------------------------------------------------------------

def _path(key):
    from ..codegen.cache import GRAPHS
    root = os.path.abspath(os.path.expanduser(config.compiledir))
    return os.path.join(root, GRAPHS, key[:2], key)


class _Pickler(pickle.Pickler):
    """Pickles the function's inputs as ("input", k) and the traces the rewrites copied
    from the input graph's nodes as ("trace", k): the loading compile binds them to its own
    inputs and its own nodes' traces (a hit from another line of the user's code names
    that line in errors)."""

    def __init__(self, file, inputs, traces):
        from ..shared import SharedVariable
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        refs = {}
        for k, t in enumerate(traces):
            if t:
                refs.setdefault(id(t), ("trace", k))
        for k, v in enumerate(inputs):
            refs[id(v)] = ("input", k)
        self._refs = refs
        self._keep = (inputs, traces)
        self._shared = SharedVariable

    def persistent_id(self, obj):
        ref = self._refs.get(id(obj))
        if ref is not None:
            return ref
        if isinstance(obj, self._shared):
            raise Uncacheable("a shared variable that is not an input of the graph")
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, inputs, traces):
        super().__init__(io.BytesIO(data))
        self._refs = {"input": inputs, "trace": traces}

    def persistent_load(self, pid):
        kind, k = pid
        seq = self._refs.get(kind)
        if seq is None or not 0 <= k < len(seq):
            raise pickle.UnpicklingError(f"bad reference {pid!r}")
        return seq[k]


def _dumps(obj, inputs, traces):
    buf = io.BytesIO()
    _Pickler(buf, inputs, traces).dump(obj)
    return buf.getvalue()


def store(key, fgraph, plan, traces):
    """Keep the rewritten `fgraph` and its program's `plan` under `key` (best effort);
    `traces`: what `graph_key` gave with the key."""
    if key is None or plan is None:
        return False
    try:
        graph = _dumps(list(fgraph.outputs), fgraph.inputs, traces)
        history = _dumps(list(fgraph.history), fgraph.inputs, traces)
        payload = pickle.dumps({"graph": graph, "history": history, "plan": plan},
                               protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:                   # Uncacheable, an op that does not pickle
        stats["uncacheable"] += 1
        return False
    header = _MAGIC + f"{FORMAT} {key} {hashlib.sha256(payload).hexdigest()}\n".encode()
    path = _path(key)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(header + payload)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    stats["stores"] += 1
    return True


def load(key, fgraph, traces):
    """Restore the rewritten graph stored under `key` into `fgraph` (built on the same
    input variables; `traces` from `graph_key`) and return its program's plan; None, with
    `fgraph` untouched, when there is no usable entry."""
    if key is None:
        return None
    try:
        with open(_path(key), "rb") as f:
            data = f.read()
    except OSError:
        stats["misses"] += 1
        return None
    try:
        outputs, history, plan = _read(data, key, fgraph.inputs, traces)
        _check_fits(fgraph, outputs)
    except Exception:
        stats["bad"] += 1
        return None
    inputs = fgraph.inputs
    fgraph.restore(outputs, lambda: _Unpickler(history, inputs, traces).load())
    _fresh_names(fgraph)
    stats["hits"] += 1
    return plan


def _read(data, key, inputs, traces):
    if not data.startswith(_MAGIC):
        raise ValueError("not a graph cache entry")
    end = data.index(b"\n", len(_MAGIC))
    fmt, got_key, digest = data[len(_MAGIC):end].decode().split()
    payload = data[end + 1:]
    if int(fmt) != FORMAT or got_key != key or \
            hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError("another format or key, or a damaged entry")
    entry = pickle.loads(payload)
    outputs = _Unpickler(entry["graph"], inputs, traces).load()
    return outputs, entry["history"], entry["plan"]


def _check_fits(fgraph, outputs):
    if len(outputs) != len(fgraph.outputs):
        raise ValueError("another number of outputs")
    for new, old in zip(outputs, fgraph.outputs):
        if new.type != old.type and not old.type.is_super(new.type):
            raise ValueError(f"an output of type {new.type} for {old.type}")


def _fresh_names(fgraph):
    # auto names count up per process (scan's builder compares them): give the loaded
    # variables this process's; constants' arrays come back writable from pickle: make
    # them read-only again, as TensorConstant made them
    from ..graph import Constant, Variable
    seen = set(fgraph.inputs)
    for node in fgraph.toposort():
        for v in node.inputs + node.outputs:
            if v not in seen:
                seen.add(v)
                v.auto_name = Variable(None).auto_name
                data = getattr(v, "data", None) if isinstance(v, Constant) else None
                if isinstance(data, np.ndarray):
                    data.setflags(write=False)
    for v in fgraph.outputs:
        if isinstance(v, Constant) and isinstance(v.data, np.ndarray):
            v.data.setflags(write=False)
