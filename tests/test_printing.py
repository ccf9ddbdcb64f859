"""debugprint (variables, lists, compiled functions) and pp."""
import io
import re

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.printing import debugprint, pp


def _ids(text):
    return re.findall(r"\[id ([A-Z]+)\]", text)


def test_debugprint_variable_tree_ids_and_types():
    x = T.dvector("x")
    y = T.fvector("y")
    out = T.exp(x) * y
    text = debugprint(out, file="str")
    lines = text.splitlines()
    assert len(lines) == 4
    # root first, children indented one level per depth, each with an id and its type
    assert lines[0].startswith("mul [id A]") and "<float64, (None,)>" in lines[0]
    assert lines[1].startswith(" |exp [id B]") and "<float64, (None,)>" in lines[1]
    assert lines[2].startswith(" | |x [id C]") and "<float64, (None,)>" in lines[2]
    assert lines[3].startswith(" |y [id D]") and "<float32, (None,)>" in lines[3]
    assert _ids(text) == ["A", "B", "C", "D"]


def test_debugprint_shared_subtree_printed_once():
    x = T.dvector("x")
    h = T.exp(x)
    h.name = "h"
    out = h + h * 2
    text = debugprint(out, file="str")
    # the subtree below h appears once; the second use refers back to it by id with "..."
    assert text.count("|x [id") == 1
    h_lines = [ln for ln in text.splitlines() if "'h'" in ln]
    assert len(h_lines) == 2
    first_id, second_id = (_ids(ln)[0] for ln in h_lines)
    assert first_id == second_id
    assert not h_lines[0].endswith("...") and h_lines[1].endswith("...")


def test_debugprint_constants_names_and_no_types():
    x = T.dmatrix("x")
    out = x + 1.5
    text = debugprint(out, file="str", print_type=False)
    assert "<float64" not in text
    assert "1.5" in text and "x [id" in text


def test_debugprint_depth_limits_levels():
    x = T.dscalar("x")
    y = T.exp(T.log(T.sin(x)))
    full = debugprint(y, file="str")
    short = debugprint(y, file="str", depth=1)
    assert len(full.splitlines()) == 4
    assert len(short.splitlines()) == 2
    assert "sin" not in short


def test_debugprint_list_of_variables_shares_ids():
    x = T.dvector("x")
    a = T.exp(x)
    b = a + 1
    text = debugprint([a, b], file="str")
    # a is printed in full first; inside b it is a reference to the same id
    exp_lines = [ln for ln in text.splitlines() if ln.lstrip(" |").startswith("exp")]
    assert len(exp_lines) == 2
    assert _ids(exp_lines[0]) == _ids(exp_lines[1])
    assert text.count("x [id") == 1


def test_debugprint_prints_to_file_and_returns_object():
    x = T.dscalar("x")
    out = x * 2
    buf = io.StringIO()
    ret = debugprint(out, file=buf)
    assert ret is out
    assert buf.getvalue().strip() == debugprint(out, file="str")


def test_debugprint_print_origin_names_this_file():
    x = T.dscalar("x")
    out = T.exp(x)  # the line named below
    line = out.owner.trace[0][1]
    text = debugprint(out, file="str", print_origin=True)
    assert f"test_printing.py:{line}" in text


def test_debugprint_compiled_function_with_update():
    x = T.dvector("x")
    w = symgraph.shared(np.ones(3), name="w")
    out = T.exp(x * w)
    f = symgraph.function([x], out, updates=[(w, w + 1)], mode="py")
    text = debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[0] == "# 1 update(s) follow the outputs"
    roots = [ln for ln in lines[1:] if not ln.startswith(" ")]
    assert [r.split(" ")[0] for r in roots] == ["exp", "add"]
    # the shared variable appears under both the output and the update, with one id
    w_ids = {_ids(ln)[0] for ln in lines if re.search(r"\bw \[id", ln)}
    assert len(w_ids) == 1
    assert symgraph.dprint is symgraph.debugprint


def test_debugprint_multi_output_node_shows_index():
    from symgraph.graph import Apply, Op
    from symgraph.types import TensorType

    class Split2(Op):
        """(x, -x)."""

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type(), x.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0].copy()
            out[1][0] = -inputs[0]

    x = T.dvector("x")
    a, b = Split2()(x)
    text = debugprint(b, file="str")
    assert text.splitlines()[0].startswith("Split2.1 [id A]")
    assert isinstance(a.type, TensorType)


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda x, y: x * 2 + y, "((x * 2.) + y)"),
        (lambda x, y: (x - y) / y, "((x - y) / y)"),
        (lambda x, y: -x, "-x"),
        (lambda x, y: T.exp(x) ** y, "(exp(x) ** y)"),
        (lambda x, y: T.maximum(x, y) // 3, "(maximum(x, y) // 3.)"),
        (lambda x, y: x, "x"),
    ],
)
def test_pp_infix(build, expected):
    x, y = T.dscalars("x", "y")
    assert pp(build(x, y)) == expected
    assert symgraph.pp is pp


def test_pp_shared_subexpression_spelled_out():
    x = T.dvector("x")
    h = T.exp(x)
    assert pp(h + h) == "(exp(x) + exp(x))"


def test_pp_unnamed_leaf_shows_type():
    v = T.fvector()
    w = T.lvector("w")
    assert pp(v + w) == "(<TensorType(float32, (None,))> + w)"


def test_debugprint_scan_whose_first_output_is_unused():
    """The RNN's gradient loop: after rewriting, its output 0 is read by nothing, so the
    inner graph is printed under the id of an output that is (a KeyError before)."""
    X, W, U, h0 = T.dtensor3("X"), T.dmatrix("W"), T.dmatrix("U"), T.dmatrix("h0")
    hs, _ = symgraph.scan(lambda x, h, W, U: T.tanh(T.dot(x, W) + T.dot(h, U)),
                          sequences=X, outputs_info=h0, non_sequences=[W, U])
    cost = 0.5 * (hs * hs).sum()
    f = symgraph.function([X, W, U, h0], [cost] + symgraph.grad(cost, [W, U]))
    text = debugprint(f, file="str")
    tree, inner = text.split("Inner graphs:")
    heads = [ln for ln in inner.splitlines() if ln.startswith("Scan")]
    assert len(heads) == 2 and "tanh" in inner
    for head in heads:                  # each loop's id is one the tree printed
        assert _ids(head)[0] in _ids(tree)
