"""The rewrites "xent_softmax_1hot" and "xent_softmax_1hot_dx" (symgraph/opt/rules/nnet.py):
each can be excluded by name, leaves the other's work alone, and keeps the results of the
unfused graph (mode='py')."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops import nnet as N

RNG = np.random.default_rng(17)


def _ops(f):
    return {type(n.op) for n in f.maker.fgraph.apply_nodes}


@pytest.mark.parametrize("excluded,present,absent", [
    ("xent_softmax_1hot", {N.CrossentropySoftmax1HotDx, N.NegLogProb1Hot, N.LogSoftmax},
     {N.CrossentropySoftmax1Hot, N.LogSoftmaxGrad}),
    ("xent_softmax_1hot_dx", {N.LogSoftmax, N.LogSoftmaxGrad, N.NegLogProb1Hot},
     {N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx}),
    (None, {N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx},
     {N.LogSoftmax, N.LogSoftmaxGrad, N.NegLogProb1Hot, N.NegLogProb1HotGrad}),
])
def test_each_rule_by_name(excluded, present, absent):
    x, y = T.dmatrix("x"), T.lvector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    outs = [loss, symgraph.grad(loss, x)]
    mode = symgraph.Mode(excluding=[excluded] if excluded else [])
    f = symgraph.function([x, y], outs, mode=mode)
    ops = _ops(f)
    # without the gradient rule the log-softmax is still read by LogSoftmaxGrad, so the
    # loss is not fused either
    assert present <= ops and not absent & ops, ops
    if excluded is None:
        reasons = {n.tag.get("reason") for n in f.maker.fgraph.apply_nodes}
        assert {"xent_softmax_1hot", "xent_softmax_1hot_dx"} <= reasons
    xv, yv = RNG.normal(size=(5, 4)) * 3, np.array([0, 3, -1, 2, 1])
    for got, want in zip(f(xv, yv), symgraph.function([x, y], outs, mode="py")(xv, yv)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)
