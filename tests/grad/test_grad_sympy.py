"""Every scalar op's derivative rule (its L_op) against sympy.diff, and the sympy bridges.

For each elementwise op of ops/math.py, on 0-d float64 inputs:
- the compiled symgraph gradient equals sympy's derivative of ``to_sympy(out)`` at random
  points of the op's domain;
- ``to_sympy(grad graph)`` (the rule, symbolically) equals sympy's derivative there too.
Piecewise-constant pieces (floor inside mod, sign, comparisons) have derivative 0 away from
their jumps: DiracDelta terms and derivatives of floor/ceiling are taken as 0.
"""
import math

import numpy as np
import pytest
import sympy as sp

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad
from symgraph.ops import math as M
from symgraph.ops.elemwise import Elemwise
from symgraph.sympy import from_sympy, to_sympy

RNG = np.random.default_rng(3)

# (low, high) for each input of the ops whose default (0.2, 0.9) is outside the domain
DOMAINS = {
    "Arccosh": [(1.2, 3.0)],
    "Mod": [(2.1, 4.9), (0.7, 1.9)],
    "IntDiv": [(2.1, 4.9), (0.7, 1.9)],
    "Clip": [(0.0, 3.0), (0.5, 1.0), (2.0, 2.5)],
    "Pow": [(0.3, 2.0), (-1.5, 1.5)],
    "Gamma": [(0.3, 4.0)],
    "Gammaln": [(0.3, 4.0)],
    "Psi": [(0.3, 4.0)],
    "Floor": [(-3.0, 3.0)], "Ceil": [(-3.0, 3.0)], "Trunc": [(-3.0, 3.0)],
    "Round": [(-3.0, 3.0)], "Sgn": [(-3.0, 3.0)], "Abs": [(-3.0, 3.0)],
    "Maximum": [(-1.0, 1.0), (-1.0, 1.0)], "Minimum": [(-1.0, 1.0), (-1.0, 1.0)],
    "Arctan2": [(-1.0, 1.0), (-1.0, 1.0)],
    "Sinh": [(-2.0, 2.0)], "Tanh": [(-2.0, 2.0)], "Sigmoid": [(-3.0, 3.0)],
    "Softplus": [(-3.0, 3.0)], "Erfinv": [(-0.8, 0.8)],
}
# no derivative rule by design (integers, bits, tests, complex parts, trigamma)
NO_RULE = {"AND", "OR", "XOR", "Invert", "IsNan", "IsInf", "Real", "Imag", "Conj", "TriGamma"}


def _elemwise_ops():
    seen, out = set(), []
    for name in sorted(M.__all__):
        op = getattr(M, name)
        if isinstance(op, Elemwise) and type(op.scalar_op) not in seen:
            seen.add(type(op.scalar_op))
            out.append(op)
    out.append(M._clip)
    out.append(M._cast_op("float64"))
    return out


def _nin(op):
    return 2 if op.scalar_op.nin == -1 else op.scalar_op.nin


def _float_op(op):
    try:
        return op.scalar_op.out_dtype(*["float64"] * _nin(op)) == "float64"
    except TypeError:
        return False


# comparisons give bool: their (zero) gradients are tested further down
OPS = [op for op in _elemwise_ops()
       if type(op.scalar_op).__name__ not in NO_RULE and _float_op(op)]


def _zero_pieces(expr):
    """Derivatives of piecewise-constant functions are 0 away from the jumps."""
    expr = expr.replace(sp.DiracDelta, lambda *a: sp.S.Zero)
    expr = expr.replace(
        lambda e: isinstance(e, (sp.Derivative, sp.Subs)) and e.has(sp.floor, sp.ceiling),
        lambda e: sp.S.Zero)
    return expr.doit()


def _differentiable_form(expr):
    # sympy does not differentiate Mod; write it with floor
    return expr.replace(sp.Mod, lambda a, b: a - b * sp.floor(a / b))


def _value(expr, subs):
    v = complex(expr.evalf(subs=subs))
    assert abs(v.imag) < 1e-12, (expr, v)
    return v.real


@pytest.mark.parametrize("op", OPS, ids=lambda op: type(op.scalar_op).__name__)
def test_rule_matches_sympy(op):
    name = type(op.scalar_op).__name__
    nin = _nin(op)
    if name == "Switch":
        xs = [T.tensor("bool", shape=(), name="c")] + \
             [T.dscalar(n) for n in ("a", "b")]
    else:
        xs = [T.dscalar(f"x{i}") for i in range(nin)]
    out = op(*xs)
    syms = {x: sp.Symbol(x.name, real=True) if x.dtype != "bool" else sp.Symbol(x.name)
            for x in xs}
    expr = _differentiable_form(to_sympy(out, symbols=syms))
    diff_vars = [x for x in xs if x.dtype == "float64"]
    grads = grad(out, diff_vars)
    f = symgraph.function(xs, grads, mode="py", on_unused_input="ignore")
    domains = DOMAINS.get(name, [(0.2, 0.9)] * nin)
    for _ in range(4):
        if name == "Switch":
            point = [np.bool_(RNG.random() > 0.5), RNG.uniform(-1, 1), RNG.uniform(-1, 1)]
        else:
            point = [RNG.uniform(lo, hi) for lo, hi in domains]
        subs = {syms[x]: (sp.true if isinstance(p, np.bool_) and p else
                          sp.false if isinstance(p, np.bool_) else sp.Float(p, 30))
                for x, p in zip(xs, point)}
        got = f(*point)
        for x, g_val, g_var in zip(diff_vars, got, grads):
            want = _value(_zero_pieces(sp.diff(expr, syms[x])), subs)
            assert np.isclose(float(g_val), want, rtol=1e-7, atol=1e-9), \
                (name, x.name, point, float(g_val), want)
            # the rule itself, as a sympy expression
            rule = _value(to_sympy(g_var, symbols=syms), subs)
            assert math.isclose(rule, want, rel_tol=1e-9, abs_tol=1e-12), (name, rule, want)


@pytest.mark.parametrize("op", [M.eq, M.lt, M.ge, M.floor, M.ceil, M.trunc, M.sgn, M.round,
                                M.int_div], ids=str)
def test_piecewise_constant_ops_have_zero_gradient(op):
    xs = [T.dscalar(f"x{i}") for i in range(_nin(op))]
    out = T.cast(op(*xs), "float64") * 3.0
    gs = grad(out, xs)
    point = RNG.uniform(0.5, 2.5, size=len(xs))
    vals = symgraph.function(xs, gs, mode="py", on_unused_input="ignore")(*point)
    assert all(float(v) == 0.0 for v in vals)
    assert all(g.dtype == "float64" for g in gs)


def test_from_sympy_values_and_gradient():
    a, b = sp.symbols("a b", real=True)
    x, y = T.dvectors("x", "y")
    e = (sp.exp(a) * sp.sin(b) + sp.Piecewise((a, a > 0), (b ** 2, True))
         + sp.sqrt(a ** 2 + 1) + sp.log(a + 3, 2) + sp.Max(a, b) + 1 / (b + 2) + sp.pi)
    z = from_sympy(e, {a: x, b: y})
    xv, yv = RNG.uniform(-1, 1, 5), RNG.uniform(-1, 1, 5)
    f = symgraph.function([x, y], [z, grad(z.sum(), x)], mode="py")
    want = (np.exp(xv) * np.sin(yv) + np.where(xv > 0, xv, yv ** 2) + np.sqrt(xv ** 2 + 1)
            + np.log2(xv + 3) + np.maximum(xv, yv) + 1 / (yv + 2) + np.pi)
    val, gx = f(xv, yv)
    np.testing.assert_allclose(val, want, rtol=1e-12)
    np.testing.assert_allclose(gx, [float(sp.diff(e, a).subs({a: p, b: q}).evalf())
                                    for p, q in zip(xv, yv)], rtol=1e-9)


def test_from_sympy_scalar_gradient_and_unmapped_symbol():
    a = sp.Symbol("a")
    s = T.dscalar("s")
    z = from_sympy(sp.tanh(a) ** 3 + sp.polygamma(0, a) + sp.loggamma(a), {a: s})
    g = grad(z, s)
    val = symgraph.function([s], g, mode="py")(1.3)
    want = float(sp.diff(sp.tanh(a) ** 3 + sp.polygamma(0, a) + sp.loggamma(a), a)
                 .subs(a, 1.3).evalf())
    assert np.isclose(val, want, rtol=1e-9)
    with pytest.raises(KeyError, match="b"):
        from_sympy(a + sp.Symbol("b"), {a: s})


def test_to_sympy_round_trip_and_non_elementwise():
    x, y = T.dscalars("x", "y")
    e = T.exp(x) * y + T.switch(T.gt(x, 0), x, y) / 2 + T.sigmoid(x) - T.log1p(y ** 2)
    s = to_sympy(e)
    back = from_sympy(s, {sp.Symbol("x", real=True): x, sp.Symbol("y", real=True): y})
    f = symgraph.function([x, y], [e, back], mode="py")
    for p in RNG.uniform(-2, 2, size=(4, 2)):
        v1, v2 = f(*p)
        assert np.isclose(v1, v2, rtol=1e-12)
    # the gradient graph converts too, and agrees with sympy symbolically
    ys = sp.Symbol("y", real=True)
    assert sp.simplify(sp.diff(s, ys) - to_sympy(grad(e, y))) == 0
    m = T.dmatrix("m")
    with pytest.raises(NotImplementedError, match="not elementwise"):
        to_sympy(m.sum() * 2)
