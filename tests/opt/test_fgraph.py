"""FunctionGraph: cloning, client lists, replace (types, pruning, cycles), history, clone."""
import time

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import SymgraphError
from symgraph.opt.fgraph import Change, FunctionGraph, ReplacementTypeError


def _graph():
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    b = a * y
    c = b + a
    return x, y, a, b, c


def test_clone_keeps_the_original_graph_and_memo_maps_it():
    x, y, a, b, c = _graph()
    fg = FunctionGraph([x, y], [c])
    assert fg.inputs[0] is fg.memo[x] and fg.inputs[0] is not x
    assert fg.outputs[0] is fg.memo[c]
    assert len(fg.apply_nodes) == 3
    fg.check_integrity()
    ca = fg.memo[a]
    fg.replace(ca, T.log(fg.inputs[0]), "test")
    # the user's graph is untouched
    assert c.owner.inputs[1] is a and a.owner.inputs[0] is x


def test_clients_follow_replacements_and_dead_nodes_are_pruned():
    x, y, a, b, c = _graph()
    fg = FunctionGraph([x, y], [c])
    fx, fy = fg.inputs
    fa, fb = fg.memo[a], fg.memo[b]
    assert [n for n, _ in fg.clients[fa]] == [fb.owner, fg.outputs[0].owner]
    new = T.sin(fx)
    fg.replace(fa, new, "sin_for_exp")
    fg.check_integrity()
    assert fa.owner not in fg.apply_nodes
    assert fa not in fg.clients
    assert {n.op.scalar_op.name for n in fg.apply_nodes} == {"sin", "mul", "add"}
    assert fg.history == [Change("sin_for_exp", fa, new)]
    # replacing what feeds the output leaves only the new graph
    fg.replace(fg.outputs[0], fy, "identity")
    fg.check_integrity()
    assert fg.outputs == [fy] and not fg.apply_nodes


def test_replace_refuses_type_changes_but_accepts_more_specific_shapes():
    x = T.dvector("x")
    fg = FunctionGraph([x], [T.exp(x)])
    out = fg.outputs[0]
    with pytest.raises(ReplacementTypeError, match="float32"):
        fg.replace(out, T.cast(fg.inputs[0], "float32"), "bad")
    with pytest.raises(ReplacementTypeError):
        fg.replace(out, T.dmatrix(), "bad")
    fixed = T.specify_shape(fg.inputs[0], (3,)) if hasattr(T, "specify_shape") else None
    if fixed is not None:
        fg.replace(out, fixed, "specific")
        assert fg.outputs[0] is fixed
    fg.check_integrity()


def test_replace_refuses_a_cycle_and_a_free_variable():
    x = T.dvector("x")
    fg = FunctionGraph([x], [T.exp(x)])
    out = fg.outputs[0]
    with pytest.raises(SymgraphError, match="depends on it"):
        fg.replace(out, T.log(out), "cycle")
    with pytest.raises(SymgraphError, match="not an input"):
        fg.replace(out, T.exp(T.dvector("stranger")), "free")
    fg.check_integrity()


def test_change_input_and_listeners():
    x, y, a, b, c = _graph()
    fg = FunctionGraph([x, y], [c])
    events = []

    class L:
        def on_import(self, fgraph, node):
            events.append(("import", node.op.scalar_op.name))

        def on_prune(self, fgraph, node):
            events.append(("prune", node.op.scalar_op.name))

        def on_change_input(self, fgraph, node, i, old, new):
            events.append(("change", node.op.scalar_op.name, i))

    fg.attach(L())
    fb = fg.memo[b]
    fg.change_input(fb.owner, 1, T.cos(fg.inputs[1]), "r")
    assert ("import", "cos") in events and ("change", "mul", 1) in events
    assert not any(e[0] == "prune" for e in events)     # y is an input: nothing to prune
    fg.check_integrity()


def test_clone_is_independent():
    x, y, a, b, c = _graph()
    fg = FunctionGraph([x, y], [c])
    fg.n_outputs = 1
    fg2 = fg.clone()
    assert fg2.n_outputs == 1 and fg2.outputs[0] is not fg.outputs[0]
    fg2.replace(fg2.outputs[0], fg2.inputs[0], "x")
    assert len(fg.apply_nodes) == 3
    fg.check_integrity()
    fg2.check_integrity()


def test_long_chain_replacements_cost_what_they_change():
    x = T.dvector("x")
    v = x
    for _ in range(3000):
        v = T.neg(v)
    fg = FunctionGraph([x], [v])
    nodes = fg.toposort()
    start = time.process_time()
    # replace neg(neg(u)) by u, pair by pair from the outputs down
    for node in nodes[::-1][:2000]:
        if node in fg.apply_nodes and node.inputs[0].owner in fg.apply_nodes:
            inner = node.inputs[0].owner
            fg.replace(node.outputs[0], inner.inputs[0], "neg_neg")
    elapsed = time.process_time() - start
    fg.check_integrity()
    assert len(fg.apply_nodes) == 1000     # 1000 pairs removed
    assert elapsed < 2.0, elapsed    # quadratic bookkeeping would take minutes here


def test_function_exposes_the_rewritten_fgraph_and_its_history():
    x = T.dvector("x")
    f = symgraph.function([x], T.log(1 + x), mode="FAST_RUN")
    fg = f.maker.fgraph
    assert isinstance(fg, FunctionGraph)
    assert any(c.reason == "log1p_of_add_one" for c in fg.history)
    np.testing.assert_allclose(f([1e-20, 1.0]), np.log1p([1e-20, 1.0]))
