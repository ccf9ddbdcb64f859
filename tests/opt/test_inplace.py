"""Phase 'inplace': an Elemwise may write into an intermediate buffer only this node reads;
never into a function input, a shared value, a constant or an output."""
import numpy as np

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from symgraph.ops.elemwise import Elemwise
from rewrite_helpers import RNG

NO_FUSE = Mode("FAST_RUN", excluding=["fusion"])


def inplace_nodes(fn):
    return [n for n in fn.maker.fgraph.apply_nodes
            if isinstance(n.op, Elemwise) and n.op.inplace_pattern]


def test_an_intermediate_with_one_reader_is_overwritten():
    x = T.dvector("x")
    out = T.exp(x) + 1                 # exp(x) is a fresh buffer read only by the add
    f = symgraph.function([x], out, mode=NO_FUSE)
    (node,) = inplace_nodes(f)
    assert node.op.scalar_op.name == "add" and node.op.destroy_map == {0: [0]}
    assert node.tag["reason"] == "inplace_elemwise"
    v = np.array([0.0, 1.0])
    keep = v.copy()
    np.testing.assert_allclose(f(v), np.exp(keep) + 1)
    np.testing.assert_array_equal(v, keep)


def test_inputs_shared_values_and_constants_are_never_overwritten():
    x = T.dvector("x")
    w = symgraph.shared(np.array([1.0, 2.0]), "w")
    c = T.constant(np.array([3.0, 4.0]))
    f = symgraph.function([x], [x + 1, w * 2, c * 1.5 + x], mode=NO_FUSE)
    assert not inplace_nodes(f)
    v = np.array([5.0, 6.0])
    f(v)
    f(v)
    np.testing.assert_array_equal(v, [5.0, 6.0])
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


def test_values_with_other_readers_or_outputs_are_not_overwritten():
    x = T.dvector("x")
    e = T.exp(x)
    f = symgraph.function([x], [e + 1, e * 2], mode=NO_FUSE)
    assert not any(n.inputs[dict(n.op.inplace_pattern)[0]] is e2
                   for n in inplace_nodes(f)
                   for e2 in [n for n in f.maker.fgraph.variables()
                              if n.owner is not None and n.owner.op.scalar_op.name == "exp"])
    a, b = f([0.0, 1.0])
    np.testing.assert_allclose(a, np.exp([0.0, 1.0]) + 1)
    np.testing.assert_allclose(b, np.exp([0.0, 1.0]) * 2)
    # e is itself an output: the add may not destroy it
    f = symgraph.function([x], [e, e + 1], mode=NO_FUSE)
    assert not inplace_nodes(f)
    a, b = f([0.0, 1.0])
    np.testing.assert_allclose(a, np.exp([0.0, 1.0]))


def test_only_buffers_of_the_result_dtype_and_shape():
    x = T.dvector("x")
    m = T.dmatrix("m")
    f = symgraph.function([x, m], [T.exp(x) + m, T.cast(T.exp(x), "float32") + 1],
                          mode=NO_FUSE)
    for node in inplace_nodes(f):
        k = dict(node.op.inplace_pattern)[0]
        assert node.inputs[k].type.broadcastable == node.outputs[0].type.broadcastable
        assert node.inputs[k].dtype == node.outputs[0].dtype
    mv = RNG.normal(size=(3, 2))
    a, b = f(np.array([0.0, 1.0]), mv)
    np.testing.assert_allclose(a, np.exp([0.0, 1.0]) + mv)


def test_chains_of_in_place_ops_and_views():
    x = T.dmatrix("x")
    out = (T.exp(x).T * 2 + 1) * 3
    f = symgraph.function([x], out, mode=NO_FUSE)
    nodes = inplace_nodes(f)
    assert len(nodes) == 3             # * 2 writes through the transposed view of exp(x)
    assert any(type(n.inputs[0].owner.op).__name__ == "DimShuffle" for n in nodes)
    v = RNG.normal(size=(2, 3))
    keep = v.copy()
    np.testing.assert_allclose(f(v), (np.exp(keep).T * 2 + 1) * 3)
    np.testing.assert_array_equal(v, keep)


def test_updates_and_outputs_stay_correct_with_in_place_intermediates():
    w = symgraph.shared(np.array([1.0, 2.0, 3.0]), "w")
    x = T.dvector("x")
    new_w = T.tanh(w * x) * 0.5 + w
    f = symgraph.function([x], [T.exp(w) + 1, new_w], updates=[(w, new_w)])
    v = np.array([0.5, -1.0, 2.0])
    w0 = w.get_value()
    a, b = f(v)
    np.testing.assert_allclose(a, np.exp(w0) + 1)
    np.testing.assert_allclose(b, np.tanh(w0 * v) * 0.5 + w0)
    np.testing.assert_allclose(w.get_value(), b)
    b[0] = 100.0                        # the returned output does not alias the new value
    assert w.get_value()[0] != 100.0


def test_excluding_inplace():
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) + 1, mode=Mode(excluding=["inplace", "fusion"]))
    assert not inplace_nodes(f)


def test_fused_loops_run_in_place_too():
    x, y = T.dvectors("x", "y")
    a = T.exp(x) * y                   # read twice below: not fused into either reader
    out = T.tanh(T.sqrt(a) + 1) * T.sin(a)
    f = symgraph.function([x, y], out)
    v, u = np.array([0.1, 0.2]), np.array([1.0, 2.0])
    np.testing.assert_allclose(f(v, u), np.tanh(np.sqrt(np.exp(v) * u) + 1)
                               * np.sin(np.exp(v) * u))
    np.testing.assert_array_equal(v, [0.1, 0.2])
