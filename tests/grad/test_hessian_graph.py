"""What the Hessian's graph computes: zero gradient terms (fill's gradient for the input
that only gives a shape) are left out instead of flowing back as 0 * x; jacobian's identity
rows are made inside the Vectorized op (never an n x n input), where a product writes into
them in place. Values against closed forms, finite differences and the per-item loop."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import Lop, Rop, grad, hessian, jacobian
from symgraph.grad.batched import Vectorized
from symgraph.graph import Constant, toposort

RNG = np.random.default_rng(11)


def fn(inputs, outputs, mode=None):
    return symgraph.function(inputs, outputs, mode=mode, on_unused_input="ignore")


def vectorized_op(outputs):
    (op,) = [n.op for n in toposort(outputs) if isinstance(n.op, Vectorized)]
    return op


def zero_fills(outputs):
    """Nodes of the (unrewritten) graph that are fills of a zero constant."""
    found = []
    for n in toposort(outputs):
        sop = getattr(n.op, "scalar_op", None)
        if type(sop).__name__ == "Second" and isinstance(n.inputs[1], Constant) and \
                not np.asarray(n.inputs[1].data).any():
            found.append(n)
    return found


def test_second_derivative_has_no_zero_terms():
    """grad seeds ones_like(cost); differentiating the gradient again sends fill's zero
    gradient into the cost's graph, which gave 0 * x terms (not folded: x may be inf)."""
    x, v = T.dvector("x"), T.dvector("v")
    cost = T.sum(T.exp(x) * x) + T.dot(x, x) / 2
    hv = Lop(grad(cost, x), x, v)
    assert zero_fills([hv]) == []
    xv, vv = RNG.normal(size=5), RNG.normal(size=5)
    want = (np.exp(xv) * (xv + 2) + 1) * vv          # the Hessian is diagonal
    for mode in ("py", "FAST_RUN"):
        np.testing.assert_allclose(fn([x, v], hv, mode)(xv, vv), want, rtol=1e-12)
    # x = inf: the terms that are left give what numpy gives
    got = fn([x, v], hv, "py")(np.array([np.inf, 1.0]), np.array([1.0, 1.0]))
    assert np.isposinf(got[0]) and np.isfinite(got[1])


def test_disconnected_and_zero_gradients_keep_their_meaning():
    """A wrt reached only through a zero term still gets zeros (not an error) and a wrt
    not reached at all still raises."""
    x, y = T.dvector("x"), T.dvector("y")
    g = grad(T.sum(T.ones_like(x) * y), x)
    np.testing.assert_array_equal(fn([x, y], g)(np.ones(3), np.ones(3)), np.zeros(3))
    with pytest.raises(symgraph.gradient.DisconnectedInputError):
        grad(T.sum(y), x)


@pytest.mark.parametrize("n", [1, 4, 17])
def test_jacobian_identity_rows_never_an_input(n):
    x = T.dvector("x")
    A = T.dmatrix("A")
    y = T.tanh(T.dot(A, x)) * x
    J = jacobian(y, x)
    op = vectorized_op([J])
    assert op.identity[0] and op.batched[0]
    # the outer value for the identity slot is the expression, a vector: no eye outside
    assert J.owner.inputs[0].ndim == 1
    Av, xv = RNG.normal(size=(n, n)), RNG.normal(size=n)
    t = np.tanh(Av @ xv)
    want = ((1 - t * t) * xv)[:, None] * Av + np.diag(t)
    f = fn([A, x], J)
    np.testing.assert_allclose(f(Av, xv), want, rtol=1e-12, atol=1e-14)
    op.use_batching = False                           # the per-item loop over e_i
    np.testing.assert_allclose(fn([A, x], J, "py")(Av, xv), want, rtol=1e-12, atol=1e-14)
    op.use_batching = True


def test_jacobian_of_empty_and_float32_expressions():
    x = T.fvector("x")
    J = jacobian(T.exp(x) * 2, x)
    for n in (0, 3):
        xv = RNG.normal(size=n).astype("float32")
        got = fn([x], J)(xv)
        assert got.dtype == np.float32 and got.shape == (n, n)
        np.testing.assert_allclose(got, np.diag(np.exp(xv) * 2), rtol=1e-6)
        op = vectorized_op([J])
        op.use_batching = False
        np.testing.assert_allclose(fn([x], J, "py")(xv), got, rtol=1e-6)
        op.use_batching = True


def _closed_form(A, x):
    t = np.tanh(A @ x)
    return (A.T * (2 * (1 - t * t) * (1 - 3 * t * t))) @ A + np.eye(len(x))


def test_w6_hessian_graph_is_one_scaled_product_into_the_identity():
    """H = A^T diag(2 (1 - t^2)(1 - 3 t^2)) A + I: the batched graph is the identity, one
    n x n product of a scaled A and a gemm writing into the identity in place."""
    A, x = T.dmatrix("A"), T.dvector("x")
    cost = (T.tanh(T.dot(A, x)) ** 2).sum() + T.dot(x, x) / 2
    H = hessian(cost, x)
    f = fn([A, x], H)
    n = 30
    Av, xv = RNG.normal(size=(n, n)) / np.sqrt(n), RNG.normal(size=n)
    np.testing.assert_allclose(f(Av, xv), _closed_form(Av, xv), rtol=1e-10, atol=1e-12)
    # the closed form against central differences of the gradient
    g = fn([A, x], grad(cost, x))
    eps, num = 1e-6, np.zeros((n, n))
    for i in range(n):
        d = np.zeros(n)
        d[i] = eps
        num[i] = (g(Av, xv + d) - g(Av, xv - d)) / (2 * eps)
    np.testing.assert_allclose(_closed_form(Av, xv), num, rtol=1e-5, atol=1e-7)
    op = vectorized_op([H])
    batched, _ = op.batched_function()
    nodes = batched.maker.fgraph.toposort()
    names = [type(nd.op).__name__ for nd in nodes]
    big = [nd for nd in nodes if nd.outputs[0].ndim == 2 and None in nd.outputs[0].type.shape
           and type(nd.op).__name__ not in ("DimShuffle",)
           and all(s != 1 for s in nd.outputs[0].type.shape)]
    assert names.count("Gemm") == 1 and "Eye" in names
    gemm = next(nd for nd in nodes if type(nd.op).__name__ == "Gemm")
    assert gemm.op.inplace and type(gemm.inputs[0].owner.op).__name__ == "Eye"
    # n x n work: the identity, one elementwise pass (A scaled), the gemm
    assert len(big) == 3, [str(nd.op) for nd in big]


def test_rop_and_lop_through_an_identity_vectorized():
    x, v = T.dvector("x"), T.dvector("v")
    y = T.sin(x) * T.sum(x ** 2)
    J = jacobian(y, x)
    xv, vv = RNG.normal(size=4), RNG.normal(size=4)
    Jv = fn([x, v], Rop(J, x, v))(xv, vv)
    eps = 1e-6
    jf = fn([x], J)
    num = (jf(xv + eps * vv) - jf(xv - eps * vv)) / (2 * eps)
    np.testing.assert_allclose(Jv, num, rtol=1e-6, atol=1e-8)
    # the identity input gets no gradient: it only gives the number of rows
    W = T.dmatrix("W")
    lop = Lop(J, x, W)
    Wv = RNG.normal(size=(4, 4))
    got = fn([x, W], lop)(xv, Wv)
    num = np.array([(np.sum(jf(xv + eps * e) * Wv) - np.sum(jf(xv - eps * e) * Wv)) / (2 * eps)
                    for e in np.eye(4)])
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_hessian_outer_graph_reads_x_for_the_rows():
    """The gradient has x's shape, so x gives the number of identity rows: the outer graph
    computes no gradient just for its length."""
    A, x = T.dmatrix("A"), T.dvector("x")
    cost = T.sum(T.exp(T.dot(A, x))) + T.sum(x ** 3)
    H = hessian(cost, x)
    assert H.owner.inputs[0] is x
    f = fn([A, x], H)
    assert [type(n.op).__name__ for n in f.maker.fgraph.toposort()] == ["Vectorized"]
    Av, xv = RNG.normal(size=(5, 5)), RNG.normal(size=5)
    want = (Av.T * np.exp(Av @ xv)) @ Av + np.diag(6 * xv)
    np.testing.assert_allclose(f(Av, xv), want, rtol=1e-10)
    # wrt a list: one Hessian each, each against its own vector
    y = T.dvector("y")
    Hx, Hy = hessian(T.sum(x ** 2) * T.sum(y ** 2), [x, y])
    assert Hx.owner.inputs[0] is x and Hy.owner.inputs[0] is y
    xv, yv = RNG.normal(size=3), RNG.normal(size=4)
    got = fn([x, y], [Hx, Hy])(xv, yv)
    np.testing.assert_allclose(got[0], 2 * np.sum(yv ** 2) * np.eye(3), rtol=1e-12)
    np.testing.assert_allclose(got[1], 2 * np.sum(xv ** 2) * np.eye(4), rtol=1e-12)
