"""TensorVariable (operators and methods), TensorConstant, and conversion of Python values."""
from __future__ import annotations

import hashlib

import numpy as np

from ..config import config
from ..graph import Constant, Variable
from ..types import TensorType

__all__ = ["TensorVariable", "TensorConstant", "as_tensor_variable", "constant"]


def _T():
    # the user namespace, imported late: it imports the op modules, which import this one
    from .. import tensor
    return tensor


class _TensorMethods:
    """Operators and numpy-like methods shared by variables, constants and shared variables."""

    # -- facts about the type
    dtype = property(lambda self: self.type.dtype)
    ndim = property(lambda self: self.type.ndim)
    broadcastable = property(lambda self: self.type.broadcastable)
    static_shape = property(lambda self: self.type.shape)

    @property
    def shape(self):
        return _T().shape(self)

    @property
    def size(self):
        return _T().prod(self.shape)

    @property
    def T(self):
        return _T().transpose(self)

    # -- arithmetic
    def __add__(self, o): return _T().add(self, o)
    def __radd__(self, o): return _T().add(o, self)
    def __sub__(self, o): return _T().sub(self, o)
    def __rsub__(self, o): return _T().sub(o, self)
    def __mul__(self, o): return _T().mul(self, o)
    def __rmul__(self, o): return _T().mul(o, self)
    def __truediv__(self, o): return _T().true_div(self, o)
    def __rtruediv__(self, o): return _T().true_div(o, self)
    def __floordiv__(self, o): return _T().int_div(self, o)
    def __rfloordiv__(self, o): return _T().int_div(o, self)
    def __mod__(self, o): return _T().mod(self, o)
    def __rmod__(self, o): return _T().mod(o, self)
    def __pow__(self, o): return _T().pow(self, o)
    def __rpow__(self, o): return _T().pow(o, self)
    def __matmul__(self, o): return _T().matmul(self, o)
    def __rmatmul__(self, o): return _T().matmul(o, self)
    def __neg__(self): return _T().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _T().abs(self)
    def __invert__(self): return _T().invert(self)
    def __and__(self, o): return _T().and_(self, o)
    def __rand__(self, o): return _T().and_(o, self)
    def __or__(self, o): return _T().or_(self, o)
    def __ror__(self, o): return _T().or_(o, self)
    def __xor__(self, o): return _T().xor(self, o)
    def __rxor__(self, o): return _T().xor(o, self)
    def __lt__(self, o): return _T().lt(self, o)
    def __le__(self, o): return _T().le(self, o)
    def __gt__(self, o): return _T().gt(self, o)
    def __ge__(self, o): return _T().ge(self, o)
    # `==` stays identity, as in Theano: use T.eq / T.neq for elementwise comparison
    __hash__ = object.__hash__

    def __bool__(self):
        raise TypeError(f"{self!r} is symbolic and has no truth value; "
                        f"use symgraph.ifelse or T.switch to branch on it")

    def __len__(self):
        raise TypeError(f"len() of symbolic {self!r} is unknown; use x.shape[0]")

    def __iter__(self):
        n = self.type.shape[0] if self.ndim else None
        if n is None:
            raise TypeError(f"cannot iterate over {self!r}: its length is not known statically")
        return (self[i] for i in range(n))

    def __getitem__(self, idx):
        return _T().getitem(self, idx)

    # -- methods
    def sum(self, axis=None, dtype=None, keepdims=False):
        return _T().sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False):
        return _T().prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False):
        return _T().mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _T().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _T().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _T().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _T().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _T().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _T().argmin(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _T().any(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _T().all(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return _T().cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return _T().cumprod(self, axis=axis)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return _T().reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return _T().flatten(self, ndim)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _T().dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return _T().transpose(self, axes or None)

    def astype(self, dtype):
        return _T().cast(self, dtype)

    def clip(self, a_min, a_max):
        return _T().clip(self, a_min, a_max)

    def dot(self, other):
        return _T().dot(self, other)

    def nonzero(self, return_matrix=False):
        return _T().nonzero(self, return_matrix=return_matrix)

    def sort(self, axis=-1):
        return _T().sort(self, axis=axis)

    def argsort(self, axis=-1):
        return _T().argsort(self, axis=axis)

    def round(self):
        return _T().round(self)

    def squeeze(self, axis=None):
        return _T().squeeze(self, axis=axis)

    def repeat(self, repeats, axis=None):
        return _T().repeat(self, repeats, axis=axis)

    def copy(self, name=None):
        out = _T().tensor_copy(self)
        out.name = name
        return out

    def eval(self, inputs_to_values=None, **kwargs):
        """Compile (once per set of inputs) and run: ``(x + 1).eval({x: 2.0})``."""
        from ..compile.function import function
        inputs_to_values = inputs_to_values or {}
        keys = tuple(inputs_to_values)
        cache = self.__dict__.setdefault("_eval_cache", {})
        fn = cache.get(keys)
        if fn is None:
            fn = cache[keys] = function(list(keys), self, on_unused_input="ignore", **kwargs)
        return fn(*[inputs_to_values[k] for k in keys])


class TensorVariable(_TensorMethods, Variable):
    """A symbolic n-d array."""


class TensorConstant(_TensorMethods, Constant):
    """A fixed n-d array in the graph. `weak` marks a Python number whose dtype follows the
    other operands (numpy's rule for Python scalars)."""

    def __init__(self, type, data, name=None, weak=False):
        data = np.asarray(data)
        if data.dtype != type.numpy_dtype:
            data = data.astype(type.numpy_dtype)
        data.setflags(write=False)
        super().__init__(type, data, name=name)
        self.weak = weak

    def clone(self):
        c = TensorConstant(self.type, self.data, name=self.name, weak=self.weak)
        c.tag = dict(self.tag)
        return c

    def signature(self):
        d = self.data
        digest = hashlib.blake2b(np.ascontiguousarray(d).view(np.uint8).tobytes(),
                                 digest_size=16).digest() if d.size else b""
        return (self.type, d.shape, digest)

    def __repr__(self):
        if self.name:
            return self.name
        text = np.array2string(self.data, threshold=6, separator=", ")
        return text if len(text) < 60 else f"<constant {self.type}>"


def constant(value, name=None, ndim=None, dtype=None) -> TensorConstant:
    """A TensorConstant holding `value` (Python floats become floatX)."""
    weak = isinstance(value, (bool, int, float, complex)) and not isinstance(value, np.generic)
    if isinstance(value, TensorConstant):
        value = value.data
    if dtype is not None:
        arr = np.asarray(value, dtype=dtype)
    else:
        arr = np.asarray(value)
        if not isinstance(value, (np.ndarray, np.generic)) and arr.dtype == np.float64:
            arr = arr.astype(config.floatX)
        if arr.dtype == object:
            raise TypeError(f"cannot make a constant of {type(value).__name__}: {value!r:.60}")
    if ndim is not None:
        if arr.ndim > ndim:
            raise ValueError(f"constant {value!r:.40} has {arr.ndim} dims, more than {ndim}")
        arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
    ttype = TensorType(arr.dtype, arr.shape)
    return TensorConstant(ttype, arr, name=name, weak=weak and dtype is None)


def as_tensor_variable(x, name=None, ndim=None, dtype=None) -> Variable:
    """`x` as a tensor variable: variables pass through, lists of variables are stacked,
    numbers and arrays become constants."""
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise TypeError(f"{x!r} has type {x.type}, not a tensor type")
        if ndim is not None and x.ndim != ndim:
            raise TypeError(f"{x!r} has {x.ndim} dimensions, {ndim} expected")
        if dtype is not None and x.dtype != str(np.dtype(dtype)):
            return _T().cast(x, dtype)
        return x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flat(x)):
        return _T().stack([as_tensor_variable(e) for e in x])
    return constant(x, name=name, ndim=ndim, dtype=dtype)


def _flat(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e
