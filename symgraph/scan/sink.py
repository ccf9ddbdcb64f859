"""``scan_sink_seq_elemwise``: a sequence that is an elementwise function of other stacks
(``g = 0.5 * 2 * hs``, a gradient reaching a backward loop) is computed in the step from
those stacks' rows instead of as a whole stack before the loop.

Outside, the function is one more pass over memory writing a stack of the loop's length,
which the loop then reads back; inside, it runs on each row while the row is in cache (and
a C loop fuses it with the step's own elementwise work). The stacks it reads become
sequences, read through the same leading-axis slices (``[:n][::-1]`` of a gradient loop);
parameters broadcast along time become parameters. An elementwise input that is itself
cheap arithmetic of stacks (``sqr(hs)``, also summed for a cost) is recomputed in the step
rather than read, even when something else keeps it.

Not where it would undo ``scan_hoist_seq_dot`` (rewrites.py): a sequence reaching a product
through work of sequences and parameters alone stays outside with that product.
"""
from __future__ import annotations

from ..graph import Constant, io_toposort
from ..ops.elemwise import Elemwise
from ..ops.subtensor import Slice, Subtensor
from ..tensor.var import TensorVariable
from .inner import InnerGraph, clone_from, placeholder
from .op import Scan

__all__ = ["scan_sink_seq_elemwise"]

# a deeper expression is left outside (its C composite would grow without end)
MAX_NODES = 16


def _cheap_ops():
    from ..ops import scalar as S
    return (S.Add, S.Sub, S.Mul, S.Neg, S.Sqr, S.Second, S.Identity, S.Abs, S.Minimum,
            S.Maximum, S.Cast)


def _cheap(node):
    """An elementwise node of a few arithmetic operations a value (recomputed, not read)."""
    sop = node.op.scalar_op
    steps = getattr(sop, "steps", None)
    ops = [s[0] for s in steps] if steps is not None else [sop]
    return all(isinstance(o, _cheap_ops()) for o in ops)


def _time_slices(v, fgraph):
    """(root, [slice nodes, innermost first]) peeling Subtensors that slice only the first
    axis, each read only by the next; None when v is not such a chain over an Elemwise."""
    chain = []
    while v.owner is not None and type(v.owner.op) is Subtensor:
        idx = v.owner.op.idx_list
        if len(idx) != 1 or not isinstance(idx[0], Slice):
            return None
        if chain and len(fgraph.clients.get(v, ())) != 1:
            return None
        chain.append(v.owner)
        v = v.owner.inputs[0]
    if v.owner is None or not isinstance(v.owner.op, Elemwise) or len(v.owner.outputs) != 1 \
            or v.owner.op.destroy_map or len(fgraph.clients.get(v, ())) != 1:
        return None
    return v, chain[::-1]


def _sliced(v, chain):
    """The slice nodes of `chain` applied to `v` in turn."""
    for n in chain:
        v = n.op(v, *n.inputs[1:])
    return v


def _same(a, b):
    """Whether a and b are the same computation (equal ops over the same inputs)."""
    if a is b:
        return True
    if isinstance(a, Constant) and isinstance(b, Constant):
        return a.type == b.type and a.data.shape == b.data.shape and (a.data == b.data).all()
    if a.owner is None or b.owner is None or a.owner.op != b.owner.op or \
            len(a.owner.inputs) != len(b.owner.inputs) or \
            a.owner.outputs.index(a) != b.owner.outputs.index(b):
        return False
    return all(_same(x, y) for x, y in zip(a.owner.inputs, b.owner.inputs))


def _feeds_a_hoisted_product(inner, n_seqs, n_carry, x):
    """Whether x reaches a product through work of sequences and parameters alone (what
    scan_hoist_seq_dot moves out of the step, elementwise inputs included)."""
    from ..ops.blas import Dot
    carried = set(inner.inputs[n_seqs:n_seqs + n_carry])
    reach = {x}
    for n in io_toposort(inner.inputs, inner.outputs):
        if any(i in carried for i in n.inputs):
            carried.update(n.outputs)
        elif any(i in reach for i in n.inputs):
            if isinstance(n.op, Dot):
                return True
            reach.update(n.outputs)
    return False


def scan_sink_seq_elemwise(fgraph, node):
    op = node.op
    n_steps, seqs, inits, params = op.split(node.inputs)
    inner = op.inner
    ns, nc = op.n_seqs, op.n_carry
    for i, s in enumerate(seqs):
        found = _time_slices(s, fgraph)
        if found is None or _feeds_a_hoisted_product(inner, ns, nc, inner.inputs[i]):
            continue
        res = _sink(node, i, *found)
        if res is not None:
            return {o: n for o, n in res.items() if fgraph.clients.get(o)}
    return None


def _sink(node, i, root, chain):
    """The Scan node computing sequence i (``chain`` slices of elementwise `root`) in its
    step, or None."""
    op = node.op
    n_steps, seqs, inits, params = op.split(node.inputs)
    inner = op.inner
    ns, nc = op.n_seqs, op.n_carry
    x_i = inner.inputs[i]
    new_seqs, new_seq_h = [], []      # stacks read per row (outer value, placeholder)
    new_pars, new_par_h = [], []      # values broadcast along time
    memo = {}
    count = [0]

    def row_of(v):
        """The step's value standing for row t of outer stack v (sliced by chain)."""
        if v in memo:
            return memo[v]
        if v.type.shape[0] == 1 and root.type.shape[0] != 1:  # broadcast along time
            from ..ops.elemwise import dimshuffle
            if isinstance(v, Constant):       # stays a constant the step's rewrites see
                from .. import tensor as T
                memo[v] = T.constant(v.data[0], dtype=v.dtype)
                return memo[v]
            outer = dimshuffle(v, tuple(range(1, v.ndim)))
            for k, p in enumerate(params):
                if _same(p, outer):
                    memo[v] = inner.inputs[ns + nc + k]
                    return memo[v]
            for k, p in enumerate(new_pars):
                if _same(p, outer):
                    memo[v] = new_par_h[k]
                    return memo[v]
            h = placeholder(outer)
            new_pars.append(outer)
            new_par_h.append(h)
            memo[v] = h
            return h
        own = v.owner
        if own is not None and isinstance(own.op, Elemwise) and len(own.outputs) == 1 and \
                not own.op.destroy_map and own.outputs[0].ndim == v.ndim and \
                (v is root or _cheap(own)):
            count[0] += 1
            if count[0] > MAX_NODES:
                raise _TooBig
            ins = [row_of(a) if a.ndim == v.ndim else None for a in own.inputs]
            if any(a is None for a in ins):
                raise _TooBig
            memo[v] = own.op(*ins)
            return memo[v]
        outer = _sliced(v, chain)
        for k, s in enumerate(seqs):
            if k != i and _same(s, outer):
                memo[v] = inner.inputs[k]
                return memo[v]
        for k, s in enumerate(new_seqs):
            if _same(s, outer):
                memo[v] = new_seq_h[k]
                return memo[v]
        h = TensorVariable(_row_type(outer), name=outer.name)
        new_seqs.append(outer)
        new_seq_h.append(h)
        memo[v] = h
        return h

    try:
        expr = row_of(root)
    except _TooBig:
        return None
    if expr.dtype != x_i.dtype or expr.ndim != x_i.ndim:
        return None
    keep_x = [k for k in range(ns) if k != i]
    new_in = ([inner.inputs[k] for k in keep_x] + new_seq_h + inner.inputs[ns:ns + nc]
              + inner.inputs[ns + nc:] + new_par_h)
    # the step computes x_i from the new rows; every other input as it was
    outs = clone_from(inner.outputs, {x_i: expr})
    new_op = Scan(InnerGraph(new_in, outs), len(keep_x) + len(new_seq_h), nc, op.n_ys,
                  keep=op.keep, until=op.until, name=op.name, mode=op.mode,
                  truncate_gradient=op.truncate_gradient, rev_ys=op.rev_ys)
    new = new_op.make_node(n_steps, *[seqs[k] for k in keep_x], *new_seqs, *inits, *params,
                           *new_pars)
    new.trace = node.trace
    if any(o.type != n.type for o, n in zip(node.outputs, new.outputs)):
        return None         # a static length known only from the sequence replaced
    return {o: n for o, n in zip(node.outputs, new.outputs)}


def _row_type(v):
    from ..types import TensorType
    return TensorType(v.dtype, v.type.shape[1:])


class _TooBig(Exception):
    pass
