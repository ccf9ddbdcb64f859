"""verify_grad for every differentiable elementwise op of ops/math.py (float64, several
shapes, broadcasting), the kinks as Theano defines them, second derivatives, float32, and
verify_grad's own failure report."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import GradientError
from symgraph.gradient import GradientCheckError, grad, verify_grad
from symgraph.graph import Apply, Op
from symgraph.ops import math as M

RNG = np.random.default_rng(5)

# op name -> [(low, high) per input]; default (0.2, 0.9)
DOMAINS = {
    "arccosh": [(1.2, 3.0)],
    "mod": [(2.1, 4.9), (0.7, 1.9)],
    "pow": [(0.3, 2.0), (-1.5, 1.5)],
    "gamma": [(0.3, 4.0)], "gammaln": [(0.3, 4.0)], "psi": [(0.3, 4.0)],
    "abs": [(0.1, 2.0)], "sgn": [(0.1, 2.0)],
    "maximum": [(-1.0, 1.0), (-1.0, 1.0)], "minimum": [(-1.0, 1.0), (-1.0, 1.0)],
    "arctan2": [(-1.0, 1.0), (0.2, 1.0)],
    "sinh": [(-2.0, 2.0)], "cosh": [(-2.0, 2.0)], "tanh": [(-2.0, 2.0)],
    "sigmoid": [(-3.0, 3.0)], "softplus": [(-3.0, 3.0)], "erfinv": [(-0.8, 0.8)],
    "sin": [(-3.0, 3.0)], "cos": [(-3.0, 3.0)], "exp": [(-2.0, 2.0)],
    "expm1": [(-2.0, 2.0)], "exp2": [(-2.0, 2.0)], "sqr": [(-2.0, 2.0)],
    "neg": [(-2.0, 2.0)], "arctan": [(-2.0, 2.0)], "arcsinh": [(-2.0, 2.0)],
}
# elementwise ops with no derivative rule by design
NO_RULE = {"and_", "or_", "xor", "invert", "isnan", "isinf", "real", "imag", "conj",
           "tri_gamma", "eq", "neq", "lt", "le", "gt", "ge"}


def _ops():
    seen, out = set(), []
    for name in sorted(M.__all__):
        op = getattr(M, name)
        if (isinstance(op, M._E) and type(op.scalar_op) not in seen and op.name == name
                and name not in NO_RULE and name not in ("switch", "clip", "second")):
            seen.add(type(op.scalar_op))
            out.append(op)
    return out


OPS = _ops()


def _nin(op):
    return 2 if op.scalar_op.nin == -1 else op.scalar_op.nin


def _point(op, shapes):
    doms = DOMAINS.get(op.name, [(0.2, 0.9)] * _nin(op))
    return [RNG.uniform(lo, hi, size=s) for (lo, hi), s in zip(doms, shapes)]


def test_every_elementwise_op_is_covered():
    names = {op.name for op in OPS}
    assert {"add", "mul", "sub", "true_div", "pow", "exp", "log", "tanh", "sigmoid",
            "softplus", "erf", "gammaln", "maximum", "minimum", "abs", "mod",
            "arctan2", "sqrt", "floor"} <= names
    assert len(OPS) >= 45


UNARY_SHAPES = [(), (5,), (3, 4), (2, 1, 3), (0, 3)]
BINARY_SHAPES = [[(), ()], [(5,), (5,)], [(3, 4), (3, 4)], [(3, 1), (1, 4)],
                 [(2, 3, 4), (4,)], [(3, 4), ()], [(1, 1), (2, 3)]]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_verify_grad_float64(op):
    if _nin(op) == 1:
        for shape in UNARY_SHAPES:
            verify_grad(op, _point(op, [shape]), rng=RNG)
    else:
        for shapes in BINARY_SHAPES:
            verify_grad(op, _point(op, shapes), rng=RNG)


def test_verify_grad_ternary_and_switch():
    x = RNG.uniform(0.0, 3.0, size=(3, 4))
    lo = RNG.uniform(0.5, 1.0, size=(3, 1))
    hi = RNG.uniform(2.0, 2.5, size=(1, 4))
    verify_grad(M.clip, [x, lo, hi], rng=RNG)
    cond = RNG.random((3, 4)) > 0.5
    verify_grad(lambda a, b: T.switch(cond, a, b), [RNG.normal(size=(3, 4)),
                                                      RNG.normal(size=(1, 4))], rng=RNG)
    verify_grad(lambda a, b: M.second(a, b) * a, [RNG.normal(size=(3, 4)),
                                                   RNG.normal(size=(3, 1))], rng=RNG)
    # through float32: the finite differences need a float32-sized step
    verify_grad(lambda a: T.cast(a, "float32") * 1.0, [RNG.normal(size=(3,))], rng=RNG,
                eps=1e-3, abs_tol=1e-2, rel_tol=1e-2)


def _g(expr, wrt):
    return symgraph.function(wrt, grad(expr, wrt), mode="py", on_unused_input="ignore")


def test_kinks_as_theano():
    x, y = T.dvectors("x", "y")
    # abs at 0: sign(0) = 0
    (ga,) = _g(T.sum(abs(x)), [x])(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(ga, [-1, 0, 1])
    # maximum / minimum ties: the first input gets the gradient
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0])
    gx, gy = _g(T.sum(T.maximum(x, y)), [x, y])(xv, yv)
    np.testing.assert_array_equal(gx, [1, 0, 1])
    np.testing.assert_array_equal(gy, [0, 1, 0])
    gx, gy = _g(T.sum(T.minimum(x, y)), [x, y])(xv, yv)
    np.testing.assert_array_equal(gx, [1, 1, 0])
    np.testing.assert_array_equal(gy, [0, 0, 1])
    # clip: x gets the gradient inside [lo, hi] (bounds included), a bound where active
    lo, hi = T.dvectors("lo", "hi")
    gx, glo, ghi = _g(T.sum(T.clip(x, lo, hi)), [x, lo, hi])(
        np.array([0.0, 1.0, 1.5, 2.0, 3.0]), np.ones(5), np.full(5, 2.0))
    np.testing.assert_array_equal(gx, [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(glo, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0, 1])
    # switch: the chosen side; the condition gets zeros
    c = T.dvector("c")
    gc, gx, gy = _g(T.sum(T.switch(c, x, y) * 3.0), [c, x, y])(
        np.array([1.0, 0.0, 2.0]), xv, yv)
    np.testing.assert_array_equal(gc, [0, 0, 0])
    np.testing.assert_array_equal(gx, [3, 0, 3])
    np.testing.assert_array_equal(gy, [0, 3, 0])
    # pow: d/dy x**y is 0 where x == 0 (no nan)
    gx, gy = _g(T.sum(x ** y), [x, y])(np.array([0.0, 2.0]), np.array([2.0, 3.0]))
    np.testing.assert_array_equal(gy, [0, 8 * np.log(2)])
    np.testing.assert_array_equal(gx, [0, 12])


SECOND_ORDER = [op for op in OPS if op.name not in ("psi",)]


@pytest.mark.parametrize("op", SECOND_ORDER, ids=lambda op: op.name)
def test_second_derivative(op):
    n = _nin(op)

    def first(*xs):
        gs = grad(T.sum(op(*xs)), list(xs))
        return sum(g * (k + 1.5) for k, g in enumerate(gs))
    shapes = [(3, 1), (1, 4)][:n] if n == 2 else [(2, 3)]
    verify_grad(first, _point(op, shapes), rng=RNG)


def test_psi_second_derivative_is_a_clear_error():
    x = T.dvector("x")
    g = grad(T.sum(T.psi(x)), x)
    with pytest.raises(GradientError, match="TriGamma|tri_gamma"):
        grad(T.sum(g), x)


@pytest.mark.parametrize("fun", [T.tanh, T.exp, lambda a: a * a / (1 + a), T.sigmoid,
                                 lambda a: T.log(a) * T.sqrt(a)], ids=range(5))
def test_verify_grad_float32(fun):
    verify_grad(fun, [RNG.uniform(0.3, 1.5, size=(4, 5)).astype("float32")], rng=RNG)


class BadExp(Op):
    """exp with a gradient that is off by a factor 1.01 on the second input (test op)."""

    def make_node(self, x, y):
        x, y = T.as_tensor_variable(x), T.as_tensor_variable(y)
        return Apply(self, [x, y], [x.type()])

    def perform(self, node, inputs, out):
        out[0][0] = np.exp(inputs[0]) * inputs[1]

    def L_op(self, inputs, outputs, output_grads):
        (x, y), (z,), (gz,) = inputs, outputs, output_grads
        return [gz * z, gz * T.exp(x) * 1.01]


def test_verify_grad_reports_the_error():
    pt = [RNG.uniform(size=(3, 2)), RNG.uniform(size=(3, 2))]
    with pytest.raises(GradientCheckError) as e:
        verify_grad(lambda a, b: BadExp()(a, b), pt, rng=RNG)
    err = e.value
    assert isinstance(err, AssertionError)
    assert err.arg == 1 and err.shape == (3, 2)
    assert err.abs_err > 1e-4 and err.rel_err > 1e-4
    assert "input 1" in str(err) and "abs. error" in str(err) and "rel. error" in str(err)
    assert verify_grad.E_grad is GradientCheckError
    # loose enough tolerances accept it
    verify_grad(lambda a, b: BadExp()(a, b), pt, rng=RNG, abs_tol=0.05, rel_tol=0.05)


def test_verify_grad_rejects_integer_points():
    with pytest.raises(TypeError, match="floating"):
        verify_grad(T.exp, [np.arange(3)])
