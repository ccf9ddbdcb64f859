"""Rop (J·v) and Lop (v·J) against finite differences, on random graphs mixing elementwise
ops, reductions, broadcasting, dimshuffle and indexing, and on ops with and without their
own R_op."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import DisconnectedInputError, GradientError
from symgraph.gradient import (Lop, Rop, grad, grad_scale, hessian_vector_product,
                               jacobian)
from symgraph.graph import Apply, Op

RNG = np.random.default_rng(17)
H = 1e-6


def fn(inputs, outputs):
    return symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")


def numeric_jacobian(f, values):
    """d f / d values[k] as arrays of shape out.shape + values[k].shape (central diffs)."""
    out = np.asarray(f(*values))
    jacs = []
    for k, v in enumerate(values):
        J = np.zeros(out.shape + v.shape)
        for idx in np.ndindex(v.shape):
            up = [a.copy() for a in values]
            down = [a.copy() for a in values]
            up[k][idx] += H
            down[k][idx] -= H
            J[(Ellipsis,) + idx] = (np.asarray(f(*up)) - np.asarray(f(*down))) / (2 * H)
        jacs.append(J)
    return out, jacs


def _contract_in(J, v, out_ndim):
    # J: out.shape + in.shape, v: in.shape -> out.shape
    return np.tensordot(J, v, axes=v.ndim) if v.ndim else J * v


def _contract_out(u, J, out_ndim):
    # u: out.shape, J: out.shape + in.shape -> in.shape
    return np.tensordot(u, J, axes=out_ndim) if out_ndim else u * J


def check_rop_lop(inputs, out, values, atol=1e-6, rtol=1e-5):
    f = fn(inputs, out)
    y, jacs = numeric_jacobian(f, values)
    vs = [RNG.normal(size=v.shape) for v in values]
    u = RNG.normal(size=y.shape)
    ev = [T.tensor("float64", shape=(None,) * v.ndim) for v in values]
    uv = T.tensor("float64", shape=(None,) * y.ndim)
    jv = Rop(out, inputs, ev)
    vj = Lop(out, inputs, uv)
    got_jv, *got_vj = fn(inputs + ev + [uv], [jv] + vj)(*values, *vs, u)
    want_jv = sum(_contract_in(J, v, y.ndim) for J, v in zip(jacs, vs))
    np.testing.assert_allclose(got_jv, want_jv, atol=atol, rtol=rtol)
    for g, J in zip(got_vj, jacs):
        np.testing.assert_allclose(g, _contract_out(u, J, y.ndim), atol=atol, rtol=rtol)


# -- random graphs ---------------------------------------------------------------------------

UNARY = [T.tanh, T.sin, T.sigmoid, T.softplus, T.arctan, lambda a: T.exp(0.3 * a),
         lambda a: 0.5 * T.sqr(a), lambda a: T.log(1 + T.sqr(a)), T.cos]
BINARY = [T.add, T.mul, T.sub, T.maximum, lambda a, b: a / (1.5 + T.sqr(b))]


def _reduce(rng, a):
    if a.ndim == 0:
        return T.sin(a)
    ax = -1
    kind = rng.integers(5)
    if kind == 0:
        return T.sum(a, axis=ax, keepdims=True)
    if kind == 1:
        return T.max(a, axis=ax, keepdims=True)
    if kind == 2:
        return T.logsumexp(a, axis=ax, keepdims=True)
    if kind == 3:
        return T.prod(1 + 0.1 * a, axis=ax, keepdims=True)
    return T.mean(a, axis=ax, keepdims=True) * 2


def _structure(rng, a):
    if a.ndim == 0:
        return a * 1.5
    kind = rng.integers(3)
    if kind == 0:
        return a[..., ::-1]
    if kind == 1:
        return T.inc_subtensor(a[..., 1:], a[..., :-1] * 0.5)
    return T.set_subtensor(a[..., :1], T.tanh(a[..., :1]))


def random_graph(seed):
    rng = np.random.default_rng(seed)
    x = T.dmatrix("x")
    y = T.dvector("y")
    pool = [x, y]
    for _ in range(7):
        a = pool[rng.integers(len(pool))]
        kind = rng.integers(4)
        if kind == 0:
            new = UNARY[rng.integers(len(UNARY))](a)
        elif kind == 1:
            b = pool[rng.integers(len(pool))]
            new = BINARY[rng.integers(len(BINARY))](a, b)
        elif kind == 2:
            new = _reduce(rng, a)
        else:
            new = _structure(rng, a)
        pool.append(new)
    out = pool[-1] + 0.5 * pool[-2] + 0.1 * x[0, 0] + 0.1 * y[1]
    return [x, y], out


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs(seed):
    inputs, out = random_graph(seed)
    values = [RNG.uniform(-1, 1, size=(3, 4)), RNG.uniform(-1, 1, size=(4,))]
    check_rop_lop(inputs, out, values)


# -- particular cases ----------------------------------------------------------------------

class PlainTwo(Op):
    """(sin(x) * y, x * y**2): a test op with an L_op and no R_op."""

    def make_node(self, x, y):
        x, y = T.as_tensor_variable(x), T.as_tensor_variable(y)
        return Apply(self, [x, y], [x.type(), x.type()])

    def perform(self, node, inputs, out):
        x, y = inputs
        out[0][0] = np.sin(x) * y
        out[1][0] = x * y ** 2

    def L_op(self, inputs, outputs, output_grads):
        (x, y), (ga, gb) = inputs, output_grads
        return [ga * T.cos(x) * y + gb * y ** 2, ga * T.sin(x) + gb * 2 * x * y]


def test_transpose_of_lop_for_op_without_r_op():
    assert PlainTwo.R_op is None
    x, y = T.dvectors("x", "y")
    a, b = PlainTwo()(x, y)
    check_rop_lop([x, y], a * 2 + T.exp(b), [RNG.uniform(size=4), RNG.uniform(size=4)])


def test_ops_with_own_r_op():
    x = T.dmatrix("x")
    out = x.dimshuffle(1, "x", 0) * 2.0
    check_rop_lop([x], out, [RNG.uniform(size=(2, 3))])
    # grad_scale's R_op is the transpose of its L_op (scaled), so Rop and Lop agree
    v = T.dmatrix("v")
    jv = fn([x, v], Rop(grad_scale(x, 3.0), x, v))(np.ones((2, 2)), np.ones((2, 2)))
    np.testing.assert_array_equal(jv, np.full((2, 2), 3.0))


def test_rop_lop_lists_and_shapes():
    x, y = T.dvectors("x", "y")
    f1, f2 = T.sin(x) * y, T.sum(x * x)
    vx, vy, u1, u2 = T.dvectors("vx", "vy", "u1", "u2")
    r = Rop([f1, f2], [x, y], [vx, vy])
    assert isinstance(r, list) and r[1].ndim == 0
    xv, yv, a, b, c = (RNG.normal(size=3) for _ in range(5))
    r1, r2 = fn([x, y, vx, vy], r)(xv, yv, a, b)
    np.testing.assert_allclose(r1, np.cos(xv) * a * yv + np.sin(xv) * b)
    np.testing.assert_allclose(r2, np.sum(2 * xv * a))
    u2s = T.dscalar("u2s")
    lx, ly = Lop([f1, f2], [x, y], [u1, u2s])
    g1, g2 = fn([x, y, u1, u2s], [lx, ly])(xv, yv, c, 2.0)
    np.testing.assert_allclose(g1, c * np.cos(xv) * yv + 2.0 * 2 * xv)
    np.testing.assert_allclose(g2, c * np.sin(xv))
    with pytest.raises(ValueError, match="dimensions"):
        Rop(f1, x, T.dmatrix())


def test_rop_disconnected_and_integer_and_no_gradient():
    x, y = T.dvectors("x", "y")
    v = T.dvector("v")
    with pytest.raises(DisconnectedInputError):
        Rop(T.exp(y), x, v)
    z = Rop(T.exp(y), x, v, disconnected_outputs="ignore")
    np.testing.assert_array_equal(fn([y], z)(np.ones(2)), [0, 0])
    i = T.ivector("i")
    r = Rop(T.exp(x) * i, [x, i], [v, T.ivector()])
    np.testing.assert_allclose(fn([x, i, v], r)(np.zeros(2), np.array([2, 3], "int32"),
                                                np.ones(2)), [2, 3])

    class NoGrad(PlainTwo):
        def L_op(self, inputs, outputs, output_grads):
            raise NotImplementedError

    with pytest.raises(GradientError, match="NoGrad"):
        Rop(NoGrad()(x, y)[0], x, v)


def test_forward_over_reverse_hessian_vector_product():
    x, p = T.dvectors("x", "p")
    cost = T.sum(T.tanh(x) ** 3) + T.sum(x[:-1] * x[1:])
    g = grad(cost, x)
    hv_rop = Rop(g, x, p)
    hv_lop = hessian_vector_product(cost, x, p)
    H = jacobian(g, x)
    xv, pv = RNG.uniform(-1, 1, 5), RNG.normal(size=5)
    a, b, Hv = fn([x, p], [hv_rop, hv_lop, H])(xv, pv)
    np.testing.assert_allclose(a, Hv @ pv, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, Hv @ pv, rtol=1e-10, atol=1e-12)


def test_rop_through_jacobian():
    x = T.dvector("x")
    J = jacobian(T.sin(x) * T.sum(x), x)
    check_rop_lop([x], J, [RNG.uniform(-1, 1, 3)])
