"""The fast paths of Scan: the backward loop reads the step's new carries from the stored
history instead of recomputing the step, gives results equal to a numpy BPTT, and works
for carries that are not recomputed (passed through) or of other dtypes."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad
from symgraph.scan.op import Scan


def _numpy_rnn(X, W, U, b, h0):
    hs = np.empty((len(X),) + h0.shape)
    h = h0
    for t in range(len(X)):
        h = np.tanh(X[t] @ W + h @ U + b)
        hs[t] = h
    cost = 0.5 * (hs * hs).sum()
    gW, gU, gb, gX = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b), np.zeros_like(X)
    dh = np.zeros_like(h0)
    for t in range(len(X) - 1, -1, -1):
        dh = dh + hs[t]
        da = dh * (1 - hs[t] * hs[t])
        hprev = hs[t - 1] if t else h0
        gW += X[t].T @ da
        gU += hprev.T @ da
        gb += da.sum(0)
        gX[t] = da @ W.T
        dh = da @ U.T
    return cost, gW, gU, gb, gX, dh


def _rnn_graph():
    X = T.dtensor3("X")
    W, U, b, h0 = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dmatrix("h0")
    hs, _ = symgraph.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                          sequences=X, outputs_info=h0, non_sequences=[W, U, b])
    cost = 0.5 * (hs * hs).sum()
    return [X, W, U, b, h0], cost


def _scan_nodes(fn):
    return [n for n in fn.maker.fgraph.toposort() if isinstance(n.op, Scan)]


@pytest.mark.parametrize("mode", ["py", None])
@pytest.mark.parametrize("steps", [1, 7, 0])
def test_rnn_bptt_matches_numpy(mode, steps):
    rng = np.random.default_rng(steps)
    ins, cost = _rnn_graph()
    grads = grad(cost, ins)
    kw = {"mode": mode} if mode else {}
    f = symgraph.function(ins, [cost] + grads, **kw)
    X = rng.standard_normal((steps, 3, 4))
    W, U = rng.standard_normal((4, 5)), rng.standard_normal((5, 5)) * 0.5
    b, h0 = rng.standard_normal(5), rng.standard_normal((3, 5))
    got = f(X, W, U, b, h0)
    c, gW, gU, gb, gX, gh0 = _numpy_rnn(X, W, U, b, h0)
    for g, r in zip(got, [c, gX, gW, gU, gb, gh0]):
        assert g.dtype == np.float64 and g.shape == np.shape(r)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_backward_step_does_not_recompute_forward():
    # the forward step has two products (x W, h U); the backward step needs three
    # (da U^T, h^T da, x^T da) plus da W^T for the gradient of X, and no tanh
    ins, cost = _rnn_graph()
    f = symgraph.function(ins, grad(cost, ins[1:4]), mode="py")
    (back,) = [n for n in _scan_nodes(f) if "grad_of" in str(n.op)]
    inner = back.op.inner.function("py")
    names = [type(n.op).__name__ for n in inner.maker.fgraph.toposort()]
    text = " ".join(str(n.op) for n in inner.maker.fgraph.toposort())
    assert "tanh" not in text
    assert names.count("Dot") + names.count("Gemm") <= 4


def test_passthrough_and_float32_carries():
    # carry 0 is passed through unchanged (no owner inside the step), carry 1 is float32
    x = T.fvector("x")
    a0, s0 = T.fscalar("a0"), T.fscalar("s0")
    w = T.fscalar("w")
    (a_h, s_h), _ = symgraph.scan(lambda xt, a, s, w: [a, T.tanh(s * w + xt * a)],
                                  sequences=x, outputs_info=[a0, s0], non_sequences=[w])
    cost = T.sum(s_h ** 2) + T.sum(a_h)
    gs = grad(cost, [x, a0, s0, w])
    f = symgraph.function([x, a0, s0, w], gs, mode="py")
    xv = np.array([0.3, -0.2, 0.5, 0.1], np.float32)
    a, s, w = np.float32(0.7), np.float32(0.2), np.float32(1.3)
    got = f(xv, a, s, w)

    def cost_np(xv, a, s, w):
        tot, st = 0.0, s
        for t in range(len(xv)):
            st = np.tanh(st * w + xv[t] * a)
            tot += st * st + a
        return tot
    args = [xv.astype(np.float64), float(a), float(s), float(w)]
    eps = 1e-6
    for k, g in enumerate(got):
        assert g.dtype == np.float32
        base = np.asarray(args[k], np.float64)
        num = np.zeros(base.shape)
        for i in np.ndindex(base.shape):
            up, dn = base.copy(), base.copy()
            up[i] += eps
            dn[i] -= eps
            pa = list(args)
            pa[k] = up
            pb = list(args)
            pb[k] = dn
            num[i] = (cost_np(*pa) - cost_np(*pb)) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-3, atol=1e-4)


def test_unread_step_outputs_are_pruned():
    # the gradient loop computes the gradient of X per step; asked only for W, U, b, the
    # compiled function's backward loop has no per-step output left
    ins, cost = _rnn_graph()
    f = symgraph.function(ins, grad(cost, ins[1:4]), mode="FAST_RUN")
    (back,) = [n for n in _scan_nodes(f) if "grad_of" in str(n.op)]
    n_ys = back.op.n_ys
    f_all = symgraph.function(ins, grad(cost, ins), mode="FAST_RUN")
    (back,) = [n for n in _scan_nodes(f_all) if "grad_of" in str(n.op)]
    assert back.op.n_ys == n_ys + 1
    rng = np.random.default_rng(3)
    args = [rng.standard_normal((6, 2, 3)), rng.standard_normal((3, 4)),
            rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4),
            rng.standard_normal((2, 4))]
    ref = _numpy_rnn(*args)
    for g, r in zip(f(*args), ref[1:4]):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_pruned_until_loop_keeps_its_stop():
    # a loop with two per-step outputs, one unread, stopping early
    from symgraph.scan import until
    x = T.dvector("x")
    (acc, sq, cube), _ = symgraph.scan(
        lambda xt, a: ([a + xt, xt * xt, xt ** 3], until(a + xt > 2.0)),
        sequences=x, outputs_info=[T.constant(0.0), None, None])
    f = symgraph.function([x], [acc, sq], mode="FAST_RUN")
    (node,) = _scan_nodes(f)
    assert node.op.n_ys == 1 and node.op.until
    xv = np.array([0.5, 1.0, 0.75, 2.0, 1.0])
    a, s = f(xv)
    np.testing.assert_allclose(a, np.cumsum(xv)[:3])
    np.testing.assert_allclose(s, (xv * xv)[:3])


def _inner_ops(node):
    return [type(n.op).__name__ for n in node.op.inner.function("py").maker.fgraph.toposort()]


def test_sequence_dot_is_hoisted_out_of_the_loop():
    ins, cost = _rnn_graph()
    f = symgraph.function(ins, cost, mode="FAST_RUN")
    (node,) = _scan_nodes(f)
    # one product is left in the step: h U
    assert sum(k in ("Dot", "Gemm") for k in _inner_ops(node)) == 1
    rng = np.random.default_rng(5)
    for steps in (0, 1, 9):
        args = [rng.standard_normal((steps, 2, 3)), rng.standard_normal((3, 4)),
                rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4),
                rng.standard_normal((2, 4))]
        got = f(*args)
        assert got.dtype == np.float64 and got.shape == ()
        np.testing.assert_allclose(got, _numpy_rnn(*args)[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hoisted_vector_sequence_also_read_in_the_step(dtype):
    # x_t is a vector, W a matrix and v a vector: both products leave the loop, while
    # x_t is still read in the step (x_t.sum())
    x = T.matrix("x", dtype=dtype)
    W = T.matrix("W", dtype=dtype)
    v = T.vector("v", dtype=dtype)
    s0 = T.vector("s0", dtype=dtype)
    ys, _ = symgraph.scan(lambda xt, s, W, v: s * 0.5 + T.dot(xt, W) + T.dot(xt, v) + xt.sum(),
                          sequences=x, outputs_info=s0, non_sequences=[W, v])
    f = symgraph.function([x, W, v, s0], ys, mode="FAST_RUN")
    (node,) = _scan_nodes(f)
    assert not any(k in ("Dot", "Gemm", "Gemv") for k in _inner_ops(node))
    rng = np.random.default_rng(6)
    xv, Wv = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    vv, sv = rng.standard_normal(3).astype(dtype), rng.standard_normal(4).astype(dtype)
    want, s = [], sv
    for t in range(5):
        s = s * dtype_scalar(dtype, 0.5) + xv[t] @ Wv + xv[t] @ vv + xv[t].sum()
        want.append(s)
    got = f(xv, Wv, vv, sv)
    assert got.dtype == np.dtype(dtype) and got.shape == (5, 4)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-5 if dtype == "float32" else 1e-12)


def dtype_scalar(dtype, v):
    return np.dtype(dtype).type(v)


def test_not_hoisted_with_n_steps():
    # with n_steps the loop may read only part of the sequence: the product stays inside
    x, W, h0 = T.dmatrix("x"), T.dmatrix("W"), T.dvector("h0")
    hs, _ = symgraph.scan(lambda xt, h, W: T.tanh(T.dot(xt, W) + h), sequences=x,
                          outputs_info=h0, non_sequences=[W], n_steps=2)
    f = symgraph.function([x, W, h0], hs, mode="FAST_RUN")
    (node,) = _scan_nodes(f)
    assert any(k in ("Dot", "Gemm", "Gemv") for k in _inner_ops(node))
    rng = np.random.default_rng(7)
    xv, Wv, hv = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), np.zeros(2)
    h1 = np.tanh(xv[0] @ Wv + hv)
    np.testing.assert_allclose(f(xv, Wv, hv), [h1, np.tanh(xv[1] @ Wv + h1)], rtol=1e-12)


@pytest.mark.parametrize("steps", [0, 1, 6])
def test_transpose_of_slices_is_hoisted_elementwise_stays(steps):
    # x_t.T is a view of the sequence: it leaves the loop. exp(x_t * c + 1) stays in the
    # step: outside it would be a pass writing a whole stack that the step reads back
    x, c, s0 = T.dtensor3("x"), T.dvector("c"), T.dmatrix("s0")
    ss, _ = symgraph.scan(lambda xt, s, c: s + xt.T + T.exp(xt * c + 1.0).T, sequences=x,
                          outputs_info=s0, non_sequences=[c])
    f = symgraph.function([x, c, s0], ss, mode="FAST_RUN")
    (node,) = _scan_nodes(f)
    text = " ".join(str(n.op) for n in node.op.inner.function("py").maker.fgraph.toposort())
    assert "exp" in text
    assert node.op.n_seqs == 2      # x and its hoisted transpose
    rng = np.random.default_rng(8)
    xv, cv, sv = rng.standard_normal((steps, 2, 3)), rng.standard_normal(3), \
        rng.standard_normal((3, 2))
    want, s = [], sv
    for t in range(steps):
        s = s + xv[t].T + np.exp(xv[t] * cv + 1.0).T
        want.append(s)
    got = f(xv, cv, sv)
    assert got.dtype == np.float64 and got.shape == (steps, 3, 2)
    np.testing.assert_allclose(got, np.array(want).reshape(steps, 3, 2), rtol=1e-12)


def test_slices_of_sequences_of_different_lengths_stay_in_the_step():
    # x_t * y_t over sequences of lengths 5 and 3: the loop runs 3 steps, the product
    # cannot be one elementwise op over both whole sequences
    x, y, s0 = T.dvector("x"), T.dvector("y"), T.dscalar("s0")
    ss, _ = symgraph.scan(lambda xt, yt, s: s + xt * yt, sequences=[x, y], outputs_info=s0)
    f = symgraph.function([x, y, s0], ss, mode="FAST_RUN")
    xv, yv = np.arange(1.0, 6.0), np.array([2.0, -1.0, 0.5])
    np.testing.assert_allclose(f(xv, yv, 1.0), 1.0 + np.cumsum(xv[:3] * yv))


def test_gradient_accumulators_leave_the_backward_step():
    # gW += x_t.T da_t and gU += h_{t-1}.T da_t become one product each after the loop:
    # the backward step keeps one product (da U.T)
    ins, cost = _rnn_graph()
    f = symgraph.function(ins, grad(cost, ins[1:4]), mode="FAST_RUN")
    (back,) = [n for n in _scan_nodes(f) if "grad_of" in str(n.op)]
    assert sum(k in ("Dot", "Gemm") for k in _inner_ops(back)) == 1


def _numpy_truncated(X, W, U, b, h0, k):
    hs, h = [], h0
    for t in range(len(X)):
        h = np.tanh(X[t] @ W + h @ U + b)
        hs.append(h)
    gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh = np.zeros_like(h0)
    for t in range(len(X) - 1, max(len(X) - k, 0) - 1, -1):
        dh = dh + hs[t]
        da = dh * (1 - hs[t] * hs[t])
        hprev = hs[t - 1] if t else h0
        gW += X[t].T @ da
        gU += hprev.T @ da
        gb += da.sum(0)
        dh = da @ U.T
    return gW, gU, gb


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("steps", [0, 2, 6])
def test_accumulators_with_truncated_gradient(dtype, steps):
    X = T.tensor3("X", dtype=dtype)
    W, U, h0 = (T.matrix(n, dtype=dtype) for n in "WUh")
    b = T.vector("b", dtype=dtype)
    hs, _ = symgraph.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                          sequences=X, outputs_info=h0, non_sequences=[W, U, b],
                          truncate_gradient=3)
    gs = grad(0.5 * (hs * hs).sum(), [W, U, b])
    f = symgraph.function([X, W, U, b, h0], gs, mode="FAST_RUN")
    rng = np.random.default_rng(9)
    args = [rng.standard_normal((steps, 2, 3)), rng.standard_normal((3, 4)),
            rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4),
            rng.standard_normal((2, 4))]
    got = f(*[a.astype(dtype) for a in args])
    want = _numpy_truncated(*args, 3)
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(dtype) and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4 if dtype == "float32" else 1e-10,
                                   atol=1e-5 if dtype == "float32" else 1e-12)
