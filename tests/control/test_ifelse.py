"""ifelse: values, laziness in every mode (also after rewrites), gradients, Rop, errors,
and the Theano tutorial's "Conditions" chapter."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.gradient import Rop, grad, verify_grad
from symgraph.ifelse import IfElse, ifelse

from control_helpers import MODES, Counted, Explodes


@pytest.mark.parametrize("mode", MODES)
def test_tutorial_conditions(mode):
    # the tutorial's example, imports renamed (theano -> symgraph)
    a, b = T.scalars('a', 'b')
    x, y = T.matrices('x', 'y')
    z_switch = T.switch(T.lt(a, b), T.mean(x), T.mean(y))
    z_lazy = ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    f_switch = symgraph.function([a, b, x, y], z_switch, mode=mode)
    f_lazyifelse = symgraph.function([a, b, x, y], z_lazy, mode=mode)
    val1, val2 = 0., 1.
    big_mat1 = np.ones((100, 100))
    big_mat2 = np.zeros((100, 100))
    assert f_switch(val1, val2, big_mat1, big_mat2) == 1.0
    assert f_lazyifelse(val1, val2, big_mat1, big_mat2) == 1.0
    assert f_lazyifelse(val2, val1, big_mat1, big_mat2) == 0.0
    assert f_switch(val2, val1, big_mat1, big_mat2) == 0.0


@pytest.mark.parametrize("mode", MODES)
def test_only_the_taken_branch_runs(mode):
    c = T.bscalar('c')
    x = T.dvector('x')
    then_op, else_op = Counted("then"), Counted("else")
    out = ifelse(c, T.exp(then_op(x)).sum() + 1, (else_op(x) * 3).sum())
    f = symgraph.function([c, x], out, mode=mode)
    xv = np.array([0.5, -1.0, 2.0])
    assert np.isclose(f(1, xv), np.exp(2 * xv).sum() + 1)
    assert (then_op.calls, else_op.calls) == (1, 0)
    assert np.isclose(f(0, xv), (6 * xv).sum())
    assert (then_op.calls, else_op.calls) == (1, 1)
    f(0, xv)
    f(0, xv)
    assert (then_op.calls, else_op.calls) == (1, 3)


@pytest.mark.parametrize("mode", MODES)
def test_branch_that_would_raise_is_not_run(mode):
    c = T.scalar('c')
    x = T.dmatrix('x')
    # the same sub-expression exp(x) also appears in the taken branch: merging may not
    # pull the raising branch's work out
    out = ifelse(T.gt(c, 0), T.exp(x).sum(), Explodes()(T.exp(x)).sum())
    f = symgraph.function([c, x], out, mode=mode)
    xv = np.arange(6.).reshape(2, 3)
    assert np.isclose(f(1.0, xv), np.exp(xv).sum())
    with pytest.raises(RuntimeError, match="not taken"):
        f(-1.0, xv)


@pytest.mark.parametrize("mode", MODES)
def test_lists_dtypes_and_static_types(mode):
    c = T.iscalar('c')
    x = T.fmatrix('x')
    i = T.lvector('i')
    y = T.ftensor3('y')
    outs = ifelse(c, [x * 2, i + 1, y.sum(axis=0)], [x.T, i * i, y[0]])
    assert isinstance(outs, list) and len(outs) == 3
    f = symgraph.function([c, x, i, y], outs, mode=mode)
    xv = np.arange(9, dtype="float32").reshape(3, 3)
    iv = np.array([2, 3], dtype="int64")
    yv = np.random.default_rng(0).random((2, 3, 3)).astype("float32")
    for cv, want in [(3, [xv * 2, iv + 1, yv.sum(axis=0)]), (0, [xv.T, iv * iv, yv[0]])]:
        got = f(cv, xv, iv, yv)
        for g, w, o in zip(got, want, outs):
            np.testing.assert_allclose(g, w, rtol=1e-6)
            assert g.dtype == w.dtype == o.dtype
            assert g.ndim == o.ndim
    # a scalar constant in one branch takes the other branch's dtype
    z = ifelse(c, x.sum(), 0)
    assert z.dtype == "float32"
    assert symgraph.function([c, x], z, mode=mode)(0, xv) == 0


def test_static_shape_kept_where_the_branches_agree():
    c = T.iscalar('c')
    a = T.tensor(dtype="float64", shape=(3, None))
    b = T.tensor(dtype="float64", shape=(3, 4))
    z = ifelse(c, a, b)
    assert z.type.shape == (3, None)
    assert isinstance(z.owner.op, IfElse)


def test_module_is_callable_and_importable():
    import symgraph.ifelse as mod
    c, x, y = T.iscalar('c'), T.dscalar('x'), T.dscalar('y')
    f = symgraph.function([c, x, y], mod(c, x, y), mode="py")
    assert f(1, 2.0, 3.0) == 2.0 and f(0, 2.0, 3.0) == 3.0
    assert symgraph.ifelse.ifelse is ifelse
    g = symgraph.function([c, x, y], symgraph.ifelse(c, x, y), mode="py")
    assert g(0, 2.0, 3.0) == 3.0


@pytest.mark.parametrize("mode", ["py", "FAST_RUN"])
def test_gradient_through_each_branch(mode):
    c = T.iscalar('c')
    x, w = T.dvector('x'), T.dvector('w')
    out = ifelse(c, (T.sin(x) * w).sum(), (x ** 3).sum() + w.sum() * 2)
    gx, gw = grad(out, [x, w])
    f = symgraph.function([c, x, w], [gx, gw], mode=mode)
    xv, wv = np.array([0.1, 0.7, -0.3]), np.array([1.0, 2.0, -1.0])
    got_x, got_w = f(1, xv, wv)
    np.testing.assert_allclose(got_x, np.cos(xv) * wv)
    np.testing.assert_allclose(got_w, np.sin(xv))
    got_x, got_w = f(0, xv, wv)
    np.testing.assert_allclose(got_x, 3 * xv ** 2)
    np.testing.assert_allclose(got_w, [2.0, 2.0, 2.0])


def test_gradient_is_lazy_too():
    c = T.iscalar('c')
    x = T.dvector('x')
    counted = Counted("g")
    out = ifelse(c, counted(x).sum(), (x * x).sum())
    f = symgraph.function([c, x], grad(out, x), mode="py")
    np.testing.assert_allclose(f(0, np.array([1.0, 2.0])), [2.0, 4.0])
    assert counted.calls == 0
    np.testing.assert_allclose(f(1, np.array([1.0, 2.0])), [2.0, 2.0])


@pytest.mark.parametrize("cond", [0, 1])
def test_verify_grad(cond):
    rng = np.random.default_rng(42)

    def fun(x, y):
        return ifelse(T.constant(cond, dtype="int8"), T.tanh(x) * y, x * y ** 2)

    verify_grad(fun, [rng.random((2, 3)), rng.random((2, 3))], rng=rng)


def test_second_order_and_rop():
    c = T.iscalar('c')
    x, v = T.dvector('x'), T.dvector('v')
    out = ifelse(c, (x ** 3).sum(), T.exp(x).sum())
    g = grad(out, x)
    hv = grad((g * v).sum(), x)      # Hessian-vector product through ifelse
    jv = Rop(g, x, v)                # the same via forward mode
    f = symgraph.function([c, x, v], [hv, jv], mode="py")
    xv, vv = np.array([0.3, -1.2]), np.array([1.5, 0.5])
    for cv, h in [(1, 6 * xv), (0, np.exp(xv))]:
        got_hv, got_jv = f(cv, xv, vv)
        np.testing.assert_allclose(got_hv, h * vv)
        np.testing.assert_allclose(got_jv, h * vv)
    # Rop of a list-valued ifelse
    y = T.dvector('y')
    outs = ifelse(c, [x * y, x + 1], [x ** 2, y])
    r = Rop(outs, [x, y], [v, v])
    fr = symgraph.function([c, x, y, v], r, mode="py")
    yv = np.array([2.0, 3.0])
    np.testing.assert_allclose(fr(1, xv, yv, vv)[0], vv * yv + xv * vv)
    np.testing.assert_allclose(fr(0, xv, yv, vv)[0], 2 * xv * vv)
    np.testing.assert_allclose(fr(0, xv, yv, vv)[1], vv)


def test_type_errors_name_the_op_and_the_line():
    c = T.iscalar('c')
    with pytest.raises(TypeError, match=r"IfElse(.|\n)*test_ifelse\.py"):
        ifelse(c, T.dvector('a'), T.dmatrix('b'))
    with pytest.raises(TypeError, match=r"IfElse(.|\n)*scalar"):
        ifelse(T.ivector('v'), T.dscalar('a'), T.dscalar('b'))
    with pytest.raises(ValueError, match="IfElse"):
        ifelse(c, [T.dscalar('a')], [T.dscalar('a'), T.dscalar('b')])


def test_run_time_error_names_the_users_line_inside_the_branch():
    c = T.iscalar('c')
    x = T.dmatrix('x')
    y = T.dmatrix('y')
    out = ifelse(c, T.dot(x, y), x)
    f = symgraph.function([c, x, y], out, mode="py")
    with pytest.raises(Exception, match=r"test_ifelse\.py"):
        f(1, np.ones((2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(f(0, np.ones((2, 3)), np.ones((2, 3))), np.ones((2, 3)))


@pytest.mark.parametrize("mode", MODES)
def test_work_both_branches_need_runs_once_outside(mode):
    c = T.iscalar('c')
    x = T.dvector('x')
    shared_op, only_then = Counted("both"), Counted("then")
    s = shared_op(x)
    out = ifelse(c, only_then(s).sum(), (s * 3).sum())
    assert shared_op not in [n.op for n in
                             symgraph.graph.toposort(out.owner.op.then_graph.outputs)]
    f = symgraph.function([c, x], out, mode=mode)
    xv = np.array([1.0, 2.0])
    assert f(0, xv) == 18.0 and f(1, xv) == 12.0
    assert (shared_op.calls, only_then.calls) == (2, 1)


@pytest.mark.parametrize("mode", MODES)
def test_switch_is_elementwise_with_broadcasting_and_gradients(mode):
    c = T.bvector('c')
    a = T.dmatrix('a')
    b = T.dscalar('b')
    out = T.switch(c, a * 2, b)
    ga, gb = grad(out.sum(), [a, b])
    f = symgraph.function([c, a, b], [out, ga, gb], mode=mode)
    cv = np.array([1, 0, 1], dtype="int8")
    av = np.arange(6.).reshape(2, 3)
    got, got_a, got_b = f(cv, av, 5.0)
    np.testing.assert_array_equal(got, np.where(cv, av * 2, 5.0))
    np.testing.assert_array_equal(got_a, np.where(cv, 2.0, 0.0) * np.ones((2, 3)))
    assert got_b == 2.0      # two rows, one False entry each
    assert out.type.shape == (None, None) and got.dtype == out.dtype
