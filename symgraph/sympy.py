"""Bridges to sympy: ``from_sympy`` builds a symgraph graph from a sympy expression (compiled,
differentiable and elementwise over arrays), ``to_sympy`` turns an elementwise symgraph graph
into a sympy expression.

    import sympy as sp
    a, b = sp.symbols('a b')
    x, y = T.dvectors('x', 'y')
    z = from_sympy(sp.exp(a) * sp.sin(b), {a: x, b: y})     # exp(x) * sin(y), elementwise
    to_sympy(T.exp(x) * y)                                  # y*exp(x)

Both walk the expression with explicit stacks (no recursion), so deep expressions are fine.
sympy is imported when these functions are called, not when symgraph is.
"""
from __future__ import annotations

import numpy as np

from .graph import Constant, Variable, toposort

__all__ = ["from_sympy", "to_sympy"]


def _T():
    from . import tensor
    return tensor


# -- sympy -> symgraph ---------------------------------------------------------------------

def _function_table(sp):
    T = _T()
    from sympy.codegen import cfunctions as cf
    return {
        sp.exp: T.exp, sp.sin: T.sin, sp.cos: T.cos, sp.tan: T.tan,
        sp.asin: T.arcsin, sp.acos: T.arccos, sp.atan: T.arctan,
        sp.sinh: T.sinh, sp.cosh: T.cosh, sp.tanh: T.tanh,
        sp.asinh: T.arcsinh, sp.acosh: T.arccosh, sp.atanh: T.arctanh,
        sp.erf: T.erf, sp.erfc: T.erfc, sp.erfinv: T.erfinv,
        sp.gamma: T.gamma, sp.loggamma: T.gammaln, sp.digamma: T.psi, sp.trigamma: T.tri_gamma,
        sp.Abs: T.abs, sp.sign: T.sgn, sp.floor: T.floor, sp.ceiling: T.ceil,
        sp.atan2: T.arctan2, sp.Mod: T.mod,
        sp.re: T.real, sp.im: T.imag, sp.conjugate: T.conj,
        cf.expm1: T.expm1, cf.log1p: T.log1p, cf.exp2: T.exp2, cf.log2: T.log2,
        cf.log10: T.log10,
        sp.StrictLessThan: T.lt, sp.LessThan: T.le, sp.StrictGreaterThan: T.gt,
        sp.GreaterThan: T.ge, sp.Equality: T.eq, sp.Unequality: T.neq,
        sp.Not: T.invert, sp.Xor: T.xor,
    }


def _number(sp, e):
    if e is sp.true or e is sp.false:
        return bool(e)
    if e.is_Integer:
        return int(e)
    if e.is_real:
        return float(e)
    return complex(e)


def from_sympy(expr, mapping):
    """A symgraph graph computing the sympy expression `expr` elementwise.

    >>> a = sympy.Symbol('a'); x = T.dvector('x')
    >>> y = from_sympy(sympy.sin(a) ** 2, {a: x})        # sin(x) ** 2

    `mapping` gives the symgraph variable (or number, or array) for each free symbol; an
    unmapped symbol raises. Supports arithmetic, powers (square roots, reciprocals), exp/log
    (any base), trigonometric and hyperbolic functions and their inverses, erf/erfc/erfinv,
    gamma/loggamma/digamma/trigamma/polygamma(0|1, .), Abs, sign, floor, ceiling, Min, Max,
    Mod, atan2, relations, And/Or/Not/Xor, Piecewise, pi, E and numbers.
    """
    import sympy as sp
    T = _T()
    table = _function_table(sp)
    mapping = {k: T.as_tensor_variable(v) for k, v in mapping.items()}
    done = {}
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if e in done:
            continue
        if not ready and not e.is_Atom and not isinstance(e, sp.Piecewise):
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in done)
            continue
        if isinstance(e, sp.Piecewise):
            if not ready:
                stack.append((e, True))
                for cond_expr in e.args:
                    stack.extend((a, False) for a in cond_expr if a not in done)
                continue
            done[e] = _piecewise(sp, T, e, done)
            continue
        done[e] = _convert(sp, T, table, e, mapping, done)
    out = done[expr]
    return T.as_tensor_variable(out)


def _piecewise(sp, T, e, done):
    # Piecewise((v1, c1), (v2, c2), ..., (vn, True)): nested switches from the last one
    pairs = list(e.args)
    value, cond = pairs[-1]
    if cond is not sp.true:
        raise ValueError(f"from_sympy: {e} has no default branch (a last condition True)")
    out = done[value]
    for value, cond in reversed(pairs[:-1]):
        out = T.switch(done[cond], done[value], out)
    return out


def _convert(sp, T, table, e, mapping, done):
    if isinstance(e, sp.Symbol):
        if e not in mapping:
            raise KeyError(f"from_sympy: no variable given for the symbol {e}")
        return mapping[e]
    if e is sp.true or e is sp.false or e.is_Number:
        return _number(sp, e)
    if e is sp.pi or e is sp.E or e.is_NumberSymbol:
        return float(e)
    if e is sp.I:
        return 1j
    args = [done[a] for a in e.args]
    if isinstance(e, sp.Add):
        return _fold(T.add, args)
    if isinstance(e, sp.Mul):
        return _fold(T.mul, args)
    if isinstance(e, sp.Pow):
        base, ex = args
        exp_e = e.args[1]
        if exp_e == sp.Rational(1, 2):
            return T.sqrt(base)
        if exp_e == -1:
            return T.reciprocal(base)
        if exp_e == 2:
            return T.sqr(base)
        return T.pow(base, ex)
    if isinstance(e, sp.log):
        if len(args) == 2:
            return T.true_div(T.log(args[0]), T.log(args[1]))
        return T.log(args[0])
    if isinstance(e, sp.Max):
        return _fold(T.maximum, args)
    if isinstance(e, sp.Min):
        return _fold(T.minimum, args)
    if isinstance(e, sp.And):
        return _fold(T.and_, args)
    if isinstance(e, sp.Or):
        return _fold(T.or_, args)
    if isinstance(e, sp.polygamma):
        order = e.args[0]
        if order == 0:
            return T.psi(args[1])
        if order == 1:
            return T.tri_gamma(args[1])
        raise NotImplementedError(f"from_sympy: polygamma of order {order}")
    fn = table.get(type(e)) or table.get(e.func)
    if fn is None:
        raise NotImplementedError(f"from_sympy: no symgraph op for {type(e).__name__} ({e})")
    return fn(*args)


def _fold(fn, args):
    out = args[0]
    for a in args[1:]:
        out = fn(out, a)
    return out


# -- symgraph -> sympy ---------------------------------------------------------------------

def to_sympy(variable, symbols=None):
    """The sympy expression of an elementwise symgraph graph.

    >>> x, y = T.dscalars('x', 'y')
    >>> to_sympy(T.exp(x) * y)          # y*exp(x)

    Graph inputs become ``sympy.Symbol(name)`` (real symbols; `symbols` may give
    {variable: sympy expression} instead); constants must hold one value (broadcast
    scalars). DimShuffle, casts between float types and broadcasting are transparent.
    Raises NotImplementedError for ops that are not elementwise.
    """
    import sympy as sp
    from .ops.elemwise import DimShuffle, Elemwise
    from .grad.ops import _GradOnly
    memo = dict(symbols or {})
    for node in toposort([variable]):
        args = []
        for i in node.inputs:
            if i not in memo:
                memo[i] = _leaf(sp, i)
            args.append(memo[i])
        op = node.op
        if isinstance(op, Elemwise):
            memo[node.outputs[0]] = _scalar_to_sympy(sp, op.scalar_op, args)
        elif isinstance(op, (DimShuffle, _GradOnly)):
            memo[node.outputs[0]] = args[0]
        else:
            raise NotImplementedError(f"to_sympy: {op} is not elementwise; the node was "
                                      f"{node.origin}")
    if variable not in memo:
        memo[variable] = _leaf(sp, variable)
    return memo[variable]


def _leaf(sp, v):
    if isinstance(v, Constant):
        data = np.asarray(v.data)
        if data.size == 0 or not np.all(data == data.reshape(-1)[0]):
            raise NotImplementedError(f"to_sympy: the constant {v!r} holds several values")
        item = data.reshape(-1)[0].item()
        if isinstance(item, bool):
            return sp.true if item else sp.false
        if isinstance(item, int):
            return sp.Integer(item)
        if isinstance(item, float) and item == int(item) and abs(item) < 2 ** 53:
            return sp.Integer(int(item))
        return sp.nsimplify(item) if isinstance(item, float) else sp.sympify(item)
    if isinstance(v, Variable) and v.owner is None:
        name = v.name or v.auto_name
        is_float = str(getattr(v.type, "dtype", "")).startswith("float")
        return sp.Symbol(name, real=True) if is_float else sp.Symbol(name)
    raise NotImplementedError(f"to_sympy: cannot convert {v!r}")


def _scalar_to_sympy(sp, sop, a):
    from sympy.codegen import cfunctions as cf
    name = type(sop).__name__
    unary = {
        "Exp": sp.exp, "Log": sp.log, "Sqrt": sp.sqrt, "Sin": sp.sin, "Cos": sp.cos,
        "Tan": sp.tan, "Arcsin": sp.asin, "Arccos": sp.acos, "Arctan": sp.atan,
        "Sinh": sp.sinh, "Cosh": sp.cosh, "Tanh": sp.tanh, "Arcsinh": sp.asinh,
        "Arccosh": sp.acosh, "Arctanh": sp.atanh, "Erf": sp.erf, "Erfc": sp.erfc,
        "Erfinv": sp.erfinv, "Gamma": sp.gamma, "Gammaln": sp.loggamma,
        "Psi": lambda x: sp.polygamma(0, x), "TriGamma": lambda x: sp.polygamma(1, x),
        "Abs": sp.Abs, "Sgn": sp.sign, "Floor": sp.floor, "Ceil": sp.ceiling,
        "Trunc": lambda x: sp.sign(x) * sp.floor(sp.Abs(x)),
        # numpy rounds ties to even; floor(x + 1/2) differs only at exact ties
        "Round": lambda x: sp.floor(x + sp.Rational(1, 2)),
        "Neg": lambda x: -x, "Sqr": lambda x: x ** 2,
        "Exp2": lambda x: 2 ** x, "Expm1": lambda x: sp.exp(x) - 1,
        "Log1p": lambda x: sp.log(1 + x), "Log2": lambda x: sp.log(x) / sp.log(2),
        "Log10": lambda x: sp.log(x) / sp.log(10),
        "Sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
        "Softplus": lambda x: sp.log(1 + sp.exp(x)),
        "Identity": lambda x: x, "Real": sp.re, "Imag": sp.im, "Conj": sp.conjugate,
        "Invert": sp.Not,
    }
    if name in unary:
        return unary[name](a[0])
    if name == "Add":
        return sp.Add(*a)
    if name == "Mul":
        return sp.Mul(*a)
    if name == "Sub":
        return a[0] - a[1]
    if name == "TrueDiv":
        return a[0] / a[1]
    if name == "IntDiv":
        return sp.floor(a[0] / a[1])
    if name == "Mod":
        return sp.Mod(a[0], a[1])
    if name == "Pow":
        return a[0] ** a[1]
    if name == "Minimum":
        return sp.Min(*a)
    if name == "Maximum":
        return sp.Max(*a)
    if name == "Arctan2":
        return sp.atan2(a[0], a[1])
    rel = {"EQ": sp.Eq, "NEQ": sp.Ne, "LT": sp.Lt, "LE": sp.Le, "GT": sp.Gt, "GE": sp.Ge,
           "AND": sp.And, "OR": sp.Or, "XOR": sp.Xor}
    if name in rel:
        return rel[name](*a)
    if name == "Switch":
        return sp.Piecewise((a[1], a[0]), (a[2], True))
    if name == "Clip":
        return sp.Min(sp.Max(a[0], a[1]), a[2])
    if name == "Second":
        return a[1]
    if name == "Cast":
        if sop.dtype.startswith(("float", "complex")):
            return a[0]
        if sop.dtype == "bool":
            return sp.Ne(a[0], 0)
        return sp.sign(a[0]) * sp.floor(sp.Abs(a[0]))
    raise NotImplementedError(f"to_sympy: no sympy form for the scalar op {name}")
