"""``symgraph.function``: compile a graph into a callable with updates and givens."""
from __future__ import annotations

import copy
import operator
import threading
import warnings
from collections import OrderedDict

import numpy as np

from ..errors import SymgraphError, format_trace
from ..graph import Constant, Variable, ancestors, clone_replace, graph_inputs
from ..opt.fgraph import FunctionGraph
from ..shared import SharedVariable
from ..tensor.var import as_tensor_variable
from .mode import get_mode

__all__ = ["function", "In", "Out", "Function", "FunctionMaker", "UnusedInputError"]


class UnusedInputError(SymgraphError, ValueError):
    """An input of function() is not needed to compute its outputs."""


class In:
    """An input with options: ``In(x, value=1.0, name='x')`` gives it a default value and a
    keyword name. `borrow`: the function may keep the caller's array; `mutable`: it may
    overwrite it."""

    def __init__(self, variable, name=None, value=None, update=None, mutable=False,
                 borrow=False, strict=False, allow_downcast=None, implicit=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In() needs a symbolic variable, got {type(variable).__name__}")
        self.variable = variable
        self.name = name or variable.name
        self.value = value
        self.has_default = value is not None
        self.update = update
        self.mutable = mutable
        self.borrow = borrow
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.implicit = implicit


class Out:
    """An output with options: ``Out(y, borrow=True)`` may return internal storage."""

    def __init__(self, variable, borrow=False):
        self.variable = as_tensor_variable(variable)
        self.borrow = borrow


def function(inputs, outputs=None, updates=None, givens=None, mode=None,
             allow_input_downcast=None, on_unused_input="raise", name=None,
             no_default_updates=False, profile=None, trust_input=False):
    """Compile a callable computing `outputs` from `inputs`.

    >>> x, y = T.dscalars('x', 'y')
    >>> f = symgraph.function([x, y], x + y)
    >>> f(2, 3)
    array(5.)

    `outputs` may be a variable (the call returns one value), a list or a dict. `updates`
    are ``(shared, new_value)`` pairs (or a dict), all computed from the values before the
    call and written after it. `givens` substitutes variables before compiling.
    """
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function(): inputs must be a list of variables, got "
                        f"{type(inputs).__name__}")
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError("on_unused_input must be 'raise', 'warn' or 'ignore'")
    spec = dict(inputs=list(inputs), outputs=outputs, updates=updates, givens=givens,
                mode=mode, allow_input_downcast=allow_input_downcast,
                on_unused_input=on_unused_input, name=name,
                no_default_updates=no_default_updates, profile=profile,
                trust_input=trust_input)
    from ..profiling import ProfileStats, compile_recorder
    with compile_recorder(name) as rec:
        maker = FunctionMaker(**spec)
        fn = maker.create()
    fn._spec = spec
    if maker.mode.profile:
        fn.profile = ProfileStats(maker.fgraph, rec, name).attach(fn.program)
    return fn


def _normalize_outputs(outputs):
    """(list of Out, how to return them)."""
    if outputs is None:
        return [], ("list", None)
    if isinstance(outputs, dict):
        keys = list(outputs)
        return [_as_out(outputs[k]) for k in keys], ("dict", keys)
    if isinstance(outputs, (list, tuple)):
        return [_as_out(o) for o in outputs], ("list", None)
    return [_as_out(outputs)], ("single", None)


def _as_out(o):
    if isinstance(o, Out):
        return o
    try:
        return Out(o)
    except TypeError as e:
        raise TypeError(f"function(): an output must be a symbolic variable, got "
                        f"{type(o).__name__}") from e


def _normalize_updates(updates):
    if updates is None:
        return []
    if isinstance(updates, dict):
        if not isinstance(updates, OrderedDict) and len(updates) > 1 and \
                type(updates) is not dict:
            warnings.warn("updates given as an unordered mapping", stacklevel=3)
        pairs = list(updates.items())
    else:
        pairs = list(updates)
    out, seen = [], set()
    for pair in pairs:
        try:
            var, expr = pair
        except (TypeError, ValueError):
            raise TypeError(f"function(): an update must be a (shared variable, expression) "
                            f"pair, got {pair!r}") from None
        if not isinstance(var, SharedVariable):
            raise TypeError(f"function(): updates can only change shared variables; "
                            f"{var!r} is a {type(var).__name__}")
        if var in seen:
            raise ValueError(f"function(): {var!r} is updated twice")
        seen.add(var)
        expr = as_tensor_variable(expr)
        if expr.type != var.type:
            if expr.dtype == var.dtype and var.type.is_super(expr.type):
                pass
            else:
                where = format_trace(expr.owner.trace) if expr.owner else ""
                raise TypeError(
                    f"function(): the update of {var!r} has type {expr.type}, but the shared "
                    f"variable has type {var.type}; cast the expression (e.g. "
                    f"T.cast(expr, '{var.dtype}')) or change the variable's type. "
                    f"Update expression {where}")
        out.append((var, expr))
    return out


def _default_updates(roots, explicit, no_default_updates):
    """Shared variables with a `default_update` (random states) that the graph reads."""
    if no_default_updates is True:
        return []
    skip = set(no_default_updates or ()) | set(explicit)
    found, frontier = [], list(roots)
    while frontier:
        new = []
        for v in graph_inputs(frontier):
            if isinstance(v, SharedVariable) and v.default_update is not None and v not in skip:
                skip.add(v)
                found.append((v, v.default_update))
                new.append(v.default_update)
        frontier = new
    return found


class FunctionMaker:
    """Turns the user's request into a FunctionGraph, rewrites it and builds the program."""

    def __init__(self, inputs, outputs, updates, givens, mode, allow_input_downcast,
                 on_unused_input, name, no_default_updates, profile, trust_input):
        self.mode = get_mode(mode)
        if profile and not self.mode.profile:
            self.mode = copy.copy(self.mode)        # never change the caller's Mode
            self.mode.profile = True
        if self.mode.nan_guard and "fusion" not in tuple(self.mode.excluding):
            # each node checked on its own, so the guard names the very node (and line)
            self.mode = copy.copy(self.mode)
            self.mode.excluding = tuple(self.mode.excluding) + ("fusion",)
        self.name = name
        self.allow_input_downcast = allow_input_downcast
        self.trust_input = trust_input
        self.inputs = [i if isinstance(i, In) else In(i) for i in inputs]
        self._check_inputs()
        self.outputs, self.return_as = _normalize_outputs(outputs)
        self.updates = _normalize_updates(updates)
        out_vars = [o.variable for o in self.outputs]
        upd_exprs = [e for _, e in self.updates]
        self.updates += _default_updates(out_vars + upd_exprs, [v for v, _ in self.updates],
                                         no_default_updates)
        upd_exprs = [e for _, e in self.updates]
        if givens:
            pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
            rep = {}
            for old, new in pairs:
                new = as_tensor_variable(new)
                if not isinstance(old, Variable):
                    raise TypeError(f"givens: keys must be variables, got {old!r}")
                if new.ndim != old.ndim or new.dtype != old.dtype:
                    raise TypeError(f"givens: {old!r} ({old.type}) cannot be replaced by "
                                    f"{new!r} ({new.type})")
                rep[old] = new
            replaced = clone_replace(out_vars + upd_exprs, rep)
            out_vars, upd_exprs = replaced[:len(out_vars)], replaced[len(out_vars):]
        explicit = [i.variable for i in self.inputs]
        needed = set(ancestors(out_vars + upd_exprs, explicit))
        self._check_unused(needed, on_unused_input)
        implicit = [v for v in graph_inputs(out_vars + upd_exprs, explicit)
                    if isinstance(v, SharedVariable) and v not in explicit]
        for v, _ in self.updates:
            if v not in implicit and v not in explicit:
                implicit.append(v)
        self.implicit = implicit
        for v in graph_inputs(out_vars + upd_exprs, explicit + implicit):
            if v.owner is None and not isinstance(v, Constant) and v not in explicit \
                    and v not in implicit:
                raise SymgraphError(
                    f"function(): the outputs depend on {v!r} ({v.type}), which is not among "
                    f"the inputs; add it to `inputs` or replace it with `givens`")
        self.fgraph = FunctionGraph(explicit + implicit, out_vars + upd_exprs)
        self.fgraph.n_outputs = len(out_vars)
        self.fgraph.update_targets = [v for v, _ in self.updates]
        self._rewrite()

    def _rewrite(self):
        """Run the mode's rewrite phases on the FunctionGraph (symgraph/opt), or load the
        result of an earlier compile of the same graph (compile/graph_cache.py)."""
        from ..profiling import phase
        from . import graph_cache
        with phase("rewrite"):
            fg = self.fgraph
            extra = (len(self.inputs), [(i.mutable, i.borrow) for i in self.inputs],
                     [o.borrow for o in self.outputs],
                     [self.implicit.index(v) for v in fg.update_targets])
            self._graph_key, self._traces = graph_cache.graph_key(fg, self.mode, extra)
            self._plan = graph_cache.load(self._graph_key, fg, self._traces)
            if self._plan is None:
                from ..opt import rewrite_graph
                rewrite_graph(fg, self.mode)

    def _check_inputs(self):
        seen = set()
        for pos, i in enumerate(self.inputs):
            v = i.variable
            if isinstance(v, Constant):
                raise TypeError(f"function(): input {pos} is a constant ({v!r}); inputs must "
                                f"be symbolic variables")
            if v in seen:
                raise ValueError(f"function(): input {pos} ({v!r}) is given twice")
            seen.add(v)

    def _check_unused(self, needed, policy):
        for pos, i in enumerate(self.inputs):
            if i.variable not in needed and policy != "ignore":
                msg = (f"function(): input {pos} ({i.variable!r}) is not part of the graph "
                       f"that computes the outputs; pass on_unused_input='ignore' (or "
                       f"'warn') if this is intended")
                if policy == "raise":
                    raise UnusedInputError(msg)
                warnings.warn(msg, stacklevel=4)

    def create(self):
        from ..codegen import make_program
        from ..profiling import phase
        self.fgraph.borrow_outputs = [o.borrow for o in self.outputs]   # device outputs
        with phase("codegen"):
            program = make_program(self.fgraph, self.mode, plan=self._plan)
        plan = getattr(program, "plan", None)
        if self._graph_key is not None and plan is not None and plan is not self._plan:
            from . import graph_cache
            graph_cache.store(self._graph_key, self.fgraph, plan, self._traces)
        return Function(self, program)


def _alias_root(var):
    """The variable whose storage `var` may share (following views and in-place ops)."""
    while var.owner is not None:
        op = var.owner.op
        src = op.view_map.get(var.index) or op.destroy_map.get(var.index)
        if not src:
            return var
        var = var.owner.inputs[src[0]]
    return var


class Function:
    """A compiled function: call it with values for its inputs."""

    def __init__(self, maker: FunctionMaker, program):
        self.maker = maker
        self.program = program
        self.name = maker.name
        self.trust_input = maker.trust_input
        fg = maker.fgraph
        ins = maker.inputs
        self._n_explicit = len(ins)
        self._types = [i.variable.type for i in ins]
        self._labels = [f"input {p} ({i.name})" if i.name else f"input {p}"
                        for p, i in enumerate(ins)]
        self._downcast = [maker.allow_input_downcast if i.allow_downcast is None
                          else i.allow_downcast for i in ins]
        self._defaults = [i.value if i.has_default else _MISSING for i in ins]
        self._by_name = {}
        for p, i in enumerate(ins):
            if i.name:
                self._by_name.setdefault(i.name, p)
        self._containers = [v.container for v in maker.implicit]
        n_out = fg.n_outputs
        inputs_set = set(fg.inputs)
        roots = [_alias_root(o) for o in fg.outputs]
        copy = []
        seen_roots = set()
        for k, (o, r) in enumerate(zip(fg.outputs, roots)):
            borrow = maker.outputs[k].borrow if k < n_out else False
            aliased = r in inputs_set or isinstance(r, Constant) or r in seen_roots
            if k >= n_out:
                target = fg.inputs[self._n_explicit + maker.implicit.index(
                    fg.update_targets[k - n_out])]
                aliased = (r in inputs_set and r is not target) or isinstance(r, Constant) \
                    or r in seen_roots
            copy.append(aliased and not borrow)
            seen_roots.add(r)
        self._copy = copy
        self._n_out = n_out
        self._update_containers = [v.container for v, _ in maker.updates]
        self._update_lock = threading.Lock()
        self.profile = None
        # the fast path of __call__: positional ndarrays already of their input's type, no
        # shared inputs, copies or updates; per input (dtype, ndim, ((dim, static size),))
        kind = maker.return_as[0]
        self._fast = None
        if not self._containers and not any(copy) and len(copy) == n_out and \
                kind in ("single", "list"):
            self._fast = _fast_call(self._types, program, kind == "single",
                                    not maker.mode.profile, self._call_general)
        self._call = self._fast or _general_call(self._call_general)
        from ..codegen.cbackend import CProgram
        if not maker.mode.profile and type(program) is CProgram and \
                kind in ("single", "list"):
            # the whole call in one C call (native_entry.py), the Python call its fallback
            from ..codegen.native_entry import entry_for
            native = entry_for(program, self._n_explicit, kind == "single", self._call,
                               n_out=n_out, shared=self._containers,
                               updates=self._update_containers, copy=copy,
                               lock=self._update_lock)
            if native is not None:
                self._call = native

    def _convert(self, args, kwargs):
        n = self._n_explicit
        if len(args) > n:
            raise TypeError(f"{self._fname()} takes {n} inputs, got {len(args)}")
        vals = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            pos = self._by_name.get(key)
            if pos is None:
                raise TypeError(f"{self._fname()} has no input named {key!r}; names are "
                                f"{sorted(self._by_name)}")
            if vals[pos] is not _MISSING:
                raise TypeError(f"{self._fname()} got {key!r} both by position and by name")
            vals[pos] = value
        for pos in range(n):
            v = vals[pos]
            if v is _MISSING:
                v = self._defaults[pos]
                if v is _MISSING:
                    raise TypeError(f"{self._fname()}: missing {self._labels[pos]}")
            if not self.trust_input:
                t = self._types[pos]
                if not t.value_ok(v):
                    if type(v).__module__.startswith("cupy"):     # a device array
                        from ..codegen.cuda import device_filter
                        v = device_filter(t, v, self._downcast[pos],
                                          f"{self._fname()}: {self._labels[pos]}")
                    else:
                        v = t.filter(v, allow_downcast=self._downcast[pos],
                                     what=f"{self._fname()}: {self._labels[pos]}")
            vals[pos] = v
        return vals

    def _fname(self):
        return f"function {self.name!r}" if self.name else "function"

    # ``f(...)`` calls ``f._call`` (the class attribute is a property, which Python's call
    # slot honours): a function generated for this one's input types with the fast path's
    # checks inline, falling back to `_call_general` (one Python call less than a method
    # delegating to it: W1's call overhead)
    __call__ = property(operator.attrgetter("_call"),
                        doc="Call the function with values for its inputs.")

    def _call_general(self, args, kwargs):
        vals = self._convert(args, kwargs)
        vals += [c.value for c in self._containers]
        results = self.program(vals)
        copy = self._copy
        results = [(r.copy() if type(r).__module__.startswith("cupy") else
                    np.array(r, copy=True)) if copy[k] else r for k, r in enumerate(results)]
        n_out = self._n_out
        if len(results) > n_out:
            with self._update_lock:
                for c, v in zip(self._update_containers, results[n_out:]):
                    c.value = v
        outs = results[:n_out]
        kind, keys = self.maker.return_as
        if kind == "single":
            return outs[0]
        if kind == "dict":
            return dict(zip(keys, outs))
        return outs

    def __reduce__(self):
        return (_rebuild, (self._spec,))

    def free(self):
        """Kept for Theano compatibility: storage is per call, so there is nothing to free."""


def _general_call(general):
    def call(*args, **kwargs):
        return general(args, kwargs)
    return call


def _fast_call(types, program, single, direct, general):
    """``call(*args, **kwargs)``: the function's outputs, straight from the program when
    the arguments are positional ndarrays already of their input's type (dtype, ndim,
    static sizes), else from ``general(args, kwargs)``; generated for these types (a loop
    over a list of checks cost more than the call it guards: W1). `direct`: call the
    program's straight-line ``run_values`` (CProgram) without building lists, when it
    returns what the call returns and no profile or nan_guard needs the program's
    ``__call__``."""
    names = [f"v{k}" for k in range(len(types))]
    ns = {"ndarray": _ndarray, "program": program, "general": general}
    conds = []
    for k, t in enumerate(types):
        ns[f"d{k}"] = t.numpy_dtype
        conds += [f"type(v{k}) is ndarray", f"v{k}.dtype is d{k}", f"v{k}.ndim == {t.ndim}"]
        conds += [f"v{k}.shape[{d}] == {s}" for d, s in enumerate(t.shape) if s is not None]
    run_values = getattr(program, "run_values", None)
    body = [f"return program([{', '.join(names)}]){'[0]' if single else ''}"]
    if direct and run_values is not None and not getattr(program, "nan_guard", False) and \
            program.single == single:
        inline = getattr(program, "run_body", None)
        if inline is not None:
            # the program's own body, over its namespace (names there are numbered: no
            # clash with ours)
            body, prog_ns = inline
            ns = dict(prog_ns, **ns)
        else:
            ns["run_values"] = run_values
            body = [f"return run_values({', '.join(names)})"]
    lines = ["def call(*args, **kwargs):", f"    if not kwargs and len(args) == {len(types)}:"]
    if names:
        lines.append(f"        {', '.join(names)}, = args")
    lines += [f"        if {' and '.join(conds) or 'True'}:"]
    lines += [f"            {line}" for line in body]
    lines += ["    return general(args, kwargs)"]
    exec(compile("\n".join(lines) + "\n", "<symgraph Function fast path>", "exec"), ns)
    return ns["call"]


def _rebuild(spec):
    fn = function(**spec)
    return fn


_ndarray = np.ndarray


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()
