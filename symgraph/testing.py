"""Helpers that symgraph's tests and its users share.

- `random_graph(rng, n_nodes, ...)`: a random graph over the op set (elementwise ops with
  broadcasting and mixed dtypes, reductions, dot, indexing, inc/set_subtensor, shape ops,
  cumsum, sort, ifelse and scan when those modules exist), with input values that fit it and
  the Python source that rebuilds it (``g.source``), so a failing graph can be reported and
  turned into a regression test.
- `assert_modes_agree(fn_builder, inputs, modes)`: one graph compiled in several modes
  (``'py'``, ``'FAST_COMPILE'``, ``'FAST_RUN'``, and ``'cuda'`` when present) gives the same
  results, dtypes and shapes.
- `verify_grad` (symgraph.gradient's) and `verify_rop`: Rop against finite differences and
  against Lop (``v·(J u) == (vᵀJ)·u``).

>>> import numpy as np
>>> from symgraph.testing import random_graph, assert_modes_agree
>>> g = random_graph(np.random.default_rng(0), 10)
>>> assert_modes_agree(lambda: (g.inputs, g.outputs), g.values)
"""
from __future__ import annotations

import numpy as np

from .compile.mode import MODE_NAMES
from .grad.verify import verify_grad

__all__ = ["random_graph", "RandomGraph", "OP_GROUPS", "assert_modes_agree",
           "ModesDisagreeError", "verify_grad", "verify_rop", "RopCheckError",
           "available_modes", "compare_values", "check_infer_shape"]


# -- random graphs -------------------------------------------------------------------------

class RandomGraph:
    """A random graph: `inputs` (symbolic), `outputs` (the variables no node reads),
    `values` (one array per input), `source` (Python rebuilding it with ``T``), `ops` (the
    op group of each node, in build order)."""

    def __init__(self, inputs, outputs, values, source, ops):
        self.inputs, self.outputs, self.values = inputs, outputs, values
        self.source, self.ops = source, ops

    def __repr__(self):
        return f"RandomGraph({len(self.inputs)} inputs, {len(self.ops)} nodes)\n{self.source}"


class _Builder:
    def __init__(self, rng, dtypes, max_ndim, max_dim, differentiable, exclude=()):
        self.exclude = frozenset(exclude)
        import symgraph.tensor as T
        self.T = T
        self.rng = rng
        self.dtypes = tuple(dtypes)
        self.max_ndim = max_ndim
        self.max_dim = max_dim
        self.differentiable = differentiable
        self.pool = []          # (var, runtime shape, name)
        self.inputs, self.values, self.lines, self.ops = [], [], [], []
        self.read = set()

    # values and inputs
    def new_input(self, shape, dtype=None, static=None):
        T, rng = self.T, self.rng
        dtype = dtype or self.dtypes[int(rng.integers(len(self.dtypes)))]
        if static is None:
            static = tuple(1 if s == 1 and rng.random() < 0.7 else None for s in shape)
        name = f"x{len(self.inputs)}"
        var = T.TensorType(dtype, static)(name=name)
        if dtype == "bool":
            val = rng.random(shape) < 0.5
        elif dtype.startswith(("int", "uint")):
            val = rng.integers(-4, 5, size=shape).astype(dtype)
        else:
            val = (rng.standard_normal(shape)).astype(dtype)
        self.inputs.append(var)
        self.values.append(np.asarray(val, dtype=dtype))
        self.lines.append(f"{name} = T.TensorType({dtype!r}, {static!r})(name={name!r})"
                          f"  # value shape {tuple(shape)}")
        self.pool.append((var, tuple(shape), name))
        return var, tuple(shape), name

    def random_shape(self):
        nd = int(self.rng.integers(0, self.max_ndim + 1))
        return tuple(int(self.rng.integers(0 if self.rng.random() < 0.05 else 1,
                                           self.max_dim + 1)) for _ in range(nd))

    def pick(self, pred=lambda v, s: True):
        cands = [p for p in self.pool if pred(p[0], p[1])]
        if not cands:
            return None
        # prefer recent, unread values: long chains and few dead ends
        w = np.array([(3.0 if p[2] not in self.read else 1.0) * (1 + k)
                      for k, p in enumerate(cands)])
        return cands[int(self.rng.choice(len(cands), p=w / w.sum()))]

    def emit(self, group, expr, var, shape, reads):
        name = f"v{len(self.ops)}"
        # the static type must hold the run-time shape
        for s, st in zip(shape, var.type.shape):
            if st is not None and st != s:
                raise AssertionError(f"random_graph: {expr} has static shape {var.type.shape} "
                                     f"but value shape {shape}")
        if var.ndim != len(shape):
            raise AssertionError(f"random_graph: {expr} has ndim {var.ndim}, shape {shape}")
        self.lines.append(f"{name} = {expr}")
        self.ops.append(group)
        self.read.update(reads)
        self.pool.append((var, tuple(shape), name))
        return var

    def float_ok(self, v):
        return (not self.differentiable) or v.dtype.startswith("float")


def _compatible(a, sa, b, sb):
    """Whether a (value shape sa) and b broadcast statically (Theano's rule: a dim broadcasts
    only when its static size is 1)."""
    n = max(len(sa), len(sb))
    ta = (1,) * (n - a.ndim) + a.type.shape
    tb = (1,) * (n - b.ndim) + b.type.shape
    sa = (1,) * (n - len(sa)) + sa
    sb = (1,) * (n - len(sb)) + sb
    for x, y, tx, ty in zip(sa, sb, ta, tb):
        if x == y or tx == 1 or ty == 1:
            continue
        return False
    return True


def _bshape(sa, sb, ta, tb):
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    ta, tb = (1,) * (n - len(ta)) + ta, (1,) * (n - len(tb)) + tb
    return tuple(y if tx == 1 else x for x, y, tx in zip(sa, sb, ta))


_UNARY = {
    "tanh": "T.tanh({})", "sin": "T.sin({})", "cos": "T.cos({})", "sigmoid": "T.sigmoid({})",
    "neg": "-{}", "abs": "abs({})", "softplus": "T.softplus({})", "sqr": "T.sqr(T.tanh({}))",
    "exp": "T.exp(T.tanh({}))", "log1p_sqr": "T.log1p(T.sqr({}))",
    "sqrt": "T.sqrt(1.5 + T.sin({}))", "scale": "({} * 0.5 + 0.25)",
}
_UNARY_INT = {"neg": "-{}", "abs": "abs({})", "sqr_mod": "({} % 3)", "mul2": "({} * 2)"}
_BINARY = {
    "add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "maximum": "T.maximum({}, {})",
    "minimum": "T.minimum({}, {})", "div": "{} / (1.5 + T.cos({}))",
    "switch": "T.switch(T.gt({0}, {1}), {0}, {1})", "hypot_like": "T.sqrt(T.sqr({}) + T.sqr({}) + 1)",
}


def _g_unary(b):
    p = b.pick(lambda v, s: b.float_ok(v))
    if p is None:
        return None
    v, s, n = p
    table = _UNARY if v.dtype.startswith("float") or b.rng.random() < 0.5 else _UNARY_INT
    if v.dtype == "bool" and table is _UNARY_INT:
        table = {"cast": "T.cast({}, 'int32')", "invert": "~{}"}
    keys = [k for k in table if k not in b.exclude]
    key = keys[int(b.rng.integers(len(keys)))]
    expr = table[key].format(n)
    return "elemwise", expr, [n], s


def _g_binary(b):
    p = b.pick(lambda v, s: b.float_ok(v))
    if p is None:
        return None
    v, s, n = p
    q = b.pick(lambda w, t: w is not v and b.float_ok(w) and _compatible(v, s, w, t))
    if q is None or b.rng.random() < 0.25:
        if b.rng.random() < 0.3:
            # a Python scalar (weak constant)
            c = round(float(b.rng.uniform(-2, 2)), 2)
            key = ("add", "mul", "sub", "maximum")[int(b.rng.integers(4))]
            return "elemwise", _BINARY[key].format(n, repr(c)), [n], s
        # a fresh input with some dims broadcastable, maybe fewer dims
        nd = len(s) - int(b.rng.integers(0, len(s) + 1)) if s else 0
        full = s[len(s) - nd:]
        shape = tuple(1 if b.rng.random() < 0.3 else d for d in full)
        # a dim of size 1 against a bigger one must be statically broadcastable
        static = tuple(1 if d == 1 and (f != 1 or b.rng.random() < 0.7) else None
                       for d, f in zip(shape, full))
        dtype = None if not b.differentiable else "float64"
        q = b.new_input(shape, dtype=dtype, static=static)
    w, t, m = q
    keys = [k for k in _BINARY if k not in b.exclude]
    key = keys[int(b.rng.integers(len(keys)))]
    if b.rng.random() < 0.5:
        (v, s, n), (w, t, m) = (w, t, m), (v, s, n)
    shape = _bshape(s, t, v.type.shape, w.type.shape)
    return "elemwise", _BINARY[key].format(n, m), [n, m], shape


def _g_reduce(b):
    p = b.pick(lambda v, s: len(s) >= 1 and b.float_ok(v))
    if p is None:
        return None
    v, s, n = p
    fn = ("sum", "mean", "max", "prod", "min")[int(b.rng.integers(5))]
    if fn in ("max", "min") and 0 in s:
        fn = "sum"
    axis = None if b.rng.random() < 0.3 else int(b.rng.integers(len(s)))
    keep = bool(b.rng.random() < 0.3)
    if fn == "prod":
        expr = f"T.prod(T.tanh({n}) * 0.5 + 1, axis={axis}, keepdims={keep})"
    else:
        expr = f"T.{fn}({n}, axis={axis}, keepdims={keep})"
    if axis is None:
        shape = (1,) * len(s) if keep else ()
    else:
        shape = tuple(1 if (k == axis) else d for k, d in enumerate(s) if keep or k != axis)
    return "reduce", expr, [n], shape


def _g_dot(b):
    p = b.pick(lambda v, s: 1 <= len(s) <= 2 and b.float_ok(v))
    if p is None:
        return None
    v, s, n = p
    k = s[-1]
    right = b.pick(lambda w, t: 1 <= len(t) <= 2 and t[0] == k and b.float_ok(w)
                   and w.type.shape[0] in (None, k) and v.type.shape[-1] in (None, k)
                   and w is not v)
    if right is None or b.rng.random() < 0.3:
        shape = (k,) if b.rng.random() < 0.5 else (k, int(b.rng.integers(1, b.max_dim + 1)))
        right = b.new_input(shape, dtype="float64" if b.differentiable else None,
                            static=tuple(None for _ in shape))
    w, t, m = right
    if v.dtype == "bool" or w.dtype == "bool":
        return None
    shape = s[:-1] + t[1:]
    return "dot", f"T.dot({n}, {m})", [n, m], shape


def _slice(b, size):
    r = b.rng
    start = None if r.random() < 0.4 else int(r.integers(-size - 1, size + 2))
    stop = None if r.random() < 0.4 else int(r.integers(-size - 1, size + 2))
    step = None if r.random() < 0.6 else int(r.choice([-2, -1, 2, 3]))
    return slice(start, stop, step)


def _fmt_slice(sl):
    f = lambda x: "" if x is None else str(x)  # noqa: E731
    return f"{f(sl.start)}:{f(sl.stop)}" + ("" if sl.step is None else f":{sl.step}")


def _g_index(b):
    p = b.pick(lambda v, s: len(s) >= 1)
    if p is None:
        return None
    v, s, n = p
    r = b.rng
    kind = r.integers(3)
    if kind == 0 or s[0] == 0:
        sl = _slice(b, s[0])
        idx = f"[{_fmt_slice(sl)}]"
        shape = (len(range(*sl.indices(s[0]))),) + s[1:]
    elif kind == 1:
        i = int(r.integers(-s[0], s[0]))
        idx = f"[{i}]"
        shape = s[1:]
    else:
        ids = [int(x) for x in r.integers(-s[0], s[0], size=int(r.integers(1, 4)))]
        idx = f"[{ids}]"
        shape = (len(ids),) + s[1:]
    return "indexing", f"{n}{idx}", [n], shape


def _g_inc(b):
    p = b.pick(lambda v, s: len(s) >= 1 and b.float_ok(v) and v.dtype != "bool")
    if p is None:
        return None
    v, s, n = p
    r = b.rng
    if s[0] > 0 and r.random() < 0.3:
        ids = [int(x) for x in r.integers(-s[0], s[0], size=int(r.integers(1, 4)))]
        if r.random() < 0.5:
            ids = sorted(set(x % s[0] for x in ids))   # set_subtensor needs no duplicates
        idx, sub = f"[{ids}]", (len(ids),) + s[1:]
    else:
        sl = _slice(b, s[0])
        idx, sub = f"[{_fmt_slice(sl)}]", (len(range(*sl.indices(s[0]))),) + s[1:]
    # the increment: a pool value of that exact shape, or a fresh input, maybe broadcast
    q = b.pick(lambda w, t: t == sub and b.float_ok(w) and w.dtype != "bool"
               and all(st in (None, d) for st, d in zip(w.type.shape, t)))
    if q is None or r.random() < 0.4:
        drop = int(r.integers(0, len(sub) + 1)) if r.random() < 0.3 else 0
        shp = sub[drop:]
        q = b.new_input(shp, dtype="float64" if b.differentiable else None,
                        static=tuple(None for _ in shp))
    w, t, m = q
    fn = "inc_subtensor" if r.random() < 0.6 else "set_subtensor"
    if w.dtype != v.dtype and not _casts_safely(w.dtype, v.dtype):
        m = f"T.cast({m}, {v.dtype!r})"
    return "inc_subtensor", f"T.{fn}({n}{idx}, {m})", [n, q[2]], s


def _casts_safely(frm, to):
    return np.can_cast(frm, to, casting="safe")


def _g_shape(b):
    p = b.pick(lambda v, s: True)
    if p is None:
        return None
    v, s, n = p
    r = b.rng
    kind = int(r.integers(6))
    if kind == 0 and len(s) >= 2:
        return "shape", f"{n}.T", [n], s[::-1]
    if kind == 1:
        size = int(np.prod(s))
        if size > 0 and r.random() < 0.5:
            divs = [d for d in range(1, size + 1) if size % d == 0]
            a = int(r.choice(divs))
            return "shape", f"{n}.reshape(({a}, {size // a}))", [n], (a, size // a)
        return "shape", f"{n}.flatten()", [n], (size,)
    if kind == 2 and len(s) < b.max_ndim:
        pos = int(r.integers(len(s) + 1))
        pat = list(range(len(s)))
        pat.insert(pos, "x")
        shape = s[:pos] + (1,) + s[pos:]
        return "shape", f"{n}.dimshuffle({tuple(pat)!r})", [n], shape
    if kind == 3 and len(s) >= 1:
        axis = int(r.integers(len(s)))
        shape = tuple(d * 2 if k == axis else d for k, d in enumerate(s))
        return "shape", f"T.concatenate([{n}, {n} * 2], axis={axis})", [n], shape
    if kind == 4 and len(s) >= 1 and v.dtype != "bool":
        axis = int(r.integers(len(s)))
        if r.random() < 0.5 and b.float_ok(v):
            return "cumsum", f"T.cumsum({n}, axis={axis})", [n], s
        return "sort", f"T.sort({n}, axis={axis})", [n], s
    if len(s) < b.max_ndim:
        return "shape", f"T.stack([{n}, {n} + 1])", [n], (2,) + s
    return None


def _g_ifelse(b):
    import symgraph
    if not callable(getattr(symgraph, "ifelse", None)):
        return None
    p = b.pick(lambda v, s: b.float_ok(v))
    q = p and b.pick(lambda w, t: t == p[1] and w.type == p[0].type)
    if p is None or q is None:
        return None
    n, m = p[2], q[2]
    return "ifelse", (f"symgraph.ifelse(T.gt(T.sum({n}), T.sum({m})), {n}, {m})"), \
        [n, m], p[1]


def _g_scan(b):
    import symgraph
    if not callable(getattr(symgraph, "scan", None)):
        return None
    p = b.pick(lambda v, s: len(s) >= 1 and v.dtype.startswith("float"))
    if p is None:
        return None
    v, s, n = p
    expr = (f"symgraph.scan(lambda r, acc: acc * 0.5 + T.tanh(r), sequences=[{n}], "
            f"outputs_info=[T.zeros_like(T.sum({n}, axis=0))])[0]")
    return "scan", expr, [n], s


OP_GROUPS = {
    "elemwise": (_g_unary, _g_binary, _g_binary),
    "reduce": (_g_reduce,),
    "dot": (_g_dot,),
    "indexing": (_g_index,),
    "inc_subtensor": (_g_inc,),
    "shape": (_g_shape,),
    "ifelse": (_g_ifelse,),
    "scan": (_g_scan,),
}


def random_graph(rng, n_nodes, ops=None, dtypes=("float64",), max_ndim=3, max_dim=4,
                 n_inputs=None, differentiable=False, exclude=()):
    """A random graph of about `n_nodes` op applications (expressions), as a `RandomGraph`.

    >>> g = random_graph(np.random.default_rng(1), 8, ops=("elemwise", "reduce"))
    >>> f = symgraph.function(g.inputs, g.outputs)
    >>> results = f(*g.values)

    `rng`: a numpy Generator (or an int seed). `ops`: op groups from `OP_GROUPS` (default:
    all; 'ifelse' and 'scan' only when ``symgraph.ifelse``/``symgraph.scan`` exist). `dtypes`:
    the input dtypes to draw from ('float64', 'float32', 'int32', 'int64', 'bool', ...).
    Shapes have up to `max_ndim` dims of sizes 0..`max_dim` (size 1 dims mostly broadcastable,
    empty dims now and then). `differentiable`: every node reads floats only, so the graph
    has gradients with respect to every input. `exclude`: expression kinds never drawn
    (keys of the unary/binary tables, e.g. ``('invert',)``: keeps a known bug out of a
    campaign while its regression test tracks it). Outputs are the values no node reads.
    """
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    groups = list(ops) if ops is not None else list(OP_GROUPS)
    for g in groups:
        if g not in OP_GROUPS:
            raise ValueError(f"random_graph: unknown op group {g!r}; groups are "
                             f"{sorted(OP_GROUPS)}")
    if differentiable and any(not d.startswith("float") for d in dtypes):
        raise ValueError("random_graph(differentiable=True) needs float dtypes")
    b = _Builder(rng, dtypes, max_ndim, max_dim, differentiable, exclude)
    T = b.T
    import symgraph  # noqa: F401  (names the generated source uses)
    env = {"T": T, "symgraph": symgraph}
    for _ in range(n_inputs or int(rng.integers(1, 4))):
        b.new_input(b.random_shape())
    made, tries = 0, 0
    while made < n_nodes and tries < n_nodes * 20:
        tries += 1
        gens = OP_GROUPS[groups[int(rng.integers(len(groups)))]]
        res = gens[int(rng.integers(len(gens)))](b)
        if res is None:
            continue
        group, expr, reads, shape = res
        env.update({name: var for var, _, name in b.pool})
        var = eval(expr, env)  # noqa: S307  (our own generated expressions)
        b.emit(group, expr, var, shape, reads)
        made += 1
    outs = [var for var, _, name in b.pool if name not in b.read and name.startswith("v")]
    if not outs:
        outs = [b.pool[-1][0]]
    source = "\n".join(b.lines) + "\noutputs = [" + ", ".join(
        name for var, _, name in b.pool if any(var is o for o in outs)) + "]"
    return RandomGraph(b.inputs, outs, b.values, source, b.ops)


# -- comparing modes -----------------------------------------------------------------------

class ModesDisagreeError(AssertionError):
    """Two modes gave different results for one graph."""


#: (rtol, atol) per dtype when comparing modes (rewrites reorder float arithmetic)
MODE_TOL = {"float16": (5e-2, 1e-2), "float32": (1e-3, 1e-4), "float64": (1e-7, 1e-9),
            "complex64": (1e-3, 1e-4), "complex128": (1e-7, 1e-9)}


def available_modes():
    """The modes this machine can run: py, FAST_COMPILE, FAST_RUN, and 'cuda' when a CUDA
    mode is registered and a device is present."""
    modes = ["py", "FAST_COMPILE", "FAST_RUN"]
    if "cuda" in MODE_NAMES:
        try:
            from .codegen import cuda  # noqa: F401
            if getattr(cuda, "available", lambda: False)():
                modes.append("cuda")
        except ImportError:
            pass
    return tuple(modes)


def compare_values(ref, got, what="result"):
    """None when `got` equals `ref` (dtype, shape, values within MODE_TOL; NaN where NaN),
    else a sentence saying what differs."""
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.dtype != got.dtype:
        return f"{what}: dtype {got.dtype} vs {ref.dtype}"
    if ref.shape != got.shape:
        return f"{what}: shape {got.shape} vs {ref.shape}"
    if ref.size == 0:
        return None
    if ref.dtype.kind in "fc":
        rtol, atol = MODE_TOL.get(str(ref.dtype), (1e-7, 1e-9))
        fin = np.isfinite(ref)
        scale = float(np.max(np.abs(ref[fin]))) if fin.any() else 1.0
        ok = np.isclose(got, ref, rtol=rtol, atol=atol * max(1.0, scale), equal_nan=True)
    else:
        ok = got == ref
    if ok.all():
        return None
    pos = np.unravel_index(int(np.argmin(ok.reshape(-1))), ok.shape)
    return (f"{what}: {int((~ok).sum())} of {ok.size} values differ; first at "
            f"{tuple(map(int, pos))}: {got[pos]!r} vs {ref[pos]!r}")


def assert_modes_agree(fn_builder, inputs, modes=None, rtol=None, on_unused_input="ignore"):
    """Compile the graph of ``fn_builder()`` (returning ``(symbolic_inputs, outputs)``) in
    each of `modes` and check that all give the first mode's results (dtype, shape, values).

    >>> x = T.dvector('x')
    >>> assert_modes_agree(lambda: ([x], [T.exp(x) * 2]), [np.ones(3)])

    Each mode gets its own copies of `inputs` (an in-place bug cannot hide behind another
    mode's values), and the inputs must be left unchanged. Returns the results
    ``{mode: [arrays]}``; raises `ModesDisagreeError` naming the mode and the output.
    """
    from .compile.function import function
    modes = tuple(modes) if modes is not None else available_modes()
    results = {}
    for mode in modes:
        ins, outs = fn_builder()
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        f = function(list(ins), outs, mode=mode, on_unused_input=on_unused_input)
        vals = [np.array(v, copy=True) for v in inputs]
        got = f(*vals)
        for k, (a, b) in enumerate(zip(inputs, vals)):
            if not (np.asarray(a).shape == b.shape and
                    np.array_equal(np.asarray(a), b, equal_nan=True)):
                raise ModesDisagreeError(f"mode {mode!r} changed input {k} in place")
        results[mode] = [np.asarray(g) for g in got]
        for k, (o, g) in enumerate(zip(outs, results[mode])):
            if g.dtype != o.type.numpy_dtype or g.ndim != o.ndim or any(
                    st is not None and st != d for st, d in zip(o.type.shape, g.shape)):
                raise ModesDisagreeError(
                    f"mode {mode!r}: output {k} is {g.dtype}{g.shape}, its type is {o.type}")
    first = modes[0]
    for mode in modes[1:]:
        for k, (r, g) in enumerate(zip(results[first], results[mode])):
            problem = compare_values(r, g, what=f"output {k}")
            if problem:
                raise ModesDisagreeError(f"mode {mode!r} disagrees with {first!r}: {problem}")
    return results


# -- Rop -----------------------------------------------------------------------------------

class RopCheckError(AssertionError):
    """Rop disagrees with finite differences or with Lop."""


def verify_rop(fun, pt, rng=None, eps=None, rtol=None, mode="py"):
    """Check ``Rop(fun(x), x, u)`` at the point `pt` along random directions `u`:

    - against central finite differences ``(f(x + h u) - f(x - h u)) / 2h``;
    - against Lop: ``v·(J u) == (vᵀJ)·u`` for a random projection `v`.

    >>> verify_rop(lambda x, W: T.tanh(T.dot(x, W)), [np.ones(3), np.ones((3, 2))])

    `fun` maps symbolic tensors (one per array of `pt`, float dtypes) to one output. Raises
    `RopCheckError` naming the check and the errors.
    """
    from .compile.function import function
    from .grad.forward import Rop
    from .grad.reverse import Lop
    from .tensor.var import as_tensor_variable
    from .types import TensorType
    if rng is None:
        rng = np.random.default_rng(0)
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if p.dtype.kind != "f":
            raise TypeError(f"verify_rop works only with floating-point inputs; input {i} "
                            f"has dtype {p.dtype}")
    low = any(p.dtype != np.float64 for p in pt)
    if eps is None:
        eps = 3e-3 if low else 1e-6
    if rtol is None:
        rtol = 1e-2 if low else 1e-4
    xs = [TensorType(str(p.dtype), tuple(1 if s == 1 else None for s in p.shape))(
        name=f"input {i}") for i, p in enumerate(pt)]
    us = [x.type(name=f"direction {i}") for i, x in enumerate(xs)]
    out = as_tensor_variable(fun(*xs))
    jv = Rop(out, xs, us, disconnected_outputs="ignore")
    f = function(xs, out, mode=mode, on_unused_input="ignore")
    fr = function(xs + us, jv, mode=mode, on_unused_input="ignore")
    y0 = np.asarray(f(*pt))
    v_sym = TensorType("float64", tuple(1 if s == 1 else None for s in y0.shape))("v")
    vj = Lop(out, xs, v_sym, disconnected_inputs="ignore")
    vj = [g if g is not None else x * 0 for g, x in zip(vj, xs)]
    fl = function(xs + [v_sym], vj, mode=mode, on_unused_input="ignore")
    u = [rng.uniform(-1, 1, p.shape).astype(p.dtype) for p in pt]
    v = rng.uniform(0.5, 1.5, y0.shape)
    got = np.asarray(fr(*pt, *u), dtype=np.float64)
    up = [(p + eps * d).astype(p.dtype) for p, d in zip(pt, u)]
    down = [(p - eps * d).astype(p.dtype) for p, d in zip(pt, u)]
    num = (np.asarray(f(*up), np.float64) - np.asarray(f(*down), np.float64)) / (2 * eps)
    scale = max(1.0, float(np.max(np.abs(num))) if num.size else 1.0)
    err = float(np.max(np.abs(got - num))) if num.size else 0.0
    if not err <= rtol * scale:
        raise RopCheckError(f"verify_rop: Rop and finite differences differ by {err:.3g} "
                            f"(tolerance {rtol * scale:.3g}); Rop {got!r}, numeric {num!r}")
    lhs = float(np.sum(v * got))
    rhs = float(sum(np.sum(np.asarray(g, np.float64) * d) for g, d in
                    zip(fl(*pt, v), u)))
    if not abs(lhs - rhs) <= rtol * max(1.0, abs(lhs), abs(rhs)):
        raise RopCheckError(f"verify_rop: v·(J u) = {lhs!r} but (vᵀJ)·u = {rhs!r}")
    return got


# -- campaigns -----------------------------------------------------------------------------

class GraphFailure:
    """One graph that failed a campaign: its seed, size, the stage and the message; `source`
    rebuilds it (the smallest prefix of the graph that still fails, once minimized)."""

    def __init__(self, seed, n_nodes, stage, message, source):
        self.seed, self.n_nodes, self.stage = seed, n_nodes, stage
        self.message, self.source = message, source

    def __repr__(self):
        return (f"GraphFailure(seed={self.seed}, n_nodes={self.n_nodes}, stage={self.stage!r})"
                f"\n{self.message}\n{self.source}")


def _with_derivatives(g, grads, rops, rng):
    """(inputs, outputs, values) of `g` plus its gradients and Rops (new inputs for the
    projection and eval points)."""
    import symgraph.tensor as T
    from .grad.forward import Rop
    from .grad.reverse import grad
    ins, outs, vals = list(g.inputs), list(g.outputs), list(g.values)
    floats = [o for o in outs if o.dtype.startswith("float")]
    fins = [i for i in g.inputs if i.dtype.startswith("float")]
    extra = []
    if grads and floats and fins:
        cost = None
        for o in floats:
            w = o.type(name="w")       # a random projection per output
            ins.append(w)
            vals.append(rng.uniform(0.5, 1.5, _value_shape(o, g)).astype(o.dtype))
            term = T.sum(o * w)
            cost = term if cost is None else cost + term
        extra += grad(cost, fins, disconnected_inputs="ignore")
    if rops and floats and fins:
        evs = []
        for i, v in zip(g.inputs, g.values):
            if i.dtype.startswith("float"):
                e = i.type(name=f"u_{i.name}")
                ins.append(e)
                vals.append(rng.uniform(-1, 1, v.shape).astype(v.dtype))
                evs.append(e)
        try:
            extra += Rop(floats, fins, evs, disconnected_outputs="ignore")
        except NotImplementedError:
            pass                        # an op without R_op: Rop is not defined there
    return ins, outs + [e for e in extra if e is not None], vals


def _value_shape(var, g):
    # the run-time shape of an output: run the graph once in py mode (cached on g)
    if not hasattr(g, "_shapes"):
        from .compile.function import function
        f = function(g.inputs, g.outputs, mode="py", on_unused_input="ignore")
        g._shapes = [np.shape(r) for r in f(*[np.array(v, copy=True) for v in g.values])]
    return g._shapes[[o is var for o in g.outputs].index(True)]


def check_random_graphs(seeds, n_nodes=8, modes=None, grads=True, rops=True, batch=25,
                        minimize=True, **graph_kw):
    """Build `random_graph(seed, n_nodes, **graph_kw)` for each seed, add its gradients and
    Rops, compile them in each of `modes` (several graphs to one function, `batch` at a time,
    so a C module holds many graphs) and compare. Returns the `GraphFailure` list: graphs
    whose building, gradients or results failed, each cut to the smallest prefix of the
    graph (fewest nodes, same seed) that still fails when `minimize`."""
    seeds = list(seeds)
    failures = []
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        built = []
        for seed in chunk:
            try:
                built.append((seed, _build(seed, n_nodes, grads, rops, graph_kw)))
            except Exception as e:
                failures.append(_fail(seed, n_nodes, "build", e, grads, rops, graph_kw,
                                      minimize, modes))
        if not built:
            continue
        try:
            _agree([b for _, b in built], modes)
            continue
        except Exception:
            pass
        for seed, b in built:            # find the failing graphs of the batch
            try:
                _agree([b], modes)
            except Exception as e:
                failures.append(_fail(seed, n_nodes, "modes", e, grads, rops, graph_kw,
                                      minimize, modes))
    return failures


def _build(seed, n_nodes, grads, rops, graph_kw):
    rng = np.random.default_rng(seed)
    g = random_graph(rng, n_nodes, **graph_kw)
    ins, outs, vals = _with_derivatives(g, grads, rops, rng)
    return g, ins, outs, vals


def _agree(built, modes):
    ins, outs, vals = [], [], []
    for g, i, o, v in built:
        ins += i
        outs += o
        vals += v
    return assert_modes_agree(lambda: (ins, outs), vals, modes=modes)


def _fail(seed, n_nodes, stage, exc, grads, rops, graph_kw, minimize, modes):
    msg = f"{type(exc).__name__}: {exc}"
    best = n_nodes
    if minimize:
        for n in range(1, n_nodes):
            try:
                b = _build(seed, n, grads, rops, graph_kw)
                if stage == "build":
                    continue
                _agree([b], modes)
            except Exception as e:
                if stage == "build" or type(e) is type(exc):
                    best, msg = n, f"{type(e).__name__}: {e}"
                    break
    try:
        source = random_graph(np.random.default_rng(seed), best, **graph_kw).source
    except Exception as e:
        source = f"(the graph does not build: {e})"
    return GraphFailure(seed, best, stage, msg, source)


def check_infer_shape(out, inputs, values):
    """Assert that the op making `out` infers, from symbolic input shapes, the shape `out`
    really has when `inputs` take `values` (compiled in mode='py')."""
    from . import function
    from . import tensor as T
    node = out.owner
    in_values = function(inputs, node.inputs, mode="py", on_unused_input="ignore")(*values)
    dims = [[T.lscalar() for _ in range(v.ndim)] for v in node.inputs]
    (shape,) = node.op.infer_shape(node, [tuple(d) for d in dims])
    assert len(shape) == out.ndim
    want = function(inputs, out, mode="py", on_unused_input="ignore")(*values).shape
    if not shape:
        return
    shape = [T.as_tensor_variable(s) for s in shape]
    assert all(s.dtype == "int64" and s.ndim == 0 for s in shape)
    flat = [d for ds in dims for d in ds]
    sizes = [n for v in in_values for n in v.shape]
    got = function(flat, shape, mode="py", on_unused_input="ignore")(*sizes)
    assert tuple(int(g) for g in got) == want
