"""2-d convolution (NCHW) and its two gradients, each an op computed by im2col + matmul.

``Conv2d(x, w)`` is Theano's ``conv2d``: with ``filter_flip`` (the default) a true
convolution, without it a cross-correlation. ``Conv2dGradInputs(w, gout, x)`` and
``Conv2dGradWeights(x, gout, w)`` are the transposes of the bilinear map in each argument
(the third input gives only the shape of the result), so their own gradients are again
convolutions of the three kinds.
"""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType, is_float
from . import math as M

__all__ = ["conv2d", "Conv2d", "Conv2dGradInputs", "Conv2dGradWeights"]


def _pair(v, what):
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(e) for e in v)
    if len(v) != 2:
        raise ValueError(f"conv2d: {what} must be an int or a pair, got {v!r}")
    return v


def _norm_border(border_mode):
    if isinstance(border_mode, str):
        if border_mode == "valid":
            return (0, 0)
        if border_mode in ("full", "half"):
            return border_mode
        raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a "
                         f"pair of ints, got {border_mode!r}")
    pads = _pair(border_mode, "border_mode")
    if min(pads) < 0:
        raise ValueError(f"conv2d: negative padding {pads}")
    return pads


class _ConvBase(Op):
    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation")

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True,
                 filter_dilation=(1, 1)):
        self.border_mode = _norm_border(border_mode)
        self.subsample = _pair(subsample, "subsample")
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _pair(filter_dilation, "filter_dilation")
        if min(self.subsample) < 1 or min(self.filter_dilation) < 1:
            raise ValueError("conv2d: subsample and filter_dilation must be >= 1")

    def _pads(self, kh, kw):
        dh, dw = self.filter_dilation
        if self.border_mode == "full":
            return dh * (kh - 1), dw * (kw - 1)
        if self.border_mode == "half":
            return dh * (kh // 2), dw * (kw // 2)
        return self.border_mode

    def _out_size(self, h, w, kh, kw):
        """Output (rows, cols) for an input of (h, w) and kernels of (kh, kw); None-aware."""
        res = []
        for size, k, i in ((h, kh, 0), (w, kw, 1)):
            if size is None or k is None:
                res.append(None)
                continue
            pad = self._pads(kh if kh is not None else 1, kw if kw is not None else 1)[i]
            span = self.filter_dilation[i] * (k - 1) + 1
            res.append(max(0, (size + 2 * pad - span) // self.subsample[i] + 1))
        return tuple(res)

    def _check(self, inputs, names):
        for v, nm in zip(inputs, names):
            if v.ndim != 4:
                raise op_build_error(self, inputs, f"{nm} must be 4-d (NCHW), got {v.ndim}-d",
                                     ValueError)
            if not is_float(v.dtype):
                raise op_build_error(self, inputs, f"{nm} must be float, got {v.dtype}")

    # -- numpy kernels ------------------------------------------------------------------

    def _geometry(self, xshape, wshape):
        n, c, h, w = xshape
        o, c2, kh, kw = wshape
        if c != c2:
            raise ValueError(f"{self}: input has {c} channels but the filters expect {c2}")
        ph, pw = self._pads(kh, kw)
        ho, wo = self._out_size(h, w, kh, kw)
        return ph, pw, ho, wo

    def _slices(self, u, v, ho, wo):
        dh, dw = self.filter_dilation
        sh, sw = self.subsample
        return (slice(u * dh, u * dh + (ho - 1) * sh + 1, sh),
                slice(v * dw, v * dw + (wo - 1) * sw + 1, sw))

    def _cols(self, x, kh, kw, ph, pw, ho, wo, dtype, xp=np):
        """im2col: (n, c*kh*kw, ho*wo) patches of x, with array module `xp` (numpy or cupy)."""
        n, c, h, w = x.shape
        padded = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dtype)
        padded[:, :, ph:ph + h, pw:pw + w] = x
        cols = xp.empty((n, c, kh, kw, ho, wo), dtype=dtype)
        if ho and wo:
            for u in range(kh):
                for v in range(kw):
                    su, sv = self._slices(u, v, ho, wo)
                    cols[:, :, u, v] = padded[:, :, su, sv]
        return cols.reshape(n, c * kh * kw, ho * wo)

    def _eff(self, w):
        return w[:, :, ::-1, ::-1] if self.filter_flip else w

    def forward(self, x, w, dtype):
        ph, pw, ho, wo = self._geometry(x.shape, w.shape)
        n, o = x.shape[0], w.shape[0]
        cols = self._cols(x, w.shape[2], w.shape[3], ph, pw, ho, wo, dtype)
        w2 = np.ascontiguousarray(self._eff(w), dtype=dtype).reshape(o, -1)
        return np.matmul(w2, cols).reshape(n, o, ho, wo)

    def backward_input(self, w, g, xshape, dtype):
        n, c, h, wd = xshape
        o, _, kh, kw = w.shape
        ph, pw, ho, wo = self._geometry(xshape, w.shape)
        w2 = np.ascontiguousarray(self._eff(w), dtype=dtype).reshape(o, -1)
        dcols = np.matmul(w2.T, g.reshape(n, o, ho * wo).astype(dtype, copy=False))
        dcols = dcols.reshape(n, c, kh, kw, ho, wo)
        dxp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=dtype)
        if ho and wo:
            for u in range(kh):
                for v in range(kw):
                    su, sv = self._slices(u, v, ho, wo)
                    dxp[:, :, su, sv] += dcols[:, :, u, v]
        return dxp[:, :, ph:ph + h, pw:pw + wd]

    def backward_weights(self, x, g, wshape, dtype):
        o, c, kh, kw = wshape
        n = x.shape[0]
        ph, pw, ho, wo = self._geometry(x.shape, wshape)
        cols = self._cols(x, kh, kw, ph, pw, ho, wo, dtype)
        g2 = g.reshape(n, o, ho * wo).astype(dtype, copy=False)
        dw = np.tensordot(g2, cols, axes=([0, 2], [0, 2])).reshape(o, c, kh, kw)
        return np.ascontiguousarray(self._eff(dw))

    def _like(self):
        return dict(border_mode=self.border_mode, subsample=self.subsample,
                    filter_flip=self.filter_flip, filter_dilation=self.filter_dilation)


class Conv2d(_ConvBase):
    """out[n, o] = sum_c correlate(pad(x[n, c]), flip(w[o, c])) with strides and dilation."""

    def make_node(self, x, w):
        x, w = as_tensor_variable(x), as_tensor_variable(w)
        self._check([x, w], ["input", "filters"])
        xs, ws = x.type.shape, w.type.shape
        if xs[1] is not None and ws[1] is not None and xs[1] != ws[1]:
            raise op_build_error(self, [x, w], f"input has {xs[1]} channels but the filters "
                                 f"expect {ws[1]}", ValueError)
        dtype = np.result_type(x.dtype, w.dtype).name
        shape = (xs[0], ws[0]) + self._out_size(xs[2], xs[3], ws[2], ws[3])
        return Apply(self, [x, w], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, out):
        x, w = inputs
        out[0][0] = self.forward(x, w, node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        x, w = inputs
        (g,) = output_grads
        return [Conv2dGradInputs(**self._like())(w, g, x),
                Conv2dGradWeights(**self._like())(x, g, w)]


class Conv2dGradInputs(_ConvBase):
    """The gradient of Conv2d w.r.t. its input: (w, gout, x) -> array shaped like x."""

    def make_node(self, w, g, x):
        w, g, x = map(as_tensor_variable, (w, g, x))
        self._check([w, g, x], ["filters", "output gradient", "input"])
        return Apply(self, [w, g, x], [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, out):
        w, g, x = inputs
        out[0][0] = self.backward_input(w, g, x.shape, node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        w, g, x = inputs
        (G,) = output_grads
        return [Conv2dGradWeights(**self._like())(G, g, w),
                M.cast(Conv2d(**self._like())(G, w), g.dtype), M.zeros_like(x)]


class Conv2dGradWeights(_ConvBase):
    """The gradient of Conv2d w.r.t. its filters: (x, gout, w) -> array shaped like w."""

    def make_node(self, x, g, w):
        x, g, w = map(as_tensor_variable, (x, g, w))
        self._check([x, g, w], ["input", "output gradient", "filters"])
        return Apply(self, [x, g, w], [TensorType(w.dtype, w.type.shape)()])

    def perform(self, node, inputs, out):
        x, g, w = inputs
        out[0][0] = self.backward_weights(x, g, w.shape, node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        x, g, w = inputs
        (G,) = output_grads
        return [Conv2dGradInputs(**self._like())(G, g, x),
                M.cast(Conv2d(**self._like())(x, G), g.dtype), M.zeros_like(w)]


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), **kwargs):
    """2-d convolution of NCHW `input` with (out channels, in channels, rows, cols) `filters`.

    >>> out = T.nnet.conv2d(x, w, border_mode='half', subsample=(2, 2))

    `border_mode`: 'valid' (no padding), 'full' (kernel size - 1), 'half' (kernel size // 2),
    an int or a (rows, cols) pair of paddings. `filter_flip=False` gives a cross-correlation.
    `input_shape` / `filter_shape` (entries int or None) refine the static shapes.
    """
    for key in kwargs:
        if key not in ("image_shape", "filter_shape"):
            raise TypeError(f"conv2d() got an unexpected argument {key!r}")
    input_shape = input_shape or kwargs.get("image_shape")
    op = Conv2d(border_mode, subsample, filter_flip, filter_dilation)
    x, w = as_tensor_variable(input), as_tensor_variable(filters)
    for var, hint, nm in ((x, input_shape, "input_shape"), (w, filter_shape, "filter_shape")):
        if hint is None:
            continue
        hint = tuple(None if h is None else int(h) for h in hint)
        if len(hint) != 4 or any(h is not None and s is not None and h != s
                                 for h, s in zip(hint, var.type.shape)):
            raise op_build_error(op, [x, w], f"{nm} {hint} does not fit {var.type}", ValueError)
    if input_shape is not None or filter_shape is not None:
        out = op(x, w)
        xs = tuple(input_shape or x.type.shape)
        ws = tuple(filter_shape or w.type.shape)
        shape = (xs[0], ws[0]) + op._out_size(xs[2], xs[3], ws[2], ws[3])
        merged = tuple(a if a is not None else b for a, b in zip(out.type.shape, shape))
        out.type = TensorType(out.dtype, merged)
        return out
    return op(x, w)
