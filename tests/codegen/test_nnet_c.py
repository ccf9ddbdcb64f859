"""Softmax, log-softmax, their gradients and the integer-label crossentropies in C (mode
FAST_RUN) against the numpy executor (mode='py'): axes, 1-d to 3-d, strided and transposed
inputs, float32/float64, extreme logits, negative and out-of-range labels."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops import nnet as N

RNG = np.random.default_rng(3)
C_OPS = (N.Softmax, N.LogSoftmax, N.SoftmaxGrad, N.LogSoftmaxGrad, N.NegLogProb1Hot,
         N.NegLogProb1HotGrad, N.CrossentropyCategorical1Hot,
         N.CrossentropyCategorical1HotGrad)


def _compile_both(inputs, outputs):
    # the unfused kernels: the one-pass softmax crossentropy has its own tests
    # (test_xent_softmax_c.py)
    unfused = symgraph.Mode("FAST_RUN", excluding=["fused_xent"])
    fc = symgraph.function(inputs, outputs, mode=unfused, on_unused_input="ignore")
    fp = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return fc, fp


def _nnet_places(f):
    return {type(n.op): w for n, w in f.maker.fgraph.placement.items()
            if isinstance(n.op, C_OPS)}


def _close(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
    eps = np.finfo(got.dtype).eps
    np.testing.assert_allclose(got, want, rtol=64 * eps, atol=64 * eps, equal_nan=True,
                               err_msg=what)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_and_gradients_match_py(compiledir, dtype):
    x3 = T.tensor(dtype, shape=(None, None, None))
    x1 = T.tensor(dtype, shape=(None,))
    m = T.tensor(dtype, shape=(None, None))
    y = T.lvector("y")
    outs = []
    for axis in (0, 1, -1):
        outs += [T.nnet.softmax(x3, axis=axis), T.nnet.log_softmax(x3, axis=axis)]
        outs.append(T.grad(T.sum(T.nnet.softmax(x3, axis=axis) * x3), x3))
        outs.append(T.grad(T.sum(T.nnet.log_softmax(x3, axis=axis) ** 2), x3))
    outs += [T.nnet.softmax(x1), T.nnet.log_softmax(x1)]
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(m), y)
    outs += [loss, T.grad(loss.mean(), m)]
    fc, fp = _compile_both([x3, x1, m, y], outs)
    places = _nnet_places(fc)
    assert set(places.values()) == {"c"} and N.NegLogProb1HotGrad in places and \
        N.SoftmaxGrad in places and N.LogSoftmaxGrad in places, places
    a = RNG.normal(size=(4, 5, 6)).astype(dtype) * 3
    for k, view in enumerate([a, a.transpose(1, 2, 0), a[:, ::-2, 1:], np.zeros((2, 0, 3),
                                                                                  dtype)]):
        lab = np.array([0, -1, 6, 2, 3, 5, 1])
        mat = RNG.normal(size=(7, 7)).astype(dtype)
        vals = [view, a[0, 0, ::-1] * 100, mat.T if k % 2 else mat, lab]
        for j, (got, want) in enumerate(zip(fc(*vals), fp(*vals))):
            _close(got, want, f"{outs[j].owner.op} view {k}")


def test_extreme_logits_and_labels(compiledir):
    x, y = T.dmatrix("x"), T.ivector("y")
    p = T.dmatrix("p")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y)
    raw = T.nnet.categorical_crossentropy(p, y)          # no softmax: -log(p[label])
    outs = [T.nnet.softmax(x), T.nnet.log_softmax(x), loss, T.grad(loss.sum(), x), raw,
            T.grad(raw.sum(), p)]
    fc, fp = _compile_both([x, y, p], outs)
    assert N.CrossentropyCategorical1Hot in _nnet_places(fc)
    a = np.array([[1e4, -1e4, 0.0], [-np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0], [5.0, 5.0, 5.0]])
    probs = np.array([[0.2, 0.8, 0.0], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]])
    lab = np.array([1, 0, -1, 2], dtype="int32")
    with np.errstate(all="ignore"):
        for j, (got, want) in enumerate(zip(fc(a, lab, probs), fp(a, lab, probs))):
            _close(got, want, str(outs[j].owner.op))
    bad = np.array([0, 3, 0, 0], dtype="int32")
    for f in (fc, fp):
        with pytest.raises(IndexError, match="out of range"):
            f(a, bad, probs)
