"""TensorType: a dtype and a static shape (ints or None); dimensions of size 1 broadcast."""
from __future__ import annotations

import functools

import numpy as np

from .config import config
from .graph import Type

__all__ = ["TensorType", "DTYPES", "FLOAT_DTYPES", "INT_DTYPES", "COMPLEX_DTYPES",
           "upcast", "is_float", "is_int", "is_complex", "is_bool", "float_of"]

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128")
FLOAT_DTYPES = ("float16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


_DTYPE_NAMES = {}


def dtype_name(dtype) -> str:
    """The canonical name of a dtype ('float64', ...), memoised: np.dtype() and str() of it
    cost microseconds, and every node of every graph asks."""
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        pass
    if dtype == "floatX":
        return dtype_name(config.floatX)
    name = str(np.dtype(dtype))
    if name not in DTYPES:
        raise TypeError(f"TensorType: unsupported dtype {name!r}; use one of {DTYPES}")
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:
        pass
    return name


def is_float(dtype) -> bool:
    return str(dtype) in FLOAT_DTYPES


def is_int(dtype) -> bool:
    return str(dtype) in INT_DTYPES


def is_complex(dtype) -> bool:
    return str(dtype) in COMPLEX_DTYPES


def is_bool(dtype) -> bool:
    return str(dtype) == "bool"


@functools.lru_cache(maxsize=4096)
def upcast(*dtypes) -> str:
    """numpy's promotion of array dtypes."""
    return str(np.result_type(*[np.dtype(d) for d in dtypes]))


def float_of(dtype) -> str:
    """The float dtype a transcendental function of `dtype` returns (Theano's rule):
    small ints and bool give float32, wider ints float64, floats and complex stay."""
    dtype = str(dtype)
    if is_float(dtype) or is_complex(dtype):
        return dtype
    if dtype in ("bool", "int8", "uint8", "int16", "uint16"):
        return "float32" if config.floatX == "float32" else "float64"
    return "float64"


class TensorType(Type):
    """The type of an n-d array: ``TensorType('float64', (None, 3))``.

    A static shape entry is an int (known) or None (unknown). Broadcasting follows the static
    shape only: a dimension broadcasts against others when its static size is 1.
    """

    def __init__(self, dtype, shape=None, broadcastable=None):
        dtype = dtype_name(dtype)
        if shape is None and broadcastable is None:
            raise TypeError("TensorType needs a shape (or broadcastable pattern)")
        if shape is None:
            shape = tuple(1 if b else None for b in broadcastable)
        shape = tuple(s if s is None or type(s) is int else int(s) for s in shape)
        if any(s is not None and s < 0 for s in shape):
            raise ValueError(f"TensorType: negative static shape {shape}")
        self.dtype = dtype
        self.shape = shape
        self.ndim = len(shape)

    @property
    def broadcastable(self) -> tuple:
        return tuple(s == 1 for s in self.shape)

    @property
    def numpy_dtype(self):
        return np.dtype(self.dtype)

    def clone(self, dtype=None, shape=None) -> "TensorType":
        return TensorType(self.dtype if dtype is None else dtype,
                          self.shape if shape is None else shape)

    def __eq__(self, other):
        return type(self) is type(other) and (self.dtype, self.shape) == (other.dtype, other.shape)

    def __hash__(self):
        return hash((TensorType, self.dtype, self.shape))

    def __str__(self):
        return f"TensorType({self.dtype}, {self.shape})"

    __repr__ = __str__

    def is_super(self, other) -> bool:
        """True when every value of `other` is a value of self (other is as or more specific)."""
        return (isinstance(other, TensorType) and other.dtype == self.dtype
                and other.ndim == self.ndim
                and all(s is None or s == o for s, o in zip(self.shape, other.shape)))

    def make_variable(self, name=None):
        from .tensor.var import TensorVariable
        return TensorVariable(self, name=name)

    def make_constant(self, data, name=None):
        from .tensor.var import TensorConstant
        return TensorConstant(self, data, name=name)

    def filter(self, value, strict=False, allow_downcast=None, what="value"):
        """Convert `value` to an ndarray of this type, or raise naming `what`."""
        if strict:
            if not isinstance(value, np.ndarray) or value.dtype != self.numpy_dtype:
                raise TypeError(f"{what}: expected a numpy.ndarray of dtype {self.dtype}, "
                                f"got {type(value).__name__}"
                                f"{' of dtype ' + str(value.dtype) if hasattr(value, 'dtype') else ''}")
            arr = value
        else:
            arr = self._convert(value, allow_downcast, what)
        if arr.ndim != self.ndim:
            raise TypeError(f"{what}: expected {self.ndim}-d array ({self}), "
                            f"got {arr.ndim}-d array of shape {arr.shape}")
        for i, (s, a) in enumerate(zip(self.shape, arr.shape)):
            if s is not None and s != a:
                raise ValueError(f"{what}: dimension {i} must have size {s} ({self}), "
                                 f"got shape {arr.shape}")
        return arr

    def _convert(self, value, allow_downcast, what):
        want = self.numpy_dtype
        if isinstance(value, np.ndarray) and value.dtype == want:
            return value
        if isinstance(value, (np.ndarray, np.generic)):
            have = value.dtype
            if have != want:
                if not (allow_downcast or np.can_cast(have, want, "safe")):
                    raise TypeError(
                        f"{what}: dtype {have} would lose precision as {self.dtype} ({self}); "
                        f"cast it, or pass allow_input_downcast=True to function()")
            return np.asarray(value, dtype=want)
        # Python scalars and lists: accept when the conversion keeps the value
        try:
            raw = np.asarray(value)
        except Exception as e:
            raise TypeError(f"{what}: cannot convert {type(value).__name__} to an array") from e
        if raw.dtype == object:
            raise TypeError(f"{what}: cannot convert {type(value).__name__} to {self}")
        conv = raw.astype(want)
        if allow_downcast is None and raw.dtype.kind == "f" and self.dtype == config.floatX:
            return conv  # Theano's rule: Python floats may always become floatX
        if not allow_downcast and raw.dtype != want and not np.can_cast(raw.dtype, want, "safe"):
            same = np.array_equal(conv, raw, equal_nan=raw.dtype.kind in "fc")
            if not same:
                raise TypeError(f"{what}: {value!r} cannot be stored exactly as {self.dtype} "
                                f"({self}); pass allow_input_downcast=True to allow it")
        return conv

    def value_ok(self, arr) -> bool:
        return (isinstance(arr, np.ndarray) and arr.dtype == self.numpy_dtype
                and arr.ndim == self.ndim
                and all(s is None or s == a for s, a in zip(self.shape, arr.shape)))
