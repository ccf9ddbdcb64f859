"""``scan_fold_sum``: a sum over every axis of an elementwise function of a loop's stored
rows (``sum(sqr(hs))``, an RNN's cost) is accumulated by the loop itself, in a new carry
kept at its end: ``acc' = acc + f(h_t)`` elementwise, summed after the loop, when the rows
are carries (whose initial values shape the zeros); ``acc' = acc + sum(f(y_t))`` otherwise.

Outside, ``f`` is a pass writing a whole stack of the loop's length and the sum another
pass reading it back; in the step both run on the row just computed, in cache. The sum's
order changes (per step, then over the steps): a float sum agrees to rounding. Only when
nothing else reads the elementwise stack, so that it is no longer made.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant
from ..ops.elemwise import Elemwise
from ..ops.reduce import Sum
from ..tensor.var import TensorVariable
from ..types import TensorType
from .inner import InnerGraph
from .op import Scan

__all__ = ["scan_fold_sum"]

MAX_NODES = 16


def _row_of(node, fgraph, rows):
    """The elementwise graph below `node`'s input rebuilt over stand-ins of the loop's rows
    (`rows`), as (expr, loop node, new parameters [(outer, placeholder)]); None
    when it reads anything but one loop's stored rows, values broadcast along time and
    constants, or when a stack in it is read elsewhere too."""
    x = node.inputs[0]
    loop, memo, params, count = [None], {}, [], [0]

    def row(v, top):
        if v in memo:
            return memo[v]
        own = v.owner
        if v.type.shape[0] == 1 and x.type.shape[0] != 1:      # broadcast along time
            from ..ops.elemwise import dimshuffle
            if isinstance(v, Constant):
                from .. import tensor as T
                memo[v] = T.constant(v.data[0], dtype=v.dtype)
                return memo[v]
            outer = dimshuffle(v, tuple(range(1, v.ndim)))
            h = TensorVariable(outer.type, name=v.name)
            params.append((outer, h))
            memo[v] = h
            return h
        if own is not None and isinstance(own.op, Scan):
            k = own.outputs.index(v)
            nc = own.op.n_carry
            if k < nc and own.op.keep[k] != "all":
                return None
            if loop[0] not in (None, own):
                return None
            loop[0] = own
            memo[v] = rows[own](k)
            return memo[v]
        if own is None or not isinstance(own.op, Elemwise) or len(own.outputs) != 1 or \
                own.op.destroy_map or v.ndim != x.ndim:
            return None
        if not top and len(fgraph.clients.get(v, ())) != 1:
            return None
        count[0] += 1
        if count[0] > MAX_NODES:
            return None
        ins = []
        for a in own.inputs:
            r = row(a, False) if a.ndim == v.ndim else None
            if r is None:
                return None
            ins.append(r)
        memo[v] = own.op(*ins)
        return memo[v]

    if x.owner is None or not isinstance(x.owner.op, Elemwise):
        return None
    if len(fgraph.clients.get(x, ())) != 1:
        return None
    expr = row(x, True)
    if expr is None or loop[0] is None:
        return None
    return expr, loop[0], params


def _stand_in(own, k):
    """A placeholder for row t of output k of loop `own` (replaced by the step's value)."""
    v = own.outputs[k]
    return TensorVariable(TensorType(v.dtype, v.type.shape[1:]), name=f"row{k}")


def scan_fold_sum(fgraph, node):
    op = node.op
    x = node.inputs[0]
    if op.keepdims or x.ndim < 1 or tuple(sorted(op.axis)) != tuple(range(x.ndim)) or \
            not np.issubdtype(np.dtype(x.dtype), np.floating) or \
            not np.issubdtype(np.dtype(node.outputs[0].dtype), np.floating):
        return None
    holders = {}
    found = _row_of(node, fgraph, _Rows(holders))
    if found is None:
        return None
    expr, loop, params = found
    return _fold(fgraph, node, loop, expr, params, holders)


class _Rows(dict):
    """Loop node -> (output index -> placeholder of its row), made on first use."""

    def __init__(self, holders):
        super().__init__()
        self.holders = holders

    def __missing__(self, own):
        return lambda k: self.holders.setdefault((own, k), _stand_in(own, k))


def _fold(fgraph, node, loop, expr, params, holders):
    from .. import tensor as T
    from .inner import clone_from
    op = loop.op
    if op.until:        # the rows of a loop that stops early: kept simple, not folded
        return None
    n_steps, seqs, inits, lparams = op.split(loop.inputs)
    inner = op.inner
    ns, nc, ny = op.n_seqs, op.n_carry, op.n_ys
    dtype = node.outputs[0].dtype
    # the step's value of each stored row: a carry after the step, or a per-step output
    vals = {h: inner.outputs[k] for (own, k), h in holders.items()}
    row_expr = clone_from([expr], vals)[0]
    p_h = [h for _, h in params]
    # rows of carries only: the carry is the rows' elementwise running sum (one pass a
    # step, no reduction in the step), summed once after the loop; its zeros are shaped
    # by the same expression over the initial carries. Otherwise a scalar carry.
    whole = all(k < nc for _, k in holders)
    if whole:
        acc = TensorVariable(TensorType(dtype, row_expr.type.shape), name="acc")
        new_acc = acc + T.cast(row_expr, dtype)
        first = clone_from([expr], {**{h: inits[k] for (_, k), h in holders.items()},
                                    **{h: o for o, h in params}})[0]
        zero = T.zeros_like(T.cast(first, dtype))
        whole = new_acc.type == acc.type and zero.type == acc.type
    if not whole:
        acc = TensorVariable(TensorType(dtype, ()), name="acc")
        part = Sum(axis=None, dtype=dtype)(row_expr) if row_expr.ndim else \
            T.cast(row_expr, dtype)
        new_acc = acc + part
        zero = T.constant(np.zeros((), dtype), dtype=dtype)
    if new_acc.dtype != dtype:
        new_acc = T.cast(new_acc, dtype)
    new_in = inner.inputs[:ns + nc] + [acc] + inner.inputs[ns + nc:] + p_h
    outs = inner.outputs[:nc] + [new_acc] + inner.outputs[nc:]
    new_op = Scan(InnerGraph(new_in, outs), ns, nc + 1, ny, keep=op.keep + ("last",),
                  until=op.until, name=op.name, mode=op.mode,
                  truncate_gradient=op.truncate_gradient, rev_ys=op.rev_ys)
    new = new_op.make_node(n_steps, *seqs, *inits, zero, *lparams, *[o for o, _ in params])
    new.trace = loop.trace
    res = list(new.outputs)
    if whole:
        res[nc] = Sum(axis=None, dtype=dtype)(res[nc])
    repl = {}
    for j in range(nc):
        repl[loop.outputs[j]] = res[j]
    for k in range(ny):
        repl[loop.outputs[nc + k]] = res[nc + 1 + k]
    repl = {o: n for o, n in repl.items() if fgraph.clients.get(o)}
    if any(o.type != n.type for o, n in repl.items()) or \
            res[nc].type != node.outputs[0].type:
        return None
    repl[node.outputs[0]] = res[nc]
    return repl
