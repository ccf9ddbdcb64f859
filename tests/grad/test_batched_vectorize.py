"""The batched evaluation of Vectorized (batch_graph): equal to the per-item loop on random
graphs of the ops with a batching rule, the loop taken for an op without one, and the W6
Hessian (sum(tanh(A x)^2) + x.x/2) against its closed form."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import grad, hessian, jacobian
from symgraph.grad.batched import BasisRows, Vectorized, batch_graph, vectorize_graph
from symgraph.graph import Apply, Op, toposort
from symgraph.types import TensorType

RNG = np.random.default_rng(7)


def fn(inputs, outputs):
    return symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")


def vectorized_ops(outputs):
    return [n.op for n in toposort(outputs) if isinstance(n.op, Vectorized)]


def batched_and_looped(inputs, outputs, values):
    """Results with batching, then with the per-item loop, of the same compiled graph."""
    ops = vectorized_ops(outputs)
    assert ops
    f = fn(inputs, outputs)
    got = f(*values)
    for op in ops:
        op.use_batching = False
    want = f(*values)
    for op in ops:
        op.use_batching = True
    return got, want


def assert_same(got, want, rtol=1e-10):
    got = got if isinstance(got, list) else [got]
    want = want if isinstance(want, list) else [want]
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


# -- random graphs of the ops with a batching rule -------------------------------------

K, M = 4, 3           # the item is a vector of K (or a K x M matrix); shared A is K x K


def random_graph(rng, v, shared):
    """A random expression of `v`: elementwise ops (with shared operands broadcast), dimshuffles,
    dots in every orientation and reductions; returns a vector of it."""
    A, B, c = shared             # (K, K), (K, M), (K,)
    x, shape = v, (K,)
    for _ in range(6):
        kind = rng.integers(9)
        if shape == (M,):
            x, shape = T.dot(B, x), (K,)             # shared matrix . batched vector
        if len(shape) == 1:
            x, shape = [
                lambda: (T.tanh(x) * c + 1.5, shape),
                lambda: (T.dot(A, x), shape),
                lambda: (T.dot(x, A) - T.exp(-x), shape),
                lambda: (x.dimshuffle(0, "x") * c, (K, K)),
                lambda: (x.dimshuffle(0, "x") * B, (K, M)),
                lambda: (T.maximum(x, c) * x, shape),
                lambda: (T.dot(x, x) * c, shape),     # both operands batched
                lambda: (x.dimshuffle("x", 0).sum(axis=0) ** 2, shape),
                lambda: (T.sqr(x) + T.dot(x, c), shape),
            ][kind]()
            continue
        r, s = shape                                 # a batched matrix
        if r != K and kind in (1, 2, 5, 7):
            kind = 0
        x, shape = [
            lambda: (x.sum(axis=1), (r,)),
            lambda: (T.dot(x.T, c), (s,)),
            lambda: (T.dot(A, x).max(axis=1), (K,)),
            lambda: (x.T.sum(axis=0, keepdims=True).dimshuffle(1), (r,)),
            lambda: (T.dot(x, x.T).prod(axis=0), (r,)),   # both batched, matrix . matrix
            lambda: (T.dot(x.T, A).sum(axis=0), (K,)),    # batched matrix . shared matrix
            lambda: ((x * T.tanh(x)).sum(axis=None) * c, (K,)),
            lambda: (T.dot(x.T, B).min(axis=(0,)), (M,)),
            lambda: (T.exp(x).sum(axis=-2), (s,)),
        ][kind]()
    return x if x.ndim == 1 else x.sum(axis=0)


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_batched_equals_loop(seed):
    rng = np.random.default_rng(seed)
    v = T.dvector("v")
    A, B, c = T.dmatrix("A"), T.dmatrix("B"), T.dvector("c")
    expr = random_graph(rng, v, (A, B, c))
    J = jacobian(expr, [v, A, B, c], disconnected_inputs="ignore")
    op = vectorized_ops(J)[0]
    assert op.batched_function() is not None
    vals = [rng.normal(size=K) * 0.5, rng.normal(size=(K, K)) * 0.5,
            rng.normal(size=(K, M)) * 0.5, rng.normal(size=K)]
    got, want = batched_and_looped([v, A, B, c], J, vals)
    assert_same(got, want)
    # the batched value is BasisRows: perform took the graph built for identity rows
    assert op._batched[op.batched] is not False
    assert got[0].shape[1:] == (K,) and got[1].shape[1:] == (K, K)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vectorize_graph_rules_shared_and_summed_outputs(dtype):
    """vectorize_graph on a hand-made inner graph: batched matrices, dots in every orientation,
    reductions with negative/None axes, an output of shared inputs only, an output that is
    a batched input; a summed output through the L_op of the op."""
    tol = 1e-5 if dtype == "float32" else 1e-10
    X = T.tensor(dtype, shape=(None, None), name="X")      # the batched item
    S = T.tensor(dtype, shape=(None, None), name="S")      # shared
    w = T.tensor(dtype, shape=(None,), name="w")
    outs = [T.dot(S, X), T.dot(X, S.T), T.dot(w, X), T.dot(X, w), T.dot(X, X.T),
            X.sum(axis=-1), X.max(axis=None), X.prod(axis=0, keepdims=True),
            T.dot(S, w) * 2, X, (X > 0).any(axis=1), T.switch(X > 0, X, w * 0.5),
            X[1:, ::-1], X[0] * X[:, -1], T.set_subtensor(X[1], w), T.inc_subtensor(S[2:], X[:2]),
            T.inc_subtensor(X[:, 1], w[0])]
    batch = T.tensor(dtype, shape=(None, None, None), name="Xs")
    res = vectorize_graph(outs, [X], [batch])
    op = res[0].owner.op
    fn_, out_batched = op.batched_function()
    assert out_batched[8] is False and all(out_batched[k] for k in range(8))
    n = 3
    vals = [RNG.normal(size=(n, 4, 4)).astype(dtype), RNG.normal(size=(4, 4)).astype(dtype),
            RNG.normal(size=4).astype(dtype)]
    got, want = batched_and_looped([batch, S, w], res, vals)
    assert_same(got, want, tol)
    Xs, Sv, wv = vals
    np.testing.assert_allclose(got[0], np.einsum("ij,bjk->bik", Sv, Xs), rtol=tol, atol=tol)
    np.testing.assert_allclose(got[8], np.broadcast_to(Sv @ wv * 2, (n, 4)), rtol=tol)
    np.testing.assert_allclose(got[12], Xs[:, 1:, ::-1])
    want = np.broadcast_to(Sv, (n, 4, 4)).copy()
    want[:, 2:] += Xs[:, :2]
    np.testing.assert_allclose(got[15], want, rtol=tol)
    for r, o in zip(got, res):
        assert r.dtype == o.dtype and r.ndim == o.ndim
    # the gradient Vectorized sums the shared inputs' gradients over the batch
    cost = sum(T.sum(r ** 2) for k, r in enumerate(res) if k not in (9, 10))
    g = grad(cost, [batch, S, w])
    assert all(o.batched_function() is not None for o in vectorized_ops(g))
    got, want = batched_and_looped([batch, S, w], g, vals)
    assert_same(got, want, tol * 10)
    # an empty batch
    empty = [np.zeros((0, 4, 4), dtype)] + vals[1:]
    got, want = batched_and_looped([batch, S, w], res, empty)
    assert_same(got, want)
    got, want = batched_and_looped([batch, S, w], g, empty)
    assert_same(got, want)


def test_batched_graph_leaves_its_input_values_alone():
    """The batched graph is compiled in the default mode (rewrites, inplace ops): the values
    the op is given, shared or batched, must come back unchanged."""
    X, S = T.dmatrix("X"), T.dmatrix("S")
    res = vectorize_graph([T.exp(S) * X + 1, T.tanh(X) * 2 - S], [X], [T.tensor3("Xs")])
    batch, Sv = RNG.normal(size=(3, 2, 2)), RNG.normal(size=(2, 2))
    keep = [batch.copy(), Sv.copy()]
    Xs = res[0].owner.inputs[0]
    got, want = batched_and_looped([Xs, S], res, [batch, Sv])
    assert_same(got, want)
    np.testing.assert_array_equal(batch, keep[0])
    np.testing.assert_array_equal(Sv, keep[1])
    np.testing.assert_allclose(got[0], np.exp(Sv) * batch + 1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_with_identity_rows(dtype):
    """Batched over BasisRows, dot(e_i, b) is b[i] and dot(a, e_i) is a[..., i]: the batched
    graph uses b and a.T; a dtype that a product would upcast keeps the general rule."""
    x = T.tensor(dtype, shape=(None,), name="x")
    w = T.tensor(dtype, shape=(None,), name="w")
    S = T.tensor(dtype, shape=(None, None), name="S")
    D = T.dmatrix("D")
    outs = [T.dot(x, w), T.dot(w, x), T.dot(x, S), T.dot(S, x), T.dot(D, x) + T.dot(x, D),
            T.exp(x) * T.dot(x, S)]
    res = vectorize_graph(outs, [x], [BasisRows()(w)])
    op = res[0].owner.op
    wv = RNG.normal(size=4).astype(dtype)
    Sv, Dv = RNG.normal(size=(4, 4)).astype(dtype), RNG.normal(size=(4, 4))
    got, want = batched_and_looped([w, S, D], res, [wv, Sv, Dv])
    assert op._batched[(True, False, False, False)] is not False
    assert_same(got, want, 1e-5 if dtype == "float32" else 1e-12)
    for k, r in enumerate([wv, wv, Sv, Sv.T, Dv + Dv.T, np.exp(np.eye(4)) * Sv]):
        np.testing.assert_allclose(got[k], np.broadcast_to(r, got[k].shape), rtol=1e-5)


class _NoRule(Op):
    """numpy.cumsum(x): an op with no batching rule."""

    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.cumsum(inputs[0]).astype(node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [_NoRule()(output_grads[0][::-1])[::-1]]


def test_fallback_to_loop_for_an_op_without_rule():
    x = T.dvector("x")
    y = T.tanh(_NoRule()(T.exp(x)))
    J = jacobian(y, x)
    op = vectorized_ops([J])[0]
    assert op.batched_function() is None
    assert batch_graph(op.inner_inputs, op.inner_outputs, op.batched) is None
    xv = RNG.normal(size=5)
    s = np.cumsum(np.exp(xv))
    want = (1 - np.tanh(s) ** 2)[:, None] * np.tril(np.ones((5, 5))) * np.exp(xv)
    np.testing.assert_allclose(fn([x], J)(xv), want, rtol=1e-10)
    # an op without rule that does not depend on the batched input does not block batching
    c = _NoRule()(x)
    J2 = jacobian(T.tanh(x) * c, x, consider_constant=[c])
    assert vectorized_ops([J2])[0].batched_function() is not None
    got, want = batched_and_looped([x], [J2], [xv])
    assert_same(got, want)
    np.testing.assert_allclose(got[0], np.diag((1 - np.tanh(xv) ** 2) * np.cumsum(xv)),
                               rtol=1e-10)


def _closed_form(A, x):
    t = np.tanh(A @ x)
    return (A.T * (2 * (1 - t * t) * (1 - 3 * t * t))) @ A + np.eye(len(x))


def test_w6_hessian_batched_matches_closed_form_and_stays_differentiable():
    A, x = T.dmatrix("A"), T.dvector("x")
    cost = (T.tanh(T.dot(A, x)) ** 2).sum() + T.dot(x, x) / 2
    H = hessian(cost, x)
    op = vectorized_ops([H])[0]
    assert op.batched_function() is not None
    # with identity rows, dot(A, e_i) is A[:, i]: one matrix product is left (A.T d A)
    fn_, _ = op.batched_function(op.batched)
    dots = [n for n in toposort(fn_.maker.fgraph.outputs)
            if type(n.op).__name__ in ("Dot", "Gemm", "TensorDot") and n.outputs[0].ndim == 2]
    assert len(dots) == 1
    for n in (1, 6, 40):
        Av, xv = RNG.normal(size=(n, n)) / np.sqrt(n), RNG.normal(size=n)
        got, want = batched_and_looped([A, x], [H], [Av, xv])
        assert_same(got, want)
        np.testing.assert_allclose(got[0], _closed_form(Av, xv), rtol=1e-10, atol=1e-12)
    # d trace(H) / dx through the L_op of the batched op (itself batched)
    g = grad(T.sum(H * T.eye(x.shape[0])), x)
    n = 5
    Av, xv = RNG.normal(size=(n, n)), RNG.normal(size=n)
    eps, num = 1e-6, np.zeros(n)
    for i in range(n):
        d = np.zeros(n)
        d[i] = eps
        up, down = _closed_form(Av, xv + d), _closed_form(Av, xv - d)
        num[i] = (np.trace(up) - np.trace(down)) / (2 * eps)
    got, want = batched_and_looped([A, x], [g], [Av, xv])
    assert_same(got, want, 1e-9)
    np.testing.assert_allclose(got[0], num, rtol=1e-5, atol=1e-6)
