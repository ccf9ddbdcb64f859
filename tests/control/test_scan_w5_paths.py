"""The rewrites that keep a scan gradient's stacks few and in forward time order, checked
against numpy's BPTT and finite differences: per-step outputs of the backward loop stored
reversed (``Scan.rev_ys``) and read without reversed copies, elementwise ops left in the
step, in the C loop and the Python loop, for T = 0, 1 and more, reversed scans
(``go_backwards``), several outputs, and gradients of gradients through such a loop."""
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad
from symgraph.scan.op import Scan

scan_op = sys.modules["symgraph.scan.op"]


def _both_loops(f, args):
    """f(*args) by the C loop and by the Python loop (must be equal); `_both_loops.native`:
    how many C loops the first call ran."""
    import symgraph.codegen.plan as plan_mod
    real, count = plan_mod.loop, [0]

    def counting(*a, **k):
        count[0] += 1
        return real(*a, **k)
    plan_mod.loop = counting
    try:
        got = f(*args)
    finally:
        plan_mod.loop = real
    _both_loops.native = count[0]
    scan_op.NATIVE = False
    try:
        loop = f(*args)
    finally:
        scan_op.NATIVE = True
    for g, lo in zip(got, loop):
        np.testing.assert_array_equal(g, lo)
    return got


def _rnn(go_backwards=False):
    X = T.dtensor3("X")
    W, U, b, h0 = T.dmatrix("W"), T.dmatrix("U"), T.dvector("b"), T.dmatrix("h0")
    hs, _ = symgraph.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                          sequences=X, outputs_info=h0, non_sequences=[W, U, b],
                          go_backwards=go_backwards)
    return [X, W, U, b, h0], hs


def _numpy_bptt(X, W, U, b, h0):
    """cost = sum(h_t^2)/2 and its gradients w.r.t. X, W, U, b, h0 (W5's numpy loop)."""
    hs, h = [], h0
    for t in range(len(X)):
        h = np.tanh(X[t] @ W + h @ U + b)
        hs.append(h)
    cost = 0.5 * sum((v * v).sum() for v in hs)
    gX, gW, gU, gb = np.zeros_like(X), np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh = np.zeros_like(h0)
    for t in range(len(X) - 1, -1, -1):
        da = (dh + hs[t]) * (1 - hs[t] * hs[t])
        hprev = hs[t - 1] if t else h0
        gX[t] = da @ W.T
        gW += X[t].T @ da
        gU += hprev.T @ da
        gb += da.sum(0)
        dh = da @ U.T
    return [cost, gX, gW, gU, gb, dh]


def _args(rng, steps):
    return [rng.standard_normal((steps, 3, 4)), rng.standard_normal((4, 5)),
            rng.standard_normal((5, 5)) * 0.5, rng.standard_normal(5),
            rng.standard_normal((3, 5))]


def _scans(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)]


@pytest.mark.parametrize("steps", [0, 1, 2, 7])
def test_rnn_gradients_against_numpy_bptt(steps):
    ins, hs = _rnn()
    cost = 0.5 * (hs * hs).sum()
    f = symgraph.function(ins, [cost] + grad(cost, ins))
    args = _args(np.random.default_rng(steps), steps)
    got = _both_loops(f, args)
    assert _both_loops.native == (2 if steps else 0)
    for g, want in zip(got, _numpy_bptt(*args)):
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12)


def test_backward_loop_stores_its_rows_in_forward_order():
    # no reversed view of a stack is copied: the products read the stacks in place
    ins, hs = _rnn()
    cost = 0.5 * (hs * hs).sum()
    f = symgraph.function(ins, [cost] + grad(cost, ins))
    (back,) = [n for n in _scans(f) if "grad_of" in str(n.op)]
    assert all(back.op.rev_ys)
    from symgraph.ops.shape import Reshape
    from symgraph.ops.subtensor import Subtensor

    def reversed_view(v):
        return v.owner is not None and type(v.owner.op) is Subtensor and \
            any(getattr(i, "step", None) == -1 for i in v.owner.op.idx_list)
    assert not any(isinstance(n.op, Reshape) and reversed_view(n.inputs[0])
                   for n in f.maker.fgraph.toposort())


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_go_backwards_gradients_against_finite_differences(steps):
    ins, hs = _rnn(go_backwards=True)
    cost = (hs[::2] ** 2).sum() + hs.sum() * 0.25
    f = symgraph.function(ins, [cost] + grad(cost, ins))
    cost_f = symgraph.function(ins, cost, mode="py")
    args = _args(np.random.default_rng(10 + steps), steps)
    got = _both_loops(f, args)
    for k, a in enumerate(args):
        num = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            up = [v.copy() for v in args]
            dn = [v.copy() for v in args]
            up[k][i] += 1e-6
            dn[k][i] -= 1e-6
            num[i] = (cost_f(*up) - cost_f(*dn)) / 2e-6
        np.testing.assert_allclose(got[1 + k], num, rtol=1e-5, atol=1e-7)


def test_several_outputs_and_sequence_gradients():
    # two per-step outputs besides the state, two sequences: the backward loop has two
    # reversed rows per step (the sequences' gradients)
    X, Y = T.dtensor3("X"), T.dtensor3("Y")
    W, h0 = T.dmatrix("W"), T.dmatrix("h0")

    def step(x, y, h, W):
        a = T.tanh(T.dot(x, W) + h * y)
        return a, a * 2.0 + y, T.exp(-a * a)
    (hs, o1, o2), _ = symgraph.scan(step, sequences=[X, Y], outputs_info=[h0, None, None],
                                    non_sequences=W)
    cost = (hs ** 2).sum() + (o1 * 0.5).sum() + o2[1:].sum()
    ins = [X, Y, W, h0]
    f = symgraph.function(ins, [cost] + grad(cost, ins))
    ref = symgraph.function(ins, [cost] + grad(cost, ins), mode="py")
    rng = np.random.default_rng(3)
    for steps in (1, 2, 6):
        args = [rng.standard_normal((steps, 3, 4)), rng.standard_normal((steps, 3, 5)),
                rng.standard_normal((4, 5)), rng.standard_normal((3, 5))]
        for g, r in zip(_both_loops(f, args), ref(*args)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_gradient_of_a_gradient_through_reversed_rows():
    # d/dW of sum(dcost/dX ** 2): differentiates the backward loop, whose rows are stored
    # reversed, and compares with finite differences
    ins, hs = _rnn()
    X, W = ins[0], ins[1]
    cost = 0.5 * (hs * hs).sum()
    gX = grad(cost, X)
    second = (gX ** 2).sum()
    f = symgraph.function(ins, [second, grad(second, W)])
    s_f = symgraph.function(ins, second, mode="py")
    args = _args(np.random.default_rng(4), 4)
    val, gW = _both_loops(f, args)
    num = np.zeros_like(args[1])
    for i in np.ndindex(num.shape):
        up = [v.copy() for v in args]
        dn = [v.copy() for v in args]
        up[1][i] += 1e-6
        dn[1][i] -= 1e-6
        num[i] = (s_f(*up) - s_f(*dn)) / 2e-6
    np.testing.assert_allclose(val, s_f(*args), rtol=1e-10)
    np.testing.assert_allclose(gW, num, rtol=1e-5, atol=1e-7)


def test_rop_through_reversed_rows():
    # J v of dcost/dX along W: forward mode through the backward loop
    from symgraph.gradient import Rop
    ins, hs = _rnn()
    X, W = ins[0], ins[1]
    cost = 0.5 * (hs * hs).sum()
    gX = grad(cost, X)
    V = T.dmatrix("V")
    f = symgraph.function(ins + [V], [Rop(gX, W, V)])
    g_f = symgraph.function(ins, gX, mode="py")
    rng = np.random.default_rng(5)
    args = _args(rng, 3)
    v = rng.standard_normal(args[1].shape)
    up = [a.copy() for a in args]
    dn = [a.copy() for a in args]
    up[1] += 1e-6 * v
    dn[1] -= 1e-6 * v
    num = (g_f(*up) - g_f(*dn)) / 2e-6
    np.testing.assert_allclose(_both_loops(f, args + [v])[0], num, rtol=1e-5, atol=1e-7)


def test_rev_ys_in_the_python_and_the_c_loop():
    # a Scan storing its ys reversed, made directly: row n-1-t holds step t's y
    from symgraph.scan.inner import InnerGraph
    x, c = T.dvector("x_t"), T.dvector("c")
    new_c = c + x
    inner = InnerGraph([x, c], [new_c, new_c * 2.0, x - c])
    op = Scan(inner, 1, 1, 2, keep=("all",), rev_ys=(True, False))
    X, c0 = T.dmatrix("X"), T.dvector("c0")
    hist, y_rev, y_fwd = op(T.constant(-1, dtype="int64"), X, c0)
    f = symgraph.function([X, c0], [hist, y_rev, y_fwd])
    xv, cv = np.arange(12.0).reshape(4, 3), np.ones(3)
    h, yr, yf = _both_loops(f, [xv, cv])
    want = cv + np.cumsum(xv, axis=0)
    np.testing.assert_array_equal(h, want)
    np.testing.assert_array_equal(yr, (want * 2.0)[::-1])
    np.testing.assert_array_equal(yf, xv - np.vstack([cv, want[:-1]]))
    with pytest.raises(ValueError):
        Scan(inner, 1, 1, 2, rev_ys=(True,))


def _seq_nodes(f):
    (node,) = _scans(f)
    return node.op.split(node.inputs)[1]


@pytest.mark.parametrize("steps", [0, 1, 6])
def test_elementwise_sequence_is_computed_in_the_step(steps):
    # (A * B + c)[::-1] and sqr(A) read by the step: A and B (reversed) become the
    # sequences, c a parameter; no stack of the elementwise result is made
    A, B, c, s0 = T.dmatrix("A"), T.dmatrix("B"), T.dvector("c"), T.dvector("s0")
    seq = (A * B + c.dimshuffle("x", 0))[::-1]
    ss, _ = symgraph.scan(lambda x, q, s: s * 0.5 + x * q, sequences=[seq, T.sqr(A)],
                          outputs_info=s0)
    f = symgraph.function([A, B, c, s0], [ss])
    from symgraph.ops.elemwise import Elemwise
    assert not any(isinstance(n.op, Elemwise) and n.outputs[0].ndim == 2
                   for n in f.maker.fgraph.toposort())
    rng = np.random.default_rng(steps)
    a, b = rng.standard_normal((steps, 3)), rng.standard_normal((steps, 3))
    cv, sv = rng.standard_normal(3), rng.standard_normal(3)
    want, s = [], sv
    for t in range(steps):
        s = s * 0.5 + (a * b + cv)[::-1][t] * a[t] ** 2
        want.append(s)
    (got,) = _both_loops(f, [a, b, cv, sv])
    np.testing.assert_allclose(got, np.array(want).reshape(steps, 3), rtol=1e-12, atol=1e-14)


def test_elementwise_sequence_read_elsewhere_stays_a_stack():
    A, s0 = T.dmatrix("A"), T.dvector("s0")
    e = T.exp(A)
    ss, _ = symgraph.scan(lambda x, s: s + x, sequences=e, outputs_info=s0)
    f = symgraph.function([A, s0], [ss, e.sum()])
    seqs = _seq_nodes(f)
    assert len(seqs) == 1 and "exp" in str(seqs[0].owner.inputs[0].owner.op)
    a, sv = np.random.default_rng(1).standard_normal((4, 3)), np.ones(3)
    got, tot = _both_loops(f, [a, sv])
    np.testing.assert_allclose(got, sv + np.cumsum(np.exp(a), axis=0), rtol=1e-12)
    np.testing.assert_allclose(tot, np.exp(a).sum(), rtol=1e-12)


def test_elementwise_sequence_of_a_hoisted_product_stays_outside():
    # x_t read only by dot(x_t, W): the product leaves the loop with its elementwise input,
    # which must not be sunk back (the two rewrites would undo each other)
    A, B, W, s0 = T.dtensor3("A"), T.dtensor3("B"), T.dmatrix("W"), T.dmatrix("s0")
    ss, _ = symgraph.scan(lambda x, s, W: T.tanh(s + T.dot(x, W)), sequences=A * B + 1.0,
                          outputs_info=s0, non_sequences=W)
    f = symgraph.function([A, B, W, s0], [ss])
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 2, 3)), rng.standard_normal((5, 2, 3))
    w, sv = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    want, s = [], sv
    for t in range(5):
        s = np.tanh(s + (a[t] * b[t] + 1.0) @ w)
        want.append(s)
    (got,) = _both_loops(f, [a, b, w, sv])
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_outputs_written_in_place_of_their_rows(steps):
    # the step's outputs land in their rows without a copy when each fills a buffer of its
    # own; one value returned twice, a view of a carry and a carry kept at its end only
    # keep their copies
    x, h0, c0 = T.dtensor3("x"), T.dmatrix("h0"), T.dmatrix("c0")

    def step(x_t, h, c):
        h2 = T.tanh(x_t + h)
        c2 = c * 0.5 + h2
        return [h2, c2, h2, h2[0], c2 * 2.0]
    (hs, cs, ys, row, dbl), _ = symgraph.scan(step, sequences=x,
                                             outputs_info=[h0, c0, None, None, None])
    f = symgraph.function([x, h0, c0], [hs, cs[-1], ys, row, dbl[::-1]])
    rng = np.random.default_rng(steps)
    xv, hv, cv = rng.standard_normal((steps, 2, 3)), rng.standard_normal((2, 3)), \
        rng.standard_normal((2, 3))
    want_h, want_c, h, c = [], [], hv, cv
    for t in range(steps):
        h = np.tanh(xv[t] + h)
        c = c * 0.5 + h
        want_h.append(h)
        want_c.append(c)
    got = _both_loops(f, [xv, hv, cv])
    assert _both_loops.native == 1
    np.testing.assert_allclose(got[0], want_h, rtol=1e-13)
    np.testing.assert_allclose(got[1], want_c[-1], rtol=1e-13)
    np.testing.assert_allclose(got[2], want_h, rtol=1e-13)
    np.testing.assert_allclose(got[3], np.array(want_h)[:, 0], rtol=1e-13)
    np.testing.assert_allclose(got[4], (np.array(want_c) * 2.0)[::-1], rtol=1e-13)


def _outer_sums(f):
    """Sums over stacks (the loops' rows summed outside the loop)."""
    from symgraph.ops.reduce import Sum
    scans = _scans(f)
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Sum) and
            n.inputs[0].ndim == scans[0].outputs[0].ndim]


@pytest.mark.parametrize("steps", [0, 1, 2, 7])
def test_sum_of_the_stored_rows_is_accumulated_by_the_loop(steps):
    ins, hs = _rnn()
    cost = 0.5 * (hs * hs).sum()
    f = symgraph.function(ins, [cost])
    assert not _outer_sums(f)
    (loop,) = _scans(f)
    assert loop.op.keep[-1] == "last"
    args = _args(np.random.default_rng(20 + steps), steps)
    (got,) = _both_loops(f, args)
    np.testing.assert_allclose(got, _numpy_bptt(*args)[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_sum_of_per_step_outputs_with_a_parameter(steps):
    # a per-step output and a parameter broadcast along time, float32 rows summed in float64
    x, c, s0 = T.matrix("x", dtype="float32"), T.vector("c", dtype="float32"), \
        T.vector("s0", dtype="float32")
    (ss, ys), _ = symgraph.scan(lambda x_t, s: [s + x_t, T.exp(s) * x_t], sequences=x,
                                outputs_info=[s0, None])
    tot = (ys * c.dimshuffle("x", 0) + 1.0).sum(dtype="float64")
    f = symgraph.function([x, c, s0], [tot, ss])
    assert not _outer_sums(f)
    rng = np.random.default_rng(steps)
    xv, cv, sv = [rng.standard_normal(s).astype("float32") for s in ((steps, 3), 3, 3)]
    got_tot, got_ss = _both_loops(f, [xv, cv, sv])
    s, want = sv, 0.0
    for t in range(steps):
        want += (np.exp(s) * xv[t] * cv + 1.0).astype(np.float64).sum()
        s = s + xv[t]
    assert got_tot.dtype == np.float64
    np.testing.assert_allclose(got_tot, want, rtol=1e-5)


def test_sums_not_folded():
    # over some axes only, of a stack read elsewhere too, of a state kept at its end
    ins, hs = _rnn()
    sq = hs * hs
    outs = [hs.sum(axis=0), sq.sum() + sq[0].sum(), hs[-1].sum()]
    f = symgraph.function(ins, outs)
    args = _args(np.random.default_rng(30), 4)
    got = _both_loops(f, args)
    X, W, U, b, h0 = args
    h, rows = h0, []
    for t in range(4):
        h = np.tanh(X[t] @ W + h @ U + b)
        rows.append(h)
    rows = np.array(rows)
    np.testing.assert_allclose(got[0], rows.sum(0), rtol=1e-12)
    np.testing.assert_allclose(got[1], (rows ** 2).sum() + (rows[0] ** 2).sum(), rtol=1e-12)
    np.testing.assert_allclose(got[2], rows[-1].sum(), rtol=1e-12)


def test_kept_stacks_reused_only_when_nothing_holds_them(monkeypatch):
    # the C loop keeps its stacks for the next run; a stack handed out (the history as an
    # output, or a view of it) must never be written by a later run
    monkeypatch.setattr(scan_op, "REUSE_MIN_BYTES", 0)
    ins, hs = _rnn()
    cost = 0.5 * (hs * hs).sum()
    f_all = symgraph.function(ins, [hs, hs[1:], cost] + grad(cost, ins))
    f_grads = symgraph.function(ins, [cost] + grad(cost, ins))
    rng = np.random.default_rng(40)
    held = []
    for _ in range(3):
        args = _args(rng, 5)
        out = f_all(*args)
        held.append(([np.array(o, copy=True) for o in out], out))
        want = _numpy_bptt(*args)
        for _ in range(2):
            for g, w in zip(f_grads(*args), want):
                np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out[2], want[0], rtol=1e-10)
    for copies, out in held:
        for c, o in zip(copies, out):
            np.testing.assert_array_equal(c, o)
    assert any(scan_op._spares.get(n.op) for n in _scans(f_grads))
