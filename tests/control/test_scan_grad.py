"""Gradients through scan: verify_grad (finite differences) for a single recurrence, taps
[-2, -1], two outputs, go_backwards, a nested scan, an RNN with non_sequence weights; until;
truncate_gradient; Rop against finite differences and against Lop; Hessian-vector products."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import Lop, Rop, grad, verify_grad
from symgraph.scan_module import until

RNG = np.random.default_rng(1234)
F64 = "float64"


def _zero():
    return T.constant(0.0, dtype=F64)


def test_verify_grad_single_recurrence():
    def fun(x, h0):
        hs, _ = symgraph.scan(lambda v, h: T.tanh(h * 0.9 + v), sequences=x, outputs_info=h0)
        return hs

    verify_grad(fun, [RNG.random((5, 3)), RNG.random(3)], rng=RNG)


def test_verify_grad_taps_minus_two_minus_one():
    def fun(x0, w):
        xs, _ = symgraph.scan(lambda a, b, w: T.sin(a * w) + b * 0.5,
                              outputs_info=dict(initial=x0, taps=[-2, -1]),
                              non_sequences=w, n_steps=6)
        return xs

    verify_grad(fun, [RNG.random((2, 3)), RNG.random(3)], rng=RNG)


def test_verify_grad_sequence_taps():
    def fun(x):
        ys, _ = symgraph.scan(lambda a, b, c: a * b + T.exp(c),
                              sequences=dict(input=x, taps=[-1, 0, 2]))
        return ys

    verify_grad(fun, [RNG.random((7, 2))], rng=RNG)


def test_verify_grad_two_outputs():
    def fun(x, a0, w):
        (a, b), _ = symgraph.scan(lambda v, a, w: [a * T.cos(v) + w, (a * v * w).sum()],
                                  sequences=x, outputs_info=[a0, None], non_sequences=w)
        return a.sum() * 0.3 + b.sum()

    verify_grad(fun, [RNG.random((4, 3)), RNG.random(3), RNG.random(3)], rng=RNG)


def test_verify_grad_go_backwards():
    def fun(x, h0):
        hs, _ = symgraph.scan(lambda v, h: h * v + v ** 2, sequences=x, outputs_info=h0,
                              go_backwards=True)
        return hs

    verify_grad(fun, [RNG.random((5, 2)), RNG.random(2)], rng=RNG)


def test_verify_grad_nested_scan():
    def fun(x, w):
        def outer_step(row, acc, w):
            inner, _ = symgraph.scan(lambda v, h, w: T.tanh(h * w + v), sequences=row,
                                     outputs_info=acc, non_sequences=w)
            return inner[-1]

        hs, _ = symgraph.scan(outer_step, sequences=x, outputs_info=T.zeros_like(w),
                              non_sequences=w)
        return hs

    verify_grad(fun, [RNG.random((3, 4, 2)), RNG.random(2)], rng=RNG)


def test_verify_grad_rnn_with_non_sequence_weights():
    def fun(x, W, U, b, h0):
        hs, _ = symgraph.scan(lambda x_t, h, W, U, b: T.tanh(T.dot(x_t, W) + T.dot(h, U) + b),
                              sequences=x, outputs_info=h0, non_sequences=[W, U, b])
        return hs

    verify_grad(fun, [RNG.random((4, 3)), RNG.random((3, 5)) - 0.5, RNG.random((5, 5)) - 0.5,
                      RNG.random(5), RNG.random(5)], rng=RNG)


def test_verify_grad_shared_weights_and_n_steps():
    def fun(x0):
        w = symgraph.shared(np.array([0.5, -0.3]), name="w")
        xs, _ = symgraph.scan(lambda h: T.sin(h) * w + h, outputs_info=x0, n_steps=5)
        return xs[-1]

    verify_grad(fun, [RNG.random(2)], rng=RNG)


def test_gradient_with_until_uses_the_steps_run():
    x0 = T.dscalar('x0')
    xs, _ = symgraph.scan(lambda h: (h * 2, until(h * 2 > 50)), outputs_info=x0, n_steps=100)
    g = grad(xs[-1], x0)
    f = symgraph.function([x0], [xs, g], mode="py")
    vals, gv = f(1.0)
    assert len(vals) == 6 and gv == 2.0 ** 6


def test_truncate_gradient():
    x = T.dvector('x')
    h0 = T.dscalar('h0')
    w = T.dscalar('w')
    hs, _ = symgraph.scan(lambda v, h, w: h * w + v, sequences=x, outputs_info=h0,
                          non_sequences=w, truncate_gradient=2)
    gx, gh0 = grad(hs[-1], [x, h0])
    f = symgraph.function([x, h0, w], [gx, gh0], mode="py")
    got_x, got_h0 = f(np.ones(5), 1.0, 0.5)
    # only the last 2 steps are backpropagated through
    np.testing.assert_allclose(got_x, [0., 0., 0., 0.5, 1.])
    assert got_h0 == 0.0
    hs_full, _ = symgraph.scan(lambda v, h, w: h * w + v, sequences=x, outputs_info=h0,
                               non_sequences=w, truncate_gradient=10)
    f2 = symgraph.function([x, h0, w], grad(hs_full[-1], [x, h0]), mode="py")
    got_x, got_h0 = f2(np.ones(5), 1.0, 0.5)
    np.testing.assert_allclose(got_x, 0.5 ** np.arange(4, -1, -1))
    assert got_h0 == 0.5 ** 5


def _rnn(x, W, h0):
    hs, _ = symgraph.scan(lambda v, h, W: T.tanh(T.dot(h, W) + v), sequences=x,
                          outputs_info=h0, non_sequences=W)
    return hs


def test_rop_against_finite_differences_and_lop():
    x, W, h0 = T.dmatrix('x'), T.dmatrix('W'), T.dvector('h0')
    vx, vW, vh = T.dmatrix('vx'), T.dmatrix('vW'), T.dvector('vh')
    u = T.dmatrix('u')
    hs = _rnn(x, W, h0)
    jv = Rop(hs, [x, W, h0], [vx, vW, vh])
    ls = Lop(hs, [x, W, h0], u)
    f = symgraph.function([x, W, h0, vx, vW, vh, u], [hs, jv] + list(ls), mode="py")
    xv, Wv, hv = RNG.random((4, 3)), RNG.random((3, 3)) - 0.5, RNG.random(3)
    dxv, dWv, dhv = RNG.random((4, 3)), RNG.random((3, 3)), RNG.random(3)
    uv = RNG.random((4, 3))
    base, jvv, lx, lW, lh = f(xv, Wv, hv, dxv, dWv, dhv, uv)
    eps = 1e-6
    fwd = symgraph.function([x, W, h0], hs, mode="py")
    num = (fwd(xv + eps * dxv, Wv + eps * dWv, hv + eps * dhv)
           - fwd(xv - eps * dxv, Wv - eps * dWv, hv - eps * dhv)) / (2 * eps)
    np.testing.assert_allclose(jvv, num, rtol=1e-6, atol=1e-8)
    # <u, J v> == <J^T u, v>
    lhs = (uv * jvv).sum()
    rhs = (lx * dxv).sum() + (lW * dWv).sum() + (lh * dhv).sum()
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_hessian_vector_product_through_scan():
    x, W, h0 = T.dmatrix('x'), T.dmatrix('W'), T.dvector('h0')
    P = T.dmatrix('P')
    cost = (_rnn(x, W, h0) ** 2).sum()
    gW = grad(cost, W)
    hvp_rev = grad((gW * P).sum(), W)        # reverse over reverse
    hvp_fwd = Rop(gW, W, P)                 # forward over reverse
    f = symgraph.function([x, W, h0, P], [gW, hvp_rev, hvp_fwd], mode="py")
    xv, Wv, hv, Pv = RNG.random((3, 2)), RNG.random((2, 2)) - 0.5, RNG.random(2), \
        RNG.random((2, 2))
    g0, h_rev, h_fwd = f(xv, Wv, hv, Pv)
    eps = 1e-6
    fg = symgraph.function([x, W, h0], gW, mode="py")
    num = (fg(xv, Wv + eps * Pv, hv) - fg(xv, Wv - eps * Pv, hv)) / (2 * eps)
    np.testing.assert_allclose(h_rev, num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h_fwd, num, rtol=1e-6, atol=1e-8)


def test_jacobian_and_hessian_of_a_loop():
    from symgraph.gradient import hessian, jacobian
    x = T.dvector('x')
    ys, _ = symgraph.scan(lambda h: h * x + 1, outputs_info=T.ones_like(x), n_steps=3)
    J = jacobian(ys[-1], x)
    H = hessian(ys[-1].sum(), x)
    f = symgraph.function([x], [J, H], mode="py")
    xv = np.array([0.5, 2.0])
    Jv, Hv = f(xv)
    # y = x^3 + x^2 + x + 1 elementwise
    np.testing.assert_allclose(Jv, np.diag(3 * xv ** 2 + 2 * xv + 1))
    np.testing.assert_allclose(Hv, np.diag(6 * xv + 2))


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_gradients_in_compiled_modes(mode):
    x, W, h0 = T.dmatrix('x'), T.dmatrix('W'), T.dvector('h0')
    cost = (_rnn(x, W, h0) ** 2).sum()
    gs = grad(cost, [x, W, h0])
    xv, Wv, hv = RNG.random((5, 3)), RNG.random((3, 3)) - 0.5, RNG.random(3)
    ref = symgraph.function([x, W, h0], gs, mode="py")(xv, Wv, hv)
    got = symgraph.function([x, W, h0], gs, mode=mode)(xv, Wv, hv)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def test_integer_inputs_get_no_gradient_and_random_state_passes():
    from symgraph.tensor.random import RandomStream
    srng = RandomStream(3)
    x = T.dmatrix('x')
    idx = T.lvector('idx')

    def step(row, i, h):
        mask = srng.binomial(row.shape, p=0.5, dtype=F64)
        return h + row * mask * T.cast(i, F64)

    hs, upd = symgraph.scan(step, sequences=[x, idx], outputs_info=T.zeros_like(x[0]))
    g = grad(hs[-1].sum(), x)
    f = symgraph.function([x, idx], [hs, g], mode="py", no_default_updates=True)
    xv, iv = RNG.random((4, 3)), np.arange(4)
    hv, gv = f(xv, iv)
    # the gradient uses the same masks as the forward pass
    masks_times_i = np.diff(np.vstack([np.zeros(3), hv]), axis=0) / np.where(xv == 0, 1, xv)
    np.testing.assert_allclose(gv, masks_times_i, atol=1e-12)


def test_verify_grad_through_a_shared_variable_updated_in_the_loop():
    def fun(x, w):
        acc = symgraph.shared(np.zeros(3), name="acc")
        out, upd = symgraph.scan(lambda r, w: ((r * w).sum(), {acc: acc * 0.5 + r * w}),
                                 sequences=x, non_sequences=w)
        return upd[acc].sum() + out.sum()

    verify_grad(fun, [RNG.random((4, 3)), RNG.random(3)], rng=RNG)


def test_rop_with_until():
    x0, v = T.dscalar('x0'), T.dscalar('v')
    xs, _ = symgraph.scan(lambda h: (h * 2, until(h * 2 > 50)), outputs_info=x0, n_steps=100)
    r = Rop(xs, x0, v)
    np.testing.assert_allclose(symgraph.function([x0, v], r, mode="py")(1.0, 0.5),
                               0.5 * 2.0 ** np.arange(1, 7))


def test_debug_mode_runs_scan_ifelse_and_their_gradients():
    from symgraph.ifelse import ifelse
    x, W, h0 = T.dmatrix('x'), T.dmatrix('W'), T.dvector('h0')
    c = T.iscalar('c')
    hs = _rnn(x, W, h0)
    cost = ifelse(c, (hs[-1] ** 2).sum(), hs.sum())
    outs = [cost] + grad(cost, [x, W])
    xv, Wv, hv = RNG.random((3, 2)), RNG.random((2, 2)) - 0.5, RNG.random(2)
    ref = symgraph.function([c, x, W, h0], outs, mode="py")
    dbg = symgraph.function([c, x, W, h0], outs, mode="DebugMode")
    for cv in (0, 1):
        for a, b in zip(dbg(cv, xv, Wv, hv), ref(cv, xv, Wv, hv)):
            np.testing.assert_allclose(a, b, rtol=1e-12)
