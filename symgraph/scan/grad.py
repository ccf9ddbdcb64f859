"""Gradients of ``Scan``.

Reverse mode (``scan_lop``): backpropagation through time as another ``Scan`` running over
the steps in reverse. With c_t the carry before step t (the initial value, then the stored
history) and x_t the sequence slices, each backward step recomputes the step's own VJP at
(x_t, c_t, params):

    lambda = mu + g_hist[t]                 (mu: what step t+1 sent back to c_{t+1})
    g_x[t], mu', g_p = VJP(step)(x_t, c_t, p; lambda, g_y[t])

where the VJP reads the step's new carries c_{t+1} from the stored history rather than
recomputing them (so the backward step of an RNN does not redo the forward step).
    acc_p' = acc_p + g_p

``mu`` starts at zero (or at the gradient of a carry's final value, for a carry stored as its
last value only) and ends as the gradient of the initial carry. ``truncate_gradient = k``
runs only the last k backward steps. The backward loop is itself a Scan, so it can be
differentiated again (Hessian-vector products, nested loops).

Forward mode (``scan_rop``): one Scan carrying (c, dc) whose step also computes the step's
J·v, so Rop costs one loop, not a transposed backward one.
"""
from __future__ import annotations

from ..grad.reverse import Lop, is_differentiable_dtype as _diff
from .inner import InnerGraph, clone_from

__all__ = ["scan_lop", "scan_rop"]


def _T():
    from .. import tensor
    return tensor


def _fresh(v, batched=False):
    from ..types import TensorType
    t = TensorType(v.dtype, v.type.shape[1:]) if batched else v.type
    return t()


def scan_lop(op, inputs, outputs, output_grads):
    T = _T()
    from .builder import hoist_invariants
    from .op import Scan
    ns, nc, ny = op.n_seqs, op.n_carry, op.n_ys
    n_steps, seqs, inits, params = op.split(inputs)
    inner = op.inner
    x_h, c_h = inner.inputs[:ns], inner.inputs[ns:ns + nc]
    p_h = inner.inputs[ns + nc:]
    new_c, y_o = inner.outputs[:nc], inner.outputs[nc:nc + ny]
    dx = [i for i in range(ns) if _diff(x_h[i].dtype)]
    dc = [j for j in range(nc) if _diff(c_h[j].dtype)]
    dy = [k for k in range(ny) if _diff(y_o[k].dtype)]
    dp = [i for i in range(len(p_h)) if _diff(p_h[i].dtype)]
    none = [None] * len(inputs)
    if not (dc or dy) or not (dx or dc or dp):
        return none

    # every carry's value before each step
    if all(k == "all" for k in op.keep):
        hist = list(outputs[:nc])
    else:
        hist = list(op.with_keep(("all",) * nc).make_node(*inputs).outputs[:nc])
    n_done = hist[0].shape[0] if nc else outputs[nc].shape[0]
    before = [T.concatenate([inits[j][None], hist[j][:-1]], axis=0)[:n_done]
              for j in range(nc)]
    gh_idx = [j for j in dc if op.keep[j] == "all"]

    # the backward step's inputs
    bx = [_fresh(x_h[i]) for i in range(ns)]
    bc = [_fresh(c_h[j]) for j in range(nc)]
    bgh = [_fresh(c_h[j]) for j in gh_idx]
    bgy = [_fresh(y_o[k]) for k in dy]
    bmu = [_fresh(c_h[j]) for j in dc]
    bacc = [_fresh(p_h[i]) for i in dp]
    bp = [_fresh(p_h[i]) for i in range(len(p_h))]
    memo = dict(zip(list(x_h) + list(c_h) + list(p_h), bx + bc + bp))
    outs = clone_from(list(new_c) + list(y_o), memo)
    f_c, f_y = outs[:nc], outs[nc:]
    gh_of = dict(zip(gh_idx, bgh))
    lam = [bmu[a] + gh_of[j] if j in gh_of else bmu[a] for a, j in enumerate(dc)]
    wrt = [bx[i] for i in dx] + [bc[j] for j in dc] + [bp[i] for i in dp]
    gs = Lop([f_c[j] for j in dc] + [f_y[k] for k in dy], wrt, lam + bgy,
             disconnected_inputs="ignore")
    gs = [g if g is not None else T.zeros_like(w) for g, w in zip(gs, wrt)]
    # the VJP reads the step's new carries (tanh's gradient reads tanh's output): read them
    # from the stored history instead of recomputing the step
    reuse = [j for j in range(nc) if f_c[j].owner is not None
             and f_c[j].dtype == hist[j].dtype and f_c[j].ndim + 1 == hist[j].ndim]
    bnew = [_fresh(f_c[j]) for j in reuse]
    if reuse:
        gs = clone_from(gs, dict(zip([f_c[j] for j in reuse], bnew)))
    g_x, g_c, g_p = gs[:len(dx)], gs[len(dx):len(dx) + len(dc)], gs[len(dx) + len(dc):]
    step_outs = list(g_c) + [a + g for a, g in zip(bacc, g_p)] + list(g_x)
    step_outs = [T.cast(o, w.dtype) if o.dtype != w.dtype else o
                 for o, w in zip(step_outs, bmu + bacc + [bx[i] for i in dx])]
    b_in = bx + bc + bnew + bgh + bgy + bmu + bacc + bp
    n_var = len(b_in) - len(bp)
    graph, b_params = hoist_invariants(InnerGraph(b_in, step_outs), n_var, list(params))

    rev = lambda v: v[:n_done][::-1]  # noqa: E731
    b_seqs = ([rev(s) for s in seqs] + [b[::-1] for b in before]
              + [rev(hist[j]) for j in reuse]
              + [rev(output_grads[j]) for j in gh_idx] + [rev(output_grads[nc + k]) for k in dy])
    mu0 = [T.zeros_like(inits[j]) if op.keep[j] == "all" else output_grads[j] for j in dc]
    acc0 = [T.zeros_like(params[i]) for i in dp]
    # the sequences' gradients stored in forward time order: read without a reversed copy
    back = Scan(graph, len(b_seqs), len(dc) + len(dp), len(dx),
                keep=("last",) * (len(dc) + len(dp)), name=f"grad_of_{op.name or 'scan'}",
                mode=op.mode, rev_ys=(True,) * len(dx))
    k = op.truncate_gradient
    res = back(T.constant(k if k >= 0 else -1, dtype="int64"), *b_seqs, *mu0, *acc0,
               *b_params)
    res = res if isinstance(res, list) else [res]
    g_init, g_param, g_seq = res[:len(dc)], res[len(dc):len(dc) + len(dp)], \
        res[len(dc) + len(dp):]
    out = list(none)
    for a, i in enumerate(dx):
        g = g_seq[a]
        m = g.shape[0]
        out[1 + i] = T.set_subtensor(T.zeros_like(seqs[i])[n_done - m:n_done], g)
    for a, j in enumerate(dc):
        g = g_init[a]
        if k >= 0:
            g = T.switch(T.ge(k, n_done), g, T.zeros_like(g))
        out[1 + ns + j] = g
    for a, i in enumerate(dp):
        out[1 + ns + nc + i] = g_param[a]
    return out


def scan_rop(op, inputs, eval_points):
    from ..grad.forward import Rop
    from .op import Scan
    T = _T()
    ns, nc, ny = op.n_seqs, op.n_carry, op.n_ys
    n_steps, seqs, inits, params = op.split(inputs)
    _, e_seqs, e_inits, e_params = op.split(list(eval_points))
    inner = op.inner
    x_h, c_h = inner.inputs[:ns], inner.inputs[ns:ns + nc]
    p_h = inner.inputs[ns + nc:]
    tx = [i for i in range(ns) if e_seqs[i] is not None and _diff(x_h[i].dtype)]
    tc = [j for j in range(nc) if _diff(c_h[j].dtype)]
    tp = [i for i in range(len(p_h)) if e_params[i] is not None and _diff(p_h[i].dtype)]
    if not (tx or tp or any(e_inits[j] is not None for j in tc)):
        return [None] * (nc + ny)
    nx = [_fresh(x_h[i]) for i in tx]
    nct = [_fresh(c_h[j]) for j in tc]
    npt = [_fresh(p_h[i]) for i in tp]
    outs = list(inner.outputs)
    new_c, y_o = outs[:nc], outs[nc:nc + ny]
    ty = [k for k in range(ny) if _diff(y_o[k].dtype)]
    wrt = [x_h[i] for i in tx] + [c_h[j] for j in tc] + [p_h[i] for i in tp]
    pts = nx + nct + npt
    tangents = Rop([new_c[j] for j in tc] + [y_o[k] for k in ty], wrt, pts,
                   disconnected_outputs="ignore")
    tangents = [t if t is not None else T.zeros_like(o) for t, o in
                zip(tangents, [new_c[j] for j in tc] + [y_o[k] for k in ty])]
    d_c, d_y = tangents[:len(tc)], tangents[len(tc):]
    d_c = [T.cast(t, c_h[j].dtype) if t.dtype != c_h[j].dtype else t for t, j in zip(d_c, tc)]
    until = outs[nc + ny:]
    f_in = list(x_h) + nx + list(c_h) + nct + list(p_h) + npt
    f_out = list(new_c) + d_c + list(y_o) + d_y + until
    graph = InnerGraph(f_in, f_out)
    fwd = Scan(graph, ns + len(tx), nc + len(tc), ny + len(ty),
               keep=tuple(op.keep) + tuple(op.keep[j] for j in tc), until=op.until,
               name=f"rop_of_{op.name or 'scan'}", mode=op.mode,
               truncate_gradient=op.truncate_gradient)
    d_init = [e_inits[j] if e_inits[j] is not None else T.zeros_like(inits[j]) for j in tc]
    res = fwd(n_steps, *seqs, *[e_seqs[i] for i in tx], *inits, *d_init, *params,
              *[e_params[i] for i in tp])
    res = res if isinstance(res, list) else [res]
    out = [None] * (nc + ny)
    for a, j in enumerate(tc):
        out[j] = res[nc + a]
    base = nc + len(tc)
    for a, k in enumerate(ty):
        out[nc + k] = res[base + ny + a]
    return out
