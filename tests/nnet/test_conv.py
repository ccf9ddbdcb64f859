"""conv2d against a naive numpy loop for every border mode, stride, dilation and flip."""
import itertools

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import verify_grad
from symgraph.ops.conv import conv2d as ops_conv2d
from symgraph.tensor import nnet

RNG = np.random.default_rng(3)


def naive_conv2d(x, w, border_mode, subsample, flip, dilation):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    dh, dw = dilation
    if border_mode == "valid":
        ph = pw = 0
    elif border_mode == "full":
        ph, pw = dh * (kh - 1), dw * (kw - 1)
    elif border_mode == "half":
        ph, pw = dh * (kh // 2), dw * (kw // 2)
    elif isinstance(border_mode, int):
        ph = pw = border_mode
    else:
        ph, pw = border_mode
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    if flip:
        w = w[:, :, ::-1, ::-1]
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // subsample[0] + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // subsample[1] + 1
    out = np.zeros((n, o, max(ho, 0), max(wo, 0)))
    for b, f, i, j in itertools.product(range(n), range(o), range(max(ho, 0)), range(max(wo, 0))):
        acc = 0.0
        for ch, u, v in itertools.product(range(c), range(kh), range(kw)):
            acc += xp[b, ch, i * subsample[0] + u * dh, j * subsample[1] + v * dw] * w[f, ch, u, v]
        out[b, f, i, j] = acc
    return out


BORDERS = ["valid", "full", "half", 1, (2, 1)]
CASES = [(b, s, fl, d) for b in BORDERS for s in [(1, 1), (2, 1), (2, 3)]
         for fl in [True, False] for d in [(1, 1), (2, 1)]]


@pytest.mark.parametrize("border,sub,flip,dil", CASES)
def test_conv2d_matches_naive(border, sub, flip, dil):
    x, w = T.dtensor4("x"), T.dtensor4("w")
    out = nnet.conv2d(x, w, border_mode=border, subsample=sub, filter_flip=flip,
                      filter_dilation=dil)
    xv = RNG.normal(size=(2, 3, 7, 6))
    wv = RNG.normal(size=(4, 3, 3, 2))
    got = symgraph.function([x, w], out, mode="py")(xv, wv)
    want = naive_conv2d(xv, wv, border, sub, flip, dil)
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_conv2d_static_shape_and_float32():
    x = T.tensor("float32", (2, 3, 8, 8), name="x")
    w = T.tensor("float32", (5, 3, 3, 3), name="w")
    out = nnet.conv2d(x, w, border_mode="valid", subsample=(2, 2))
    assert out.type.shape == (2, 5, 3, 3) and out.dtype == "float32"
    out_full = nnet.conv2d(x, w, border_mode="full")
    assert out_full.type.shape == (2, 5, 10, 10)
    xv = RNG.normal(size=(2, 3, 8, 8)).astype("float32")
    wv = RNG.normal(size=(5, 3, 3, 3)).astype("float32")
    got = symgraph.function([x, w], out, mode="py")(xv, wv)
    assert got.dtype == np.float32 and got.shape == (2, 5, 3, 3)
    np.testing.assert_allclose(got, naive_conv2d(xv, wv, "valid", (2, 2), True, (1, 1)),
                               rtol=1e-4, atol=1e-4)
    # shape hints refine the static type
    x2, w2 = T.dtensor4("x2"), T.dtensor4("w2")
    hinted = nnet.conv2d(x2, w2, input_shape=(None, 1, 28, 28), filter_shape=(8, 1, 5, 5))
    assert hinted.type.shape == (None, 8, 24, 24)


def test_conv2d_errors_name_op_and_file():
    with pytest.raises(ValueError) as e:
        nnet.conv2d(T.dmatrix(), T.dtensor4())
    assert "Conv2d" in str(e.value) and "test_conv.py" in str(e.value)
    with pytest.raises(ValueError) as e:
        nnet.conv2d(T.tensor("float64", (1, 3, 5, 5)), T.tensor("float64", (2, 4, 3, 3)))
    assert "channels" in str(e.value) and "test_conv.py" in str(e.value)
    with pytest.raises(ValueError):
        nnet.conv2d(T.dtensor4(), T.dtensor4(), border_mode="same")
    x, w = T.dtensor4("x"), T.dtensor4("w")
    f = symgraph.function([x, w], nnet.conv2d(x, w), mode="py")
    with pytest.raises(Exception) as e:
        f(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 2, 2)))
    assert "channels" in str(e.value)


@pytest.mark.parametrize("border,sub,flip,dil", [
    ("valid", (1, 1), True, (1, 1)), ("full", (2, 1), True, (1, 1)),
    ("half", (1, 2), False, (2, 1)), ((1, 2), (2, 2), True, (1, 2))])
def test_conv2d_verify_grad(border, sub, flip, dil):
    xv = RNG.normal(size=(2, 2, 5, 6))
    wv = RNG.normal(size=(3, 2, 3, 2))
    verify_grad(lambda a, b: nnet.conv2d(a, b, border_mode=border, subsample=sub,
                                         filter_flip=flip, filter_dilation=dil),
                [xv, wv], rng=RNG)


def test_conv2d_gradients_are_convolutions_and_second_order():
    from symgraph.gradient import Lop
    from symgraph.ops import conv as C
    x, w = T.dtensor4("x"), T.dtensor4("w")
    out = nnet.conv2d(x, w, border_mode="half", subsample=(2, 1))
    gx, gw = Lop(out, [x, w], T.dtensor4("g"))
    assert isinstance(gx.owner.op, C.Conv2dGradInputs)
    assert isinstance(gw.owner.op, C.Conv2dGradWeights)
    # the gradient ops are differentiable in every argument
    gv = RNG.normal(size=(1, 2, 2, 4))
    xv, wv = RNG.normal(size=(1, 2, 4, 4)), RNG.normal(size=(2, 2, 3, 3))
    op = C.Conv2d("half", (2, 1))
    verify_grad(lambda a, b: C.Conv2dGradInputs(**op._like())(a, b, T.constant(xv)),
                [wv, gv], rng=RNG)
    verify_grad(lambda a, b: C.Conv2dGradWeights(**op._like())(a, b, T.constant(wv)),
                [xv, gv], rng=RNG)


def test_namespace():
    assert T.nnet.conv2d is ops_conv2d
