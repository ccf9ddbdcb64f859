"""Neural-network ops: softmax, log_softmax, crossentropies, relu.

Every forward `perform` is numerically stable (max-shifted exponentials, log-sum-exp), and
the user functions fuse the common patterns when the graph is built:
``categorical_crossentropy(softmax(x), y)`` becomes a negative log-likelihood on
``log_softmax(x)`` and ``binary_crossentropy(sigmoid(x), t)`` a softplus form, so logits of
+-1e4 give finite losses and gradients even without rewrites.
"""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType, float_of, is_float, is_int
from . import math as M
from .elemwise import Elemwise, dimshuffle
from .reduce import sum as reduce_sum

__all__ = ["softmax", "log_softmax", "categorical_crossentropy", "binary_crossentropy",
           "sigmoid", "softplus", "relu", "ultra_fast_sigmoid", "hard_sigmoid",
           "sigmoid_binary_crossentropy", "Softmax", "SoftmaxGrad", "LogSoftmax",
           "LogSoftmaxGrad", "CrossentropyCategorical1Hot", "CrossentropyCategorical1HotGrad",
           "NegLogProb1Hot", "NegLogProb1HotGrad", "CrossentropyCategoricalDense",
           "CrossentropySoftmax1Hot", "CrossentropySoftmax1HotDx"]

sigmoid = M.sigmoid
softplus = M.softplus


def _norm_axis(op, inputs, axis, ndim):
    if ndim == 0:
        raise op_build_error(op, inputs, "needs at least a 1-d input, got a 0-d one", ValueError)
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise op_build_error(op, inputs, f"axis {axis!r} is out of range for a {ndim}-d input",
                             ValueError)
    return int(axis) % ndim


def _as_float(x):
    x = as_tensor_variable(x)
    if not is_float(x.dtype):
        x = M.cast(x, float_of(x.dtype))
    return x


class _AxisSum(Op):
    """numpy.sum(x, axis, keepdims=True) (used by the softmax gradients)."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, x):
        x = as_tensor_variable(x)
        shape = list(x.type.shape)
        shape[self.axis] = 1
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, out):
        (x,) = inputs
        out[0][0] = np.sum(x, axis=self.axis, keepdims=True, dtype=x.dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [M.second(inputs[0], output_grads[0])]


def _stable_softmax(x, axis):
    if x.size == 0:
        return np.empty_like(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _stable_log_softmax(x, axis):
    if x.size == 0:
        return np.empty_like(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


class _AxisOp(Op):
    __props__ = ("axis",)
    view_map = {}

    def __init__(self, axis=-1):
        self.axis = axis

    def _node(self, *inputs):
        inputs = [as_tensor_variable(i) for i in inputs]
        for i in inputs:
            if not is_float(i.dtype):
                raise op_build_error(self, inputs, f"needs float inputs, got {i.dtype}")
        nd = inputs[0].ndim
        if any(i.ndim != nd for i in inputs):
            raise op_build_error(self, inputs, "inputs must have the same number of dimensions",
                                 ValueError)
        if not 0 <= self.axis < nd:
            raise op_build_error(self, inputs, f"axis {self.axis} out of range", ValueError)
        dtype = np.result_type(*[i.dtype for i in inputs]).name
        shape = tuple(next((s for s in sizes if s is not None), None)
                      for sizes in zip(*[i.type.shape for i in inputs]))
        return Apply(self, inputs, [TensorType(dtype, shape)()])

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class Softmax(_AxisOp):
    """exp(x - max) / sum(exp(x - max)) along `axis`."""

    def make_node(self, x):
        return self._node(x)

    def perform(self, node, inputs, out):
        out[0][0] = _stable_softmax(inputs[0], self.axis)

    def L_op(self, inputs, outputs, output_grads):
        return [SoftmaxGrad(self.axis)(output_grads[0], outputs[0])]

    def R_op(self, inputs, eval_points):
        if eval_points[0] is None:
            return [None]
        y = self(inputs[0])
        return [SoftmaxGrad(self.axis)(eval_points[0], y)]


class SoftmaxGrad(_AxisOp):
    """y * (g - sum(g * y, axis)): the gradient through softmax output y."""

    def make_node(self, g, y):
        return self._node(g, y)

    def perform(self, node, inputs, out):
        g, y = inputs
        dtype = node.outputs[0].dtype
        out[0][0] = (y * (g - np.sum(g * y, axis=self.axis, keepdims=True))).astype(dtype)

    def L_op(self, inputs, outputs, output_grads):
        g, y = inputs
        (G,) = output_grads
        s = _AxisSum(self.axis)
        return [SoftmaxGrad(self.axis)(G, y), G * (g - s(g * y)) - g * s(G * y)]


class LogSoftmax(_AxisOp):
    """x - max - log(sum(exp(x - max))) along `axis`."""

    def make_node(self, x):
        return self._node(x)

    def perform(self, node, inputs, out):
        out[0][0] = _stable_log_softmax(inputs[0], self.axis)

    def L_op(self, inputs, outputs, output_grads):
        return [LogSoftmaxGrad(self.axis)(output_grads[0], outputs[0])]


class LogSoftmaxGrad(_AxisOp):
    """g - exp(z) * sum(g, axis): the gradient through log-softmax output z."""

    def make_node(self, g, z):
        return self._node(g, z)

    def perform(self, node, inputs, out):
        g, z = inputs
        dtype = node.outputs[0].dtype
        out[0][0] = (g - np.exp(z) * np.sum(g, axis=self.axis, keepdims=True)).astype(dtype)

    def L_op(self, inputs, outputs, output_grads):
        g, z = inputs
        (G,) = output_grads
        s = _AxisSum(self.axis)
        ez = M.exp(z)
        return [G - s(G * ez), -G * ez * s(g)]


def softmax(x, axis=-1):
    """Softmax along `axis` (numpy: ``e = exp(x - x.max(axis)); e / e.sum(axis)``).

    >>> T.nnet.softmax(T.matrix('x'))          # rows sum to 1
    """
    x = _as_float(x)
    op = Softmax(0)
    axis = _norm_axis(op, [x], axis, x.ndim)
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed stably (max-shifted log-sum-exp).

    >>> T.nnet.log_softmax(T.matrix('x'))
    """
    x = _as_float(x)
    axis = _norm_axis(LogSoftmax(0), [x], axis, x.ndim)
    return LogSoftmax(axis)(x)


# -- categorical crossentropy ---------------------------------------------------------------

def _check_labels(op, coding, labels):
    if not is_int(labels.dtype):
        raise op_build_error(op, [coding, labels], f"labels must be integers, got {labels.dtype}")
    if labels.ndim != coding.ndim - 1:
        raise op_build_error(op, [coding, labels],
                             f"labels must have {coding.ndim - 1} dimensions for a "
                             f"{coding.ndim}-d coding distribution, got {labels.ndim}", ValueError)


def _label_positions(labels, n, op):
    """`labels` as indices in [0, n) (negative labels count from the end, as numpy's
    indexing), or an IndexError naming `op`, the first bad label and where it is."""
    lab = np.asarray(labels)
    if lab.size:
        bad = (lab < -n) | (lab >= n)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            at = where[0] if len(where) == 1 else where
            raise IndexError(f"{op}: label {lab[where]} at position {at} is out of range for "
                             f"{n} classes (labels must lie in [-{n}, {n}); given "
                             f"{lab.min()}..{lab.max()})")
    lab = lab.astype(np.intp)
    return np.where(lab < 0, lab + n, lab) if lab.size else lab


def _picked(a, labels, op):
    lab = _label_positions(labels, a.shape[-1], op)[..., None]
    return np.take_along_axis(a, lab, axis=-1)[..., 0]


def _scatter(shape, labels, values, dtype):
    out = np.zeros(shape, dtype=dtype)
    lab = np.asarray(labels)[..., None].astype(np.intp)
    np.put_along_axis(out, lab, np.asarray(values, dtype=dtype)[..., None], axis=-1)
    return out


class _Labelled(Op):
    __props__ = ()

    def make_node(self, a, labels):
        a, labels = as_tensor_variable(a), as_tensor_variable(labels)
        if not is_float(a.dtype):
            raise op_build_error(self, [a, labels], f"needs a float distribution, got {a.dtype}")
        if a.ndim < 1:
            raise op_build_error(self, [a, labels], "needs at least a 1-d distribution",
                                 ValueError)
        _check_labels(self, a, labels)
        shape = tuple(s if s is not None else t
                      for s, t in zip(a.type.shape[:-1], labels.type.shape))
        return Apply(self, [a, labels], [TensorType(a.dtype, shape)()])


class CrossentropyCategorical1Hot(_Labelled):
    """-log(coding[i, labels[i]]) (numpy: ``-np.log(p[np.arange(n), y])``)."""

    def perform(self, node, inputs, out):
        p, y = inputs
        with np.errstate(divide="ignore"):
            out[0][0] = -np.log(_picked(p, y, self)).astype(p.dtype)

    def L_op(self, inputs, outputs, output_grads):
        p, y = inputs
        return [CrossentropyCategorical1HotGrad()(output_grads[0], p, y), None]


class CrossentropyCategorical1HotGrad(Op):
    """zeros like coding, with -g[i] / coding[i, labels[i]] at the labels."""

    __props__ = ()

    def make_node(self, g, p, y):
        g, p, y = map(as_tensor_variable, (g, p, y))
        return Apply(self, [g, p, y], [TensorType(p.dtype, p.type.shape)()])

    def perform(self, node, inputs, out):
        g, p, y = inputs
        with np.errstate(divide="ignore"):
            out[0][0] = _scatter(p.shape, y, -g / _picked(p, y, self), p.dtype)


class NegLogProb1Hot(_Labelled):
    """-logp[i, labels[i]]: the negative log-likelihood from log-probabilities."""

    def perform(self, node, inputs, out):
        lp, y = inputs
        out[0][0] = (-_picked(lp, y, self)).astype(lp.dtype)

    def L_op(self, inputs, outputs, output_grads):
        lp, y = inputs
        return [NegLogProb1HotGrad()(output_grads[0], lp, y), None]


class NegLogProb1HotGrad(Op):
    """zeros like logp, with -g[i] at the labels."""

    __props__ = ()

    def make_node(self, g, lp, y):
        g, lp, y = map(as_tensor_variable, (g, lp, y))
        return Apply(self, [g, lp, y], [TensorType(lp.dtype, lp.type.shape)()])

    def perform(self, node, inputs, out):
        g, lp, y = inputs
        out[0][0] = _scatter(lp.shape, y, -g, lp.dtype)

    def L_op(self, inputs, outputs, output_grads):
        g, lp, y = inputs
        # linear in g: the transpose picks -G at the labels
        return [NegLogProb1Hot()(output_grads[0], y), M.zeros_like(lp), None]


class CrossentropyCategoricalDense(Op):
    """-sum(true * log(coding), axis=-1); with `from_log`, -sum(true * logp, axis=-1)."""

    __props__ = ("from_log",)

    def __init__(self, from_log=False):
        self.from_log = from_log

    def make_node(self, a, t):
        a, t = as_tensor_variable(a), as_tensor_variable(t)
        if not is_float(a.dtype):
            raise op_build_error(self, [a, t], f"needs a float distribution, got {a.dtype}")
        if a.ndim < 1 or t.ndim != a.ndim:
            raise op_build_error(self, [a, t], "coding and true distributions must have the "
                                 "same number (>= 1) of dimensions", ValueError)
        for s, u in zip(a.type.shape, t.type.shape):
            if s is not None and u is not None and s != u:
                raise op_build_error(self, [a, t], "shapes differ", ValueError)
        dtype = np.result_type(a.dtype, t.dtype).name if is_float(t.dtype) else a.dtype
        shape = tuple(s if s is not None else u
                      for s, u in zip(a.type.shape[:-1], t.type.shape[:-1]))
        return Apply(self, [a, t], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, out):
        a, t = inputs
        dtype = node.outputs[0].dtype
        with np.errstate(divide="ignore", invalid="ignore"):
            la = a if self.from_log else np.log(a)
            prod = np.where(t == 0, 0, t * la)  # 0 * log(0) counts as 0
            out[0][0] = (-np.sum(prod, axis=-1)).astype(dtype)

    def L_op(self, inputs, outputs, output_grads):
        a, t = inputs
        g = dimshuffle(output_grads[0], list(range(a.ndim - 1)) + ["x"])
        if self.from_log:
            return [M.cast(-g * t, a.dtype), -g * a]
        return [M.cast(-g * t / a, a.dtype), -g * M.log(a)]


# -- crossentropy of a softmax in one op -----------------------------------------------------

def _row_bias(v, b):
    """v + b with the 1-d `b` added along the last axis."""
    return v + dimshuffle(b, ["x"] * (v.ndim - 1) + [0])


def _lead_sum(v):
    """v summed over all but its last axis (the gradient of a row bias)."""
    return reduce_sum(v, axis=tuple(range(v.ndim - 1))) if v.ndim > 1 else v


class _SoftmaxLabelled(Op):
    """Shared checks of the fused softmax crossentropy ops: logits x (float, >= 1-d),
    optional bias b (1-d, x's dtype) added to every row, integer labels over x's rows."""

    __props__ = ("bias",)
    fresh_outputs = True

    def __init__(self, bias=False):
        self.bias = bool(bias)

    def _split(self, inputs):
        """(x, b or None, labels) from the inputs after any leading g."""
        return (inputs[0], inputs[1], inputs[2]) if self.bias else (inputs[0], None, inputs[1])

    def _check(self, inputs, x, b, labels):
        if not is_float(x.dtype):
            raise op_build_error(self, inputs, f"needs float logits, got {x.dtype}")
        if x.ndim < 1:
            raise op_build_error(self, inputs, "needs at least 1-d logits", ValueError)
        if b is not None:
            if b.ndim != 1 or b.dtype != x.dtype:
                raise op_build_error(self, inputs, f"the bias must be a 1-d {x.dtype} vector, "
                                     f"got a {b.ndim}-d {b.dtype} one", ValueError)
            n, m = x.type.shape[-1], b.type.shape[0]
            if n is not None and m is not None and n != m:
                raise op_build_error(self, inputs, f"the bias has {m} entries for {n} classes",
                                     ValueError)
        _check_labels(self, x, labels)

    def _logits(self, x, b):
        return x if b is None else x + b


class CrossentropySoftmax1Hot(_SoftmaxLabelled):
    """-log_softmax(x + b)[..., labels] along the last axis: per row logsumexp(v) - v[label]
    (numpy: ``-log_softmax(x)[np.arange(n), y]``), with `bias` a 1-d b added to every row.

    The rewrite `xent_softmax_1hot` makes it from NegLogProb1Hot(LogSoftmax(x), y) when
    nothing else reads the log-softmax, so the C kernel reads each row once and writes one
    number per row instead of the whole log-softmax matrix."""

    def make_node(self, *inputs):
        inputs = [as_tensor_variable(i) for i in inputs]
        if len(inputs) != 2 + self.bias:
            raise op_build_error(self, inputs, f"takes {2 + self.bias} inputs (x, "
                                 f"{'b, ' if self.bias else ''}labels), got {len(inputs)}",
                                 TypeError)
        x, b, labels = self._split(inputs)
        self._check(inputs, x, b, labels)
        shape = tuple(s if s is not None else t
                      for s, t in zip(x.type.shape[:-1], labels.type.shape))
        return Apply(self, inputs, [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, out):
        # the unfused graph's reference, step for step, so both modes agree bitwise
        x, b, y = self._split(inputs)
        lp = _stable_log_softmax(self._logits(x, b), -1)
        out[0][0] = (-_picked(lp, y, self)).astype(node.outputs[0].dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0][:-1]]

    def L_op(self, inputs, outputs, output_grads):
        dx = CrossentropySoftmax1HotDx(self.bias)(output_grads[0], *inputs)
        return [dx] + ([_lead_sum(dx)] if self.bias else []) + [None]


class CrossentropySoftmax1HotDx(_SoftmaxLabelled):
    """g[..., None] * (softmax(x + b) - onehot(labels)): the gradient of
    CrossentropySoftmax1Hot with respect to its logits, for the output gradient g.

    The rewrite `xent_softmax_1hot_dx` makes it from LogSoftmaxGrad(NegLogProb1HotGrad(g,
    L, y), L) with L = LogSoftmax(x): one pass over each row instead of a log-softmax
    matrix, a scattered one-hot matrix and a third pass combining them."""

    def make_node(self, g, *inputs):
        g = as_tensor_variable(g)
        inputs = [as_tensor_variable(i) for i in inputs]
        everything = [g] + inputs
        if len(inputs) != 2 + self.bias:
            raise op_build_error(self, everything, f"takes {3 + self.bias} inputs (g, x, "
                                 f"{'b, ' if self.bias else ''}labels), got "
                                 f"{len(everything)}", TypeError)
        x, b, labels = self._split(inputs)
        self._check(everything, x, b, labels)
        if not is_float(g.dtype) or g.ndim != labels.ndim:
            raise op_build_error(self, everything, f"the output gradient must be a float "
                                 f"{labels.ndim}-d array like the labels, got a {g.ndim}-d "
                                 f"{g.dtype} one", TypeError)
        return Apply(self, everything, [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, out):
        # the unfused reference G - exp(z) * sum(G) with G zero but -g at the labels,
        # rearranged exactly: exp(z) * g everywhere, less g at the labels
        g, rest = inputs[0], inputs[1:]
        x, b, y = self._split(rest)
        dtype = node.outputs[0].type.numpy_dtype
        z = _stable_log_softmax(self._logits(x, b), -1)
        gg = np.broadcast_to(np.asarray(g).astype(dtype, copy=False), z.shape[:-1])[..., None]
        lab = _label_positions(y, z.shape[-1], self)[..., None]
        res = (np.exp(z) * gg).astype(dtype, copy=False)
        np.put_along_axis(res, lab, np.take_along_axis(res, lab, axis=-1) - gg, axis=-1)
        out[0][0] = res

    def infer_shape(self, node, input_shapes):
        return [input_shapes[1]]

    def L_op(self, inputs, outputs, output_grads):
        g, rest = inputs[0], inputs[1:]
        x, b, y = self._split(rest)
        (G,) = output_grads
        axis = x.ndim - 1
        sm = Softmax(axis)(x if b is None else _row_bias(x, b))
        # d/dg: sum(G * (sm - onehot)) = sum(G * sm) - G[label]
        dg = M.cast(reduce_sum(G * sm, axis=axis) + NegLogProb1Hot()(G, y), g.dtype)
        # d/dx: the softmax Jacobian (symmetric) applied to G * g
        dx = M.cast(SoftmaxGrad(axis)(G * dimshuffle(g, list(range(g.ndim)) + ["x"]), sm),
                    x.dtype)
        return [dg, dx] + ([_lead_sum(dx)] if self.bias else []) + [None]


def _softmax_input(v):
    """The logits x when v is softmax(x) along the last axis, else None."""
    node = v.owner
    if node is not None and isinstance(node.op, Softmax) and node.op.axis == v.ndim - 1:
        return node.inputs[0]
    return None


def categorical_crossentropy(coding_dist, true_dist):
    """-sum(true * log(coding), axis=-1); `true_dist` one-hot (same shape) or int labels.

    >>> loss = T.nnet.categorical_crossentropy(T.nnet.softmax(z), y).mean()

    When `coding_dist` is ``softmax(x)`` the loss is computed from ``log_softmax(x)``, so
    large logits stay finite.
    """
    coding_dist = as_tensor_variable(coding_dist)
    true_dist = as_tensor_variable(true_dist)
    logits = _softmax_input(coding_dist)
    if true_dist.ndim == coding_dist.ndim - 1:
        if logits is not None:
            return NegLogProb1Hot()(log_softmax(logits, -1), true_dist)
        return CrossentropyCategorical1Hot()(coding_dist, true_dist)
    if true_dist.ndim == coding_dist.ndim:
        if logits is not None:
            return CrossentropyCategoricalDense(True)(log_softmax(logits, -1), true_dist)
        return CrossentropyCategoricalDense(False)(coding_dist, true_dist)
    raise op_build_error(CrossentropyCategorical1Hot(), [coding_dist, true_dist],
                         f"true_dist must be a one-hot {coding_dist.ndim}-d array or "
                         f"{coding_dist.ndim - 1}-d integer labels, got {true_dist.ndim}-d",
                         ValueError)


def _sigmoid_input(v):
    node = v.owner
    if node is not None and isinstance(node.op, Elemwise) and \
            type(node.op.scalar_op).__name__ == "Sigmoid":
        return node.inputs[0]
    return None


def sigmoid_binary_crossentropy(logits, target):
    """binary_crossentropy(sigmoid(logits), target) = t*softplus(-x) + (1-t)*softplus(x)."""
    logits = as_tensor_variable(logits)
    return target * softplus(-logits) + (1 - target) * softplus(logits)


def binary_crossentropy(output, target):
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise.

    >>> T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t)   # stable: uses softplus(+-z)
    """
    output = as_tensor_variable(output)
    x = _sigmoid_input(output)
    if x is not None:
        return sigmoid_binary_crossentropy(x, target)
    return -(target * M.log(output) + (1 - target) * M.log1p(-output))


def relu(x, alpha=0):
    """max(x, 0); with `alpha`, the leaky version ``x if x > 0 else alpha * x``.

    >>> T.nnet.relu(T.vector('x'), alpha=0.1)
    """
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return M.switch(M.gt(x, 0), x, 0)
    return M.switch(M.gt(x, 0), x, alpha * x)


def ultra_fast_sigmoid(x):
    """The logistic sigmoid (the exact one: no faster approximation is needed in numpy)."""
    return sigmoid(x)


def hard_sigmoid(x):
    """clip(0.2 * x + 0.5, 0, 1), Theano's piecewise-linear sigmoid."""
    x = _as_float(x)
    return M.clip(0.2 * x + 0.5, 0, 1)
