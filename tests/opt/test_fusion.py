"""Phase 'fuse': elementwise trees become one Elemwise(Composite) node."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from symgraph.ops.composite import Composite
from symgraph.ops.elemwise import DimShuffle, Elemwise
from rewrite_helpers import RNG, check_against_py, op_names, reasons

NO_INPLACE = Mode("FAST_RUN", excluding=["inplace"])


def composites(fn):
    return [n for n in fn.maker.fgraph.apply_nodes
            if isinstance(n.op, Elemwise) and isinstance(n.op.scalar_op, Composite)]


def test_a_chain_becomes_one_node_with_the_same_numbers():
    x, y, z = T.dmatrices("x", "y", "z")
    out = T.exp(-x * x) * T.sin(y) + T.log1p(abs(z)) * 0.5
    vals = [RNG.normal(size=(3, 4)) for _ in range(3)]
    fns = check_against_py([x, y, z], out, vals, rtol=1e-12, atol=1e-15)
    for m in ("FAST_RUN", "FAST_COMPILE"):
        (node,) = fns[m].maker.fgraph.apply_nodes
        assert isinstance(node.op.scalar_op, Composite)
        assert node.tag["reason"] == "elemwise_fusion"
        assert len(node.inputs) == 3


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("int32", "float64"),
                                    ("int8", "int64"), ("bool", "float32")])
def test_mixed_dtypes_fuse_with_the_casts_of_each_step(dtypes):
    a = T.tensor(dtypes[0], shape=(None,))
    b = T.tensor(dtypes[1], shape=(None,))
    out = (a + a) * b - (a // 2 if dtypes[0] != "bool" else a) / (b * b + 1)
    va = (RNG.integers(-100, 100, 5) if dtypes[0] != "bool" else RNG.integers(0, 2, 5))
    vb = RNG.integers(1, 9, 5)
    vals = [va.astype(dtypes[0]), vb.astype(dtypes[1])]
    fns = check_against_py([a, b], out, vals, rtol=1e-6)
    assert composites(fns["FAST_RUN"])


def test_shared_inner_values_stay_when_read_elsewhere():
    x = T.dvector("x")
    e = T.exp(x)
    f = symgraph.function([x], [e * 2 + 1, e], mode=NO_INPLACE)
    # e is an output: it is computed once and read by the fused loop
    names = op_names(f)
    assert names.count("Exp") == 1
    (comp,) = composites(f)
    assert any(i.owner is not None and isinstance(i.owner.op, Elemwise)
               and type(i.owner.op.scalar_op).__name__ == "Exp" for i in comp.inputs)
    np.testing.assert_allclose(f([0.0, 1.0])[0], 2 * np.exp([0.0, 1.0]) + 1)


def test_a_value_used_twice_inside_the_tree_is_computed_once():
    x = T.dvector("x")
    t = T.tanh(x)
    out = t * t + t
    fns = check_against_py([x], out, [RNG.normal(size=5)])
    (comp,) = composites(fns["FAST_RUN"])
    steps = comp.op.scalar_op.steps
    assert [type(s[0]).__name__ for s in steps].count("Tanh") == 1


def test_broadcast_producers_are_not_recomputed_per_element():
    v = T.dvector("v")
    m = T.dmatrix("m")
    out = T.exp(v).dimshuffle("x", 0) * m + 1
    fns = check_against_py([v, m], out, [RNG.normal(size=4), RNG.normal(size=(3, 4))])
    f = fns["FAST_RUN"]
    (comp,) = composites(f)
    # exp runs once per element of v, outside the (3, 4) loop
    assert "Exp" not in [type(s[0]).__name__ for s in comp.op.scalar_op.steps]
    assert "Exp" in op_names(f)


def test_fusion_goes_through_dimshuffles_that_add_broadcast_dims():
    v = T.dvector("v")
    r = T.drow("r")
    out = T.exp(v).dimshuffle("x", 0) * r + T.sin(r)
    fns = check_against_py([v, r], out, [RNG.normal(size=4), RNG.normal(size=(1, 4))])
    f = fns["FAST_RUN"]
    (node,) = composites(f)
    assert [type(s[0]).__name__ for s in node.op.scalar_op.steps] == ["Exp", "Mul", "Sin",
                                                                      "Add"]
    # the dimshuffle moved to the leaf v, outside the loop
    (ds,) = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, DimShuffle)]
    assert ds.inputs[0] is f.maker.fgraph.inputs[0] and ds.outputs[0] in node.inputs


def test_transposes_are_not_fused_through():
    x, y = T.dmatrices("x", "y")
    out = T.exp(x).T + y
    fns = check_against_py([x, y], out, [RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))])
    assert "Exp" in op_names(fns["FAST_RUN"])


def test_ops_without_a_c_spelling_stay_outside():
    x = T.dvector("x")
    out = T.erfinv(T.tanh(x)) * 2 + 1
    fns = check_against_py([x], out, [RNG.uniform(-1, 1, size=5)], rtol=1e-12)
    f = fns["FAST_RUN"]
    names = [type(n.op.scalar_op).__name__ for n in f.maker.fgraph.apply_nodes]
    assert "Erfinv" in names
    (comp,) = composites(f)
    assert [type(s[0]).__name__ for s in comp.op.scalar_op.steps] == ["Mul", "Add"]


def test_composites_nest_and_flatten():
    x, y = T.dvectors("x", "y")
    inner = T.exp(x) + y
    f1 = symgraph.function([x, y], inner * inner, mode=NO_INPLACE)
    (c1,) = composites(f1)
    assert all(not isinstance(s[0], Composite) for s in c1.op.scalar_op.steps)


def test_excluding_fusion():
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 2 + 1, mode=Mode(excluding=["fusion"]))
    assert not composites(f) and "elemwise_fusion" not in reasons(f)


def test_equal_fused_loops_merge():
    x = T.dvector("x")
    a = T.exp(x) * 2 + 1
    b = T.exp(x) * 2 + 1
    f = symgraph.function([x], [a * 3, b * 3], mode=NO_INPLACE)
    assert len(composites(f)) == 1


def test_constant_operands_are_inlined():
    x = T.fvector("x")
    out = (x + 1.5) * np.float32(0.25) - np.array([1.0, 2.0, 3.0], "float32")
    fns = check_against_py([x], out, [np.arange(3, dtype="float32")])
    (comp,) = composites(fns["FAST_RUN"])
    sop = comp.op.scalar_op
    assert len(comp.inputs) == 2          # x and the 3-element constant
    assert ("float32", "1.5") in sop.consts and ("float32", "0.25") in sop.consts


def test_the_mlp_training_graph_shrinks():
    rng = np.random.default_rng(0)
    x = T.dmatrix("x")
    y = T.lvector("y")
    w1 = symgraph.shared(rng.normal(0, 0.05, (784, 512)), "w1")
    b1 = symgraph.shared(np.zeros(512), "b1")
    w2 = symgraph.shared(rng.normal(0, 0.05, (512, 10)), "w2")
    b2 = symgraph.shared(np.zeros(10), "b2")
    h = T.tanh(T.dot(x, w1) + b1)
    p = T.nnet.softmax(T.dot(h, w2) + b2)
    loss = T.nnet.categorical_crossentropy(p, y).mean()
    params = [w1, b1, w2, b2]
    grads = symgraph.grad(loss, params)
    updates = [(w, w - 0.1 * g) for w, g in zip(params, grads)]
    fns = {m: symgraph.function([x, y], loss, updates=updates, mode=m)
           for m in ("py", "FAST_COMPILE", "FAST_RUN")}
    sizes = {m: len(f.maker.fgraph.apply_nodes) for m, f in fns.items()}
    assert sizes["FAST_RUN"] < sizes["py"] and sizes["FAST_COMPILE"] < sizes["py"]
    assert composites(fns["FAST_RUN"])
    xv = rng.normal(size=(16, 784))
    yv = rng.integers(0, 10, 16)
    before = [w.get_value() for w in params]
    losses = {}
    for m, f in fns.items():
        for w, v in zip(params, before):
            w.set_value(v)
        losses[m] = [float(f(xv, yv)) for _ in range(3)]
        losses[m + "_w"] = w1.get_value()
    for m in ("FAST_COMPILE", "FAST_RUN"):
        np.testing.assert_allclose(losses[m], losses["py"], rtol=1e-10)
        np.testing.assert_allclose(losses[m + "_w"], losses["py_w"], rtol=1e-10)


def test_a_constant_row_broadcasts_down_a_computed_matrix():
    # regression: the compiled loop once read a (1, n) constant as if it were (m, n)
    x = T.dmatrix("x")
    row = np.array([[0.0, 1.0]])
    for out in (x + row, T.exp(x) + row, T.second(T.exp(x), row)):
        check_against_py([x], out, [np.ones((3, 2))], rtol=1e-15)
        f = symgraph.function([x], out, mode=Mode("FAST_RUN", optimizer=None))
        g = symgraph.function([x], out, mode="py")
        np.testing.assert_array_equal(f(np.zeros((3, 2))), g(np.zeros((3, 2))))
