"""Scan rewrites, registered with the rewrite engine (symgraph/opt).

``scan_save_mem``: a carry whose history is only read at its last step (``out[-1]``, also
through the ``out[:, k]`` of a tap window) is stored as its last value only, so a loop
returning only its final state uses memory independent of the number of steps. Gradients
are built before compiling, on the op that stores every step, so they are unaffected.
``out[-1]`` of a loop that runs no step still raises IndexError, as without the rewrite.

``scan_merge``: two independent loops over the same sequences with the same ``n_steps``
(and no ``until``) become one loop computing both steps, so the sequences are read once and
the per-step overhead is paid once.

``scan_prune_ys``: per-step outputs that nothing reads are dropped from the step (the
backward loop of a gradient computes the gradient of every sequence; often none is asked for).

``scan_hoist_seq_dot``: products reading only sequence slices and parameters (``dot(x_t, W)``,
with the elementwise ops of slices they read) and transposes of slices are done once before
the loop for every step and read as a sequence (loops over whole sequences only).

``scan_hoist_accumulator``: a carry only accumulating ``dot(s_t, v_t)`` of a sequence slice
becomes a stacked output v and one product after the loop (``rows(Y).T @ rows(V)`` when
``s_t = y_t.T``: BLAS reads both stacks in place; over h0 and the history's rows when Y is
the gradient's concatenation of the carries before each step).

``scan_hoist_seq_dot`` writes ``dot(X, W)`` of an n-d sequence as the 2-d product of its
rows. With these, a step whose nodes all have C kernels runs as one C loop (op.py).

Loop-invariant work is moved out of the step when the loop is built (builder.py).
"""
from __future__ import annotations

import numpy as np

from ..graph import ancestors
from ..ops.subtensor import Slice, Subtensor
from .inner import InnerGraph, clone_from, placeholder
from .op import Scan

__all__ = ["scan_save_mem", "scan_merge"]


def _last_readers(fgraph, var, depth=0):
    """[(reader node, rest of index)] when every reader of `var` takes ``var[-1, ...]``
    (or ``var[:, k]`` whose readers all take ``[-1, ...]``); None otherwise."""
    out = []
    for client, _ in fgraph.clients.get(var, ()):
        if client == "output" or not isinstance(client.op, Subtensor) or client.op.n_sym:
            return None
        idx = client.op.idx_list
        if idx and idx[0] == -1:
            out.append((client, tuple(idx[1:]), None))
        elif depth == 0 and len(idx) == 2 and idx[0] == Slice(None, None, None) \
                and isinstance(idx[1], int):
            inner = _last_readers(fgraph, client.outputs[0], depth + 1)
            if inner is None:
                return None
            out.extend((c, (idx[1],) + rest, None) for c, rest, _ in inner)
        else:
            return None
    return out


def scan_save_mem(fgraph, node):
    op = node.op
    keep = list(op.keep)
    plans = {}
    for j in range(op.n_carry):
        if keep[j] != "all":
            continue
        readers = _last_readers(fgraph, node.outputs[j])
        if readers:
            plans[j] = readers
            keep[j] = "end"
    if not plans:
        return None
    new = op.with_keep(tuple(keep)).make_node(*node.inputs)
    new.trace = node.trace
    result = {}
    for j, readers in plans.items():
        last = new.outputs[j]
        for client, rest, _ in readers:
            value = Subtensor(rest)(last) if rest else last
            result[client.outputs[0]] = value
    for k, (o, n) in enumerate(zip(node.outputs, new.outputs)):
        if k not in plans and fgraph.clients.get(o):
            result[o] = n
    return result


def _mergeable(a, b):
    oa, ob = a.op, b.op
    if a is b or not isinstance(ob, Scan) or oa.until or ob.until or oa.n_seqs == 0:
        return False
    if (oa.mode, oa.truncate_gradient) != (ob.mode, ob.truncate_gradient):
        return False
    _, sa, _, _ = oa.split(a.inputs)
    n_b, sb, _, _ = ob.split(b.inputs)
    if a.inputs[0] is not n_b and not (hasattr(a.inputs[0], "data") and hasattr(n_b, "data")
                                      and int(a.inputs[0].data) == int(n_b.data)):
        return False
    if set(sa) != set(sb):
        return False
    above_b = set(ancestors(b.inputs))
    above_a = set(ancestors(a.inputs))
    return not any(o in above_b for o in a.outputs) and \
        not any(o in above_a for o in b.outputs)


def merge_scans(a, b):
    """One Scan node computing the loops `a` and `b` (over the same sequences)."""
    oa, ob = a.op, b.op
    _, sa, ca, pa = oa.split(a.inputs)
    _, sb, cb, pb = ob.split(b.inputs)
    seq_h = [placeholder(h) for h in oa.inner.inputs[:oa.n_seqs]]
    ia, ib = oa.inner.inputs, ob.inner.inputs
    car_a = [placeholder(h) for h in ia[oa.n_seqs:oa.n_seqs + oa.n_carry]]
    car_b = [placeholder(h) for h in ib[ob.n_seqs:ob.n_seqs + ob.n_carry]]
    par_a = [placeholder(h) for h in ia[oa.n_seqs + oa.n_carry:]]
    par_b = [placeholder(h) for h in ib[ob.n_seqs + ob.n_carry:]]
    memo_a = dict(zip(ia, seq_h + car_a + par_a))
    memo_b = dict(zip(ib, [seq_h[sa.index(x)] for x in sb] + car_b + par_b))
    out_a = clone_from(oa.inner.outputs, memo_a)
    out_b = clone_from(ob.inner.outputs, memo_b)
    na, nb = oa.n_carry, ob.n_carry
    outs = out_a[:na] + out_b[:nb] + out_a[na:] + out_b[nb:]
    op = Scan(InnerGraph(seq_h + car_a + car_b + par_a + par_b, outs), oa.n_seqs, na + nb,
              oa.n_ys + ob.n_ys, keep=oa.keep + ob.keep,
              name=f"{oa.name or 'scan'}+{ob.name or 'scan'}", mode=oa.mode,
              truncate_gradient=oa.truncate_gradient, rev_ys=oa.rev_ys + ob.rev_ys)
    node = op.make_node(a.inputs[0], *sa, *ca, *cb, *pa, *pb)
    node.trace = a.trace
    new = node.outputs
    return (new[:na] + new[na + nb:na + nb + oa.n_ys],
            new[na:na + nb] + new[na + nb + oa.n_ys:])


def scan_merge(fgraph, node):
    _, seqs, _, _ = node.op.split(node.inputs) if isinstance(node.op, Scan) else (0, [], 0, 0)
    if not seqs:
        return None
    for other, _ in fgraph.clients.get(seqs[0], ()):
        if other != "output" and _mergeable(node, other):
            new_a, new_b = merge_scans(node, other)
            pairs = dict(zip(node.outputs, new_a))
            pairs.update(zip(other.outputs, new_b))
            return {old: new for old, new in pairs.items() if fgraph.clients.get(old)}
    return None


def scan_prune_ys(fgraph, node):
    """Drop the per-step outputs nobody reads (a gradient loop's gradient of a sequence
    that was not asked for), so the step no longer computes or stores them."""
    op = node.op
    nc, ny = op.n_carry, op.n_ys
    used = [k for k in range(ny) if fgraph.clients.get(node.outputs[nc + k])]
    if len(used) == ny:
        return None
    inner = op.inner
    outs = (inner.outputs[:nc] + [inner.outputs[nc + k] for k in used]
            + inner.outputs[nc + ny:])
    new_op = Scan(InnerGraph(inner.inputs, outs), op.n_seqs, nc, len(used), keep=op.keep,
                  until=op.until, name=op.name, mode=op.mode,
                  truncate_gradient=op.truncate_gradient,
                  rev_ys=tuple(op.rev_ys[k] for k in used))
    new = new_op.make_node(*node.inputs)
    new.trace = node.trace
    result = {o: n for o, n in zip(node.outputs[:nc], new.outputs[:nc])
              if fgraph.clients.get(o)}
    result.update((node.outputs[nc + k], new.outputs[nc + a]) for a, k in enumerate(used))
    return result


def _padded(v):
    """`v` with a new leading broadcastable axis (a parameter or constant seen per step)."""
    from ..ops.elemwise import dimshuffle
    return dimshuffle(v, ("x",) + tuple(range(v.ndim)))


def _stacked_dot(X, W):
    """``dot(x_t, W)`` for every step: a matrix W and a sequence X of n-d slices, as one 2-d
    product of X's rows (a view of X when it is contiguous, so BLAS reads X in place)."""
    from .. import tensor as T
    if X.ndim < 3 or W.ndim != 2:
        return T.dot(X, W)
    rows = T.reshape(X, (-1, X.shape[X.ndim - 1]))
    return T.reshape(T.dot(rows, W), tuple(X.shape[d] for d in range(X.ndim - 1))
                     + (W.shape[1],))


def _summed_products(S, V, v_rev=False):
    """``sum_t dot(s_t, v_t)`` over the first ``len(V)`` slices of S: one product (V holds
    v_t at row ``len(V) - 1 - t`` when `v_rev`). When ``s_t = y_t.T`` (a hoisted transpose
    of a sequence slice) it is ``rows(Y).T @ rows(V)``, a 2-d GEMM reading both stacks as
    they are (a copy of Y only when Y's rows are not one block, e.g. reversed while V is
    not); otherwise numpy's tensordot."""
    from .. import tensor as T
    m = V.shape[0]
    Y = _transposed_rows(S)
    if Y is not None and V.ndim == 3:
        joined = _reversed_join(Y)
        if joined is not None:
            return _summed_over_join(*joined, V, v_rev)
        if v_rev:   # Y = Z[::-1]: step t reads Z[L-1-t], stored at V[m-1-t]
            Z = Y.owner.inputs[0]
            Y, V = Z[Z.shape[0] - m:], V
        else:
            Y = Y[:m]
        return T.dot(T.reshape(Y, (-1, Y.shape[2])).T, T.reshape(V, (-1, V.shape[2])))
    return T.tensordot(S[:m], V[::-1] if v_rev else V, axes=[[0, 2], [0, 1]])


def _transposed_rows(S):
    """Y when ``S = Y.dimshuffle(0, 2, 1)`` (a hoisted transpose of each slice), else None."""
    from ..ops.elemwise import DimShuffle
    own = S.owner
    if own is not None and isinstance(own.op, DimShuffle) and \
            tuple(own.op.new_order) == (0, 2, 1):
        return own.inputs[0]
    return None


def _is_reversed(Y):
    own = Y.owner
    return own is not None and type(own.op) is Subtensor and \
        own.op.idx_list == (Slice(None, None, -1),)


def _reads_reversed(S):
    """Whether `_summed_products` reads S's slices in place when V is stored reversed:
    S is a transposed reversed sequence (a gradient loop's sequence)."""
    Y = _transposed_rows(S)
    return Y is not None and _is_reversed(Y)


def _stand_in(S):
    """A sequence of S's length and type whose rows hold one zero each, computed without
    S when S is a transposed reversed concatenation (see `_reversed_join`)."""
    from .. import tensor as T
    from ..ops.alloc import alloc
    from ..ops.elemwise import DimShuffle
    own = S.owner
    base = own.inputs[0] if own is not None and isinstance(own.op, DimShuffle) and \
        own.op.new_order[0] == 0 and not own.op.drop else S
    joined = _reversed_join(base)
    if joined is None:
        return S
    A, B, L = joined
    n = T.minimum(L, A.shape[0] + B.shape[0])
    return alloc(np.zeros((), S.dtype), n, *([1] * (S.ndim - 1)))


def _reversed_join(Y):
    """(A, B, L) when ``Y = concatenate([A, B])[:L][::-1]`` (the carries before each step,
    as the gradient of a scan reads them backwards), else None."""
    from ..ops.shape import Join
    own = Y.owner
    if own is None or type(own.op) is not Subtensor or \
            own.op.idx_list != (Slice(None, None, -1),):
        return None
    cut = own.inputs[0].owner
    if cut is None or type(cut.op) is not Subtensor or len(cut.op.idx_list) != 1 or \
            cut.op.idx_list[0][0] is not None or cut.op.idx_list[0][2] is not None or \
            cut.op.n_sym != 1:
        return None
    join = cut.inputs[0].owner
    if join is None or type(join.op) is not Join or join.op.axis != 0 or \
            len(join.inputs) != 2:
        return None
    return join.inputs[0], join.inputs[1], cut.inputs[1]


def _summed_over_join(A, B, L, V, v_rev=False):
    """``sum_t dot(y_t.T, v_t)`` for ``Y = concatenate([A, B])[:L][::-1]`` without
    concatenating: ``Z = concatenate([A, B])`` rows ``L-m .. L-1`` meet V reversed (V as
    it is when stored reversed, `v_rev`); the first k of them come from A, the rest from B
    (read in place)."""
    from .. import tensor as T
    m, a = V.shape[0], A.shape[0]
    I, J = A.shape[2], V.shape[2]
    k = T.clip(a - (L - m), 0, m)
    Vr = V if v_rev else V[::-1]
    from_a = T.dot(T.reshape(A[L - m:L - m + k], (-1, I)).T, T.reshape(Vr[:k], (-1, J)))
    from_b = T.dot(T.reshape(B[L - m + k - a:L - a], (-1, I)).T, T.reshape(Vr[k:], (-1, J)))
    return from_a + from_b


def scan_hoist_seq_dot(fgraph, node):
    """Products that read only sequence slices and parameters are done for every step at
    once before the loop and read as a sequence: ``dot(x_t, W)`` becomes one ``dot(X, W)``
    (one large GEMM instead of a small one per step; elementwise ops of slices and
    parameters it reads become one elementwise op), transposes of slices become one
    strided view. Only for loops running over the whole sequences (no ``n_steps``, no
    ``until``)."""
    from ..graph import Constant, io_toposort
    from ..ops.blas import Dot
    from ..ops.elemwise import DimShuffle, Elemwise, dimshuffle
    op = node.op
    n_steps, seqs, inits, params = op.split(node.inputs)
    if op.until or not op.n_seqs or getattr(n_steps, "data", None) is None \
            or int(n_steps.data) >= 0:
        return None
    inner = op.inner
    ns, nc = op.n_seqs, op.n_carry
    x_h, p_h = inner.inputs[:ns], inner.inputs[ns + nc:]
    big = dict(zip(x_h, seqs))          # per-step value -> its stacked outer value
    root = {h: {k} for k, h in enumerate(x_h)}   # the sequences it reads
    par_of = dict(zip(p_h, params))
    made = []
    for n in io_toposort(inner.inputs, inner.outputs):
        ins = n.inputs
        if not any(i in big for i in ins) or not all(
                i in big or i in par_of or isinstance(i, Constant) for i in ins):
            continue
        roots = set().union(*[root[i] for i in ins if i in big])
        if len(roots) > 1:  # sequences of different lengths do not broadcast
            continue
        outer = [big[i] if i in big else _padded(par_of.get(i, i)) for i in ins]
        if isinstance(n.op, Dot) and ins[0] in big and ins[1] in par_of:
            out = _stacked_dot(big[ins[0]], par_of[ins[1]])
        elif isinstance(n.op, DimShuffle) and not n.op.drop:
            out = dimshuffle(outer[0], (0,) + tuple(o if o == "x" else o + 1
                                                    for o in n.op.new_order))
        elif isinstance(n.op, Elemwise) and not n.op.destroy_map and len(n.outputs) == 1:
            out = n.op(*outer)
        else:
            continue
        o = n.outputs[0]
        if out.dtype == o.dtype and out.ndim == o.ndim + 1:
            big[o] = out
            root[o] = roots
            made.append(o)
    if not made:
        return None
    # hoisted: the products (one large GEMM instead of one a step), what they read, and
    # views of those or of the sequences (free). An elementwise op alone stays: outside it
    # would be one more pass writing a whole stack that the step then reads back, where
    # the step does it on its slice in cache
    hoisted = set()
    for o in reversed(made):
        if isinstance(o.owner.op, Dot) or o in hoisted:
            hoisted.add(o)
            hoisted.update(i for i in o.owner.inputs if i in big and i not in x_h)
    for o in made:
        if isinstance(o.owner.op, DimShuffle) and \
                (o.owner.inputs[0] in x_h or o.owner.inputs[0] in hoisted):
            hoisted.add(o)
    # the hoisted values the step still reads
    reads = set(inner.outputs)
    for n in io_toposort(inner.inputs, inner.outputs):
        if n.outputs[0] not in hoisted:
            reads.update(n.inputs)
    front = [v for v in made if v in hoisted and v in reads]
    if not front:
        return None
    holders = [placeholder(v) for v in front]
    outs = clone_from(inner.outputs, dict(zip(front, holders)))
    used = set(ancestors(outs))
    keep_x = [i for i in range(ns) if x_h[i] in used]
    keep_p = [i for i in range(len(p_h)) if p_h[i] in used]
    new_in = ([x_h[i] for i in keep_x] + holders + inner.inputs[ns:ns + nc]
              + [p_h[i] for i in keep_p])
    new_op = Scan(InnerGraph(new_in, outs), len(keep_x) + len(holders), nc, op.n_ys,
                  keep=op.keep, name=op.name, mode=op.mode,
                  truncate_gradient=op.truncate_gradient, rev_ys=op.rev_ys)
    new = new_op.make_node(n_steps, *[seqs[i] for i in keep_x], *[big[v] for v in front],
                           *inits, *[params[i] for i in keep_p])
    new.trace = node.trace
    return {o: n for o, n in zip(node.outputs, new.outputs) if fgraph.clients.get(o)}


def scan_hoist_accumulator(fgraph, node):
    """A carry that only accumulates products of a sequence slice and a per-step value,
    ``acc' = acc + dot(s_t, v_t)`` (a gradient loop's ``gW += x_t.T @ da_t``), becomes a
    stacked output v and one product after the loop: ``acc0 + sum_t dot(s_t, v_t)`` (one large
    GEMM instead of a small one, and a copy of the accumulator, per step)."""
    from ..graph import io_toposort
    from ..ops.blas import Dot
    from ..ops.elemwise import Elemwise
    from ..ops.scalar import Add
    op = node.op
    n_steps, seqs, inits, params = op.split(node.inputs)
    if op.until or not op.n_seqs:
        return None
    inner = op.inner
    ns, nc, ny = op.n_seqs, op.n_carry, op.n_ys
    x_h, c_h = inner.inputs[:ns], inner.inputs[ns:ns + nc]
    uses = {}
    for n in io_toposort(inner.inputs, inner.outputs):
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    for o in inner.outputs:
        uses[o] = uses.get(o, 0) + 1
    plans = {}
    for j in range(nc):
        out, acc = inner.outputs[j], c_h[j]
        if op.keep[j] != "last" or out.owner is None or uses.get(acc) != 1 \
                or uses.get(out) != 1:
            continue
        a = out.owner
        if not (isinstance(a.op, Elemwise) and isinstance(a.op.scalar_op, Add)
                and not a.op.destroy_map and len(a.inputs) == 2 and acc in a.inputs):
            continue
        d = a.inputs[1] if a.inputs[0] is acc else a.inputs[0]
        if d.owner is None or not isinstance(d.owner.op, Dot) or uses.get(d) != 1:
            continue
        sv, v = d.owner.inputs
        if sv not in x_h or v is acc or sv.ndim != 2 or v.ndim != 2 or \
                d.type != out.type or acc.type.ndim != 2 or out.dtype != acc.dtype or \
                sv.dtype != out.dtype or v.dtype != out.dtype:
            continue
        plans[j] = (x_h.index(sv), v)
    if not plans:
        return None
    keep_c = [j for j in range(nc) if j not in plans]
    vs = []
    for j in plans:
        if plans[j][1] not in vs:
            vs.append(plans[j][1])
    # a stacked v whose every product reads a reversed sequence is stored reversed, so
    # that both stacks meet in the same row order without a reversed copy of either
    v_rev = [all(_reads_reversed(seqs[i]) for i, w in plans.values() if w is v) for v in vs]
    new_in = list(x_h) + [c_h[j] for j in keep_c] + inner.inputs[ns + nc:]
    outs = ([inner.outputs[j] for j in keep_c] + inner.outputs[nc:nc + ny] + vs)
    new_op = Scan(InnerGraph(new_in, outs), ns, len(keep_c), ny + len(vs),
                  keep=tuple(op.keep[j] for j in keep_c), name=op.name, mode=op.mode,
                  truncate_gradient=op.truncate_gradient, rev_ys=op.rev_ys + tuple(v_rev))
    # a sequence the step no longer reads still sets the number of steps: a stand-in of
    # its length, so that nothing computes it (the gradient's concatenated carries)
    read = set(ancestors(outs))
    step_seqs = [s if x_h[i] in read else _stand_in(s) for i, s in enumerate(seqs)]
    new = new_op.make_node(n_steps, *step_seqs, *[inits[j] for j in keep_c], *params)
    new.trace = node.trace
    res = new.outputs
    result = {}
    for a, j in enumerate(keep_c):
        result[node.outputs[j]] = res[a]
    for k in range(ny):
        result[node.outputs[nc + k]] = res[len(keep_c) + k]
    for j, (i, v) in plans.items():
        a = vs.index(v)
        stacked = res[len(keep_c) + ny + a]
        total = inits[j] + _summed_products(seqs[i], stacked, v_rev[a])
        if total.dtype != node.outputs[j].dtype or total.ndim != node.outputs[j].ndim:
            return None
        result[node.outputs[j]] = total
    return {o: n for o, n in result.items() if fgraph.clients.get(o)}
