"""Shared variables: graph inputs whose value persists across calls of compiled functions."""
from __future__ import annotations

import threading

import numpy as np

from .config import config
from .tensor.var import TensorVariable
from .types import TensorType

__all__ = ["SharedVariable", "TensorSharedVariable", "shared"]


class Container:
    """The storage a shared variable and every function that uses it read and write."""

    __slots__ = ("value", "lock")

    def __init__(self, value):
        self.value = value
        self.lock = threading.Lock()


class SharedVariable(TensorVariable):
    """A variable with a value that outlives function calls; `updates` change it."""

    def __init__(self, type, value, name=None, borrow=False, strict=False,
                 allow_downcast=None):
        super().__init__(type, name=name)
        value = type.filter(value, strict=strict, allow_downcast=allow_downcast,
                            what=f"shared variable {name or ''}".strip())
        self.container = Container(value if borrow else np.array(value, copy=True))
        self.default_update = None

    def get_value(self, borrow=False, return_internal_type=False):
        """The current value; a copy unless `borrow`."""
        v = self.container.value
        if _on_device(v):        # a cupy array: numpy unless the internal type is asked for
            return v if borrow and return_internal_type else v.get()
        return v if borrow else np.array(v, copy=True)

    def set_value(self, value, borrow=False):
        """Replace the value (checked against the type; copied unless `borrow`). A variable
        on the GPU keeps its value there (numpy values are copied to the device)."""
        if _on_device(value) or _on_device(self.container.value):
            from .codegen.cuda import device_filter, to_device
            if not _on_device(value):
                value = self.type.filter(value, strict=False, allow_downcast=None,
                                         what=f"{self!r}.set_value")
            v = device_filter(self.type, to_device(value), None, f"{self!r}.set_value")
            self.container.value = v if borrow or v is not value else v.copy()
            return
        v = self.type.filter(value, strict=False, allow_downcast=None,
                             what=f"{self!r}.set_value")
        if v is value and not borrow:
            v = np.array(v, copy=True)
        self.container.value = v

    @property
    def value(self):
        return self.get_value()

    def clone(self):
        c = type(self)(self.type, self.container.value, name=self.name, borrow=True)
        c.container = self.container
        return c

    def __getstate__(self):
        state = dict(self.__dict__)
        state["container"] = self.container.value
        return state

    def __setstate__(self, state):
        value = state.pop("container")
        self.__dict__.update(state)
        self.container = Container(value)

    def __repr__(self):
        return self.name or f"<shared {self.type}>"


TensorSharedVariable = SharedVariable


def _on_device(v):
    return type(v).__module__.startswith("cupy")


def shared(value, name=None, borrow=False, shape=None, broadcastable=None, strict=False,
           allow_downcast=None, **kwargs):
    """A shared variable holding `value`: ``w = symgraph.shared(np.zeros(3), 'w')``.

    The type comes from the value's dtype and ndim; no dimension broadcasts unless `shape`
    (or `broadcastable`) says so. Python floats become floatX. Without `borrow` the value
    is copied in, so later changes to the caller's array do not reach the variable.
    """
    if kwargs:
        raise TypeError(f"shared() got unexpected arguments {sorted(kwargs)}")
    if isinstance(value, SharedVariable):
        raise TypeError("shared() of a shared variable; use its get_value()")
    if config.device == "cuda":       # values live on the GPU (cupy arrays)
        from .codegen.cuda import require_device
        require_device("shared() with config.device='cuda'")
    if _on_device(value):
        value = value.get()
    is_py_float = isinstance(value, float) or (
        isinstance(value, (list, tuple)) and np.asarray(value).dtype == np.float64)
    arr = np.asarray(value)
    if arr.dtype == object:
        raise TypeError(f"shared(): cannot store a {type(value).__name__} in a tensor")
    if is_py_float:
        arr = arr.astype(config.floatX)
    if shape is None:
        if broadcastable is not None:
            shape = tuple(1 if b else None for b in broadcastable)
        else:
            shape = (None,) * arr.ndim
    if len(shape) != arr.ndim:
        raise ValueError(f"shared(): shape {shape} does not fit a {arr.ndim}-d value")
    ttype = TensorType(arr.dtype, shape)
    var = SharedVariable(ttype, arr, name=name,
                         borrow=borrow, strict=strict, allow_downcast=allow_downcast)
    if config.device == "cuda":
        from .codegen.cuda import to_device
        var.container.value = to_device(var.container.value)
    return var
