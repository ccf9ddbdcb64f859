"""2-d pooling over the last two dimensions (Theano's ``pool_2d``) and its gradient.

Windows of `ws` step by `stride` over the input padded by `pad`. 'max', 'sum' and
'average_exc_pad' use only the real pixels of a window; 'average_inc_pad' divides by the
window's size inside the padded image. Without `ignore_border`, windows that run past the
edge are kept and truncated.
"""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType
from . import math as M

__all__ = ["pool_2d", "Pool", "PoolGrad"]

_MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _out_len(size, ws, st, pad, ignore_border):
    if size is None:
        return None
    r = size + 2 * pad
    if ignore_border:
        return max(0, (r - ws) // st + 1)
    if st >= ws:
        return (r - 1) // st + 1 if r > 0 else 0
    return max(0, (r - 1 - ws + st) // st) + 1 if r > 0 else 0


class _PoolBase(Op):
    __props__ = ("ws", "ignore_border", "stride", "pad", "mode")

    def __init__(self, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
        self.ws = tuple(int(w) for w in ws)
        self.stride = self.ws if stride is None else tuple(int(s) for s in stride)
        self.pad = tuple(int(p) for p in pad) if pad is not None else (0, 0)
        self.ignore_border = bool(ignore_border)
        if mode == "average":
            mode = "average_inc_pad"
        if mode not in _MODES:
            raise ValueError(f"pool_2d: mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        if len(self.ws) != 2 or len(self.stride) != 2 or len(self.pad) != 2:
            raise ValueError("pool_2d: ws, stride and pad must be pairs")
        if min(self.ws) < 1 or min(self.stride) < 1 or min(self.pad) < 0:
            raise ValueError(f"pool_2d: ws {self.ws} and stride {self.stride} must be >= 1, "
                             f"pad {self.pad} >= 0")
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise ValueError(f"pool_2d: padding {self.pad} must be smaller than the window "
                             f"{self.ws}")
        if max(self.pad) > 0 and not self.ignore_border:
            raise ValueError("pool_2d: padding needs ignore_border=True")

    def out_shape(self, shape):
        return tuple(shape[:-2]) + tuple(
            _out_len(shape[-2 + i], self.ws[i], self.stride[i], self.pad[i], self.ignore_border)
            for i in range(2))

    # -- numpy kernels ------------------------------------------------------------------

    def _layout(self, shape):
        """Output lengths, the extended (padded, overhanging) size, and window slices."""
        oh, ow = self.out_shape(shape)[-2:]
        ext = [max(shape[-2 + i] + 2 * self.pad[i],
                   ((oh, ow)[i] - 1) * self.stride[i] + self.ws[i]) for i in range(2)]
        return oh, ow, ext

    def _windows(self, oh, ow):
        sh, sw = self.stride
        for u in range(self.ws[0]):
            for v in range(self.ws[1]):
                yield (slice(u, u + (oh - 1) * sh + 1, sh), slice(v, v + (ow - 1) * sw + 1, sw))

    def _extend(self, x, fill):
        h, w = x.shape[-2:]
        ph, pw = self.pad
        oh, ow, (eh, ew) = self._layout(x.shape)
        ext = np.full(x.shape[:-2] + (eh, ew), fill, dtype=x.dtype)
        ext[..., ph:ph + h, pw:pw + w] = x
        return ext, oh, ow

    def _counts(self, shape, oh, ow):
        h, w = shape[-2:]
        ph, pw = self.pad
        _, _, (eh, ew) = self._layout(shape)
        ind = np.zeros((eh, ew))
        if self.mode == "average_inc_pad":
            ind[:h + 2 * ph, :w + 2 * pw] = 1
        else:
            ind[ph:ph + h, pw:pw + w] = 1
        cnt = np.zeros((oh, ow))
        for su, sv in self._windows(oh, ow):
            cnt += ind[su, sv]
        return cnt

    def _fill(self, x):
        if self.mode != "max":
            return 0
        return -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min

    def forward(self, x):
        ext, oh, ow = self._extend(x, self._fill(x))
        out_shape = x.shape[:-2] + (oh, ow)
        if oh == 0 or ow == 0:
            return np.zeros(out_shape, dtype=x.dtype)
        acc = None
        for su, sv in self._windows(oh, ow):
            win = ext[..., su, sv]
            if acc is None:
                acc = win.copy()
            elif self.mode == "max":
                np.maximum(acc, win, out=acc)
            else:
                acc += win
        if self.mode.startswith("average"):
            acc = acc / self._counts(x.shape, oh, ow)
        return np.asarray(acc, dtype=x.dtype)

    def backward(self, x, out, g):
        ext, oh, ow = self._extend(x, self._fill(x))
        gext = np.zeros(ext.shape, dtype=np.result_type(x.dtype, g.dtype))
        if oh and ow:
            if self.mode.startswith("average"):
                g = g / self._counts(x.shape, oh, ow)
            for su, sv in self._windows(oh, ow):
                if self.mode == "max":
                    gext[..., su, sv] += np.where(ext[..., su, sv] == out, g, 0)
                else:
                    gext[..., su, sv] += g
        h, w = x.shape[-2:]
        ph, pw = self.pad
        return gext[..., ph:ph + h, pw:pw + w].astype(x.dtype)


class Pool(_PoolBase):
    """max / sum / mean of each `ws` window (stride, pad) over the last two dimensions."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise op_build_error(self, [x], f"needs at least 2 dimensions, got {x.ndim}",
                                 ValueError)
        if x.dtype == "bool" or x.dtype.startswith("complex"):
            raise op_build_error(self, [x], f"cannot pool {x.dtype} values")
        return Apply(self, [x], [TensorType(x.dtype, self.out_shape(x.type.shape))()])

    def perform(self, node, inputs, out):
        out[0][0] = self.forward(inputs[0])

    def L_op(self, inputs, outputs, output_grads):
        return [PoolGrad(*self._props())(inputs[0], outputs[0], output_grads[0])]


class PoolGrad(_PoolBase):
    """The gradient of Pool: (x, pooled, gout) -> gx (max: to every maximum of a window)."""

    def make_node(self, x, out, g):
        x, out, g = map(as_tensor_variable, (x, out, g))
        return Apply(self, [x, out, g], [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, out):
        x, pooled, g = inputs
        out[0][0] = self.backward(x, pooled, g)

    def L_op(self, inputs, outputs, output_grads):
        x, pooled, g = inputs
        (G,) = output_grads
        if self.mode == "max":
            return super().L_op(inputs, outputs, output_grads)
        # linear in g: its transpose pools G the same way (sum, or mean over the same counts)
        return [M.zeros_like(x), M.zeros_like(pooled), Pool(*self._props())(G)]


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last two dimensions of `input` over `ws` windows.

    >>> T.signal.pool.pool_2d(x, ws=(2, 2), mode='max')            # (N, C, H/2, W/2)

    `stride` defaults to `ws`; `pad` (smaller than `ws`) needs `ignore_border=True`;
    `mode`: 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'. (Theano's old names
    ``ds``, ``st``, ``padding`` are accepted.)
    """
    ws = ws if ws is not None else ds
    if ws is None:
        raise TypeError("pool_2d() needs ws")
    stride = stride if stride is not None else st
    pad = padding if padding is not None else pad
    if ignore_border is None:
        ignore_border = True
    return Pool(ws, ignore_border, stride, pad, mode)(input)
