"""Ops that are the identity forward and change only the gradient that flows back."""
from __future__ import annotations

from ..graph import Apply, Op

__all__ = ["zero_grad", "consider_constant", "disconnected_grad", "grad_clip", "grad_scale",
           "ZeroGrad", "DisconnectedGrad", "GradClip", "GradScale", "AtPoint"]


def _T():
    from .. import tensor
    return tensor


class _GradOnly(Op):
    """Identity on the value (x itself, as a view); subclasses set the gradient."""

    view_map = {0: [0]}

    def make_node(self, x):
        x = _T().as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def R_op(self, inputs, eval_points):
        return [eval_points[0]]


class ZeroGrad(_GradOnly):
    """x; its gradient is zero (the graph stays connected)."""

    def L_op(self, inputs, outputs, output_grads):
        return [_T().zeros_like(inputs[0])]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else _T().zeros_like(eval_points[0])]


class DisconnectedGrad(_GradOnly):
    """x; gradients see no path through it (grad raises DisconnectedInputError unless told
    otherwise, as Theano's disconnected_grad)."""

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else _T().zeros_like(eval_points[0])]


class GradClip(_GradOnly):
    """x; the gradient that flows back is clipped to [lower, upper]."""

    __props__ = ("lower", "upper")

    def __init__(self, lower, upper):
        self.lower, self.upper = float(lower), float(upper)
        if self.lower > self.upper:
            raise ValueError(f"grad_clip: lower bound {lower} is above the upper bound {upper}")

    def L_op(self, inputs, outputs, output_grads):
        return [_T().clip(output_grads[0], self.lower, self.upper)]


class GradScale(_GradOnly):
    """x; the gradient that flows back is multiplied by `multiplier`."""

    __props__ = ("multiplier",)

    def __init__(self, multiplier):
        self.multiplier = float(multiplier)

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0] * self.multiplier]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else eval_points[0] * self.multiplier]


class AtPoint(Op):
    """r itself; the other inputs only record the point a derivative r was taken at.

    ``Rop(dot(x, W), W, V)`` is ``dot(x, V)``: its value does not use W, yet J·V is the
    derivative *at* W, and Theano's graph referred to W (``function([W, V, x], JV)`` works).
    Rop wraps such results in AtPoint so the same call is accepted; nothing is computed.
    """

    view_map = {0: [0]}

    def make_node(self, r, *points):
        r = _T().as_tensor_variable(r)
        return Apply(self, [r] + list(points), [r.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]] + [None] * (len(inputs) - 1)

    def R_op(self, inputs, eval_points):
        return [eval_points[0]]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def zero_grad(x):
    """x, but its gradient is zero: ``grad(zero_grad(x) * x, x)`` is x.

    >>> g = grad((zero_grad(x) * x).sum(), x)      # == x
    """
    return ZeroGrad()(x)


def consider_constant(x):
    """x, treated as a constant by ``grad`` (Theano's ``consider_constant`` op): zero gradient."""
    return ZeroGrad()(x)


def disconnected_grad(x):
    """x, but ``grad`` sees no path through it (disconnected, not merely zero).

    >>> grad(disconnected_grad(x).sum() + y, x, disconnected_inputs='ignore')   # zeros
    """
    return DisconnectedGrad()(x)


def grad_clip(x, lower_bound, upper_bound):
    """x, with the gradient flowing back through it clipped to [lower_bound, upper_bound].

    >>> g = grad(grad_clip(x, -1, 1) * 5, x)        # 1 where 5 would flow
    """
    return GradClip(lower_bound, upper_bound)(x)


def grad_scale(x, multiplier):
    """x, with the gradient flowing back through it multiplied by `multiplier`.

    >>> g = grad(grad_scale(x, 0.5) ** 2, x)       # 0.5 * 2x
    """
    return GradScale(multiplier)(x)
