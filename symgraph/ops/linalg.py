"""Linear algebra on matrices, backed by numpy.linalg: matrix_inverse, det, solve,
cholesky (re-exported by ``T.nlinalg`` and ``T.slinalg``).

Only numpy here: scipy.linalg would load scipy's own OpenBLAS beside numpy's, and two
OpenBLAS thread pools in one process run 3-100x slower (MEASUREMENTS.md).
"""
from __future__ import annotations

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType, is_complex, is_float, upcast
from .blas import dot, outer
from .elemwise import dimshuffle
from .math import cast, mul

__all__ = ["matrix_inverse", "det", "solve", "cholesky", "matrix_dot"]


def _float_dtype(*dtypes) -> str:
    """numpy.linalg's result dtype: integers and bool compute in float64."""
    d = upcast(*dtypes)
    return d if is_float(d) or is_complex(d) else "float64"


def _compute_dtype(dtype):
    # LAPACK has no float16: compute in float32 and round back
    return "float32" if dtype == "float16" else dtype


def _square(op, x):
    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise op_build_error(op, [x], f"needs a matrix, got a {x.ndim}-d input", TypeError)
    n, m = x.type.shape
    if n is not None and m is not None and n != m:
        raise op_build_error(op, [x], f"needs a square matrix, got static shape {x.type.shape}",
                             ValueError)
    return x


def _T(x):
    return dimshuffle(x, [1, 0])


def _grad_for(x, g):
    if not (is_float(x.dtype) or is_complex(x.dtype)):
        return None
    return cast(g, x.dtype)


class MatrixInverse(Op):
    """numpy.linalg.inv(x) of a square matrix."""

    __props__ = ()

    def make_node(self, x):
        x = _square(self, x)
        return Apply(self, [x], [TensorType(_float_dtype(x.dtype), x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        out = np.linalg.inv(inputs[0].astype(_compute_dtype(dtype), copy=False))
        output_storage[0][0] = np.asarray(out, dtype=dtype)

    def L_op(self, inputs, outputs, output_grads):
        # d(X^-1) = -X^-1 dX X^-1, so the gradient is -X^-T g X^-T
        (x,), (xi,), (g,) = inputs, outputs, output_grads
        xit = _T(xi)
        return [_grad_for(x, -dot(dot(xit, g), xit))]

    def R_op(self, inputs, eval_points):
        (ev,) = eval_points
        if ev is None:
            return [None]
        xi = self(inputs[0])
        return [-dot(dot(xi, ev), xi)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


matrix_inverse_op = MatrixInverse()


class Det(Op):
    """numpy.linalg.det(x) of a square matrix (a 0-d result)."""

    __props__ = ()

    def make_node(self, x):
        x = _square(self, x)
        return Apply(self, [x], [TensorType(_float_dtype(x.dtype), ())()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        out = np.linalg.det(inputs[0].astype(_compute_dtype(dtype), copy=False))
        output_storage[0][0] = np.asarray(out, dtype=dtype)

    def L_op(self, inputs, outputs, output_grads):
        # d det(X) / dX = det(X) X^-T
        (x,), (d,), (g,) = inputs, outputs, output_grads
        return [_grad_for(x, mul(g * d, _T(matrix_inverse(x))))]

    def infer_shape(self, node, input_shapes):
        return [()]


det_op = Det()


class Solve(Op):
    """numpy.linalg.solve(a, b): x with a @ x = b, for a square `a` and a vector or
    matrix `b`."""

    __props__ = ()

    def make_node(self, a, b):
        a = _square(self, a)
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise op_build_error(self, [a, b], f"b must be a vector or a matrix, got a "
                                 f"{b.ndim}-d input", TypeError)
        n, k = a.type.shape[0], b.type.shape[0]
        if n is not None and k is not None and n != k:
            raise op_build_error(self, [a, b], f"a and b do not match: shapes {a.type.shape} "
                                 f"and {b.type.shape} ({n} != {k})", ValueError)
        shape = ((n if n is not None else k),) + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(_float_dtype(a.dtype, b.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        a, b = (v.astype(_compute_dtype(dtype), copy=False) for v in inputs)
        output_storage[0][0] = np.asarray(np.linalg.solve(a, b), dtype=dtype)

    def L_op(self, inputs, outputs, output_grads):
        # x = a^-1 b: gb = a^-T g, ga = -gb x^T
        (a, b), (x,), (g,) = inputs, outputs, output_grads
        gb = self(_T(a), g)
        ga = -outer(gb, x) if b.ndim == 1 else -dot(gb, _T(x))
        return [_grad_for(a, ga), _grad_for(b, gb)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[1])]


solve_op = Solve()


class Tril(Op):
    """numpy.tril(x, k): the lower triangle of a matrix, zeros above diagonal k."""

    __props__ = ("k",)

    def __init__(self, k=0):
        self.k = int(k)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != 2:
            raise op_build_error(self, [x], f"needs a matrix, got a {x.ndim}-d input",
                                 TypeError)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.tril(inputs[0], self.k)

    def L_op(self, inputs, outputs, output_grads):
        return [_grad_for(inputs[0], self(output_grads[0]))]

    def R_op(self, inputs, eval_points):
        return [None if eval_points[0] is None else self(eval_points[0])]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


class Cholesky(Op):
    """numpy.linalg.cholesky(x): the lower factor L with L @ L.T = x (reading x's lower
    triangle); `lower=False` gives the upper factor U = L.T (reading x's upper triangle).
    `on_error='nan'` returns NaNs instead of raising for a matrix that is not positive
    definite."""

    __props__ = ("lower", "on_error")

    def __init__(self, lower=True, on_error="raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"Cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
        self.lower = bool(lower)
        self.on_error = on_error

    def make_node(self, x):
        x = _square(self, x)
        return Apply(self, [x], [TensorType(_float_dtype(x.dtype), x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        x = inputs[0].astype(_compute_dtype(dtype), copy=False)
        try:
            out = np.linalg.cholesky(x if self.lower else x.T)
        except np.linalg.LinAlgError:
            if self.on_error == "raise":
                raise
            out = np.full(x.shape, np.nan, dtype=x.dtype)
        output_storage[0][0] = np.asarray(out if self.lower else out.T, dtype=dtype)

    def L_op(self, inputs, outputs, output_grads):
        # Murray (2016), "Differentiation of the Cholesky decomposition", as PyTensor:
        # S = L^-T phi(L^T gL) L^-1 with phi = lower triangle, diagonal halved; only the
        # triangle the op reads gets a gradient: tril(S + S^T) - diag(S).
        (x,), (chol,), (g,) = inputs, outputs, output_grads
        lo, g = (chol, g) if self.lower else (_T(chol), _T(g))
        m = dot(_T(lo), g)
        phi = mul(0.5, Tril(0)(m) + Tril(-1)(m))
        lt = _T(lo)
        s = solve(lt, _T(solve(lt, _T(phi))))
        grad = Tril(0)(_T(s)) + Tril(-1)(s)
        return [_grad_for(x, grad if self.lower else _T(grad))]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


# -- user functions -----------------------------------------------------------------------

def matrix_inverse(x):
    """The inverse of a square matrix, as numpy.linalg.inv.

    >>> T.nlinalg.matrix_inverse(A)
    """
    return matrix_inverse_op(x)


def det(x):
    """The determinant of a square matrix, as numpy.linalg.det.

    >>> T.nlinalg.det(A)
    """
    return det_op(x)


def solve(a, b):
    """The solution x of a @ x = b (b a vector or a matrix), as numpy.linalg.solve.

    >>> T.slinalg.solve(A, b)
    """
    return solve_op(a, b)


def cholesky(x, lower=True, on_error="raise"):
    """The Cholesky factor of a symmetric positive-definite matrix: lower L with
    L @ L.T == x (numpy.linalg.cholesky), or the upper one with ``lower=False``.

    >>> T.slinalg.cholesky(A)
    """
    return Cholesky(lower, on_error)(x)


def matrix_dot(*args):
    """dot of several matrices, left to right: ``matrix_dot(a, b, c) = dot(dot(a, b), c)``.

    >>> T.nlinalg.matrix_dot(A, B, C)
    """
    if not args:
        raise TypeError("matrix_dot needs at least one argument")
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = dot(out, a)
    return out
