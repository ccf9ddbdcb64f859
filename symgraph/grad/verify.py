"""``verify_grad``: compare symbolic gradients with central finite differences.

As Theano's: the output is projected on a random tensor r (values in [0.5, 1.5)), so one
scalar ``sum(r * fun(*pt))`` is checked, and the symbolic side is ``Lop(fun(...), pt, r)``.
Differences are central, ``(c(x + h) - c(x - h)) / (2h)``, with the step actually taken
(x + h rounded to the input's dtype) in the denominator. Steps per dtype balance truncation
(O(h^2)) against rounding (O(ulp / h)): about the cube root of the dtype's resolution.
"""
from __future__ import annotations

import numpy as np

from ..errors import SymgraphError

__all__ = ["verify_grad", "GradientCheckError", "numeric_grad"]

#: finite-difference step per dtype
EPS = {"float64": 1e-6, "float32": 3e-3, "float16": 1e-1}
#: default tolerances per dtype (Theano's)
TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


class GradientCheckError(SymgraphError, AssertionError):
    """The symbolic gradient differs from the finite-difference one (verify_grad.E_grad)."""

    def __init__(self, arg, err_pos, shape, val1, val2, abs_err, rel_err, abs_tol, rel_tol):
        super().__init__(arg, err_pos, shape, val1, val2, abs_err, rel_err, abs_tol, rel_tol)
        self.arg, self.err_pos, self.shape = arg, err_pos, shape
        self.val1, self.val2 = val1, val2
        self.abs_err, self.rel_err = abs_err, rel_err
        self.abs_tol, self.rel_tol = abs_tol, rel_tol

    def __str__(self):
        return (f"numeric gradient and analytic gradient differ: at position {self.err_pos} "
                f"of input {self.arg} (shape {self.shape}), analytic = {self.val1!r}, "
                f"numeric = {self.val2!r}; max abs. error = {self.abs_err:.3g} "
                f"(tolerance {self.abs_tol:g}), max rel. error = {self.rel_err:.3g} "
                f"(tolerance {self.rel_tol:g})")


def _rand(rng, shape):
    if hasattr(rng, "random"):
        return rng.random(shape)
    return rng.rand(*shape)


def numeric_grad(cost_fn, pt, eps=None):
    """Central differences of the scalar function `cost_fn(*pt)` at each element of `pt`."""
    pt = [np.array(p, copy=True) for p in pt]
    out = []
    for k, p in enumerate(pt):
        h = eps if eps is not None else EPS[str(p.dtype)]
        g = np.zeros(p.shape, dtype=np.float64)
        flat = p.reshape(-1)  # a view: pt[k] changes with it
        for j in range(flat.size):
            x0 = flat[j]
            up = flat.dtype.type(x0 + h)
            down = flat.dtype.type(x0 - h)
            flat[j] = up
            c_up = float(cost_fn(*pt))
            flat[j] = down
            c_down = float(cost_fn(*pt))
            flat[j] = x0
            g.reshape(-1)[j] = (c_up - c_down) / (float(up) - float(down))
        out.append(g)
    return out


def _max_err(num, ana, abs_tol, rel_tol):
    """(input index, flat position, abs err, rel err, analytic, numeric) of the worst one."""
    worst = None
    for k, (n, a) in enumerate(zip(num, ana)):
        a = np.asarray(a, dtype=np.float64)
        if a.shape != n.shape:
            raise ValueError(f"verify_grad: the gradient of input {k} has shape {a.shape}, "
                             f"the input has shape {n.shape}")
        if n.size == 0:
            continue
        abs_err = np.abs(a - n)
        rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
        bad = ~(np.isfinite(abs_err) & np.isfinite(rel_err))
        scaled = np.minimum(abs_err / abs_tol, rel_err / rel_tol)
        scaled = np.where(bad, np.inf, scaled)
        i = int(np.argmax(scaled))
        rank = scaled.reshape(-1)[i]
        if worst is None or rank > worst[0]:
            worst = (rank, k, i, float(abs_err.reshape(-1)[i]), float(rel_err.reshape(-1)[i]),
                     float(a.reshape(-1)[i]), float(n.reshape(-1)[i]))
    return worst


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None,
                mode=None, cast_to_output_type=False, out_type=None):
    """Check ``grad`` of ``fun`` at the point `pt` against finite differences.

    >>> verify_grad(lambda x: T.tanh(x) * x, [np.random.rand(3, 4)])

    `fun` maps symbolic tensors (one per array of `pt`, with dims of size 1 broadcastable)
    to one symbolic output. Raises ``GradientCheckError`` (``verify_grad.E_grad``) naming the
    input, the position and the max abs/rel errors when both tolerances are exceeded.
    Defaults: step ``EPS[dtype]``, tolerances ``TOL[dtype]`` (the loosest over the inputs),
    ``rng`` a fixed-seed generator, ``mode='py'``. `out_type` is accepted for Theano
    compatibility and ignored (the projection is float64 unless `cast_to_output_type`).
    """
    from ..compile.function import function
    from ..types import TensorType
    from .reverse import Lop

    if mode is None:
        mode = "py"
    pt = [np.array(p) for p in pt]
    for i, p in enumerate(pt):
        if str(p.dtype) not in EPS:
            raise TypeError(f"verify_grad works only with floating-point inputs; input {i} "
                            f"has dtype {p.dtype}")
    if abs_tol is None:
        abs_tol = max(TOL[str(p.dtype)] for p in pt)
    if rel_tol is None:
        rel_tol = max(TOL[str(p.dtype)] for p in pt)
    if rng is None:
        rng = np.random.default_rng(0)
    tensor_pt = [TensorType(str(p.dtype), tuple(1 if s == 1 else None for s in p.shape))(
        name=f"input {i}") for i, p in enumerate(pt)]
    out = fun(*tensor_pt)
    if isinstance(out, (list, tuple)):
        raise NotImplementedError("verify_grad: fun must return one variable; check each "
                                  "output separately")
    from ..tensor.var import as_tensor_variable
    out = as_tensor_variable(out)
    o_fn = function(tensor_pt, out, mode=mode, on_unused_input="ignore")
    o_val = o_fn(*[p.copy() for p in pt])
    if isinstance(o_val, (list, tuple)):
        raise TypeError("verify_grad: fun returned several outputs")
    proj_dtype = out.dtype if (cast_to_output_type and out.dtype == "float32") else "float64"
    r = TensorType(proj_dtype, tuple(1 if s == 1 else None for s in o_val.shape))(
        name="random_projection")
    grads = Lop(out, tensor_pt, r, disconnected_inputs="ignore")
    grads = [g if g is not None else (p * 0) for g, p in zip(grads, tensor_pt)]
    g_fn = function(tensor_pt + [r], grads, mode=mode, on_unused_input="ignore")

    for test in range(n_tests):
        proj = (_rand(rng, o_val.shape) + 0.5).astype(proj_dtype)

        def cost_fn(*args):
            return np.sum(proj.astype(np.float64) * np.asarray(o_fn(*args), dtype=np.float64))
        num = numeric_grad(cost_fn, pt, eps)
        ana = g_fn(*[p.copy() for p in pt], proj)
        worst = _max_err(num, ana, abs_tol, rel_tol)
        if worst is None:
            continue
        rank, k, i, abs_err, rel_err, a, n = worst
        if not (rank <= 1.0):
            raise GradientCheckError(k, i, pt[k].shape, a, n, abs_err, rel_err, abs_tol, rel_tol)


verify_grad.E_grad = GradientCheckError
