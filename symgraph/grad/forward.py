"""Forward mode: ``Rop`` (J·v).

Eval points travel forward in topological order from `wrt` to `f`. At each node:

- the op's own ``R_op(inputs, eval_points)`` when it has one (None for inputs that do not
  depend on `wrt`);
- otherwise the transpose of its ``L_op``: with a fresh variable u standing for the output
  gradient, ``g(u) = L_op(inputs, outputs, [u])`` is linear in u, so
  ``J v = d/du <g(u), v>`` — one reverse pass over g's small graph (``grad`` with
  ``known_grads={g: v}``). u then only lends its shape and is replaced by the output itself.

So ``Rop`` works on every op ``grad`` works on.
"""
from __future__ import annotations

from ..errors import DisconnectedInputError, GradientError, format_trace
from ..graph import ancestors, clone_replace, io_toposort
from .ops import AtPoint
from .reverse import _as_list, _as_var, _fit, _M, grad, is_differentiable_dtype

__all__ = ["Rop"]


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """J·v: how `f` changes when `wrt` moves along `eval_points` (forward mode).

    >>> W, V = T.dmatrices('W', 'V')
    >>> x = T.dvector('x')
    >>> jv = Rop(T.dot(x, W), W, V)          # == dot(x, V)

    `f`, `wrt`, `eval_points`: a variable or lists (`wrt` and `eval_points` alike); the result
    has the structure of `f`. An `f` that does not depend on `wrt` raises
    ``DisconnectedInputError`` unless ``disconnected_outputs='ignore'`` (then zeros, or None
    with ``return_disconnected='None'``).
    """
    if disconnected_outputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_outputs must be 'raise', 'warn' or 'ignore'")
    fs, single = _as_list(f, "Rop: f")
    fs = [_as_var(y) for y in fs]
    wrts, _ = _as_list(wrt, "Rop: wrt")
    if isinstance(eval_points, (list, tuple)):
        eps = list(eval_points)
    else:
        eps = [eval_points]
    if len(wrts) != len(eps):
        raise ValueError(f"Rop: {len(wrts)} wrt variables but {len(eps)} eval points")
    ev = {}
    for w, v in zip(wrts, eps):
        v = _as_var(v)
        if v.ndim != w.ndim:
            raise ValueError(f"Rop: the eval point for {w!r} has {v.ndim} dimensions, the "
                             f"variable has {w.ndim}")
        if is_differentiable_dtype(w.type.dtype):
            ev[w] = _fit(v, w, what="eval point")
    depends = set(wrts)
    for node in io_toposort(wrts, fs):
        if not any(i in depends for i in node.inputs):
            continue
        depends.update(node.outputs)
        in_ev = [ev.get(i) for i in node.inputs]
        if all(e is None for e in in_ev):
            continue
        out_ev = node_rop(node, in_ev)
        for o, e in zip(node.outputs, out_ev):
            if e is not None and is_differentiable_dtype(o.type.dtype):
                ev[o] = _fit(e, o, node, what="R_op result")
    out = []
    for y in fs:
        if y in ev:
            out.append(_at_point(ev[y], wrts))
        elif y in depends:
            out.append(_M().zeros_like(y))
        else:
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(
                    f"Rop: {y!r} does not depend on {wrts}; pass "
                    f"disconnected_outputs='ignore' to get zeros")
            if disconnected_outputs == "warn":
                import warnings
                warnings.warn(f"Rop: {y!r} does not depend on {wrts}", stacklevel=2)
            out.append(_M().zeros_like(y) if return_disconnected == "zero" else None)
    return out[0] if single else out


def _at_point(r, wrts):
    """r, still referring to every wrt it was taken at (see AtPoint)."""
    used = set(ancestors([r]))
    missing = [w for w in wrts if w not in used]
    return AtPoint()(r, *missing) if missing else r


def node_rop(node, in_ev):
    """The eval points of the node's outputs, given those of its inputs (None: zero)."""
    op = node.op
    if getattr(op, "R_op", None) is not None:
        try:
            res = op.R_op(list(node.inputs), list(in_ev))
        except NotImplementedError:
            res = NotImplemented
        if res is not NotImplemented and res is not None:
            return list(res)
    return transpose_lop(node, in_ev)


def transpose_lop(node, in_ev):
    """J v for one node from its L_op: d/du <L_op(u), v>, with u replaced by the outputs."""
    us = [o.type() if is_differentiable_dtype(o.type.dtype) else None for o in node.outputs]
    if not any(u is not None for u in us):
        return [None] * len(node.outputs)
    ogs = [u if u is not None else _M().zeros_like(o) for u, o in zip(us, node.outputs)]
    try:
        lg = node.op.L_op(list(node.inputs), list(node.outputs), ogs)
    except (GradientError, NotImplementedError) as e:
        raise GradientError(f"{node.op} has no gradient, so Rop cannot go through it; the node "
                            f"was {format_trace(node.trace)}") from e
    known = {}
    for g, v, inp in zip(lg, in_ev, node.inputs):
        if g is None or v is None:
            continue
        g = _fit(g, inp, node)
        known[g] = known[g] + v if g in known else v
    if not known:
        return [None] * len(node.outputs)
    wrt = [u for u in us if u is not None]
    res = grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
               return_disconnected="None")
    back = {u: o for u, o in zip(us, node.outputs) if u is not None}
    present = [r for r in res if r is not None]
    present = clone_replace(present, back) if present else []
    it = iter(present)
    res = [None if r is None else next(it) for r in res]
    out, it = [], iter(res)
    for u in us:
        out.append(None if u is None else next(it))
    return out
