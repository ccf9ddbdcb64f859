"""Random-number ops: each draw reads a generator state and returns the advanced state.

The state of a numpy PCG64 bit generator is packed into a ``uint64`` vector of length 6
(state high/low words, increment high/low words, has_uint32, uinteger), so it lives in an
ordinary shared tensor. An op ``RandomVariable(state, size, *params)`` rebuilds the
``numpy.random.Generator``, draws, and outputs ``(new_state, sample)``; the stream
(`symgraph.tensor.random.RandomStream`) sets the new state as the shared variable's
``default_update``, so every call of a compiled function advances it.
"""
from __future__ import annotations

import numpy as np

from ..config import config
from ..errors import op_build_error
from ..graph import Apply, Op, Variable
from ..tensor.var import TensorConstant, as_tensor_variable
from ..types import TensorType, is_float, is_int
from .elemwise import broadcast_shapes

__all__ = ["RandomVariable", "MakeSize", "STATE_TYPE", "pack_state", "unpack_state",
           "state_from_seed"]

_MASK = (1 << 64) - 1
STATE_TYPE = TensorType("uint64", (6,))


def pack_state(gen: np.random.Generator) -> np.ndarray:
    """The PCG64 state of `gen` as a uint64 vector of length 6."""
    st = gen.bit_generator.state
    s, inc = st["state"]["state"], st["state"]["inc"]
    return np.array([s >> 64, s & _MASK, inc >> 64, inc & _MASK, st["has_uint32"],
                     st["uinteger"]], dtype=np.uint64)


def unpack_state(arr) -> np.random.Generator:
    """The Generator whose PCG64 state `arr` (from `pack_state`) holds."""
    a = [int(v) for v in np.asarray(arr, dtype=np.uint64)]
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64",
                "state": {"state": (a[0] << 64) | a[1], "inc": (a[2] << 64) | a[3]},
                "has_uint32": a[4], "uinteger": a[5]}
    return np.random.Generator(bg)


def state_from_seed(seed) -> np.ndarray:
    return pack_state(np.random.default_rng(seed))


class MakeSize(Op):
    """numpy.array([s0, s1, ...], dtype='int64') from integer scalars."""

    __props__ = ()

    def make_node(self, *entries):
        entries = [as_tensor_variable(e) for e in entries]
        for e in entries:
            if e.ndim != 0 or not is_int(e.dtype):
                raise op_build_error(self, entries, "size entries must be integer scalars")
        return Apply(self, entries, [TensorType("int64", (len(entries),))()])

    def perform(self, node, inputs, out):
        out[0][0] = np.array([int(v) for v in inputs], dtype=np.int64)

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


def as_size(size):
    """(int64 size vector variable or None, static output shape or None)."""
    if size is None:
        return None, None
    if isinstance(size, (int, np.integer)) or (isinstance(size, Variable) and size.ndim == 0):
        size = (size,)
    if isinstance(size, (list, tuple)):
        if any(isinstance(s, Variable) for s in size):
            entries = [s if isinstance(s, Variable) else np.int64(s) for s in size]
            static = tuple(int(s) if not isinstance(s, Variable) else
                           (int(s.data) if isinstance(s, TensorConstant) else None)
                           for s in size)
            return MakeSize()(*entries), static
        arr = np.asarray(size, dtype=np.int64).reshape(-1)
        return as_tensor_variable(arr), tuple(int(s) for s in arr)
    v = as_tensor_variable(size)
    if v.ndim != 1 or not is_int(v.dtype) or v.type.shape[0] is None:
        raise TypeError(f"random size must be a tuple or an integer vector of known length, "
                        f"got {v!r} ({v.type})")
    static = None
    if isinstance(v, TensorConstant):
        static = tuple(int(s) for s in v.data)
    elif v.owner is not None and isinstance(v.owner.op, MakeSize):
        static = tuple(int(i.data) if isinstance(i, TensorConstant) else None
                       for i in v.owner.inputs)
    return v, static or (None,) * v.type.shape[0]


def _draw_uniform(g, size, low, high):
    return g.uniform(low, high, size)


def _draw_normal(g, size, avg, std):
    return g.normal(avg, std, size)


def _draw_binomial(g, size, n, p):
    return g.binomial(n, p, size)


def _draw_integers(g, size, low, high):
    return g.integers(low, high, size)


def _draw_permutation(g, size, n):
    if size is None:
        return g.permutation(int(n))
    out = np.empty(tuple(size) + (int(n),), dtype=np.int64)
    for idx in np.ndindex(*size):
        out[idx] = g.permutation(int(n))
    return out


_DRAWS = {"uniform": _draw_uniform, "normal": _draw_normal, "binomial": _draw_binomial,
          "integers": _draw_integers, "permutation": _draw_permutation}


class RandomVariable(Op):
    """A draw from numpy.random.Generator.<dist>(*params, size): (new_state, sample)."""

    __props__ = ("dist", "dtype", "ndim", "has_size", "replace", "has_p")

    def __init__(self, dist, dtype, ndim, has_size, replace=True, has_p=False):
        self.dist, self.dtype, self.ndim = dist, str(np.dtype(dtype)), ndim
        self.has_size, self.replace, self.has_p = has_size, replace, has_p

    def make_node(self, state, size, *params, static_shape=None):
        state = as_tensor_variable(state)
        if state.type != STATE_TYPE:
            raise op_build_error(self, [state], f"the state must be {STATE_TYPE}")
        size = as_tensor_variable(np.zeros(0, dtype=np.int64) if size is None else size)
        params = [as_tensor_variable(p) for p in params]
        shape = static_shape if static_shape is not None else (None,) * self.ndim
        return Apply(self, [state, size] + params,
                     [STATE_TYPE(), TensorType(self.dtype, shape)()])

    def perform(self, node, inputs, out):
        state, size, *params = inputs
        g = unpack_state(state)
        size = tuple(int(s) for s in size) if self.has_size else None
        if self.dist == "choice":
            a = params[0]
            p = params[1] if self.has_p else None
            a = int(a) if np.ndim(a) == 0 else a
            sample = g.choice(a, size=size, replace=self.replace, p=p)
        else:
            sample = _DRAWS[self.dist](g, size, *params)
        out[0][0] = pack_state(g)
        out[1][0] = np.asarray(sample).astype(self.dtype, copy=False)

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


def draw(dist, state, size, params, dtype, replace=True, extra_dims=0):
    """Build a RandomVariable node; returns (new_state, sample)."""
    size_var, static = as_size(size)
    params = [as_tensor_variable(p) for p in params]
    has_p = False
    if dist == "choice" and len(params) == 2:
        has_p = True
    if static is None:
        if dist in ("choice",):
            static = ()
        else:
            shapes = [p.type.shape for p in params]
            nd = max([len(s) for s in shapes], default=0)
            shapes = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
            op = RandomVariable(dist, dtype, nd, False)
            static = broadcast_shapes(op, params, shapes) if shapes else ()
    if dist == "permutation":
        n = params[0]
        static = tuple(static) + ((int(n.data),) if isinstance(n, TensorConstant) else (None,))
    op = RandomVariable(dist, dtype, len(static), size_var is not None, replace, has_p)
    for p in params:
        if not (is_float(p.dtype) or is_int(p.dtype) or p.dtype == "bool"):
            raise op_build_error(op, params, f"parameters must be numbers, got {p.dtype}")
    node = op.make_node(state, size_var, *params, static_shape=tuple(static))
    return node.outputs[0], node.outputs[1]


def default_float():
    return config.floatX
