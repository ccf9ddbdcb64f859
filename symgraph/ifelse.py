"""``ifelse(cond, then, else)``: a lazy conditional, Theano's ``theano.ifelse``.

Both branches are lifted into inner graphs held by one ``IfElse`` node, as ``lax.cond`` does:
the outer graph only sees the variables the branches read, so neither the executor nor the
outer rewrites (merge, fusion, hoisting) can compute a branch's work before the condition is
known; at run time only the chosen branch's compiled inner function runs. Values that both
branches need are needed either way: they stay outside and are computed once.

``symgraph.ifelse`` is this module and also callable as the function itself.
"""
from __future__ import annotations

import sys
import types

import numpy as np

from .errors import op_build_error
from .graph import Apply, Op, Variable, ancestors
from .scan.inner import lift
from .tensor.var import as_tensor_variable
from .types import TensorType

__all__ = ["ifelse", "IfElse"]


class IfElse(Op):
    """``then_fn(*xs) if cond else else_fn(*xs)``; only the chosen branch is computed."""

    def __init__(self, then_graph, else_graph, name=None):
        self.then_graph = then_graph
        self.else_graph = else_graph
        self.name = name
        self.n_outs = len(then_graph.outputs)

    # each instance holds its own graphs: compare by identity
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"IfElse{{{self.name or ''}{',' if self.name else ''}{self.n_outs} outputs}}"

    __repr__ = __str__

    def make_node(self, cond, *xs):
        cond = as_tensor_variable(cond)
        xs = [as_tensor_variable(x) for x in xs]
        outs = []
        for t, e in zip(self.then_graph.outputs, self.else_graph.outputs):
            shape = tuple(a if a == b else None for a, b in zip(t.type.shape, e.type.shape))
            outs.append(TensorType(t.dtype, shape)())
        return Apply(self, [cond] + xs, outs)

    def _run(self, fns, node, inputs, output_storage):
        cond, *xs = inputs
        fn = fns[0] if bool(np.asarray(cond)) else fns[1]
        vals = fn(*xs)
        for k, v in enumerate(vals):
            dt = node.outputs[k].type.numpy_dtype
            output_storage[k][0] = v if v.dtype == dt else v.astype(dt)

    def perform(self, node, inputs, output_storage):
        fns = (self.then_graph.function("py"), self.else_graph.function("py"))
        self._run(fns, node, inputs, output_storage)

    def prepare_perform(self, node, mode):
        """A perform running the branches compiled in the outer function's `mode`."""
        fns = (self.then_graph.function(mode), self.else_graph.function(mode))
        return lambda node, inputs, storage: self._run(fns, node, inputs, storage)

    def connection_pattern(self, node):
        return [[False] * self.n_outs] + [[True] * self.n_outs] * (len(node.inputs) - 1)

    def _outer(self, graph, xs):
        from .graph import clone_replace
        return clone_replace(graph.outputs, dict(zip(graph.inputs, xs)))

    def L_op(self, inputs, outputs, output_grads):
        from .grad.reverse import Lop, is_differentiable_dtype
        from .ops.math import zeros_like
        cond, *xs = inputs
        want = [i for i, x in enumerate(xs) if is_differentiable_dtype(x.dtype)]
        if not want:
            return [None] * len(inputs)
        branches = []
        for graph in (self.then_graph, self.else_graph):
            outs = self._outer(graph, xs)
            pairs = [(o, g) for o, g in zip(outs, output_grads)
                     if is_differentiable_dtype(o.dtype)]
            if pairs:
                gs = Lop([o for o, _ in pairs], [xs[i] for i in want], [g for _, g in pairs])
            else:
                gs = [None] * len(want)
            branches.append([g if g is not None else zeros_like(xs[i])
                             for g, i in zip(gs, want)])
        res = ifelse(cond, branches[0], branches[1])
        res = res if isinstance(res, list) else [res]
        out = [None] * len(inputs)
        for i, r in zip(want, res):
            out[1 + i] = r
        return out

    def R_op(self, inputs, eval_points):
        from .grad.forward import Rop
        from .ops.math import zeros_like
        cond, *xs = inputs
        pts = [(x, e) for x, e in zip(xs, eval_points[1:]) if e is not None]
        if not pts:
            return [None] * self.n_outs
        branches = []
        for graph in (self.then_graph, self.else_graph):
            outs = self._outer(graph, xs)
            rs = Rop(outs, [x for x, _ in pts], [e for _, e in pts],
                     disconnected_outputs="ignore")
            branches.append([r if r is not None else zeros_like(o) for r, o in zip(rs, outs)])
        res = ifelse(cond, branches[0], branches[1])
        return res if isinstance(res, list) else [res]

    def infer_shape(self, node, input_shapes):
        return None


def ifelse(condition, then_branch, else_branch, name=None):
    """`then_branch` if the scalar `condition` is true, else `else_branch`, computing only
    the branch taken (``T.switch`` computes both, elementwise).

    >>> z = ifelse(T.lt(a, b), T.mean(x), T.mean(y))   # only one mean runs
    >>> u, v = ifelse(c, [x, y], [y, x])

    The branches are a variable or equally long lists; each pair must share dtype and ndim.
    """
    cond = as_tensor_variable(condition)
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = [else_branch] if not isinstance(else_branch, (list, tuple)) else list(else_branch)
    what = f"IfElse{{{name}}}" if name else "IfElse"
    if len(thens) != len(elses):
        raise op_build_error(what, [cond], f"the then branch has {len(thens)} outputs and the "
                             f"else branch {len(elses)}", ValueError)
    if cond.ndim != 0:
        raise op_build_error(what, [cond], f"the condition must be a scalar, got {cond.type}",
                             TypeError)
    thens = [_as_var(t) for t in thens]
    elses = [_as_var(e) for e in elses]
    for k, (t, e) in enumerate(zip(thens, elses)):
        if t.dtype != e.dtype or t.ndim != e.ndim:
            if t.ndim == e.ndim and _weak(e):
                elses[k] = e = _recast(e, t.dtype)
            elif t.ndim == e.ndim and _weak(t):
                thens[k] = t = _recast(t, e.dtype)
            else:
                raise op_build_error(what, [cond, t, e], f"output {k}: the branches have "
                                     f"types {t.type} and {e.type}; they must have the same "
                                     f"dtype and ndim (cast one)", TypeError)
    # what both branches need is needed either way: computed outside, before the choice
    both = set(ancestors(thens)) & set(ancestors(elses))
    outer_then, then_graph = lift(thens, boundary=both)
    outer_else, else_graph = lift(elses, boundary=both)
    xs = list(outer_then) + [v for v in outer_else if v not in set(outer_then)]
    from .scan.inner import InnerGraph
    then_graph = InnerGraph(_pad(then_graph, outer_then, xs), then_graph.outputs)
    else_graph = InnerGraph(_pad(else_graph, outer_else, xs), else_graph.outputs)
    op = IfElse(then_graph, else_graph, name=name)
    node = op.make_node(cond, *xs)
    outs = list(node.outputs)
    return outs[0] if single else outs


def _as_var(x):
    if isinstance(x, Variable):
        return x
    return as_tensor_variable(x)


def _weak(v):
    return getattr(v, "weak", False) or (v.owner is None and hasattr(v, "data"))


def _recast(v, dtype):
    from .ops.math import cast
    return cast(v, dtype)


def _pad(graph, outer, xs):
    """The graph's inputs for the op's full input list `xs` (unused ones are fresh)."""
    pos = {v: k for k, v in enumerate(outer)}
    return [graph.inputs[pos[x]] if x in pos else x.type() for x in xs]


class _CallableModule(types.ModuleType):
    """``symgraph.ifelse(...)`` calls the function; ``symgraph.ifelse.ifelse`` is it too."""

    def __call__(self, *args, **kwargs):
        return ifelse(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
