"""Dense products: dot, matmul (the ``@`` operator), tensordot, outer, batched_dot.

Three ops carry them: `Dot` (vectors and matrices, the BLAS case), `TensorDot` (numpy's
tensordot, also used for n-d `dot`) and `MatMul` (stacks of matrices with broadcast batch
dims). The user functions reduce every other case to these with dimshuffles.
"""
from __future__ import annotations

import operator

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op, Variable
from ..tensor.var import as_tensor_variable
from ..types import TensorType, is_complex, is_float, upcast
from .elemwise import _sum_to, broadcast_shapes, dimshuffle
from .math import add, cast, mul

__all__ = ["dot", "matmul", "tensordot", "outer", "batched_dot", "batched_tensordot"]


def _differentiable(x) -> bool:
    return is_float(x.dtype) or is_complex(x.dtype)


def _grad_for(x, g):
    """`g` as the gradient of input `x`: None for integer inputs, cast to x's dtype."""
    if not _differentiable(x):
        return None
    return cast(g, x.dtype)


def _out(result, dtype):
    return np.asarray(result, dtype=dtype)


def _check_inner(op, a, b, ka, kb, what="inner dimensions"):
    if ka is not None and kb is not None and ka != kb:
        raise op_build_error(op, [a, b], f"{what} do not match: shapes {a.type.shape} and "
                             f"{b.type.shape} ({ka} != {kb})", ValueError)


def _transpose(x):
    """The last two dims of x swapped."""
    return dimshuffle(x, list(range(x.ndim - 2)) + [x.ndim - 1, x.ndim - 2])


class Dot(Op):
    """numpy.dot(a, b) for a and b of 1 or 2 dims (vector/matrix products)."""

    __props__ = ()
    kernel = "gemm"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise op_build_error(self, [a, b], f"takes vectors or matrices, got {a.ndim}-d "
                                 f"and {b.ndim}-d inputs (use dot or tensordot)", TypeError)
        _check_inner(self, a, b, a.type.shape[-1], b.type.shape[0])
        shape = a.type.shape[:-1] + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        output_storage[0][0] = _out(np.dot(a, b), node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (g,) = inputs, output_grads
        if a.ndim == 2 and b.ndim == 2:
            ga, gb = dot(g, _transpose(b)), dot(_transpose(a), g)
        elif a.ndim == 1 and b.ndim == 2:
            ga, gb = dot(b, g), outer(a, g)
        elif a.ndim == 2:
            ga, gb = outer(g, b), dot(g, a)
        else:
            ga, gb = mul(g, b), mul(g, a)
        return [_grad_for(a, ga), _grad_for(b, gb)]

    def R_op(self, inputs, eval_points):
        (a, b), (ea, eb) = inputs, eval_points
        terms = [dot(ea, b) if ea is not None else None, dot(a, eb) if eb is not None else None]
        terms = [t for t in terms if t is not None]
        if not terms:
            return [None]
        return [terms[0] if len(terms) == 1 else add(*terms)]

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + tuple(sb[1:])]


_dot = Dot()


class TensorDot(Op):
    """numpy.tensordot(a, b, axes=(axes_a, axes_b)): sum over the paired axes; the result's
    dims are a's free dims then b's, each in order."""

    __props__ = ("axes_a", "axes_b")

    def __init__(self, axes_a, axes_b):
        self.axes_a = tuple(operator.index(i) for i in axes_a)
        self.axes_b = tuple(operator.index(i) for i in axes_b)

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if len(self.axes_a) != len(self.axes_b):
            raise op_build_error(self, [a, b], "needs as many axes of a as of b", ValueError)
        for axes, x in ((self.axes_a, a), (self.axes_b, b)):
            if any(not 0 <= i < x.ndim for i in axes) or len(set(axes)) != len(axes):
                raise op_build_error(self, [a, b], f"axes {axes} are not distinct dims of "
                                     f"a {x.ndim}-d input", ValueError)
        for i, j in zip(self.axes_a, self.axes_b):
            _check_inner(self, a, b, a.type.shape[i], b.type.shape[j],
                         f"summed dimensions a[{i}] and b[{j}]")
        shape = (tuple(s for d, s in enumerate(a.type.shape) if d not in self.axes_a)
                 + tuple(s for d, s in enumerate(b.type.shape) if d not in self.axes_b))
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        r = np.tensordot(a, b, axes=(list(self.axes_a), list(self.axes_b)))
        output_storage[0][0] = _out(r, node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (g,) = inputs, output_grads
        free_a = [d for d in range(a.ndim) if d not in self.axes_a]
        free_b = [d for d in range(b.ndim) if d not in self.axes_b]
        g_a = list(range(len(free_a)))                     # g's dims that come from a
        g_b = list(range(len(free_a), len(free_a) + len(free_b)))
        ga = gb = None
        if _differentiable(a):
            # dims: a's free dims, then b's summed dims in b's order -> put back in a's order
            t = tensordot(g, b, (g_b, free_b))
            order = free_a + [self.axes_a[self.axes_b.index(j)] for j in sorted(self.axes_b)]
            ga = _grad_for(a, dimshuffle(t, [order.index(d) for d in range(a.ndim)]))
        if _differentiable(b):
            t = tensordot(a, g, (free_a, g_a))
            order = [self.axes_b[self.axes_a.index(i)] for i in sorted(self.axes_a)] + free_b
            gb = _grad_for(b, dimshuffle(t, [order.index(d) for d in range(b.ndim)]))
        return [ga, gb]

    def R_op(self, inputs, eval_points):
        (a, b), (ea, eb) = inputs, eval_points
        terms = ([self(ea, b)] if ea is not None else []) + \
                ([self(a, eb)] if eb is not None else [])
        if not terms:
            return [None]
        return [terms[0] if len(terms) == 1 else add(*terms)]

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(s for d, s in enumerate(sa) if d not in self.axes_a)
                + tuple(s for d, s in enumerate(sb) if d not in self.axes_b)]


class MatMul(Op):
    """numpy.matmul(a, b) for inputs of 2 or more dims: a product of the last two dims,
    broadcast over the leading (batch) dims. A batch dim broadcasts when its static size
    is 1, as in elementwise ops."""

    __props__ = ()

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim < 2 or b.ndim < 2:
            raise op_build_error(self, [a, b], f"takes inputs of 2 dims or more, got {a.ndim}"
                                 f"-d and {b.ndim}-d (use matmul or dot)", TypeError)
        nd = max(a.ndim, b.ndim)
        a = a if a.ndim == nd else dimshuffle(a, ["x"] * (nd - a.ndim) + list(range(a.ndim)))
        b = b if b.ndim == nd else dimshuffle(b, ["x"] * (nd - b.ndim) + list(range(b.ndim)))
        _check_inner(self, a, b, a.type.shape[-1], b.type.shape[-2])
        batch = broadcast_shapes(self, [a, b], [a.type.shape[:-2], b.type.shape[:-2]])
        shape = batch + (a.type.shape[-2], b.type.shape[-1])
        return Apply(self, [a, b], [TensorType(upcast(a.dtype, b.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        for d in range(a.ndim - 2):
            sizes = (a.shape[d], b.shape[d])
            for var, s in zip(node.inputs, sizes):
                if s == 1 and var.type.shape[d] != 1 and max(sizes) != 1:
                    raise ValueError(
                        f"{self}: input {var!r} has size 1 in batch dimension {d} at run "
                        f"time but its type {var.type} does not say it broadcasts there "
                        f"(shapes {a.shape} and {b.shape})")
        output_storage[0][0] = _out(np.matmul(a, b), node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (g,) = inputs, output_grads
        ga = _sum_to(self(g, _transpose(b)), a) if _differentiable(a) else None
        gb = _sum_to(self(_transpose(a), g), b) if _differentiable(b) else None
        return [_grad_for(a, ga) if ga is not None else None,
                _grad_for(b, gb) if gb is not None else None]

    def R_op(self, inputs, eval_points):
        (a, b), (ea, eb) = inputs, eval_points
        terms = ([self(ea, b)] if ea is not None else []) + \
                ([self(a, eb)] if eb is not None else [])
        if not terms:
            return [None]
        return [terms[0] if len(terms) == 1 else add(*terms)]

    def infer_shape(self, node, input_shapes):
        (a, b), (sa, sb) = node.inputs, input_shapes
        batch = tuple(sb[d] if a.type.shape[d] == 1 else sa[d] for d in range(a.ndim - 2))
        return [batch + (sa[-2], sb[-1])]


_matmul = MatMul()


class Gemm(Op):
    """beta * z + alpha * numpy.dot(x, y) for x, y of 1 or 2 dims (not both vectors), all of
    one float dtype, z of the product's shape, alpha and beta 0-d (BLAS gemm/gemv).

    Made by the specialize rule ``gemm`` (opt/rules/blas.py) from ``z + a * dot(x, y)``; the
    in-place form (``inplace=True``, made by ``gemm_inplace`` and ``gemm_inplace_update``)
    writes into z's buffer.

    Inputs after the fifth (`after`) only order the schedule: their values are not read, but
    a node reading one runs after the nodes computing them. ``gemm_inplace_update`` lists
    there the readers of z's old value (a shared weight) that must run before z is
    overwritten; the graph has no other way to say "after", since programs run a
    topological order of the data edges."""

    __props__ = ("inplace",)
    n_value_inputs = 5              # the inputs it reads; any further ones order the schedule

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        if self.inplace:
            self.destroy_map = {0: [0]}
        else:
            self.fresh_outputs = True

    def make_node(self, z, alpha, x, y, beta, *after):
        z, alpha, x, y, beta = (as_tensor_variable(v) for v in (z, alpha, x, y, beta))
        ins = [z, alpha, x, y, beta]
        if not all(isinstance(v, Variable) for v in after):
            raise op_build_error(self, ins, "ordering inputs (after the fifth) must be "
                                 "variables", TypeError)
        dtype = z.dtype
        if dtype not in ("float32", "float64") or any(v.dtype != dtype for v in ins):
            raise op_build_error(self, ins, "needs inputs of one dtype, float32 or float64",
                                 TypeError)
        if alpha.ndim != 0 or beta.ndim != 0:
            raise op_build_error(self, ins, "alpha and beta must be 0-d", TypeError)
        if x.ndim not in (1, 2) or y.ndim not in (1, 2) or x.ndim + y.ndim == 2:
            raise op_build_error(self, ins, f"takes a matrix-matrix, matrix-vector or "
                                 f"vector-matrix product, got {x.ndim}-d and {y.ndim}-d",
                                 TypeError)
        _check_inner(self, x, y, x.type.shape[-1], y.type.shape[0])
        prod = x.type.shape[:-1] + y.type.shape[1:]
        if z.ndim != len(prod):
            raise op_build_error(self, ins, f"z has {z.ndim} dims, the product {len(prod)}",
                                 TypeError)
        shape = []
        for d, (a, b) in enumerate(zip(z.type.shape, prod)):
            if a is not None and b is not None and a != b:
                raise op_build_error(self, ins, f"z's shape {z.type.shape} is not the "
                                     f"product's {prod}", ValueError)
            shape.append(a if a is not None else b)
        if tuple(shape) != tuple(z.type.shape) and self.inplace:
            shape = z.type.shape            # the output is z's buffer: z's type
        return Apply(self, ins + list(after), [TensorType(dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        z, alpha, x, y, beta = inputs[:5]
        dtype = node.outputs[0].dtype
        p = np.dot(x, y)
        if p.shape != z.shape:
            raise ValueError(f"{self}: z has shape {z.shape}, dot(x, y) has {p.shape} "
                             f"(x {x.shape}, y {y.shape})")
        # array methods and operators only: the CUDA backend runs this on cupy arrays
        # a read-only z (a shared value the user handed over) is copied, never written
        writeable = getattr(z.flags, "writeable", True)
        out = z if self.inplace and writeable else z.astype(dtype, copy=True)
        if beta != 1:
            out *= beta
        out += alpha * p if alpha != 1 else p
        output_storage[0][0] = out

    def connection_pattern(self, node):
        return [[True]] * 5 + [[False]] * (len(node.inputs) - 5)

    def L_op(self, inputs, outputs, output_grads):
        (z, alpha, x, y, beta), (g,) = inputs[:5], output_grads
        from .reduce import sum as _sum
        gx, gy = _dot.L_op([x, y], [None], [g])
        prod = _dot(x, y)
        return [mul(beta, g), _sum(mul(g, prod)), mul(alpha, gx), mul(alpha, gy),
                _sum(mul(g, z))] + [None] * (len(inputs) - 5)

    def infer_shape(self, node, input_shapes):
        sx, sy = input_shapes[2], input_shapes[3]
        return [tuple(sx[:-1]) + tuple(sy[1:])]


gemm_no_inplace = Gemm(False)
gemm_inplace = Gemm(True)


# -- user functions -----------------------------------------------------------------------

def dot(a, b):
    """numpy.dot: a scalar scales, vectors and matrices multiply, and for n-d inputs the
    last axis of `a` is summed against the second-to-last of `b`.

    >>> T.dot(W, x)                  # (m, k) . (k,) -> (m,)
    >>> T.dot(x, y)                  # (k,) . (k,) -> ()
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot(a, b)
    return TensorDot((a.ndim - 1,), (max(0, b.ndim - 2),))(a, b)


def _norm_axes(x, axes, what):
    out = []
    for i in axes:
        i = operator.index(i)
        if not -x.ndim <= i < x.ndim:
            raise op_build_error(what, [x], f"axis {i} is out of bounds for a {x.ndim}-d "
                                 f"input", ValueError)
        out.append(i % x.ndim)
    return out


def tensordot(a, b, axes=2):
    """numpy.tensordot: `axes` an int N (the last N dims of a with the first N of b) or a
    pair of sequences (or of ints) of the dims to sum.

    >>> T.tensordot(x, y, axes=[[1, 2], [0, 1]])
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise op_build_error("tensordot", [a, b], f"axes={n} is not possible for a "
                                 f"{a.ndim}-d and a {b.ndim}-d input", ValueError)
        axes_a, axes_b = range(a.ndim - n, a.ndim), range(n)
    else:
        try:
            axes_a, axes_b = axes
        except (TypeError, ValueError):
            raise op_build_error("tensordot", [a, b], f"axes must be an int or a pair of "
                                 f"sequences, got {axes!r}", TypeError) from None
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else axes_a
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else axes_b
    return TensorDot(_norm_axes(a, axes_a, "tensordot"),
                     _norm_axes(b, axes_b, "tensordot"))(a, b)


def matmul(a, b):
    """numpy.matmul (the ``@`` operator): 1-d inputs act as a row or column, batch dims
    (static size 1) broadcast. 0-d inputs are an error, as in numpy.

    >>> x @ W                        # (n, k) @ (k, m) -> (n, m)
    >>> T.matmul(a, b)               # (B, n, k) @ (k, m) -> (B, n, m)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise op_build_error("matmul", [a, b], "0-d inputs are not allowed (use mul)",
                             ValueError)
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot(a, b)
    a2 = a if a.ndim > 1 else dimshuffle(a, ["x", 0])
    b2 = b if b.ndim > 1 else dimshuffle(b, [0, "x"])
    out = _matmul(a2, b2)
    keep = list(range(out.ndim - 2))
    keep += ([] if a.ndim == 1 else [out.ndim - 2]) + ([] if b.ndim == 1 else [out.ndim - 1])
    return dimshuffle(out, keep)


def outer(x, y):
    """numpy.outer: x and y flattened, then ``x[:, None] * y[None, :]`` (as a dot).

    >>> T.outer(u, v)                # (m,), (n,) -> (m, n)
    """
    x, y = _as_vector(x), _as_vector(y)
    return _dot(dimshuffle(x, [0, "x"]), dimshuffle(y, ["x", 0]))


def _as_vector(x):
    x = as_tensor_variable(x)
    if x.ndim == 1:
        return x
    if x.ndim == 0:
        return dimshuffle(x, ["x"])
    from .. import tensor
    return tensor.flatten(x)


def batched_dot(a, b):
    """Theano's batched_dot: ``out[i] = dot(a[i], b[i])`` over the first (batch) dim.

    (B, m, k) and (B, k, n) give (B, m, n); (B, k) and (B, k) give (B,); a 1-d input
    scales the other per batch item; higher dims sum a's last dim against b's
    second-to-last (as batched_tensordot).
    >>> T.batched_dot(x, y)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise op_build_error("batched_dot", [a, b], "inputs need a batch dimension",
                             TypeError)
    if a.ndim == 1:
        return mul(dimshuffle(a, [0] + ["x"] * (b.ndim - 1)), b)
    if b.ndim == 1:
        return mul(a, dimshuffle(b, [0] + ["x"] * (a.ndim - 1)))
    n_i, n_j = a.ndim - 2, max(b.ndim - 3, 0)      # a: (B, I.., k), b: (B, J.., k[, n])
    if n_i <= 1 and n_j == 0:
        # plain stacks of matrices: (B, m|1, k) @ (B, k, n|1)
        a2 = a if n_i == 1 else dimshuffle(a, [0, "x", 1])
        b2 = b if b.ndim == 3 else dimshuffle(b, [0, 1, "x"])
        out = _matmul(a2, b2)
        keep = [0] + ([1] if n_i == 1 else []) + ([2] if b.ndim == 3 else [])
        return dimshuffle(out, keep)
    # (B, I.., 1^J, 1, k) @ (B, 1^I, J.., k, n|1) -> (B, I.., J.., 1, n|1)
    a_pat = [0] + list(range(1, 1 + n_i)) + ["x"] * n_j + ["x", a.ndim - 1]
    if b.ndim >= 3:
        b_pat = [0] + ["x"] * n_i + list(range(1, b.ndim))
    else:
        b_pat = [0] + ["x"] * n_i + [1, "x"]
    out = _matmul(dimshuffle(a, a_pat), dimshuffle(b, b_pat))
    keep = list(range(1 + n_i + n_j)) + ([out.ndim - 1] if b.ndim >= 3 else [])
    return dimshuffle(out, keep)


def batched_tensordot(a, b, axes=2):
    """Theano's batched_tensordot: tensordot of a[i] and b[i] for each i of the first dim;
    `axes` counts dims including the batch dim (as Theano), an int N meaning the last N
    dims of a with the N after the batch dim of b.

    >>> T.batched_tensordot(x, y, axes=[[2], [1]])   # (B, m, k), (B, k, n) -> (B, m, n)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(1, 1 + n))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    axes_a = _norm_axes(a, axes_a, "batched_tensordot")
    axes_b = _norm_axes(b, axes_b, "batched_tensordot")
    if 0 in axes_a or 0 in axes_b:
        raise op_build_error("batched_tensordot", [a, b], "cannot sum over the batch "
                             "dimension", ValueError)
    # line the dims up as (B, I.., 1^J, K..) and (B, 1^I, J.., K..), multiply, sum the K dims
    free_a = [d for d in range(1, a.ndim) if d not in axes_a]
    free_b = [d for d in range(1, b.ndim) if d not in axes_b]
    ka = len(axes_a)
    a_pat = [0] + free_a + ["x"] * len(free_b) + list(axes_a)
    b_pat = [0] + ["x"] * len(free_a) + free_b + list(axes_b)
    prod = mul(dimshuffle(a, a_pat), dimshuffle(b, b_pat))
    from .reduce import sum as _sum
    return _sum(prod, axis=tuple(range(prod.ndim - ka, prod.ndim))) if ka else prod
