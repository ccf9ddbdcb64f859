"""Numerical stability of the neural-network ops (ops/nnet.py): log(softmax) and the
crossentropies of a softmax, forward and backward."""
from __future__ import annotations

from ...ops import math as M
from ...ops import nnet as N
from ...ops import scalar as S
from ..engine import local_rule
from ..utils import fit, is_const, is_elemwise, is_float_var, scalar_op_of


def _softmax_of(v):
    """(logits, axis) when v is softmax(logits), else None."""
    node = v.owner
    if node is not None and isinstance(node.op, N.Softmax):
        return node.inputs[0], node.op.axis
    return None


@local_rule(("canonicalize", "stabilize"), M.log, name="log_softmax",
            tags=("softmax",))
def log_softmax(fgraph, node):
    """log(softmax(x)) -> log_softmax(x) (log(0) = -inf where the softmax underflows)."""
    sm = _softmax_of(node.inputs[0])
    if sm is None:
        return None
    x, axis = sm
    new = fit(N.LogSoftmax(axis)(x), node.outputs[0], [node.inputs[0]])
    return None if new is None else [new]


@local_rule("stabilize", N.CrossentropyCategorical1Hot, name="crossentropy_softmax_1hot",
            tags=("softmax",))
def crossentropy_softmax_1hot(fgraph, node):
    """categorical_crossentropy(softmax(x), labels) -> -log_softmax(x)[labels]."""
    p, y = node.inputs
    sm = _softmax_of(p)
    if sm is None or sm[1] != p.ndim - 1:
        return None
    new = N.NegLogProb1Hot()(N.LogSoftmax(sm[1])(sm[0]), y)
    return [new] if new.type == node.outputs[0].type else None


@local_rule("stabilize", N.CrossentropyCategoricalDense, name="crossentropy_softmax_dense",
            tags=("softmax",))
def crossentropy_softmax_dense(fgraph, node):
    """-sum(t * log(softmax(x))) -> -sum(t * log_softmax(x))."""
    if node.op.from_log:
        return None
    p, t = node.inputs
    sm = _softmax_of(p)
    if sm is None or sm[1] != p.ndim - 1:
        return None
    new = N.CrossentropyCategoricalDense(True)(N.LogSoftmax(sm[1])(sm[0]), t)
    return [new] if new.type == node.outputs[0].type else None


def _over(g, d):
    """G when g is G / d or G * (1 / d) (the gradient of log(d)), else None."""
    if is_elemwise(g, S.TrueDiv) and g.owner.inputs[1] is d:
        return g.owner.inputs[0]
    if is_elemwise(g, S.Mul):
        ins = g.owner.inputs
        for k, f in enumerate(ins):
            if is_elemwise(f, S.TrueDiv) and f.owner.inputs[1] is d:
                num = f.owner.inputs[0]
                rest = [u for j, u in enumerate(ins) if j != k]
                if not is_const(num, 1):
                    rest.append(num)
                return rest[0] if len(rest) == 1 else M.mul(*rest)
    return None


@local_rule("stabilize", N.SoftmaxGrad, name="log_softmax_grad", tags=("softmax",))
def log_softmax_grad(fgraph, node):
    """The gradient through log(softmax(x)): SoftmaxGrad(G / sm, sm) -> LogSoftmaxGrad(G,
    log_softmax(x)), finite where the softmax underflows to 0."""
    g, sm = node.inputs
    found = _softmax_of(sm)
    if found is None or found[1] != node.op.axis:
        return None
    big_g = _over(g, sm)
    if big_g is None:
        return None
    x, axis = found
    new = N.LogSoftmaxGrad(axis)(big_g, N.LogSoftmax(axis)(x))
    new = fit(new, node.outputs[0], [g, sm])
    return None if new is None else [new]


@local_rule("specialize", M.exp, name="exp_log_softmax", tags=("softmax",))
def exp_log_softmax(fgraph, node):
    """exp(log_softmax(x)) -> softmax(x)."""
    (z,) = node.inputs
    if z.owner is None or not isinstance(z.owner.op, N.LogSoftmax) or \
            scalar_op_of(node) is None:
        return None
    new = N.Softmax(z.owner.op.axis)(z.owner.inputs[0])
    return [new] if new.type == node.outputs[0].type else None


# -- the softmax crossentropy in one op -----------------------------------------------------
# Specialize (FAST_RUN) only: the fused ops are about speed, and FAST_COMPILE keeps the graph
# it stabilized. Not under device=cuda, whose backend has kernels for the unfused ops only.

def _log_softmax_last(v):
    """x when v is LogSoftmax(x) along its last axis, else None."""
    node = v.owner
    if node is not None and isinstance(node.op, N.LogSoftmax) and node.op.axis == v.ndim - 1:
        return node.inputs[0]
    return None


def _row_bias_of(x):
    """[x0, b] when x is x0 + b with a 1-d b along the last axis (the dense layer before a
    softmax), all of one dtype and x0 already of x's shape; else [x]."""
    if not is_elemwise(x, S.Add) or len(x.owner.inputs) != 2:
        return [x]
    from ...ops.elemwise import DimShuffle
    for x0, row in (x.owner.inputs, x.owner.inputs[::-1]):
        node = row.owner
        if node is None or not isinstance(node.op, DimShuffle) or \
                node.op.new_order != ("x",) * (x.ndim - 1) + (0,):
            continue
        b = node.inputs[0]
        # a bias of static size 1 would broadcast over the classes, which the kernel does not
        if x0.type == x.type and b.dtype == x.dtype and \
                (b.type.shape[0] != 1 or x.type.shape[-1] == 1):
            return [x0, b]
    return [x]


def _on_cuda():
    from ...config import config
    return config.device == "cuda"


@local_rule("specialize", N.LogSoftmaxGrad, name="xent_softmax_1hot_dx",
            tags=("softmax", "fused_xent"))
def xent_softmax_1hot_dx(fgraph, node):
    """LogSoftmaxGrad(NegLogProb1HotGrad(g, L, y), L) with L = log_softmax(x (+ b)) ->
    CrossentropySoftmax1HotDx(g, x, [b,] y): g * (softmax - onehot) in one pass a row."""
    big_g, lp = node.inputs
    x = _log_softmax_last(lp)
    if x is None or node.op.axis != lp.ndim - 1 or big_g.owner is None or \
            not isinstance(big_g.owner.op, N.NegLogProb1HotGrad) or _on_cuda():
        return None
    g, lp2, y = big_g.owner.inputs
    if lp2 is not lp or g.ndim != y.ndim or not is_float_var(g):
        return None
    args = _row_bias_of(x)
    new = N.CrossentropySoftmax1HotDx(len(args) == 2)(g, *args, y)
    new = fit(new, node.outputs[0])
    return None if new is None else [new]


@local_rule("specialize", N.NegLogProb1Hot, name="xent_softmax_1hot",
            tags=("softmax", "fused_xent"))
def xent_softmax_1hot(fgraph, node):
    """NegLogProb1Hot(log_softmax(x (+ b)), y) -> CrossentropySoftmax1Hot(x, [b,] y) when
    only such losses read the log-softmax: logsumexp - x[label] without writing the
    log-softmax matrix."""
    lp, y = node.inputs
    x = _log_softmax_last(lp)
    if x is None or _on_cuda():
        return None
    for client, idx in fgraph.clients.get(lp, ()):
        if client == "output" or idx != 0 or not isinstance(client.op, N.NegLogProb1Hot):
            return None
    args = _row_bias_of(x)
    new = fit(N.CrossentropySoftmax1Hot(len(args) == 2)(*args, y), node.outputs[0])
    return None if new is None else [new]
