"""``scan()``: Theano's argument rules, lowered to the uniform ``Scan`` op (op.py).

The user's `fn` receives, in order: each sequence once per tap, each fed-back output once
per tap (``outputs_info`` entries that are not None), then the non-sequences. It returns
its outputs, optionally an updates dict and an ``until(cond)``, in any order.

Lowering:
- a sequence tap k of ``dict(input=x, taps=[...])`` becomes the slice of x that holds
  ``x[t + k]`` at step t (the first step is the one where the most negative tap is 0);
- an output with taps ``[-1]`` is a carry; taps reaching back L steps carry a window of the
  last L values (``initial[:L]`` at first);
- shared variables the step updates, and the random states of draws made inside `fn`, are
  carries whose final values come back in `updates`;
- every other variable the step reads is a parameter (shared variables included); the work
  that depends only on parameters is done once, before the loop.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..errors import op_build_error, user_trace
from ..graph import Variable, io_toposort
from ..shared import SharedVariable
from ..tensor.var import as_tensor_variable
from ..types import TensorType
from .inner import InnerGraph, clone_from, placeholder
from .op import Scan

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr"]


class until:
    """``return outputs, until(cond)`` in a scan step: stop after the step where the scalar
    `cond` is true (that step's outputs are kept)."""

    def __init__(self, condition):
        c = as_tensor_variable(condition)
        if c.ndim != 0:
            raise op_build_error("until", [c], f"the condition must be a scalar, got {c.type}")
        self.condition = c


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         go_backwards=False, truncate_gradient=-1, strict=False, name=None, mode=None,
         return_list=False):
    """A symbolic loop: ``(outputs, updates)``, Theano's ``theano.scan``.

    >>> k = T.iscalar('k'); A = T.vector('A')
    >>> result, updates = symgraph.scan(lambda prior, A: prior * A,
    ...                                 outputs_info=T.ones_like(A), non_sequences=A,
    ...                                 n_steps=k)
    >>> power = symgraph.function([A, k], result[-1], updates=updates)

    `sequences`: variables (or ``dict(input=x, taps=[-2, 0, 1])``) iterated over their first
    axis; `outputs_info`: initial states (``dict(initial=x0, taps=[-3, -1])``) or None for
    outputs not fed back; `non_sequences`: passed unchanged every step; `n_steps`: the number
    of steps (at most the length of the sequences); `go_backwards`: iterate the sequences
    from their end; `truncate_gradient`: backpropagate through at most that many steps.
    Each output comes back stacked over the steps (one variable, or a list).
    """
    trace = user_trace()
    what = f"scan {name!r}" if name else "scan"
    infos = _outputs_info(outputs_info)
    nonseqs = [x if isinstance(x, Variable) else as_tensor_variable(x)
               for x in _as_list(non_sequences)]
    seq_outer, seq_holders = _sequence_slices(_sequences(sequences, go_backwards))
    carries, carry_args = _carry_holders(infos)
    first_id = _next_id()
    outs, updates, cond = _parse_result(fn(*seq_holders, *carry_args, *nonseqs), what, trace)
    if outputs_info is None:
        infos = [None] * len(outs)
    elif len(outs) != len(infos):
        raise op_build_error(what, outs, f"fn returned {len(outs)} outputs but outputs_info "
                             f"has {len(infos)} entries", ValueError, trace)
    new_carries, ys = _new_carries(outs, infos, carries, what, trace)
    conds = [cond] if cond is not None else []
    update_vars, upd_exprs = _loop_updates(updates, new_carries + ys + conds, first_id, what,
                                           trace)

    # the inner graph: per-step variables first, then what it reads (the parameters)
    holders = seq_holders + [h for _, h, _ in carries] + update_vars
    graph, params = lift_loop(new_carries + upd_exprs + ys + conds, holders)
    if strict:
        _check_strict(params, nonseqs, what, trace)
    op = Scan(graph, len(seq_holders), len(holders) - len(seq_holders), len(ys),
              keep=("all",) * len(carries) + ("last",) * len(update_vars),
              until=cond is not None, name=name, mode=mode,
              truncate_gradient=truncate_gradient)
    inits = [c for c, _, _ in carries] + update_vars
    node = op.make_node(_n_steps(n_steps, seq_holders, what, trace), *seq_outer, *inits,
                        *params)
    node.trace = trace
    outputs, new_updates = _results(node, infos, carries, update_vars, updates)
    if len(outputs) == 1 and not return_list:
        return outputs[0], new_updates
    return outputs, new_updates


def _sequence_slices(seqs):
    """(outer slices, step placeholders): one per tap, the slice holding x[t + tap] at t."""
    outer, holders = [], []
    for x, taps in seqs:
        mn, mx = min(taps), max(taps)
        for k in taps:
            outer.append(x[k - mn:x.shape[0] - (mx - k) if mx != k else None])
            h = TensorType(x.dtype, x.type.shape[1:])()
            h.name = f"{x.name}[t{k:+d}]" if x.name else None
            holders.append(h)
    return outer, holders


def _carry_holders(infos):
    """([(initial carry, placeholder, window length or None)], the step's arguments)."""
    carries, args = [], []
    for info in infos:
        if info is None:
            continue
        init, taps = info
        if taps == [-1]:
            h = placeholder(init)
            carries.append((init, h, None))
            args.append(h)
        else:  # a window of the last L values, oldest first
            L = -min(taps)
            h = TensorType(init.dtype, (L,) + init.type.shape[1:])()
            carries.append((init[:L], h, L))
            args.extend(h[L + k] for k in taps)
    return carries, args


def _new_carries(outs, infos, carries, what, trace):
    """(the carries after a step, the outputs not fed back)."""
    from ..ops.shape import concatenate
    new, ys, it = [], [], iter(carries)
    for i, (o, info) in enumerate(zip(outs, infos)):
        if info is None:
            ys.append(o)
            continue
        init, h, L = next(it)
        want = init.type if L is None else TensorType(init.dtype, init.type.shape[1:])
        v = _fit(o, want, what, f"output {i}", trace)
        new.append(v if L is None else concatenate([h[1:], v[None]], axis=0))
    return new, ys


def _loop_updates(updates, roots, first_id, what, trace):
    """The shared variables the loop carries: those `fn` updates, and the random states of
    the draws made inside `fn` (their default updates), found until none is left."""
    pairs = list(updates.items())
    known = {s for s, _ in pairs}
    found = True
    while found:
        found = False
        for v in _shared_inputs(roots + [e for _, e in pairs]):
            if v not in known and v.default_update is not None \
                    and _made_after(v.default_update, first_id):
                known.add(v)
                pairs.append((v, v.default_update))
                found = True
    exprs = [_fit(e, s.type, what, f"the update of {s!r}", trace) for s, e in pairs]
    return [s for s, _ in pairs], exprs


def _check_strict(params, nonseqs, what, trace):
    from ..graph import graph_inputs
    allowed = set(nonseqs)
    bad = [p for p in graph_inputs(params) if p not in allowed and not hasattr(p, "data")]
    if bad:
        raise op_build_error(what, bad, "strict=True: the step reads variables (shared ones "
                             "included) that are not among non_sequences", ValueError, trace)


def _n_steps(n_steps, seq_holders, what, trace):
    """n_steps as an int64 scalar; -1 (as long as the sequences) when not given."""
    from ..ops.math import cast
    if n_steps is None:
        if not seq_holders:
            raise op_build_error(what, [], "give sequences or n_steps", ValueError, trace)
        n_steps = np.int64(-1)
    n_steps = as_tensor_variable(n_steps)
    if n_steps.ndim != 0 or not str(n_steps.dtype).startswith(("int", "uint")):
        raise op_build_error(what, [n_steps], f"n_steps must be an integer scalar, got "
                             f"{n_steps.type}", TypeError, trace)
    return cast(n_steps, "int64") if n_steps.dtype != "int64" else n_steps


def _results(node, infos, carries, update_vars, user_updates):
    """(the user's outputs, in outputs_info order; the updates dict)."""
    n_out = len(carries)
    n_carry = n_out + len(update_vars)
    res = node.outputs
    hist, finals, ys = res[:n_out], iter(res[n_out:n_carry]), iter(res[n_carry:])
    outputs, it = [], iter(zip(hist, carries))
    for info in infos:
        if info is None:
            outputs.append(next(ys))
        else:
            h, (_, _, L) = next(it)
            outputs.append(h if L is None else h[:, L - 1])
    new_updates = OrderedDict()
    for s in update_vars:
        new_updates[s] = f = next(finals)
        if s.default_update is not None and s not in user_updates:
            s.default_update = f   # the draw's state advances by the whole loop
    return outputs, new_updates


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _sequences(sequences, go_backwards):
    out = []
    for s in _as_list(sequences):
        if isinstance(s, dict):
            x, taps = s.get("input"), list(s.get("taps", [0]) or [0])
        else:
            x, taps = s, [0]
        x = as_tensor_variable(x)
        if x.ndim == 0:
            raise op_build_error("scan", [x], "a sequence must have at least one dimension "
                                 "(it is iterated over its first axis)", TypeError)
        if go_backwards:
            x = x[::-1]
        out.append((x, [int(k) for k in taps]))
    return out


def _outputs_info(outputs_info):
    """[(initial value, taps) or None] per output."""
    out = []
    for info in _as_list(outputs_info):
        if info is None:
            out.append(None)
            continue
        if isinstance(info, dict):
            init = info.get("initial")
            if init is None:
                out.append(None)
                continue
            taps = list(info.get("taps", [-1]))
        else:
            init, taps = info, [-1]
        init = as_tensor_variable(init)
        if not taps:
            out.append(None)
            continue
        if any(k >= 0 for k in taps):
            raise op_build_error("scan", [init], f"output taps must be negative, got {taps}",
                                 ValueError)
        out.append((init, [int(k) for k in taps]))
    return out


def _parse_result(result, what, trace):
    """(outputs, updates, until condition) from whatever `fn` returned."""
    outs, updates, cond = [], OrderedDict(), None
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    # a list of (shared, expr) pairs is an updates list
    if items and all(isinstance(i, tuple) and len(i) == 2 and isinstance(i[0], SharedVariable)
                     for i in items) and isinstance(result, list):
        items = [OrderedDict(items)]
    for item in items:
        if item is None:
            continue
        if isinstance(item, until):
            cond = item.condition
        elif isinstance(item, dict):
            updates.update(item)
        elif isinstance(item, (list, tuple)) and item and all(
                isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], SharedVariable)
                for p in item):
            updates.update(item)
        elif isinstance(item, (list, tuple)):
            outs.extend(as_tensor_variable(o) for o in item)
        else:
            outs.append(as_tensor_variable(item))
    for s in updates:
        if not isinstance(s, SharedVariable):
            raise op_build_error(what, [s], f"fn's updates can only change shared variables; "
                                 f"{s!r} is a {type(s).__name__}", TypeError, trace)
    return outs, updates, cond


def _fit(v, want, what, label, trace):
    """v as a value of type `want`: the same dtype and rank, required; static shapes made to
    agree (a static size the step cannot prove is asserted, a static 1 relaxed)."""
    from ..ops.shape import specify_shape, unbroadcast
    v = as_tensor_variable(v)
    if v.dtype != want.dtype or v.ndim != want.ndim:
        where = v.owner.trace if v.owner is not None else trace
        raise op_build_error(what, [v], f"{label} of the step has type {v.type}, but its "
                             f"initial value has type {want}; they must have the same dtype "
                             f"and number of dimensions (cast one of them)", TypeError, where)
    loose = [d for d, (s, w) in enumerate(zip(v.type.shape, want.shape)) if s == 1 and w != 1]
    if loose:
        v = unbroadcast(v, *loose)
    if any(w is not None and s != w for s, w in zip(v.type.shape, want.shape)):
        v = specify_shape(v, want.shape)
    return v


def _shared_inputs(roots):
    from ..graph import graph_inputs
    return [v for v in graph_inputs(roots) if isinstance(v, SharedVariable)]


def _next_id():
    """The number the next Variable made will carry (to tell the step's own draws)."""
    return int(Variable(None).auto_name[1:]) + 1


def _made_after(v, first_id):
    try:
        return int(v.auto_name[1:]) >= first_id
    except (AttributeError, ValueError):
        return False


def lift_loop(outputs, holders):
    """(InnerGraph, params): the step graph from the per-step `holders` to `outputs`.
    The largest values that do not depend on the holders (the loop invariants) are its
    parameters, computed once outside the loop; everything else is cloned inside."""
    variant = set(holders)
    nodes = io_toposort(holders, outputs)
    for node in nodes:
        if any(i in variant for i in node.inputs):
            variant.update(node.outputs)
    frontier, seen = [], set(holders)
    for v in [i for node in nodes if node.outputs[0] in variant for i in node.inputs] \
            + list(outputs):
        if v not in variant and v not in seen and not _cheap(v):
            seen.add(v)
            frontier.append(v)
    new_holders = [placeholder(v) for v in holders]
    param_holders = [placeholder(v) for v in frontier]
    memo = dict(zip(list(holders) + frontier, new_holders + param_holders))
    inner_outs = clone_from(outputs, memo)
    return InnerGraph(new_holders + param_holders, inner_outs), frontier


def hoist_invariants(graph, n_variant, params):
    """The step `graph` (its first `n_variant` inputs change every step, the others are the
    outer `params`) with the work that depends only on parameters moved out of the loop.
    Returns (graph, params); parameters the step no longer reads are dropped."""
    new_graph, frontier = lift_loop(graph.outputs, graph.inputs[:n_variant])
    return new_graph, clone_from(frontier, dict(zip(graph.inputs[n_variant:], params)))


def _cheap(v):
    from ..tensor.var import TensorConstant
    return isinstance(v, TensorConstant)


# -- the thin wrappers -------------------------------------------------------------------

def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """``fn`` applied to each element of the sequences: ``symgraph.map(T.sqr, [x])``."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """The last state of a scan: ``symgraph.reduce(lambda v, acc: acc + v, [x], 0.)``."""
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                         name=name)
    if isinstance(outs, (list, tuple)):
        return [o[-1] for o in outs], updates
    return outs[-1], updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the first element: ``symgraph.foldl(f, [x], init)``."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode,
                  name=name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the last element: ``symgraph.foldr(f, [x], init)``."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode,
                  name=name)
