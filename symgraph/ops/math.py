"""Elementwise functions of the user namespace (``T.exp``, ``T.switch``, ...)."""
from __future__ import annotations

import numpy as np

from ..tensor.var import as_tensor_variable
from . import scalar as S
from .elemwise import Elemwise

_E = Elemwise


def _op(scalar_cls, name, doc):
    op = _E(scalar_cls(), name=name)
    op.__doc__ = doc
    return op


add = _op(S.Add, "add", "x + y + ... (numpy.add), with broadcasting.")
sub = _op(S.Sub, "sub", "x - y (numpy.subtract).")
mul = _op(S.Mul, "mul", "x * y * ... (numpy.multiply).")
true_div = _op(S.TrueDiv, "true_div", "x / y; int / int gives floatX.")
int_div = _op(S.IntDiv, "int_div", "x // y (numpy.floor_divide).")
floor_div = int_div
mod = _op(S.Mod, "mod", "x % y (numpy.mod).")
pow = _op(S.Pow, "pow", "x ** y (numpy.power).")
neg = _op(S.Neg, "neg", "-x.")
abs = _op(S.Abs, "abs", "|x| (numpy.abs).")
abs_ = abs
sgn = _op(S.Sgn, "sgn", "sign of x: -1, 0 or 1.")
sqr = _op(S.Sqr, "sqr", "x * x.")
square = sqr
exp = _op(S.Exp, "exp", "e ** x.")
exp2 = _op(S.Exp2, "exp2", "2 ** x.")
expm1 = _op(S.Expm1, "expm1", "exp(x) - 1, accurate near 0.")
log = _op(S.Log, "log", "natural logarithm.")
log2 = _op(S.Log2, "log2", "base-2 logarithm.")
log10 = _op(S.Log10, "log10", "base-10 logarithm.")
log1p = _op(S.Log1p, "log1p", "log(1 + x), accurate near 0.")
sqrt = _op(S.Sqrt, "sqrt", "square root.")
sin = _op(S.Sin, "sin", "sine.")
cos = _op(S.Cos, "cos", "cosine.")
tan = _op(S.Tan, "tan", "tangent.")
arcsin = _op(S.Arcsin, "arcsin", "inverse sine.")
arccos = _op(S.Arccos, "arccos", "inverse cosine.")
arctan = _op(S.Arctan, "arctan", "inverse tangent.")
arctan2 = _op(S.Arctan2, "arctan2", "arctan(y / x) in the right quadrant: arctan2(y, x).")
sinh = _op(S.Sinh, "sinh", "hyperbolic sine.")
cosh = _op(S.Cosh, "cosh", "hyperbolic cosine.")
tanh = _op(S.Tanh, "tanh", "hyperbolic tangent.")
arcsinh = _op(S.Arcsinh, "arcsinh", "inverse hyperbolic sine.")
arccosh = _op(S.Arccosh, "arccosh", "inverse hyperbolic cosine.")
arctanh = _op(S.Arctanh, "arctanh", "inverse hyperbolic tangent.")
erf = _op(S.Erf, "erf", "error function.")
erfc = _op(S.Erfc, "erfc", "1 - erf(x), accurate for large x.")
erfinv = _op(S.Erfinv, "erfinv", "inverse error function.")
gamma = _op(S.Gamma, "gamma", "the gamma function.")
gammaln = _op(S.Gammaln, "gammaln", "log |gamma(x)|.")
psi = _op(S.Psi, "psi", "digamma: d/dx log gamma(x).")
tri_gamma = _op(S.TriGamma, "tri_gamma", "trigamma: d/dx psi(x).")
floor = _op(S.Floor, "floor", "round down.")
ceil = _op(S.Ceil, "ceil", "round up.")
trunc = _op(S.Trunc, "trunc", "round toward zero.")
round = _op(S.Round, "round", "round half to even (numpy.round).")
minimum = _op(S.Minimum, "minimum", "elementwise minimum (numpy.minimum).")
maximum = _op(S.Maximum, "maximum", "elementwise maximum (numpy.maximum).")
eq = _op(S.EQ, "eq", "x == y elementwise.")
neq = _op(S.NEQ, "neq", "x != y elementwise.")
lt = _op(S.LT, "lt", "x < y elementwise.")
le = _op(S.LE, "le", "x <= y elementwise.")
gt = _op(S.GT, "gt", "x > y elementwise.")
ge = _op(S.GE, "ge", "x >= y elementwise.")
and_ = _op(S.AND, "and_", "bitwise/logical and of ints or bools.")
or_ = _op(S.OR, "or_", "bitwise/logical or of ints or bools.")
xor = _op(S.XOR, "xor", "bitwise/logical xor of ints or bools.")
invert = _op(S.Invert, "invert", "bitwise not (logical not of bools).")
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert
isnan = _op(S.IsNan, "isnan", "x is NaN.")
isinf = _op(S.IsInf, "isinf", "x is +-Inf.")
sigmoid = _op(S.Sigmoid, "sigmoid", "1 / (1 + exp(-x)), without overflow.")
softplus = _op(S.Softplus, "softplus", "log(1 + exp(x)), without overflow.")
switch = _op(S.Switch, "switch", "cond ? a : b elementwise, both sides computed.")
_clip = _op(S.Clip, "clip", "min(max(x, lo), hi).")
second = _op(S.Second, "second", "y broadcast to the shape of broadcast(x, y) (Theano's fill).")
identity = _op(S.Identity, "identity", "a copy of x.")
tensor_copy = identity
real = _op(S.Real, "real", "real part.")
imag = _op(S.Imag, "imag", "imaginary part.")
conj = _op(S.Conj, "conj", "complex conjugate.")


def where(cond, a=None, b=None):
    """``T.where(cond, a, b)`` is ``T.switch``; with one argument, ``nonzero``."""
    if a is None and b is None:
        from .. import tensor as T
        return T.nonzero(cond)
    return switch(cond, a, b)


def clip(x, a_min, a_max):
    """numpy.clip; the gradient passes where a_min <= x <= a_max."""
    return _clip(x, a_min, a_max)


def cast(x, dtype):
    """x as `dtype` (``'floatX'`` allowed); a no-op when it already is."""
    from ..config import config
    x = as_tensor_variable(x)
    dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
    if x.dtype == dtype:
        return x
    return _cast_op(dtype)(x)


_CASTS = {}


def _cast_op(dtype):
    op = _CASTS.get(dtype)
    if op is None:
        op = _CASTS[dtype] = _E(S.Cast(dtype), name=f"cast{{{dtype}}}")
    return op


def fill(model, value):
    """`value` broadcast to the shape of `model`."""
    return second(model, value)


def zeros_like(x, dtype=None):
    """An array of zeros with the shape (and dtype) of x."""
    x = as_tensor_variable(x)
    return second(x, np.zeros((), dtype=dtype or x.dtype))


def ones_like(x, dtype=None):
    """An array of ones with the shape (and dtype) of x."""
    x = as_tensor_variable(x)
    return second(x, np.ones((), dtype=dtype or x.dtype))


def reciprocal(x):
    """1 / x."""
    return true_div(1, x)


def xlogx(x):
    """x * log(x), 0 at x = 0."""
    x = as_tensor_variable(x)
    return switch(eq(x, 0), 0, x * log(x))


S.M = __import__(__name__, fromlist=["_"])

__all__ = ["abs", "abs_", "add", "and_", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cast", "ceil", "clip", "conj", "cos", "cosh", "eq", "erf", "erfc", "erfinv", "exp", "exp2", "expm1", "fill", "floor", "floor_div", "gamma", "gammaln", "ge", "gt", "identity", "imag", "int_div", "invert", "isinf", "isnan", "le", "log", "log10", "log1p", "log2", "lt", "maximum", "minimum", "mod", "mul", "neg", "neq", "ones_like", "or_", "pow", "psi", "real", "reciprocal", "round", "second", "sgn", "sigmoid", "sin", "sinh", "softplus", "sqr", "sqrt", "square", "sub", "switch", "tan", "tanh", "tensor_copy", "tri_gamma", "true_div", "trunc", "where", "xlogx", "xor", "zeros_like"]
