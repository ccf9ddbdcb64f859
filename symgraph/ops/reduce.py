"""Reductions: sum, prod, max, min, argmax, argmin, any, all, logsumexp; and the user
functions built on them (mean, var, std, max_and_argmax).

Every reduction op derives from `Reduce`: `axis` is a sorted tuple of non-negative dims
(an op built with None, an int or negative axes re-dispatches to its canonical form when
applied, so equal reductions always have equal ops) and `keepdims` keeps the reduced dims
with size 1, as numpy does.
"""
from __future__ import annotations

import builtins
import copy
import operator

import numpy as np

from ..config import config
from ..errors import ShapeError, op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable, constant
from ..types import TensorType, float_of, is_complex, is_float
from .elemwise import dimshuffle
from .math import (cast, conj, eq, exp, isinf, maximum, real, second, sqr, sqrt, switch,
                   true_div, zeros_like)

__all__ = ["sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "any",
           "all", "logsumexp", "max_and_argmax"]


class AxisError(ShapeError, np.exceptions.AxisError):
    """An axis outside the input's dimensions (also a numpy AxisError)."""

    def __init__(self, message):
        ShapeError.__init__(self, message)
        self._msg, self.axis, self.ndim = message, None, None

    def __str__(self):
        return self._msg


# -- axes ---------------------------------------------------------------------------------

def _axis_prop(axis):
    """None, or a sorted tuple of ints (negative ones are resolved when the op is applied)."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple, np.ndarray)):
        items = list(np.ravel(axis)) if isinstance(axis, np.ndarray) else list(axis)
    else:
        items = [axis]
    out = []
    for a in items:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")
        out.append(operator.index(a))
    return tuple(sorted(out))


def resolve_axes(op, x, axis) -> tuple:
    """`axis` (None, int or tuple, negatives allowed) as a sorted tuple of dims of `x`, or a
    build error naming `op` (an Op or a function name) and the user's line."""
    axis = _axis_prop(axis)
    if axis is None:
        return tuple(range(x.ndim))
    out = []
    for a in axis:
        if not -x.ndim <= a < x.ndim:
            raise op_build_error(op, [x], f"axis {a} is out of bounds for a {x.ndim}-d "
                                 f"input", AxisError)
        out.append(a % x.ndim)
    if len(set(out)) != len(out):
        raise op_build_error(op, [x], f"duplicate value in axis {axis}", ValueError)
    return tuple(sorted(out))


def reduced_shape(shape, axes, keepdims) -> tuple:
    if keepdims:
        return tuple(1 if d in axes else s for d, s in enumerate(shape))
    return tuple(s for d, s in enumerate(shape) if d not in axes)


def expand_reduced(g, ndim, axes, keepdims):
    """A reduction's result (or gradient) with the reduced dims back as broadcastable 1s."""
    if keepdims:
        return g
    kept = iter(range(g.ndim))
    return dimshuffle(g, ["x" if d in axes else next(kept) for d in range(ndim)])


def _differentiable(x) -> bool:
    return is_float(x.dtype) or is_complex(x.dtype)


def _as_out(result, dtype, x):
    """`result` as an ndarray of `dtype` that does not alias `x`."""
    out = np.asarray(result, dtype=dtype)
    if out is x or (out.size and np.may_share_memory(out, x)):
        out = out.copy()
    return out


def _sum_dtype(dtype: str) -> str:
    """numpy's default dtype of sum and prod: small ints widen to the platform integer."""
    if dtype == "bool" or dtype.startswith("int"):
        return "int64"
    if dtype.startswith("uint"):
        return "uint64"
    return dtype


# -- the ops ------------------------------------------------------------------------------

class Reduce(Op):
    """Base of reductions over `axis` (a sorted tuple of dims), as numpy's reductions.

    Subclasses set `numpy` (the reference), `identity` (the value over no elements; None
    when numpy raises) and `combine` (one step in C, for the kernels), and may override
    `out_dtype`, `check_input` and `compute`.
    """

    __props__ = ("axis", "keepdims")
    numpy = None
    identity = None
    combine = None
    kernel = "reduce"

    def __init__(self, axis=None, keepdims=False):
        self.axis = _axis_prop(axis)
        self.keepdims = bool(keepdims)

    def canonical(self, x) -> "Reduce":
        """This op with its parameters made explicit for input `x`."""
        axes = resolve_axes(self, x, self.axis)
        if axes == self.axis:
            return self
        new = copy.copy(self)
        new.axis = axes
        return new

    def out_dtype(self, dtype: str) -> str:
        return dtype

    def check_input(self, x):
        """Raise a build error when `x` cannot be reduced by this op."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        op = self.canonical(x)
        if op is not self:
            return op.make_node(x)
        self.check_input(x)
        shape = reduced_shape(x.type.shape, self.axis, self.keepdims)
        return Apply(self, [x], [TensorType(self.out_dtype(x.dtype), shape)()])

    def compute(self, x):
        return self.numpy(x, axis=self.axis, keepdims=self.keepdims)

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        output_storage[0][0] = _as_out(self.compute(x), node.outputs[0].dtype, x)

    def infer_shape(self, node, input_shapes):
        one = constant(np.asarray(1, dtype="int64"))
        return [tuple(one if d in self.axis and self.keepdims else s
                      for d, s in enumerate(input_shapes[0])
                      if self.keepdims or d not in self.axis)]

    def kernel_params(self, node):
        return {"combine": self.combine, "identity": self.identity, "axes": self.axis}

    def _expand(self, g, x):
        return expand_reduced(as_tensor_variable(g), x.ndim, self.axis, self.keepdims)


class _DtypeReduce(Reduce):
    """A reduction with an accumulator/output `dtype` (numpy's `dtype=` argument)."""

    __props__ = ("axis", "keepdims", "dtype")

    def __init__(self, axis=None, keepdims=False, dtype=None):
        super().__init__(axis, keepdims)
        self.dtype = None if dtype is None else str(np.dtype(
            config.floatX if dtype == "floatX" else dtype))

    def canonical(self, x):
        op = super().canonical(x)
        if op.dtype is None:
            op = copy.copy(op)
            op.dtype = _sum_dtype(x.dtype)
        return op

    def out_dtype(self, dtype):
        return self.dtype

    def compute(self, x):
        return self.numpy(x, axis=self.axis, keepdims=self.keepdims, dtype=self.dtype)


class Sum(_DtypeReduce):
    """numpy.sum(x, axis, dtype=dtype, keepdims=keepdims)."""

    numpy = staticmethod(np.sum)
    identity = 0
    combine = "{a} + {b}"

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if not _differentiable(x):
            return [None]
        return [cast(second(x, self._expand(gz, x)), x.dtype)]

    def R_op(self, inputs, eval_points):
        (ev,) = eval_points
        return [None if ev is None else self(ev)]


class Prod(_DtypeReduce):
    """numpy.prod(x, axis, dtype=dtype, keepdims=keepdims).

    The gradient is right with zeros in the input (Theano's rule): in a group without
    zeros it is prod / x; in a group with exactly one zero only that zero's position gets
    the product of the others; in a group with several zeros it is 0.
    `no_zeros_in_input=True` promises there are none and gives the cheaper prod / x.
    """

    __props__ = ("axis", "keepdims", "dtype", "no_zeros_in_input")
    numpy = staticmethod(np.prod)
    identity = 1
    combine = "{a} * {b}"

    def __init__(self, axis=None, keepdims=False, dtype=None, no_zeros_in_input=False):
        super().__init__(axis, keepdims, dtype)
        self.no_zeros_in_input = bool(no_zeros_in_input)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not _differentiable(x):
            return [None]
        gz = self._expand(gz, x)
        if self.no_zeros_in_input:
            return [cast(gz * self._expand(out, x) / x, x.dtype)]
        is_zero = eq(x, 0)
        n_zeros = sum(is_zero, axis=self.axis, keepdims=True)
        others = ProdWithoutZeros(self.axis, True, self.dtype)(x)
        safe_x = switch(is_zero, 1, x)
        at_zero = switch(eq(n_zeros, 1), others, 0)
        elsewhere = switch(eq(n_zeros, 0), others / safe_x, 0)
        return [cast(gz * switch(is_zero, at_zero, elsewhere), x.dtype)]


def _prod_without_zeros(x, axis=None, keepdims=False, dtype=None):
    return np.prod(np.where(x == 0, np.ones((), x.dtype), x), axis=axis, keepdims=keepdims,
                   dtype=dtype)


class ProdWithoutZeros(_DtypeReduce):
    """numpy.prod(numpy.where(x == 0, 1, x), axis): the product of the non-zero elements
    (used by Prod's gradient)."""

    numpy = staticmethod(_prod_without_zeros)
    identity = 1
    combine = "({b} == 0 ? {a} : {a} * {b})"

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not _differentiable(x):
            return [None]
        is_zero = eq(x, 0)
        g = self._expand(gz, x) * self._expand(out, x) / switch(is_zero, 1, x)
        return [cast(switch(is_zero, 0, g), x.dtype)]


class _Extremum(Reduce):
    def check_input(self, x):
        if is_complex(x.dtype):
            raise op_build_error(self, [x], "complex numbers are not ordered", TypeError)

    def L_op(self, inputs, outputs, output_grads):
        # Theano's rule: every position equal to the extremum gets the whole gradient
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not _differentiable(x):
            return [None]
        hit = eq(x, self._expand(out, x))
        return [cast(self._expand(gz, x) * hit, x.dtype)]


class Max(_Extremum):
    """numpy.max(x, axis, keepdims=keepdims); raises on an empty reduction, as numpy."""

    numpy = staticmethod(np.max)
    combine = "({a} > {b} ? {a} : {b})"


class Min(_Extremum):
    """numpy.min(x, axis, keepdims=keepdims); raises on an empty reduction, as numpy."""

    numpy = staticmethod(np.min)
    combine = "({a} < {b} ? {a} : {b})"


class _ArgExtremum(Reduce):
    """Index of the extremum over `axis`; several axes count as one flattened (C order)."""

    numpy_index = None

    def check_input(self, x):
        if is_complex(x.dtype):
            raise op_build_error(self, [x], "complex numbers are not ordered", TypeError)

    def out_dtype(self, dtype):
        return "int64"

    def compute(self, x):
        axes = self.axis
        out_shape = reduced_shape(x.shape, axes, self.keepdims)
        if not axes:
            return np.zeros(out_shape, dtype=np.int64)
        kept = [d for d in range(x.ndim) if d not in axes]
        n = int(np.prod([x.shape[d] for d in axes]))
        flat = np.transpose(x, kept + list(axes)).reshape([x.shape[d] for d in kept] + [n])
        return self.numpy_index(flat, axis=-1).reshape(out_shape)

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        return [zeros_like(x) if _differentiable(x) else None]


class Argmax(_ArgExtremum):
    """numpy.argmax(x, axis) (int64); a tuple of axes indexes them flattened in C order."""

    numpy_index = staticmethod(np.argmax)


class Argmin(_ArgExtremum):
    """numpy.argmin(x, axis) (int64); a tuple of axes indexes them flattened in C order."""

    numpy_index = staticmethod(np.argmin)


class _Logical(Reduce):
    def out_dtype(self, dtype):
        return "bool"

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        return [zeros_like(x) if _differentiable(x) else None]


class Any(_Logical):
    """numpy.any(x, axis, keepdims=keepdims)."""

    numpy = staticmethod(np.any)
    identity = False
    combine = "({a} || {b})"


class All(_Logical):
    """numpy.all(x, axis, keepdims=keepdims)."""

    numpy = staticmethod(np.all)
    identity = True
    combine = "({a} && {b})"


def _logsumexp(x, axis, keepdims):
    x = np.asarray(x)
    with np.errstate(all="ignore"):
        m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, np.zeros((), m.dtype))
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


class LogSumExp(Reduce):
    """log(sum(exp(x), axis)), computed shifted by the max (exact for -inf and large x)."""

    identity = -np.inf

    def out_dtype(self, dtype):
        return float_of(dtype)

    def check_input(self, x):
        if is_complex(x.dtype):
            raise op_build_error(self, [x], "complex input is not supported", TypeError)

    def compute(self, x):
        x = x.astype(self.out_dtype(str(x.dtype)), copy=False)
        return _logsumexp(x, self.axis, self.keepdims)

    def L_op(self, inputs, outputs, output_grads):
        # d/dx = softmax(x) over the reduced axes = exp(x - out)
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not _differentiable(x):
            return [None]
        out = self._expand(out, x)
        out = switch(isinf(out), 0, out)  # groups of -inf only: weights 0, not nan
        return [cast(self._expand(gz, x) * exp(x - out), x.dtype)]


class ReducedSize(Op):
    """The number of elements of x along `axis` (int64 scalar): prod(x.shape[axis])."""

    __props__ = ("axis",)

    def __init__(self, axis):
        self.axis = _axis_prop(axis)

    def make_node(self, x):
        x = as_tensor_variable(x)
        axes = resolve_axes(self, x, self.axis)
        if axes != self.axis:
            return ReducedSize(axes).make_node(x)
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        shape = inputs[0].shape
        output_storage[0][0] = np.asarray(int(np.prod([shape[d] for d in self.axis])),
                                          dtype=np.int64)

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        return [zeros_like(x) if _differentiable(x) else None]

    def infer_shape(self, node, input_shapes):
        return [()]


# -- user functions -----------------------------------------------------------------------

def sum(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Sum over `axis` (None: all; int or tuple, negatives allowed), as numpy.sum.

    Integer and bool inputs sum to int64 (uint64 for unsigned), like numpy.
    >>> T.sum(x, axis=0)             # x: (3, 4) -> (4,)
    >>> x.sum(axis=(0, 1), keepdims=True)
    """
    x = as_tensor_variable(x)
    if acc_dtype is not None:
        out = Sum(axis, keepdims, acc_dtype)(x)
        return cast(out, dtype or _sum_dtype(x.dtype))
    return Sum(axis, keepdims, dtype)(x)


def prod(x, axis=None, dtype=None, keepdims=False, acc_dtype=None, no_zeros_in_input=False):
    """Product over `axis`, as numpy.prod; the gradient handles zeros in the input.

    >>> T.prod(x, axis=-1)
    """
    x = as_tensor_variable(x)
    if acc_dtype is not None:
        out = Prod(axis, keepdims, acc_dtype, no_zeros_in_input)(x)
        return cast(out, dtype or _sum_dtype(x.dtype))
    return Prod(axis, keepdims, dtype, no_zeros_in_input)(x)


def _count(x, axes):
    """The number of elements reduced: a Python int when the static shape says it."""
    sizes = [x.type.shape[d] for d in axes]
    if builtins.all(s is not None for s in sizes):
        return int(np.prod(sizes, dtype=np.int64))
    return ReducedSize(axes)(x)


def _mean_dtypes(x, dtype):
    """(output dtype, accumulator dtype) of numpy.mean."""
    if dtype is not None:
        out = str(np.dtype(config.floatX if dtype == "floatX" else dtype))
    elif _differentiable(x):
        out = x.dtype
    else:
        out = config.floatX
    return out, ("float32" if out == "float16" else out)


def mean(x, axis=None, dtype=None, keepdims=False, acc_dtype=None):
    """Arithmetic mean over `axis`, as numpy.mean (integers give floatX).

    >>> T.mean(x, axis=0)
    """
    x = as_tensor_variable(x)
    axes = resolve_axes("mean", x, axis)
    out_dtype, acc = _mean_dtypes(x, dtype)
    total = sum(x, axis=axes, dtype=acc_dtype or acc, keepdims=keepdims)
    n = _count(x, axes)
    if not isinstance(n, int):
        n = cast(n, total.dtype)
    return cast(true_div(total, n), out_dtype)


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over `axis`, as numpy.var: mean(|x - mean(x)|**2) * n / (n - ddof).

    >>> T.var(x, axis=0, ddof=1)
    """
    x = as_tensor_variable(x)
    axes = resolve_axes("var", x, axis)
    if corrected:
        raise NotImplementedError("var(corrected=True) is not supported; use ddof")
    out_dtype, work = _mean_dtypes(x, None)
    xw = cast(x, work)
    dev = xw - mean(xw, axis=axes, keepdims=True)
    sq = real(dev * conj(dev)) if is_complex(work) else sqr(dev)
    total = sum(sq, axis=axes, keepdims=keepdims)
    n = _count(x, axes)
    if isinstance(n, int):
        denom = builtins.max(n - int(ddof), 0)
    else:
        denom = maximum(cast(n, total.dtype) - int(ddof), 0)
    out = true_div(total, denom)
    return cast(out, {"complex64": "float32", "complex128": "float64"}.get(out_dtype,
                                                                        out_dtype))


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over `axis`, as numpy.std: sqrt(var(x, axis, ddof)).

    >>> T.std(x, axis=1)
    """
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


def max(x, axis=None, keepdims=False):
    """Maximum over `axis`, as numpy.max; the gradient goes to every maximal position.

    >>> T.max(x, axis=1)
    """
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):
    """Minimum over `axis`, as numpy.min; the gradient goes to every minimal position.

    >>> T.min(x, axis=1)
    """
    return Min(axis, keepdims)(x)


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum over `axis` (int64), as numpy.argmax; several axes index
    their flattened (C order) block.

    >>> T.argmax(x, axis=-1)
    """
    return Argmax(axis, keepdims)(x)


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum over `axis` (int64), as numpy.argmin.

    >>> T.argmin(x, axis=0)
    """
    return Argmin(axis, keepdims)(x)


def max_and_argmax(x, axis=None, keepdims=False):
    """``[max(x, axis), argmax(x, axis)]`` (Theano's max_and_argmax).

    >>> m, i = T.max_and_argmax(x, axis=1)
    """
    return [max(x, axis=axis, keepdims=keepdims), argmax(x, axis=axis, keepdims=keepdims)]


def any(x, axis=None, keepdims=False):
    """Whether any element along `axis` is non-zero (bool), as numpy.any.

    >>> T.any(T.gt(x, 0), axis=0)
    """
    return Any(axis, keepdims)(x)


def all(x, axis=None, keepdims=False):
    """Whether every element along `axis` is non-zero (bool), as numpy.all.

    >>> T.all(T.gt(x, 0))
    """
    return All(axis, keepdims)(x)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x), axis)) without overflow (shifted by the max); its gradient is the
    softmax of x over `axis`.

    >>> T.logsumexp(x, axis=-1)
    """
    return LogSumExp(axis, keepdims)(x)
