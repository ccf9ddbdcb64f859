"""Reverse mode: ``grad`` and ``Lop``.

The algorithm (Theano's, written without recursion so a 10,000-node chain is fine):

1. Topologically sort the nodes between the roots (the cost and the keys of `known_grads`)
   and the graph inputs, stopping at `consider_constant` variables.
2. Backward pass over that order: which variables *reach* a root. An op may say some input
   does not influence some output (``connection_pattern(node)``, a list per input of a bool
   per output); then that edge does not count. A `wrt` that reaches no root is disconnected.
3. Forward pass: which variables *depend* on a `wrt` through float (or complex) variables.
   Gradients only flow through those: integer and boolean variables stop the flow (their
   gradient is zero, as in Theano).
4. Reverse pass over the nodes that have both: the gradient of each output is the sum of the
   contributions its consumers made (one ``add`` node), cast to the output's dtype; missing
   output gradients are zeros; ``node.op.L_op(inputs, outputs, output_grads)`` gives one
   contribution per input (None: none).

The result is an ordinary graph, so it can be differentiated again.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..config import config
from ..errors import DisconnectedInputError, GradientError, format_trace
from ..graph import Constant, Variable, io_toposort

__all__ = ["grad", "Lop", "DisconnectedInputError", "GradientError"]


def _M():
    from ..ops import math
    return math


def _as_var(x):
    from ..tensor.var import as_tensor_variable
    return as_tensor_variable(x)


def is_differentiable_dtype(dtype) -> bool:
    """Float and complex variables carry gradients; integers and booleans do not."""
    return str(dtype).startswith(("float", "complex"))


def _dtype(v):
    return getattr(v.type, "dtype", None)


def zeros_for(v):
    """The gradient value of a variable that gets none: zeros of its shape (floatX zeros for
    integer and boolean variables, as Theano)."""
    M = _M()
    if is_differentiable_dtype(_dtype(v)):
        return M.zeros_like(v)
    return M.zeros_like(v, dtype=config.floatX)


def _known_zero(g):
    """True when `g` is a constant zero, or zeros_like of something (fill of a zero),
    looking through DimShuffle."""
    from ..ops.elemwise import DimShuffle, Elemwise
    from ..ops.scalar import Second
    while True:
        if isinstance(g, Constant):
            data = g.data
            return isinstance(data, np.ndarray) and data.size > 0 and not data.any()
        node = g.owner
        if node is None:
            return False
        if isinstance(node.op, DimShuffle):
            g = node.inputs[0]
        elif isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Second):
            g = node.inputs[1]
        else:
            return False


def _connection(node):
    """connection_pattern of the node's op: [input][output] -> bool (all True by default)."""
    fn = getattr(node.op, "connection_pattern", None)
    if fn is None:
        return None
    return fn(node)


def _fit(g, var, node=None, what="gradient"):
    """Check the gradient term's rank and cast it to the variable's dtype."""
    g = _as_var(g)
    vt = var.type
    if getattr(g.type, "ndim", None) != getattr(vt, "ndim", None):
        where = f" (from {node.op}, {format_trace(node.trace)})" if node is not None else ""
        raise GradientError(f"{what} of {var!r} has type {g.type}, but the variable has type "
                            f"{vt}: the ranks differ{where}")
    # a dimension the variable broadcasts along collects the sum of the gradient there
    # (an L_op that left it unsummed, or a static 1 it could not prove)
    axes = tuple(d for d, (s, t) in enumerate(zip(vt.shape, g.type.shape))
                 if s == 1 and t != 1)
    if axes:
        from ..ops.reduce import sum as _sum
        g = _sum(g, axis=axes, keepdims=True)
    if _dtype(g) != vt.dtype and is_differentiable_dtype(vt.dtype):
        g = _M().cast(g, vt.dtype)
    return g


def _total(terms, var):
    """The sum of a variable's gradient contributions (one add node for many)."""
    if len(terms) == 1:
        return _fit(terms[0], var)
    return _fit(_M().add(*terms), var)


def _as_list(x, what):
    if isinstance(x, (list, tuple)):
        return list(x), False
    if isinstance(x, Variable):
        return [x], True
    raise TypeError(f"{what} must be a variable or a list of variables, got {type(x).__name__}")


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero", null_gradients="raise"):
    """Symbolic gradient of the scalar `cost` with respect to `wrt` (a variable, a list or a
    tuple: the result has the same form).

    >>> x = T.dscalar('x')
    >>> gx = grad(x ** 2, x)          # 2 * x
    >>> symgraph.function([x], gx)(4.0)
    array(8.)

    `consider_constant`: variables whose inputs get no gradient through them.
    `known_grads`: {variable: its gradient} to start from (with or without a cost).
    `disconnected_inputs`: 'raise', 'warn' or 'ignore' when `cost` does not depend on some
    `wrt`; `return_disconnected`: 'zero' (zeros like it), 'None' or 'Disconnected' (None).
    `null_gradients`: 'raise' when an op on the path has no gradient, 'return' to give None
    for the `wrt` that needs it. Integer and boolean `wrt` get floatX zeros.
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore', got "
                         f"{disconnected_inputs!r}")
    if return_disconnected not in ("zero", "None", "none", "Disconnected", "disconnected"):
        raise ValueError("return_disconnected must be 'zero', 'None' or 'Disconnected', got "
                         f"{return_disconnected!r}")
    if null_gradients not in ("raise", "return"):
        raise ValueError(f"null_gradients must be 'raise' or 'return', got {null_gradients!r}")
    wrt_list, single = _as_list(wrt, "grad: wrt")
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must hold symbolic variables, got {type(w).__name__}")
    if cost is None and not known_grads:
        raise ValueError("grad: give a cost, or known_grads, or both")

    # the starting gradients
    start = {}
    if cost is not None:
        cost = _as_var(cost)
        if cost.type.ndim != 0:
            raise GradientError(f"grad: the cost must be a scalar (0-d), got {cost!r} of type "
                                f"{cost.type}; sum it, or pass known_grads")
        # ones_like(cost), as Theano: the gradient graph refers to the cost, so every input
        # of the cost counts as used by function() (rewrites drop the fill of a 0-d cost)
        start[cost] = [_M().ones_like(cost) if is_differentiable_dtype(cost.dtype)
                       else _M().ones_like(cost, dtype=config.floatX)]
    for var, g in (known_grads or {}).items():
        if not isinstance(var, Variable):
            raise TypeError(f"grad: known_grads keys must be variables, got {var!r}")
        g = _fit(g, var, what="known gradient")
        start.setdefault(var, []).append(g)
    roots = list(start)
    blockers = set(consider_constant or ())
    nodes = io_toposort(blockers, roots)

    # 2. which variables reach a root
    reach = set(roots)
    for node in reversed(nodes):
        outs = [o in reach for o in node.outputs]
        if not any(outs):
            continue
        if any(o in blockers for o in node.outputs):
            # a constant-considered output: its own inputs get nothing through it
            outs = [r and o not in blockers for r, o in zip(outs, node.outputs)]
            if not any(outs):
                continue
        pattern = _connection(node)
        for i, inp in enumerate(node.inputs):
            if pattern is None or any(p and r for p, r in zip(pattern[i], outs)):
                reach.add(inp)

    # 3. which variables depend (differentiably) on a wrt
    flow = {w for w in wrt_list if is_differentiable_dtype(_dtype(w)) and w in reach}
    for node in nodes:
        if any(o in blockers for o in node.outputs):
            continue
        if any(i in flow for i in node.inputs):
            for o in node.outputs:
                if o in reach and is_differentiable_dtype(_dtype(o)):
                    flow.add(o)

    # 4. reverse accumulation
    terms = {v: list(gs) for v, gs in start.items() if v in flow}
    totals = {}
    null = {}  # variable -> the GradientError that makes its gradient undefined

    def total_of(v):
        if v not in totals:
            ts = terms.get(v)
            totals[v] = _total(ts, v) if ts else None
        return totals[v]

    for node in reversed(nodes):
        if any(o in blockers for o in node.outputs):
            continue
        wanted = [i for i, inp in enumerate(node.inputs) if inp in flow]
        if not wanted:
            continue
        if any(o in null for o in node.outputs):
            err = next(null[o] for o in node.outputs if o in null)
            for i in wanted:
                null.setdefault(node.inputs[i], err)
            continue
        out_grads = [total_of(o) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        out_grads = [g if g is not None else _M().zeros_like(o)
                     for g, o in zip(out_grads, node.outputs)]
        try:
            in_grads = node.op.L_op(list(node.inputs), list(node.outputs), out_grads)
        except (GradientError, NotImplementedError) as e:
            err = GradientError(
                f"{node.op} has no gradient (needed for {_describe_wanted(node, wanted)}); "
                f"the node was {format_trace(node.trace)}"
                + (f"\n  ({e})" if str(e) and str(e) not in (f"{node.op} has no gradient",)
                   else ""))
            if null_gradients == "raise":
                raise err from e
            for i in wanted:
                null.setdefault(node.inputs[i], err)
            continue
        in_grads = list(in_grads)
        if len(in_grads) != len(node.inputs):
            raise GradientError(f"{node.op}.L_op returned {len(in_grads)} gradients for "
                                f"{len(node.inputs)} inputs; node {format_trace(node.trace)}")
        for i in wanted:
            g = in_grads[i]
            if g is None or _known_zero(g):
                # a zero term (e.g. fill's gradient for the input that only gives the
                # shape) adds nothing; leaving it out keeps the zeros from flowing back
                # through the graph as 0 * x terms, which rewrites may not fold (x may be
                # inf): a Hessian would otherwise carry a whole copy of the cost's graph
                continue
            inp = node.inputs[i]
            if inp in totals:
                raise GradientError(f"internal: {inp!r} received a gradient after its total "
                                    f"was formed (graph is not in topological order)")
            terms.setdefault(inp, []).append(_fit(g, inp, node))

    # results
    out = []
    for w in wrt_list:
        if w not in reach:
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    f"grad: the cost does not depend on {_label(w)} ({w.type})"
                    + (f", made {format_trace(w.owner.trace)}" if w.owner is not None else "")
                    + "; pass disconnected_inputs='ignore' (or 'warn') to get zeros")
            if disconnected_inputs == "warn":
                warnings.warn(f"grad: the cost does not depend on {_label(w)} ({w.type})",
                              stacklevel=2)
            out.append(zeros_for(w) if return_disconnected == "zero" else None)
            continue
        if not is_differentiable_dtype(_dtype(w)):
            out.append(zeros_for(w))
            continue
        if w in null:
            out.append(None)
            continue
        g = total_of(w)
        out.append(g if g is not None else zeros_for(w))
    if single:
        return out[0]
    return tuple(out) if isinstance(wrt, tuple) else out


def _label(v):
    return repr(v.name) if v.name else repr(v)


def _describe_wanted(node, wanted):
    names = [f"input {i}" + (f" ({node.inputs[i].name})" if node.inputs[i].name else "")
             for i in wanted]
    return ", ".join(names)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="ignore"):
    """v·J: the gradient of ``sum(f * eval_points)`` with respect to `wrt`.

    >>> W, v = T.dmatrix('W'), T.dvector('v')
    >>> y = T.dot(x, W)
    >>> Lop(y, W, v)                    # outer(x, v)

    `f` and `eval_points` are a variable or equally long lists; a single `wrt` gives a single
    result.
    """
    fs, _ = _as_list(f, "Lop: f")
    eps, _ = _as_list(eval_points, "Lop: eval_points") if isinstance(
        eval_points, (list, tuple, Variable)) else ([eval_points], True)
    if len(fs) != len(eps):
        raise ValueError(f"Lop: {len(fs)} outputs but {len(eps)} eval points")
    known = {}
    for y, v in zip(fs, eps):
        v = _as_var(v)
        if v.ndim != y.ndim:
            raise ValueError(f"Lop: the eval point for {y!r} has {v.ndim} dimensions, the "
                             f"output has {y.ndim}")
        known[y] = v
    return grad(None, wrt, consider_constant=consider_constant, known_grads=known,
                disconnected_inputs=disconnected_inputs)
