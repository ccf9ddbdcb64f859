"""Rules for elementwise arithmetic: algebra (canonicalize), numerical stability
(stabilize) and cheaper spellings (specialize).

Rules that would change a result beyond rounding do not fire: ``x * 0`` and ``x - x`` are
only zero for integers (for floats, inf and NaN give NaN), and the stabilizations only
rewrite float computations (an integer ``1 + x`` may wrap, and ``log1p(x)`` would not).
"""
from __future__ import annotations

import numpy as np

from ...ops import math as M
from ...ops import scalar as S
from ...ops.elemwise import Elemwise
from ...tensor.var import TensorConstant
from ...types import TensorType, is_bool, is_float, is_int
from ..engine import local_rule, rule
from ..pattern import C, X, Y, pat
from ..utils import const_like, const_value, fit, is_const, is_elemwise, scalar_op_of

BOTH = ("canonicalize", "stabilize")
# constants that canonicalize's rewrites reveal are folded by the merge pass that follows
# it (e.g. the factored-out 0.5 and 2 of the Hessian's identity term, E * 0.5 * 2), so the
# constant-combining rules run again in specialize
CONSTANT_PHASES = ("canonicalize", "specialize")


def _as(v, dtype):
    """`v` computed in `dtype` (a cast node, or a converted constant)."""
    if v.dtype == dtype:
        return v
    if isinstance(v, TensorConstant):
        return TensorConstant(TensorType(dtype, v.type.shape), v.data.astype(dtype))
    return M.cast(v, dtype)


def _out(node):
    return node.outputs[0]


# -- canonicalize: neutral elements, negation, flattening -----------------------------------

@local_rule("canonicalize", M.add, name="add_zero", tags=("neutral",))
def add_zero(fgraph, node):
    """x + 0 -> x."""
    kept = [i for i in node.inputs if not is_const(i, 0)]
    if len(kept) == len(node.inputs):
        return None
    kept = kept or node.inputs[:1]
    new = kept[0] if len(kept) == 1 else M.add(*kept)
    out = fit(new, _out(node), node.inputs)
    return None if out is None else [out]


@local_rule("canonicalize", M.mul, name="mul_one", tags=("neutral",))
def mul_one(fgraph, node):
    """x * 1 -> x."""
    kept = [i for i in node.inputs if not is_const(i, 1)]
    if len(kept) == len(node.inputs):
        return None
    kept = kept or node.inputs[:1]
    new = kept[0] if len(kept) == 1 else M.mul(*kept)
    out = fit(new, _out(node), node.inputs)
    return None if out is None else [out]


@local_rule("canonicalize", M.mul, name="mul_zero_int")
def mul_zero_int(fgraph, node):
    """x * 0 -> 0 for integers and booleans (a float x could be inf or NaN)."""
    out = _out(node)
    if not (is_int(out.dtype) or is_bool(out.dtype)):
        return None
    if not any(is_const(i, 0) for i in node.inputs):
        return None
    new = fit(const_like(0, out.dtype), out, node.inputs)
    return None if new is None else [new]


@local_rule("canonicalize", M.mul, name="mul_minus_one")
def mul_minus_one(fgraph, node):
    """-1 * x -> -x."""
    if len(node.inputs) != 2 or is_bool(_out(node).dtype):
        return None
    a, b = node.inputs
    if is_const(b, -1):
        a, b = b, a
    if not is_const(a, -1) or const_value(b) is not None:
        return None
    out = fit(M.neg(_as(b, _out(node).dtype)), _out(node), node.inputs)
    return None if out is None else [out]


rule("canonicalize", pat(M.neg, pat(M.neg, X)), lambda x: x, name="neg_neg")
rule("canonicalize", pat(M.sub, X, 0), lambda x: x, name="sub_zero", tags=("neutral",))
rule("canonicalize", pat(M.true_div, X, 1), lambda x: x, name="div_one", tags=("neutral",))
rule("canonicalize", pat(M.pow, X, 1), lambda x: x, name="pow_one", tags=("neutral",))


@rule("canonicalize", pat(M.sub, 0, X), name="zero_sub")
def zero_sub(x, node):
    """0 - x -> -x."""
    if is_bool(x.dtype):
        return None
    return M.neg(_as(x, _out(node).dtype))


@rule("canonicalize", pat(M.pow, X, 0), name="pow_zero")
def pow_zero(x, node):
    """x ** 0 -> 1 (numpy gives 1 for every x, NaN included)."""
    return const_like(1, _out(node).dtype)


@rule("canonicalize", pat(M.sub, X, X), name="sub_self")
def sub_self(x, node):
    """x - x -> 0 for integers (for floats, inf - inf is NaN)."""
    if not is_int(_out(node).dtype):
        return None
    return M.zeros_like(x, dtype=_out(node).dtype)


@rule("canonicalize", pat(M.sub, X, pat(M.neg, Y)), name="sub_neg")
def sub_neg(x, y, node):
    """x - (-y) -> x + y."""
    dt = _out(node).dtype
    if is_bool(x.dtype) or is_bool(y.dtype):
        return None
    return M.add(_as(x, dt), _as(y, dt))


@rule("canonicalize", pat(M.add, X, pat(M.neg, Y)), name="add_neg")
def add_neg(x, y, node):
    """x + (-y) -> x - y."""
    dt = _out(node).dtype
    if is_bool(x.dtype) or is_bool(y.dtype) or const_value(x) is not None:
        return None
    return M.sub(_as(x, dt), _as(y, dt))


def _flatten(op_inst):
    sop_cls = type(op_inst.scalar_op)

    def flatten(fgraph, node):
        out = _out(node)
        new_inputs, grew = [], False
        for i in node.inputs:
            inner = i.owner
            if is_elemwise(i, sop_cls) and i.dtype == out.dtype and \
                    len(fgraph.clients.get(i, ())) == 1 and not fgraph.is_output(i):
                new_inputs.extend(inner.inputs)
                grew = True
            else:
                new_inputs.append(i)
        if not grew:
            return None
        new = fit(op_inst(*new_inputs), out, node.inputs)
        return None if new is None else [new]
    name = op_inst.name
    flatten.__doc__ = (f"{name}(a, {name}(b, c)) -> {name}(a, b, c) when the inner result has "
                       f"the same dtype and no other reader.")
    return flatten


local_rule("canonicalize", M.add, name="add_flatten", tags=("flatten",))(_flatten(M.add))
local_rule("canonicalize", M.mul, name="mul_flatten", tags=("flatten",))(_flatten(M.mul))


def _combine_constants(op_inst, np_fn, unit):
    def combine(fgraph, node):
        out = _out(node)
        consts = [i for i in node.inputs if isinstance(i, TensorConstant)]
        if len(consts) < 2 or len(consts) == len(node.inputs):
            return None
        others = [i for i in node.inputs if not isinstance(i, TensorConstant)]
        value = consts[0].data.astype(out.dtype)
        for c in consts[1:]:
            value = np_fn(value, c.data.astype(out.dtype))
        value = np.asarray(value, dtype=out.dtype)
        if (value == unit).all():
            # the neutral element: left out (fit restores a dimension it broadcast)
            new = others[0] if len(others) == 1 else op_inst(*others)
        else:
            new = op_inst(*others, TensorConstant(TensorType(out.dtype, value.shape), value))
        new = fit(new, out, node.inputs)
        return None if new is None else [new]
    combine.__doc__ = (f"{op_inst.name}(x, c1, c2) -> {op_inst.name}(x, c) with the constants "
                       f"combined (in the result's dtype), or x when c is {unit}.")
    return combine


local_rule(CONSTANT_PHASES, M.add, name="add_constants")(_combine_constants(M.add, np.add, 0))
local_rule(CONSTANT_PHASES, M.mul, name="mul_constants")(
    _combine_constants(M.mul, np.multiply, 1))


@local_rule("canonicalize", M.true_div, name="div_div_constants")
def div_div_constants(fgraph, node):
    """(x / a) / b -> x / (a * b) for float constants a, b (a finite, non-zero product)."""
    out = _out(node)
    inner, b = node.inputs
    if not is_float(out.dtype) or not is_elemwise(inner, S.TrueDiv) or inner.dtype != out.dtype:
        return None
    x, a = inner.owner.inputs
    va, vb = const_value(a), const_value(b)
    if va is None or vb is None:
        return None
    with np.errstate(all="ignore"):
        prod = np.multiply(np.asarray(va, out.dtype), np.asarray(vb, out.dtype))
    if not np.isfinite(prod) or prod == 0:
        return None
    new = fit(M.true_div(_as(x, out.dtype), const_like(prod, out.dtype)), out,
              [x, a, b])
    return None if new is None else [new]


def _holds_exactly(frm, to) -> bool:
    """Every value of dtype `frm` is a value of `to` (numpy calls int64 -> float64 safe;
    it is not: 2**53 + 1 rounds)."""
    if not np.can_cast(frm, to, "safe"):
        return False
    f, t = np.dtype(frm), np.dtype(to)
    if f.kind in "iu" and t.kind in "fc":
        bits = f.itemsize * 8 - (1 if f.kind == "i" else 0)
        return bits <= np.finfo(t).nmant + 1
    return True


@local_rule("canonicalize", S.Cast, name="cast_cast")
def cast_cast(fgraph, node):
    """cast(cast(x, a), b) -> cast(x, b) when a holds every value of x exactly."""
    (mid,) = node.inputs
    if not is_elemwise(mid, S.Cast):
        return None
    (x,) = mid.owner.inputs
    if not _holds_exactly(x.dtype, mid.dtype):
        return None
    out = _out(node)
    new = x if x.dtype == out.dtype else M.cast(x, out.dtype)
    return [new] if new.type == out.type or out.type.is_super(new.type) else None


@local_rule("canonicalize", M.second, name="fill_noop")
def fill_noop(fgraph, node):
    """fill(x, y) -> y when y already has the result's shape."""
    x, y = node.inputs
    out = _out(node)
    if y.type.broadcastable == out.type.broadcastable and \
            (y.type == out.type or out.type.is_super(y.type)):
        return [y]
    return None


@local_rule("canonicalize", M.second, name="fill_of_fill")
def fill_of_fill(fgraph, node):
    """fill(fill(x, y), z) -> fill(x, z), and fill(elemwise(a, b), z) -> fill(a, fill(b, z))
    when nothing else reads the elemwise: only its shape is needed, not its values."""
    x, z = node.inputs
    out = _out(node)
    if is_elemwise(x, S.Second):
        a, b = x.owner.inputs
        new = fit(M.second(a, z), out, [a, b, z])
        return None if new is None else [new]
    sop = scalar_op_of(x.owner)
    if sop is None or isinstance(sop, S.Second) or len(fgraph.clients.get(x, ())) != 1 or \
            fgraph.is_output(x):
        return None
    shaped = [i for i in x.owner.inputs if not all(d == 1 for d in i.type.shape)]
    new = z
    for i in shaped:
        new = M.second(i, new)
    new = fit(new, out, list(x.owner.inputs) + [z])
    return None if new is None else [new]


@local_rule(("canonicalize", "specialize"), Elemwise, name="fill_beside_its_shape")
def fill_beside_its_shape(fgraph, node):
    """f(fill(x, c), x, ...) -> f(c, x, ...): x, read by f itself, already gives the shape
    (the gradient of x**2 is fill(x, 2) * x). Only when x is an input of f: another input
    of the same static shape may differ at run time, where f must fail."""
    if len(node.outputs) != 1 or isinstance(node.op.scalar_op, S.Second):
        return None
    out = node.outputs[0]
    ins = list(node.inputs)
    changed = False
    for k, v in enumerate(ins):
        if is_elemwise(v, S.Second) and v.owner.inputs[0] in node.inputs and \
                v.dtype == v.owner.inputs[1].dtype:
            ins[k] = v.owner.inputs[1]
            changed = True
    if not changed:
        return None
    new = fit(node.op(*ins), out, node.inputs)
    return None if new is None else [new]


@local_rule("canonicalize", M.switch, name="switch_constant")
def switch_constant(fgraph, node):
    """switch(c, a, b) -> a or b when c is constant; switch(c, a, a) -> a."""
    c, a, b = node.inputs
    out = _out(node)
    if a is b:
        new = a
    else:
        v = const_value(c)
        if v is None:
            return None
        new = a if v else b
    new = fit(new, out, node.inputs)
    return None if new is None else [new]


# -- canonicalize: the distributive law, backwards -----------------------------------------
#
# Second derivatives spell products as sums of terms sharing a factor: the batched Hessian of
# W6 computes -(X*a)*b - (X*a)*b + X*c*d over an n x n matrix X where a..d are rows, and
# fusion makes that one loop with many products per element. Factored, X*(c*d - 2*a*b), the
# rows combine in a loop of their own size (fusion keeps loops of one shape) and the n x n
# loop has one product; the identity's E*0.5 + E*0.5 becomes E. It changes rounding, and
# like add_flatten's regrouping, where an intermediate overflows; with an infinite factor
# a term inf * 0 (NaN) no longer shows when the sum of the cofactors is not 0. So it only
# fires where it pays: when the cofactors' sum runs in a smaller loop than the result.

def _only_reader(fgraph, v, node):
    """True when `node` is the only reader of `v` (it may read it more than once)."""
    clients = fgraph.clients.get(v, ())
    return not fgraph.is_output(v) and all(c[0] is node for c in clients)


def _terms(node):
    """The node's terms with their signs: add(a, b) -> [(a, +), (b, +)], sub -> (b, -)."""
    if is_elemwise(node.outputs[0], S.Sub):
        a, b = node.inputs
        return [(a, False), (b, True)]
    return [(t, False) for t in node.inputs]


def _smaller(v, out):
    """`v` broadcasts along a dimension the result does not: it runs in a smaller loop."""
    shape = (1,) * (out.ndim - v.ndim) + tuple(v.type.shape)
    return any(s == 1 and o != 1 for s, o in zip(shape, out.type.shape))


def _size_rank(v):
    """How many dimensions of `v` are not broadcast (a bigger factor saves more work)."""
    return sum(1 for d in v.type.shape if d != 1)


@local_rule("canonicalize", M.add, M.sub, name="add_common_factor", tags=("factor",))
def add_common_factor(fgraph, node):
    """x*a + x*b (+ c) -> x*(a + b) (+ c), looking through negations and nested products
    that only this sum reads; x - x*b -> x*(1 - b). The factor shared by the most terms
    (the largest on ties) is taken out, with every other factor those terms share."""
    out = node.outputs[0]
    dtype = out.dtype
    if is_bool(dtype) or len(node.inputs) < 2:
        return None
    signed = _terms(node)
    terms = []
    for t, neg in signed:
        own = t.dtype == dtype and _only_reader(fgraph, t, node)
        factors, negative = _factors(fgraph, t, dtype) if own else ([t], False)
        terms.append((factors, negative != neg))
    # the factor in the most terms (each term counted once)
    counts = {}
    for factors, _ in terms:
        for f in {id(f): f for f in factors}.values():
            n, _f = counts.get(id(f), (0, f))
            counts[id(f)] = (n + 1, f)
    best = max(counts.values(), key=lambda c: (c[0], _size_rank(c[1])), default=(0, None))
    if best[0] < 2:
        return None
    key = best[1]
    group = [k for k, (factors, _) in enumerate(terms) if any(f is key for f in factors)]
    # every factor all terms of the group share (with multiplicity)
    common = list(terms[group[0]][0])
    for k in group[1:]:
        rest = list(terms[k][0])
        kept = []
        for f in common:
            for j, g in enumerate(rest):
                if g is f:
                    kept.append(f)
                    del rest[j]
                    break
        common = kept
    rests = []
    for k in group:
        rest = list(terms[k][0])
        for f in common:
            _remove_identical(rest, f)
        val = _product(rest, dtype)
        if terms[k][1]:
            val = _fold(M.mul, np.multiply, [val, const_like(-1, dtype)], dtype, 1) \
                if isinstance(val, TensorConstant) else M.neg(val)
        rests.append(val)
    inner = _fold(M.add, np.add, rests, dtype, 0)
    if not _smaller(inner, out):
        # the same loop either way: fewer products per element do not pay for the changed
        # rounding (and an inf factor gives inf where a term's inf * 0 gave NaN)
        return None
    new = _product(common + [inner], dtype)
    others = [M.neg(t) if neg else t for k, (t, neg) in enumerate(signed) if k not in group]
    if others:
        new = M.add(new, *others)
    new = fit(new, out, node.inputs)
    return None if new is None else [new]


def _remove_identical(items, v):
    for j, u in enumerate(items):
        if u is v:
            del items[j]
            return


def _fold(op_inst, np_fn, parts, dtype, unit):
    """op_inst(*parts) in `dtype`, the constants among `parts` combined into one (so that
    ``E*0.5*2`` does not wait for another pass of mul_constants to become ``E``)."""
    value, others = None, []
    for p in parts:
        if isinstance(p, TensorConstant):
            v = p.data.astype(dtype)
            value = v if value is None else np_fn(value, v)
        else:
            others.append(_as(p, dtype))
    if value is not None and (not others or not (value == unit).all()):
        others.append(TensorConstant(TensorType(dtype, value.shape), np.asarray(value, dtype)))
    if not others:
        return const_like(unit, dtype)
    return others[0] if len(others) == 1 else op_inst(*others)


def _product(factors, dtype):
    """The product of `factors` computed in `dtype` (1 for none)."""
    return _fold(M.mul, np.multiply, factors, dtype, 1)


# -- both canonicalize and stabilize (FAST_COMPILE runs only the second) ---------------------

@rule(BOTH, pat(M.log, pat(M.exp, X)), name="log_exp")
def log_exp(x):
    """log(exp(x)) -> x (real x; exp could overflow)."""
    return x if is_float(x.dtype) or is_int(x.dtype) else None


def _factors(fgraph, v, dtype, top=True):
    """The factors of a product tree and whether it is negated, looking into inner products
    and negations of the same dtype that only this tree reads (no flattening needed first:
    FAST_COMPILE has no canonicalize)."""
    out, negative, stack = [], False, [(v, top)]
    while stack:
        u, is_top = stack.pop()
        inner = u.dtype == dtype and (
            is_top or (len(fgraph.clients.get(u, ())) == 1 and not fgraph.is_output(u)))
        if inner and is_elemwise(u, S.Mul):
            stack.extend((i, False) for i in reversed(u.owner.inputs))
        elif inner and is_elemwise(u, S.Neg):
            negative = not negative
            stack.append((u.owner.inputs[0], False))
        else:
            out.append(u)
    return out, negative


def _one_plus_exp(d):
    """x when d is 1 + exp(x), else None."""
    if is_elemwise(d, S.Add) and len(d.owner.inputs) == 2:
        a, b = d.owner.inputs
        if is_const(b, 1):
            a, b = b, a
        if is_const(a, 1) and is_elemwise(b, S.Exp):
            return b
    return None


@local_rule(BOTH, M.mul, name="mul_div_cancel", tags=("gradient_stability",))
def mul_div_cancel(fgraph, node):
    """(a / d) * d -> a, and (a / (1 + exp(x))) * exp(x) -> a * sigmoid(x): the forms the
    gradients of log, log1p and division take. Without it 0/0 (d = sigmoid(-800) = 0) or
    0 * inf (exp(800)) gives NaN where the limit is finite."""
    out = _out(node)
    if not is_float(out.dtype):
        return None
    factors, negative = _factors(fgraph, out, out.dtype)
    for k, v in enumerate(factors):
        if not is_elemwise(v, S.TrueDiv):
            continue
        a, d = v.owner.inputs
        e = _one_plus_exp(d)
        for j, w in enumerate(factors):
            if j == k:
                continue
            if w is d:
                keep = [_as(a, out.dtype)]
            elif e is not None and w is e:
                keep = [_as(a, out.dtype), _as(M.sigmoid(e.owner.inputs[0]), out.dtype)]
            else:
                continue
            rest = [u for m, u in enumerate(factors) if m not in (j, k)]
            parts = [p for p in keep + rest if not is_const(p, 1)] or keep[:1]
            new = parts[0] if len(parts) == 1 else M.mul(*parts)
            new = fit(M.neg(new) if negative else new, out, factors + [a, d])
            return None if new is None else [new]
    return None


@rule(BOTH, pat(M.true_div, pat(M.exp, X), pat(M.add, 1, pat(M.exp, X))),
      name="sigmoid_of_exp_ratio")
def sigmoid_of_exp_ratio(x, node):
    """exp(x) / (1 + exp(x)) -> sigmoid(x) (inf / inf for large x)."""
    if not is_float(_out(node).dtype):
        return None
    return M.sigmoid(_as(x, _out(node).dtype))


# -- stabilize ------------------------------------------------------------------------------

@local_rule("stabilize", M.log, name="log1p_of_add_one", tags=("log1p",))
def log1p_of_add_one(fgraph, node):
    """log(1 + x) -> log1p(x);  log(1 - x) -> log1p(-x)."""
    (s,) = node.inputs
    out = _out(node)
    if not is_float(s.dtype) or s.owner is None:
        return None
    sop = scalar_op_of(s.owner)
    args = s.owner.inputs
    if isinstance(sop, S.Add):
        ones = [k for k, i in enumerate(args) if is_const(i, 1)]
        if not ones:
            return None
        rest = [_as(i, s.dtype) for k, i in enumerate(args) if k != ones[0]]
        inner = rest[0] if len(rest) == 1 else M.add(*rest)
    elif isinstance(sop, S.Sub) and is_const(args[0], 1):
        inner = M.neg(_as(args[1], s.dtype))
    else:
        return None
    new = fit(M.log1p(_as(inner, s.dtype)), out, list(args))
    return None if new is None else [new]


@rule("stabilize", pat(M.log1p, pat(M.exp, X)), name="softplus_of_log1p_exp",
      tags=("softplus",))
def softplus_of_log1p_exp(x, node):
    """log1p(exp(x)) -> softplus(x) (log(1 + exp(800)) is 800, not inf)."""
    if not is_float(_out(node).dtype):
        return None
    return M.softplus(_as(x, _out(node).dtype))


def _neg_of(x):
    """-x, cancelling a negation already there."""
    if is_elemwise(x, S.Neg):
        return x.owner.inputs[0]
    return M.neg(x)


@rule("stabilize", pat(M.log, pat(M.sigmoid, X)), name="log_sigmoid", tags=("softplus",))
def log_sigmoid(x, node):
    """log(sigmoid(x)) -> -softplus(-x)."""
    if not is_float(x.dtype):
        return None
    return M.neg(M.softplus(_neg_of(x)))


@rule("stabilize", pat(M.log1p, pat(M.neg, pat(M.sigmoid, X))), name="log1m_sigmoid",
      tags=("softplus",))
def log1m_sigmoid(x, node):
    """log1p(-sigmoid(x)) = log(1 - sigmoid(x)) -> -softplus(x)."""
    if not is_float(x.dtype):
        return None
    return M.neg(M.softplus(x))


@rule("stabilize", pat(M.sub, 1, pat(M.sigmoid, X)), name="one_minus_sigmoid")
def one_minus_sigmoid(x, node):
    """1 - sigmoid(x) -> sigmoid(-x) (no cancellation for large x)."""
    if not is_float(x.dtype) or not is_float(_out(node).dtype):
        return None
    return M.sigmoid(_neg_of(x))


@rule("stabilize", pat(M.true_div, 1, pat(M.add, 1, pat(M.exp, pat(M.neg, X)))),
      name="sigmoid_of_exp")
def sigmoid_of_exp(x, node):
    """1 / (1 + exp(-x)) -> sigmoid(x)."""
    if not is_float(_out(node).dtype):
        return None
    return M.sigmoid(_as(x, _out(node).dtype))


@local_rule("stabilize", M.sub, M.add, name="expm1_of_exp", tags=("expm1",))
def expm1_of_exp(fgraph, node):
    """exp(x) - 1 -> expm1(x);  exp(x) + (-1) -> expm1(x)."""
    out = _out(node)
    if len(node.inputs) != 2 or not is_float(out.dtype):
        return None
    a, b = node.inputs
    sop = scalar_op_of(node)
    if isinstance(sop, S.Add) and is_elemwise(b, S.Exp):
        a, b = b, a
    minus_one = is_const(b, 1) if isinstance(sop, S.Sub) else is_const(b, -1)
    if not (minus_one and is_elemwise(a, S.Exp)):
        return None
    (x,) = a.owner.inputs
    new = fit(M.expm1(_as(x, a.dtype)), out, [a, b])
    return None if new is None else [new]


def _square_base(v):
    """x when v is x**2, sqr(x) or x*x, else None."""
    if v.owner is None:
        return None
    sop = scalar_op_of(v.owner)
    ins = v.owner.inputs
    if isinstance(sop, S.Sqr):
        return ins[0]
    if isinstance(sop, S.Pow) and is_const(ins[1], 2):
        return ins[0]
    if isinstance(sop, S.Mul) and len(ins) == 2 and ins[0] is ins[1]:
        return ins[0]
    return None


@local_rule("stabilize", M.sqrt, name="sqrt_of_square")
def sqrt_of_square(fgraph, node):
    """sqrt(x**2) -> abs(x) (x**2 overflows for |x| > 1e154)."""
    (s,) = node.inputs
    x = _square_base(s)
    if x is None or not is_float(x.dtype) or not is_float(s.dtype):
        return None
    new = fit(M.abs(_as(x, s.dtype)), _out(node), [s])
    return None if new is None else [new]


# -- specialize -----------------------------------------------------------------------------

#: integer exponents up to this size become multiplications
POW_MAX = 16


def _int_power(x, n):
    """x ** n (n >= 1) by repeated squaring."""
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else M.mul(result, base)
        n >>= 1
        if n:
            base = M.sqr(base)
    return result


@rule("specialize", pat(M.pow, X, C), name="pow_specialize", tags=("pow",))
def pow_specialize(x, c, node):
    """x**2 -> sqr(x), x**0.5 -> sqrt(x), x**-1 -> 1/x, x**-0.5 -> 1/sqrt(x), and small
    integer powers -> multiplications (negative ones for floats only: numpy refuses
    negative integer powers of integers)."""
    out = _out(node)
    dt = out.dtype
    if np.iscomplexobj(c) or not np.isfinite(c) or is_bool(x.dtype):
        return None
    c = float(c)
    xb = _as(x, dt)
    floating = is_float(dt)
    if c == 2:
        return M.sqr(xb)
    if c == 0.5 and floating:
        return M.sqrt(xb)
    if c == -0.5 and floating:
        return M.true_div(const_like(1, dt), M.sqrt(xb))
    if c == -1 and floating:
        return M.true_div(const_like(1, dt), xb)
    if c == int(c) and 3 <= abs(c) <= POW_MAX:
        n = int(c)
        if n > 0:
            return _int_power(xb, n)
        if floating:
            return M.true_div(const_like(1, dt), _int_power(xb, -n))
    return None


@rule("specialize", pat(M.mul, X, X), name="mul_self_to_sqr")
def mul_self_to_sqr(x, node):
    """x * x -> sqr(x)."""
    if is_bool(x.dtype):
        return None
    return M.sqr(_as(x, _out(node).dtype))


@local_rule("specialize", M.mul, name="mul_small_factors_together")
def mul_small_factors_together(fgraph, node):
    """X * a * b -> X * (a * b) when a * b runs in a smaller loop than the result (rows or
    columns of a matrix X): fusion keeps loops of one shape, so a * b is then computed once
    per row instead of once per element. Specialize only: canonicalize's mul_flatten would
    undo it."""
    out = _out(node)
    if is_bool(out.dtype) or len(node.inputs) < 3:
        return None
    small = [i for i in node.inputs if _smaller(i, out)]
    if len(small) < 2 or len(small) == len(node.inputs):
        return None
    group = M.mul(*[_as(i, out.dtype) for i in small])
    if not _smaller(group, out):
        return None
    big = [_as(i, out.dtype) for i in node.inputs if not _smaller(i, out)]
    new = fit(M.mul(*big, group), out, node.inputs)
    return None if new is None else [new]
