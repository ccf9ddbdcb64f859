"""The rewrite engine: a registry of named rules and the work-list runner of each phase.

A *local* rule looks at one node: ``fn(fgraph, node)`` returns None (no change), a list of
new outputs (one per output of the node) or a dict ``{old_variable: new_variable}``. A
*pattern* rule is a local rule written as a tree pattern and a builder of the replacement.
A *global* rule looks at the whole graph once per phase (merge): ``fn(fgraph) -> bool``.

Rules are pure. The engine replaces, checks types (`FunctionGraph.replace` refuses type
changes; a more specific static shape is fine), records the rule's name as the reason in
``fgraph.history`` and in ``node.tag['reason']`` of every new node, and copies the user's
source trace from the rewritten node to the new ones, so errors and debugprint still point
at the user's line.

Each phase runs its local rules to a fixed point over a work list: every node once, then
only the nodes a rewrite created, the nodes whose inputs changed and the nodes next to a
removed one. A rule that fails warns and is skipped (``config.on_opt_error='warn'``), or
re-raises (``'raise'``).
"""
from __future__ import annotations

import inspect
import warnings
from collections import deque

from ..config import config
from ..errors import SymgraphError, format_trace
from ..graph import Variable
from .pattern import Pat, match
from .phases import BACKWARD, MODES, PHASES
from .utils import fit

__all__ = ["Rule", "REGISTRY", "local_rule", "global_rule", "rule", "rewrite_graph",
           "RewriteWarning", "RewriteError", "run_phase", "rules_for_mode"]


class RewriteWarning(UserWarning):
    """A rewrite failed and was skipped."""


class RewriteError(SymgraphError, TypeError):
    """A rewrite returned something the engine cannot use."""


class Rule:
    """One named rewrite: where it runs (`phases`), what it watches (`tracks`) and its tags
    (other names ``Mode(excluding=...)`` knows it by)."""

    def __init__(self, name, fn, phases, tracks=(None,), tags=(), kind="local",
                 default=True):
        if isinstance(phases, str):
            phases = (phases,)
        for p in phases:
            if p not in PHASES:
                raise ValueError(f"rule {name}: unknown phase {p!r}; phases are {PHASES}")
        self.name = name
        self.fn = fn
        self.phases = tuple(phases)
        self.tracks = tuple(tracks) or (None,)
        self.tags = frozenset(tags) | {name}
        self.kind = kind
        self.default = default

    def __repr__(self):
        return f"Rule({self.name!r}, phases={self.phases})"


class Registry:
    """All rules, by name, in registration order."""

    def __init__(self):
        self.rules = {}
        self._dispatch = {}
        # True once a rule from outside symgraph was added or any rule removed: rewrites
        # then depend on more than symgraph's code, so no rewritten graph is cached
        # (compile/graph_cache.py)
        self.custom = False

    def add(self, r: Rule) -> Rule:
        if r.name in self.rules:
            raise ValueError(f"a rewrite named {r.name!r} is already registered")
        fn = getattr(r.fn, "build", r.fn)
        if not str(getattr(fn, "__module__", "")).startswith("symgraph."):
            self.custom = True
        self.rules[r.name] = r
        self._dispatch.clear()
        return r

    def remove(self, name):
        self.rules.pop(name)
        self.custom = True
        self._dispatch.clear()

    def __getitem__(self, name):
        return self.rules[name]

    def __iter__(self):
        return iter(self.rules.values())


REGISTRY = Registry()


def _track_key(t):
    """Rules watch classes: an Elemwise instance (``log``) stands for its scalar op's class,
    any other op or scalar op instance for its class."""
    from ..graph import Op
    from ..ops.elemwise import Elemwise
    from ..ops.scalar import ScalarOp
    if t is None or isinstance(t, type):
        return t
    if isinstance(t, Elemwise):
        return type(t.scalar_op)
    if isinstance(t, (Op, ScalarOp)):
        return type(t)
    raise TypeError(f"a rule watches op classes, scalar op classes or Elemwise instances, "
                    f"not {t!r}")


def local_rule(phases, *tracks, name=None, tags=(), default=True):
    """Register ``fn(fgraph, node)`` as a local rewrite in `phases`, watching `tracks` (Op
    classes, ScalarOp classes or Elemwise instances; none: every node)::

        @local_rule("canonicalize", DimShuffle)
        def dimshuffle_of_dimshuffle(fgraph, node): ...
    """
    def deco(fn):
        REGISTRY.add(Rule(name or fn.__name__, fn, phases,
                          tuple(_track_key(t) for t in tracks) or (None,), tags,
                          default=default))
        return fn
    return deco


def global_rule(phases, name=None, tags=(), default=True):
    """Register ``fn(fgraph) -> changed`` as a whole-graph pass of `phases`."""
    def deco(fn):
        REGISTRY.add(Rule(name or fn.__name__, fn, phases, (None,), tags, kind="global",
                          default=default))
        return fn
    return deco


def rule(phases, pattern: Pat, build=None, *, name=None, tags=(), default=True):
    """Register a pattern rewrite: when a node matches `pattern`, ``build(**captures)``
    gives the replacement of its output (None: no change). The result is cast, padded
    and broadcast to the matched output's type (``utils.fit``). A builder may also ask for
    ``node`` and ``fgraph`` by naming them as parameters::

        rule("canonicalize", pat(log, pat(exp, X)), lambda x: x, name="log_exp")

        @rule("specialize", pat(pow, X, C))
        def pow_small_int(x, c): ...
    """
    def deco(build_fn):
        params = inspect.signature(build_fn).parameters
        wants = {k for k in ("node", "fgraph") if k in params}

        def fn(fgraph, node):
            matched = []
            binds = match(pattern, node.outputs[0], {}, matched)
            if binds is None:
                return None
            extra = {"node": node, "fgraph": fgraph}
            result = build_fn(**binds, **{k: extra[k] for k in wants})
            if result is None:
                return None
            models = [i for n in matched for i in n.inputs]
            fitted = fit(result, node.outputs[0], models)
            return None if fitted is None else [fitted]

        rule_name = name or build_fn.__name__
        if rule_name == "<lambda>":
            raise ValueError(f"a pattern rule for {pattern} needs a name")
        fn.__name__ = rule_name
        fn.pattern = pattern
        fn.build = build_fn
        REGISTRY.add(Rule(rule_name, fn, phases, (_track_key(pattern.tracks()),), tags,
                          default=default))
        return build_fn
    if build is not None:
        deco(build)
        return build
    return deco


# -- choosing rules -------------------------------------------------------------------------

def rules_for_mode(mode) -> dict:
    """{phase: [rules]} that `mode` runs, in phase order."""
    _load_rules()
    phases = _mode_phases(mode)
    excluded = set(getattr(mode, "excluding", ()) or ())
    included = set(getattr(mode, "including", ()) or ())
    out = {}
    for phase in PHASES:
        if phase not in phases and phase not in included:
            continue
        if phase in excluded:
            continue
        chosen = [r for r in REGISTRY if phase in r.phases
                  and (r.default or r.tags & included) and not r.tags & excluded]
        out[phase] = chosen
    return out


def _mode_phases(mode):
    optimizer = getattr(mode, "optimizer", "default")
    if optimizer in (None, "None", "none", ""):
        return ()
    if isinstance(optimizer, str) and optimizer != "default":
        key = {"fast_run": "FAST_RUN", "fast_compile": "FAST_COMPILE",
               "merge": "merge"}.get(optimizer.lower(), optimizer)
        if key == "merge":
            return ("merge",)
        if key in MODES:
            return MODES[key]
        raise ValueError(f"unknown optimizer {optimizer!r}; use 'fast_run', 'fast_compile', "
                         f"'merge' or None")
    return MODES.get(getattr(mode, "name", "FAST_RUN"), PHASES)


_LOADED = False


def _load_rules():
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from . import rules  # noqa: F401  (registers every rule module)


# -- running --------------------------------------------------------------------------------

def rewrite_graph(fgraph, mode):
    """Run the phases `mode` selects on `fgraph`, in place; returns the fgraph."""
    chosen = rules_for_mode(mode)
    if not any(chosen.values()):
        return fgraph
    merge_rules = chosen.get("merge", ())
    for phase, rules in chosen.items():
        changed = run_phase(fgraph, phase, rules)
        if changed and phase not in ("merge", "inplace") and merge_rules:
            run_phase(fgraph, "merge", merge_rules)
    return fgraph


def run_phase(fgraph, phase, rules) -> bool:
    """Run one phase's rules on `fgraph`: the global ones once, then the local ones to a
    fixed point. True when the graph changed."""
    changed = False
    for r in rules:
        if r.kind == "global":
            changed |= bool(_guard(r, None, lambda r=r: r.fn(fgraph)))
    local = [r for r in rules if r.kind == "local"]
    if local:
        changed |= _WorkList(fgraph, local, backward=phase in BACKWARD).run()
    return changed


class _WorkList:
    """Visit nodes until no rule applies to any of them."""

    def __init__(self, fgraph, rules, backward=False):
        self.fgraph = fgraph
        self.rules = rules
        self.backward = backward
        self._cache = {}

    def rules_for(self, node):
        op = node.op
        sop = getattr(op, "scalar_op", None)
        key = (type(op), type(sop))
        found = self._cache.get(key)
        if found is None:
            classes = set(type(op).__mro__)
            if sop is not None:
                classes.update(type(sop).__mro__)
            found = [r for r in self.rules
                     if any(t is None or t in classes for t in r.tracks)]
            self._cache[key] = found
        return found

    # listener protocol of FunctionGraph
    def on_import(self, fgraph, node):
        self.push(node)

    def on_change_input(self, fgraph, node, index, old, new):
        self.push(node)

    def on_lose_client(self, fgraph, var):
        # a value down to one reader may now be fused, flattened or overwritten
        lst = fgraph.clients.get(var)
        if lst is not None and len(lst) <= 2:
            if var.owner is not None:
                self.push(var.owner)
            for c, _ in lst:
                if c != "output":
                    self.push(c)

    def push(self, node):
        if node not in self.queued:
            self.queued.add(node)
            self.queue.append(node)

    def run(self) -> bool:
        fg = self.fgraph
        order = fg.toposort()
        if self.backward:
            order.reverse()
        self.queue = deque(order)
        self.queued = set(order)
        budget = limit = 20 * len(order) + 1000
        changed = False
        last = None
        fg.attach(self)
        try:
            while self.queue:
                node = self.queue.popleft()
                self.queued.discard(node)
                if node not in fg.apply_nodes:
                    continue
                for r in self.rules_for(node):
                    if _apply(fg, r, node):
                        changed, last = True, r.name
                        budget -= 1
                        if node in fg.apply_nodes:
                            self.push(node)
                        break
                if budget <= 0:
                    warnings.warn(f"rewrites did not reach a fixed point after {limit} changes; "
                                  f"stopping (last rule: {last})", RewriteWarning)
                    break
        finally:
            fg.detach(self)
        return changed


def _apply(fgraph, r, node) -> bool:
    result = _guard(r, node, lambda: r.fn(fgraph, node))
    if not result:
        return False
    try:
        pairs = _pairs(r, node, result)
        pairs = [(o, n) for o, n in pairs if o is not n]
        if not pairs:
            return False
        for old, new in pairs:
            fgraph._check_types(old, new, r.name)
    except Exception as e:
        _handle(r, node, e)
        return False
    for old, new in pairs:
        for n in fgraph.new_nodes(new):
            n.trace = node.trace
            n.tag["reason"] = r.name
    try:
        for old, new in pairs:
            if old in fgraph.clients or old in fgraph.inputs:
                fgraph.replace(old, new, r.name)
    except Exception as e:  # a half-applied replacement leaves a consistent graph
        _handle(r, node, e)
    return True


def _pairs(r, node, result):
    if isinstance(result, dict):
        pairs = list(result.items())
    elif isinstance(result, (list, tuple)):
        if len(result) != len(node.outputs):
            raise RewriteError(f"rewrite {r.name} returned {len(result)} replacements for "
                               f"{len(node.outputs)} outputs of {node.op}")
        pairs = list(zip(node.outputs, result))
    else:
        raise RewriteError(f"rewrite {r.name} returned a {type(result).__name__}; expected "
                           f"None, a list of new outputs or a dict {{old: new}}")
    for old, new in pairs:
        if not isinstance(new, Variable) or not isinstance(old, Variable):
            raise RewriteError(f"rewrite {r.name} returned {new!r} for {old!r}; both must "
                               f"be variables")
    return pairs


def _guard(r, node, call):
    try:
        return call()
    except Exception as e:
        _handle(r, node, e)
        return None


def _handle(r, node, exc):
    policy = config.on_opt_error
    if policy == "raise":
        raise exc
    if policy == "ignore":
        return
    where = f" on {node.op} ({format_trace(node.trace)})" if node is not None else ""
    warnings.warn(f"rewrite {r.name} failed{where}: {type(exc).__name__}: {exc}; it was "
                  f"skipped. Set symgraph.config.on_opt_error='raise' to see the traceback.",
                  RewriteWarning, stacklevel=2)
