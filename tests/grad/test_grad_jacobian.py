"""jacobian, hessian, hessian_vector_product, and the Vectorized op they are built on.

Graph size (nodes of the outer graph plus those of every inner graph), measured by
test_hessian_graph_size_does_not_grow_with_n: the Hessian of
sum(tanh(A x)^2) + 0.5 x.x has the same node count for n = 3 and n = 300 (59 nodes each
when measured; the test prints them, run with -s).
"""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import hessian, hessian_vector_product, jacobian, verify_grad
from symgraph.grad.batched import Vectorized, vectorize_graph
from symgraph.graph import toposort

RNG = np.random.default_rng(23)


def fn(inputs, outputs):
    return symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")


def count_nodes(outputs):
    """Apply nodes of the graph, including those of Vectorized inner graphs."""
    total, stack = 0, [list(outputs)]
    while stack:
        nodes = toposort(stack.pop())
        total += len(nodes)
        for node in nodes:
            if isinstance(node.op, Vectorized):
                stack.append(node.op.inner_outputs)
    return total


def test_jacobian_values_and_shapes():
    x = T.dvector("x")
    J = jacobian(x ** 2, x)
    assert J.ndim == 2
    np.testing.assert_array_equal(fn([x], J)(np.array([1.0, 2.0, 3.0])), np.diag([2, 4, 6]))
    W = T.dmatrix("W")
    y = T.tanh(T.dot(W, x))
    Jw, Jx = jacobian(y, [W, x])
    Wv, xv = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    jw, jx = fn([W, x], [Jw, Jx])(Wv, xv)
    d = 1 - np.tanh(Wv @ xv) ** 2
    assert jw.shape == (2, 2, 3) and jx.shape == (2, 3)
    np.testing.assert_allclose(jx, d[:, None] * Wv)
    want = np.zeros((2, 2, 3))
    for i in range(2):
        want[i, i] = d[i] * xv
    np.testing.assert_allclose(jw, want)
    # a scalar expression gives the gradient
    g = jacobian(T.sum(x ** 3), x)
    np.testing.assert_allclose(fn([x], g)(xv), 3 * xv ** 2)
    with pytest.raises(TypeError, match="vector"):
        jacobian(W * 2, W)


def test_jacobian_empty_float32_and_integer_wrt():
    x = T.fvector("x")
    J = jacobian(T.exp(x), x)
    assert J.dtype == "float32"
    out = fn([x], J)(np.zeros(0, "float32"))
    assert out.shape == (0, 0) and out.dtype == np.float32
    np.testing.assert_allclose(fn([x], J)(np.array([0.0, 1.0], "float32")),
                               np.diag(np.exp([0.0, 1.0])), rtol=1e-6)
    i = T.ivector("i")
    Ji = jacobian(T.exp(x) * i, i)
    assert fn([x, i], Ji)(np.ones(2, "float32"), np.ones(2, "int32")).tolist() == \
        [[0, 0], [0, 0]]


def _closed_form(A, x):
    t = np.tanh(A @ x)
    return A.T @ np.diag(2 * (1 - t * t) * (1 - 3 * t * t)) @ A + np.eye(len(x))


def _hessian_graph(n):
    A = T.tensor("float64", shape=(n, n), name="A")
    x = T.tensor("float64", shape=(n,), name="x")
    cost = T.sum(T.tanh(T.dot(A, x)) ** 2) + 0.5 * T.dot(x, x)
    return A, x, hessian(cost, x)


@pytest.mark.parametrize("n", [3, 300])
def test_hessian_closed_form(n):
    A, x, H = _hessian_graph(n)
    Av = RNG.normal(size=(n, n)) / np.sqrt(n)
    xv = RNG.normal(size=n)
    got = fn([A, x], H)(Av, xv)
    np.testing.assert_allclose(got, _closed_form(Av, xv), rtol=1e-10, atol=1e-12)


def test_hessian_graph_size_does_not_grow_with_n():
    sizes = {n: count_nodes([_hessian_graph(n)[2]]) for n in (3, 300)}
    print(f"hessian node counts: n=3 -> {sizes[3]}, n=300 -> {sizes[300]}")
    assert sizes[3] == sizes[300]
    assert sizes[3] < 80


def test_jacobian_graph_size_and_static_shape():
    for n in (3, 300):
        x = T.tensor("float64", shape=(n,), name="x")
        J = jacobian(T.sin(x) * T.sum(x), x)
        assert J.type.shape == (n, n)
        assert count_nodes([J]) < 30


def test_hessian_list_and_vector_product():
    x, y, p, q = T.dvectors("x", "y", "p", "q")
    cost = T.sum(T.sin(x) * T.exp(y)) + T.sum(x ** 3)
    Hx, Hy = hessian(cost, [x, y])
    xv, yv, pv, qv = (RNG.normal(size=3) for _ in range(4))
    hx, hy = fn([x, y], [Hx, Hy])(xv, yv)
    np.testing.assert_allclose(hx, np.diag(-np.sin(xv) * np.exp(yv) + 6 * xv))
    np.testing.assert_allclose(hy, np.diag(np.sin(xv) * np.exp(yv)))
    hvx, hvy = hessian_vector_product(cost, [x, y], [p, q])
    a, b = fn([x, y, p, q], [hvx, hvy])(xv, yv, pv, qv)
    # the full Hessian over (x, y), times (p, q)
    cross = np.diag(np.cos(xv) * np.exp(yv))
    np.testing.assert_allclose(a, hx @ pv + cross @ qv)
    np.testing.assert_allclose(b, cross @ pv + hy @ qv)
    with pytest.raises(TypeError, match="vector"):
        hessian(cost, T.dmatrix())


def test_hessian_and_jacobian_are_differentiable():
    def f(a):
        return hessian(T.sum(T.tanh(a) ** 3) + T.sum(a[:-1] * a[1:] ** 2), a)
    verify_grad(f, [RNG.uniform(-1, 1, 4)], rng=RNG)
    verify_grad(lambda a, b: jacobian(T.sin(a) * T.dot(b, a), [a, b])[1],
                [RNG.uniform(-1, 1, 3), RNG.uniform(-1, 1, 3)], rng=RNG)
    # third derivative of a scalar function of a vector, through two Vectorized levels
    x = T.dvector("x")
    H = hessian(T.sum(x ** 4), x)
    d3 = jacobian(H[0], x)
    np.testing.assert_allclose(fn([x], d3)(np.array([1.0, 2.0])), [[24.0, 0], [0, 0]])


def test_vectorized_op_summed_outputs_and_gradient():
    a = T.dvector("a")        # batched
    w = T.dmatrix("w")        # shared
    out = T.tanh(T.dot(w, a))
    b = T.dmatrix("b")
    stacked, summed = vectorize_graph([out, T.sum(out * a[0])], [a], [b])
    bv, wv = RNG.normal(size=(5, 3)), RNG.normal(size=(2, 3))
    s1, s2 = fn([b, w], [stacked, summed])(bv, wv)
    want = np.tanh(bv @ wv.T)
    np.testing.assert_allclose(s1, want)
    np.testing.assert_allclose(s2, [np.sum(r * bb[0]) for r, bb in zip(want, bv)])
    verify_grad(_vec, [bv, wv], rng=RNG)


def _vec(bb, ww):
    """A Vectorized op with a stacked and a summed output, differentiated."""
    a = T.dvector("a")
    w = T.dmatrix("w")
    op = Vectorized([a, w], [T.tanh(T.dot(w, a)), T.sum(T.sin(w) * a[0])],
                    batched=[True, False], summed=[False, True])
    stacked, summed = op(bb, ww)
    return T.sum(stacked ** 2) + summed * 3
