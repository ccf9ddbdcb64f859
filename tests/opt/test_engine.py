"""The rule engine: registry, work list, modes, excluding, errors, reasons and traces."""
import warnings

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from symgraph.opt import PHASES, REGISTRY, RewriteWarning
from symgraph.opt.engine import local_rule, rule, rules_for_mode
from symgraph.opt.pattern import X, pat
from symgraph.ops import scalar as S
from symgraph.printing import debugprint
from rewrite_helpers import check_against_py, n_nodes, op_names, reasons


@pytest.fixture
def temp_rules():
    """Register rules for one test only."""
    added = []

    def register(name):
        added.append(name)
        return name
    yield register
    for name in added:
        REGISTRY.remove(name)


def test_phases_are_listed_once_and_modes_pick_them():
    assert PHASES == ("merge", "canonicalize", "stabilize", "specialize", "fuse", "inplace")
    assert list(rules_for_mode(Mode("FAST_RUN"))) == list(PHASES)
    assert list(rules_for_mode(Mode("FAST_COMPILE"))) == ["merge", "stabilize", "fuse"]
    assert rules_for_mode(Mode("py")) == {}
    assert rules_for_mode(Mode("FAST_RUN", optimizer=None)) == {}
    assert list(rules_for_mode(Mode("FAST_RUN", optimizer="fast_compile"))) == \
        ["merge", "stabilize", "fuse"]
    names = Mode("FAST_RUN").rewrite_phases()
    assert "merge" in names["merge"] and "elemwise_fusion" in names["fuse"]
    assert "inplace_elemwise" in names["inplace"]


def test_every_rule_has_a_unique_name_and_known_phases():
    rules_for_mode(Mode("FAST_RUN"))      # loads the rule modules
    for r in REGISTRY:
        assert r.name and set(r.phases) <= set(PHASES)
        if r.fn.__module__.startswith("symgraph.opt.rules"):
            assert r.fn.__doc__ or getattr(r.fn, "pattern", None) is not None, r.name


def test_fast_compile_stabilizes_but_does_not_canonicalize():
    x = T.dvector("x")
    out = T.log(1 + x) * 1
    fns = check_against_py([x], out, [np.array([1e-3, 0.5])])
    assert "Log1p" in op_names(fns["FAST_COMPILE"]) and "Log1p" in op_names(fns["FAST_RUN"])
    assert "mul_one" not in reasons(fns["FAST_COMPILE"])
    assert "mul_one" in reasons(fns["FAST_RUN"])
    assert fns["FAST_COMPILE"]([1e-20])[0] == 1e-20        # log(1 + 1e-20) would be 0
    assert reasons(fns["py"]) == []


def test_excluding_turns_off_a_rule_a_tag_or_a_phase():
    x = T.dvector("x")
    out = T.log(1 + T.exp(x)) * 1
    full = symgraph.function([x], out)
    assert "Softplus" in op_names(full)
    f = symgraph.function([x], out, mode=Mode(excluding=["softplus_of_log1p_exp"]))
    assert "Softplus" not in op_names(f) and "Log1p" in op_names(f)
    f = symgraph.function([x], out, mode=Mode(excluding=["stabilize"]))
    assert not {"Softplus", "Log1p"} & set(op_names(f))
    assert "mul_one" in reasons(f)
    f = symgraph.function([x], out, mode=Mode(excluding=["fusion"]))
    assert "Composite" not in op_names(f)
    # Theano's spelling: mode.excluding(...) returns a new mode
    m = Mode("FAST_RUN").excluding("canonicalize")
    assert m.excluding == ("canonicalize",)
    assert "mul_one" not in reasons(symgraph.function([x], out, mode=m))
    np.testing.assert_allclose(f([800.0, -1.0]), [800.0, np.log1p(np.exp(-1.0))])


def test_including_adds_a_phase_to_a_mode():
    x = T.dvector("x")
    f = symgraph.function([x], T.log(1 + x), mode=Mode("py", including=["stabilize"]))
    assert op_names(f) == ["Log1p"]


def test_rewrites_reach_a_fixed_point_through_new_nodes():
    x = T.dvector("x")
    out = (((x * 1) * 1 + 0) * 1)
    f = symgraph.function([x], out, mode=Mode(excluding=["fusion", "inplace"]))
    assert op_names(f) == [] and f.maker.fgraph.outputs[0] is f.maker.fgraph.inputs[0]
    v = np.array([1.0, 2.0])
    out = f(v)
    np.testing.assert_array_equal(out, v)
    assert out is not v          # an output that is an input is copied


def test_reason_tags_and_trace_are_set_on_new_nodes():
    x = T.dvector("x")
    y = T.log(1 + x)               # this line is the user's source line
    line = y.owner.trace[0][1]
    f = symgraph.function([x], y, mode=Mode(excluding=["fusion"]))
    (node,) = f.maker.fgraph.apply_nodes
    assert node.tag["reason"] == "log1p_of_add_one"
    assert node.trace[0][1] == line and node.trace[0][0].endswith("test_engine.py")
    assert "<- log1p_of_add_one" in debugprint(f, file="str")


def test_a_failing_rule_warns_and_is_skipped_or_raises(temp_rules):
    @local_rule("canonicalize", S.Exp, name=temp_rules("test_broken_rule"))
    def broken(fgraph, node):
        raise RuntimeError("boom")

    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f = symgraph.function([x], T.exp(x))
    assert any(issubclass(i.category, RewriteWarning) and "test_broken_rule" in str(i.message)
               and "boom" in str(i.message) for i in w)
    np.testing.assert_allclose(f([1.0]), [np.e])
    with symgraph.change_flags(on_opt_error="raise"):
        with pytest.raises(RuntimeError, match="boom"):
            symgraph.function([x], T.exp(x))


def test_a_rule_returning_a_wrong_type_is_refused(temp_rules):
    @local_rule("canonicalize", S.Exp, name=temp_rules("test_wrong_type"))
    def wrong(fgraph, node):
        return [T.cast(node.inputs[0], "float32")]

    x = T.dvector("x")
    with pytest.warns(RewriteWarning, match="test_wrong_type"):
        f = symgraph.function([x], T.exp(x))
    assert "Exp" in op_names(f)
    np.testing.assert_allclose(f([0.0]), [1.0])


def test_pattern_rules_capture_by_name_and_fit_the_type(temp_rules):
    calls = []

    def build(x, node):
        calls.append(node.op)
        return T.sqr(x)

    rule("specialize", pat(T.mul, X, X), build, name=temp_rules("test_square_pattern"))
    x = T.ivector("x")
    out = x * x
    f = symgraph.function([x], out, mode=Mode(excluding=["mul_self_to_sqr", "fusion"]))
    assert calls and op_names(f) == ["Sqr"]
    assert f([3, -4]).tolist() == [9, 16]


def test_ping_pong_rules_stop_with_a_warning(temp_rules):
    @local_rule("canonicalize", S.Exp, name=temp_rules("test_exp_to_exp2"))
    def a(fgraph, node):
        return [T.exp2(node.inputs[0] / np.log(2.0))]

    @local_rule("canonicalize", S.Exp2, name=temp_rules("test_exp2_to_exp"))
    def b(fgraph, node):
        return [T.exp(node.inputs[0] * np.log(2.0))]

    x = T.dvector("x")
    with pytest.warns(RewriteWarning, match="fixed point"):
        f = symgraph.function([x], T.exp(x), mode=Mode(excluding=["fusion"]))
    np.testing.assert_allclose(f([1.0]), [np.e])


def test_rewriting_a_long_chain_is_fast_and_not_recursive():
    x = T.dvector("x")
    v = x
    for _ in range(4000):
        v = T.neg(T.neg(v)) * 1
    f = symgraph.function([x], v, mode=Mode(excluding=["fusion"]))
    assert n_nodes(f) == 0
    np.testing.assert_array_equal(f([1.5]), [1.5])


def test_every_rule_of_symgraph_opt_is_tested_by_name():
    import pathlib
    rules_for_mode(Mode("FAST_RUN"))
    here = pathlib.Path(__file__).parent
    text = "".join(p.read_text() for p in here.glob("test_*.py"))
    missing = [r.name for r in REGISTRY if r.fn.__module__.startswith("symgraph.opt.rules")
               and f'"{r.name}"' not in text and f"'{r.name}'" not in text]
    assert not missing, missing
