"""Variable constructors: ``T.matrix('x')``, ``T.dvector``, ``T.tensor(dtype, shape)``, ..."""
from __future__ import annotations

from ..config import config
from ..types import TensorType

_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64", "c": "complex64", "z": "complex128"}
_SHAPES = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
           "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
           "tensor5": (None,) * 5, "tensor6": (None,) * 6, "tensor7": (None,) * 7}
_PLURAL = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
           "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s",
           "tensor6": "tensor6s", "tensor7": "tensor7s"}

__all__ = ["tensor", "TensorType"]


def tensor(dtype=None, shape=None, name=None, broadcastable=None):
    """A symbolic tensor: ``T.tensor('float32', shape=(None, 3), name='x')``.

    `shape` entries are ints (static) or None (unknown); a static 1 broadcasts. Theano's
    ``broadcastable=(False, True)`` is accepted as well. `dtype` defaults to floatX.
    """
    if isinstance(dtype, (tuple, list)) and shape is None:
        dtype, shape = None, dtype  # tensor((None, 3)) style
    dtype = config.floatX if dtype in (None, "floatX") else dtype
    if shape is None and broadcastable is None:
        raise TypeError("T.tensor needs shape= (or broadcastable=)")
    return TensorType(dtype, shape, broadcastable)(name)


def _constructor(kind, dtype):
    shape = _SHAPES[kind]

    def make(name=None, dtype=dtype, shape=shape):
        return TensorType(config.floatX if dtype is None else dtype, shape)(name)
    make.__name__ = kind if dtype is None else next(p for p, d in _PREFIX.items()
                                                    if d == dtype) + kind
    what = f"{dtype}" if dtype else "floatX"
    make.__doc__ = f"A symbolic {kind} ({what}, static shape {shape})."
    return make


def _plural(single):
    def make(*names, n=None, dtype=None):
        if n is not None and not names:
            names = [None] * n
        if len(names) == 1 and isinstance(names[0], int):
            names = [None] * names[0]
        kw = {} if dtype is None else {"dtype": dtype}
        out = [single(nm, **kw) for nm in names]
        return out[0] if len(out) == 1 else out
    make.__doc__ = f"Several {single.__name__}s at once: ``x, y = T.{single.__name__}s('x', 'y')``."
    return make


def _build():
    g = {}
    for kind in _SHAPES:
        g[kind] = _constructor(kind, None)
        g[_PLURAL[kind]] = _plural(g[kind])
        for p, dt in _PREFIX.items():
            g[p + kind] = _constructor(kind, dt)
            g[p + _PLURAL[kind]] = _plural(g[p + kind])
    return g


_generated = _build()
globals().update(_generated)
__all__ += sorted(_generated)
