"""The softmax crossentropy in one op (CrossentropySoftmax1Hot, its gradient
CrossentropySoftmax1HotDx) against numpy's formulas and finite differences, and the rewrites
that make them from categorical_crossentropy(softmax(x (+ b)), labels) in FAST_RUN."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops import nnet as N

RNG = np.random.default_rng(11)


def np_loss(v, y):
    """logsumexp(v) - v[label] along the last axis, in float64."""
    v = v.astype("float64")
    m = v.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(v - m).sum(-1, keepdims=True)))[..., 0]
    return lse - np.take_along_axis(v, (y % v.shape[-1])[..., None], -1)[..., 0]


def np_dx(g, v, y):
    v = v.astype("float64")
    e = np.exp(v - v.max(-1, keepdims=True))
    onehot = np.zeros_like(v)
    np.put_along_axis(onehot, (y % v.shape[-1])[..., None], 1.0, -1)
    return g[..., None] * (e / e.sum(-1, keepdims=True) - onehot)


def _ops(nd, dtype, bias, label_dtype):
    x = T.tensor(dtype, (None,) * nd, name="x")
    b = T.tensor(dtype, (None,), name="b")
    y = T.tensor(label_dtype, (None,) * (nd - 1), name="y")
    g = T.tensor(dtype, (None,) * (nd - 1), name="g")
    args = [x, b, y] if bias else [x, y]
    return args, g, N.CrossentropySoftmax1Hot(bias)(*args), \
        N.CrossentropySoftmax1HotDx(bias)(g, *args)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape,label_dtype", [((5, 7), "int64"), ((5, 7), "int32"),
                                               ((6,), "uint8"), ((2, 3, 4), "int16")])
def test_perform_matches_numpy_formulas(dtype, bias, shape, label_dtype):
    args, g, loss, dx = _ops(len(shape), dtype, bias, label_dtype)
    n = shape[-1]
    xv = (RNG.normal(size=shape) * 3).astype(dtype)
    bv = RNG.normal(size=n).astype(dtype)
    low = 0 if label_dtype.startswith("u") else -n
    yv = np.asarray(RNG.integers(low, n, size=shape[:-1]), dtype=label_dtype)
    gv = np.asarray(RNG.normal(size=shape[:-1]), dtype=dtype)
    vals = [xv, bv, yv] if bias else [xv, yv]
    f = symgraph.function([g] + args, [loss, dx], mode="py")
    lv, dv = f(gv, *vals)
    v = xv + bv if bias else xv
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    assert lv.dtype == dv.dtype == dtype and lv.shape == shape[:-1] and dv.shape == shape
    np.testing.assert_allclose(lv, np_loss(v, yv.astype(np.int64)), **tol)
    np.testing.assert_allclose(dv, np_dx(gv, v, yv.astype(np.int64)), **tol)


def test_perform_equals_the_unfused_graph_bitwise():
    x, y, g = T.dmatrix("x"), T.lvector("y"), T.dvector("g")
    lp = N.LogSoftmax(1)(x)
    unfused = [N.NegLogProb1Hot()(lp, y),
               N.LogSoftmaxGrad(1)(N.NegLogProb1HotGrad()(g, lp, y), lp)]
    fused = [N.CrossentropySoftmax1Hot()(x, y), N.CrossentropySoftmax1HotDx()(g, x, y)]
    xv = RNG.normal(size=(9, 6)) * 5
    yv, gv = RNG.integers(-6, 6, size=9), RNG.normal(size=9)
    for a, b in zip(symgraph.function([x, y, g], fused, mode="py")(xv, yv, gv),
                    symgraph.function([x, y, g], unfused, mode="py")(xv, yv, gv)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["py", "FAST_RUN"])
@pytest.mark.parametrize("bias", [False, True])
def test_verify_grad_loss_and_dx(mode, bias):
    yv = T.constant(np.array([2, 0, -1, 3, 1]))
    xv, bv = RNG.normal(size=(5, 4)), RNG.normal(size=4)
    gv = RNG.normal(size=5)
    pt = [xv, bv] if bias else [xv]

    def loss(*a):
        return N.CrossentropySoftmax1Hot(bias)(*a, yv)

    def dx(g, *a):
        return N.CrossentropySoftmax1HotDx(bias)(g, *a, yv)
    verify_grad(loss, pt, rng=RNG, mode=mode)
    verify_grad(dx, [gv] + pt, rng=RNG, mode=mode)     # second order: through the Dx op


@pytest.mark.parametrize("bias", [False, True])
def test_verify_rop_loss_and_dx(bias):
    from symgraph.testing import verify_rop
    yv = T.constant(np.array([1, 0, -1, 2]))
    pt = [RNG.normal(size=(4, 3))] + ([RNG.normal(size=3)] if bias else [])
    verify_rop(lambda *a: N.CrossentropySoftmax1Hot(bias)(*a, yv), pt, rng=RNG)
    verify_rop(lambda g, *a: N.CrossentropySoftmax1HotDx(bias)(g, *a, yv),
               [RNG.normal(size=4)] + pt, rng=RNG)


def _op_types(f):
    return {type(n.op) for n in f.maker.fgraph.apply_nodes}


def test_fast_run_graph_is_one_pass_for_the_loss_and_its_gradient():
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.ivector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    f = symgraph.function([x, y], loss)
    ops = _op_types(f)
    assert N.CrossentropySoftmax1Hot in ops and N.LogSoftmax not in ops
    fg = symgraph.function([x, y], [loss, symgraph.grad(loss, x)])
    ops = _op_types(fg)
    assert N.CrossentropySoftmax1HotDx in ops and N.LogSoftmax not in ops and \
        N.LogSoftmaxGrad not in ops and N.NegLogProb1HotGrad not in ops
    # the dense layer's bias goes into the kernel, forward and backward
    lb = T.nnet.categorical_crossentropy(T.nnet.softmax(x + b), y).mean()
    fb = symgraph.function([x, b, y], [lb] + symgraph.grad(lb, [x, b]))
    nodes = [n for n in fb.maker.fgraph.apply_nodes
             if isinstance(n.op, (N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx))]
    assert len(nodes) == 2 and all(n.op.bias and n.inputs[-2].name == "b" for n in nodes)
    xv, bv, yv = RNG.normal(size=(6, 5)), RNG.normal(size=5), np.array([0, 4, 1, 2, 3, -2],
                                                                         "int32")
    want = symgraph.function([x, b, y], [lb] + symgraph.grad(lb, [x, b]), mode="py")
    for got, ref in zip(fb(xv, bv, yv), want(xv, bv, yv)):
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_log_softmax_still_computed_when_read_elsewhere():
    x, y = T.dmatrix("x"), T.lvector("y")
    lp = T.nnet.log_softmax(x)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    outs = [loss, lp, symgraph.grad(loss, x)]
    f = symgraph.function([x, y], outs)
    ops = _op_types(f)
    # the log-softmax is an output: the loss picks from it, the gradient is still fused
    assert N.LogSoftmax in ops and N.NegLogProb1Hot in ops and \
        N.CrossentropySoftmax1Hot not in ops and N.CrossentropySoftmax1HotDx in ops
    xv, yv = RNG.normal(size=(4, 3)), np.array([0, 2, 1, 1])
    for got, ref in zip(f(xv, yv), symgraph.function([x, y], outs, mode="py")(xv, yv)):
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_bias_that_broadcasts_the_logits_is_left_out():
    col, b, y = T.tensor("float64", (None, 1), name="col"), T.dvector("b"), T.lvector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(col + b), y)
    f = symgraph.function([col, b, y], [loss, symgraph.grad(loss.sum(), [col, b])[0]])
    node = next(n for n in f.maker.fgraph.apply_nodes
                if isinstance(n.op, N.CrossentropySoftmax1Hot))
    assert not node.op.bias
    cv, bv, yv = RNG.normal(size=(3, 1)), RNG.normal(size=4), np.array([3, 0, 1])
    ref = symgraph.function([col, b, y], [loss, symgraph.grad(loss.sum(), [col, b])[0]],
                            mode="py")
    for got, want in zip(f(cv, bv, yv), ref(cv, bv, yv)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_rewrites_can_be_excluded_and_skip_cuda():
    x, y = T.dmatrix("x"), T.lvector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    f = symgraph.function([x, y], [loss, symgraph.grad(loss, x)],
                          mode=symgraph.Mode(excluding=["fused_xent"]))
    assert not {N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx} & _op_types(f)
    from symgraph.opt.fgraph import FunctionGraph
    from symgraph.opt.engine import rewrite_graph
    fg = FunctionGraph([x, y], [loss, symgraph.grad(loss, x)])
    with symgraph.change_flags(device="cuda"):
        rewrite_graph(fg, symgraph.Mode("FAST_RUN"))
    assert not {N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx} & \
        {type(n.op) for n in fg.apply_nodes}


def test_out_of_range_label_names_the_op_and_the_label():
    x, y = T.dmatrix("x"), T.lvector("y")
    for op_out in (N.CrossentropySoftmax1Hot()(x, y),
                   N.CrossentropySoftmax1HotDx()(T.ones_like(y, dtype="float64"), x, y)):
        f = symgraph.function([x, y], op_out, mode="py")
        with pytest.raises(IndexError) as e:
            f(np.zeros((3, 4)), np.array([0, -5, 1]))
        msg = str(e.value)
        assert "CrossentropySoftmax1Hot" in msg and "label -5 at position 1" in msg and \
            "out of range for 4 classes" in msg


def test_build_errors_name_the_op():
    x, y = T.dmatrix("x"), T.lvector("y")
    with pytest.raises(TypeError, match="CrossentropySoftmax1Hot.*labels must be integers"):
        N.CrossentropySoftmax1Hot()(x, T.dvector())
    with pytest.raises(ValueError, match="CrossentropySoftmax1Hot.*bias must be a 1-d float64"):
        N.CrossentropySoftmax1Hot(True)(x, T.fvector(), y)
    with pytest.raises(ValueError, match="bias has 3 entries for 4 classes"):
        N.CrossentropySoftmax1Hot(True)(T.tensor("float64", (None, 4)),
                                        T.tensor("float64", (3,)), y)
    with pytest.raises(TypeError, match="CrossentropySoftmax1HotDx.*output gradient"):
        N.CrossentropySoftmax1HotDx()(T.dmatrix(), x, y)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        N.CrossentropySoftmax1Hot(True)(x, y)


@pytest.mark.parametrize("mode", ["py", "FAST_RUN"])
def test_nan_and_inf_rows_follow_numpy(mode):
    x, y, g = T.dmatrix("x"), T.lvector("y"), T.dvector("g")
    f = symgraph.function([x, y, g], [N.CrossentropySoftmax1Hot()(x, y),
                                      N.CrossentropySoftmax1HotDx()(g, x, y)], mode=mode)
    inf, nan = np.inf, np.nan
    xv = np.array([[nan, 1.0, 2.0], [inf, 0.0, 1.0], [-inf, -inf, -inf], [-inf, 0.0, 1.0],
                   [-inf, 0.0, 1.0], [1e308, -1e308, 0.0], [3.0, 3.0, 3.0]])
    yv = np.array([1, 1, 0, 0, 2, 1, 2])
    gv = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 1.0, inf])
    with np.errstate(all="ignore"):
        lv, dv = f(xv, yv, gv)
        m = xv.max(1, keepdims=True)
        z = (xv - m) - np.log(np.exp(xv - m).sum(1, keepdims=True))
        want_l = -z[np.arange(7), yv]
        want_d = np.exp(z) * gv[:, None]
        want_d[np.arange(7), yv] -= gv
    np.testing.assert_allclose(lv, want_l, rtol=1e-15, equal_nan=True)
    np.testing.assert_allclose(dv, want_d, rtol=1e-15, equal_nan=True)
    assert np.isnan(lv[:3]).all() and lv[3] == lv[5] == inf and np.isfinite(lv[4])
