"""Composite: a fused scalar program, evaluated exactly as its unfused Elemwise nodes."""
import pickle

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops import scalar as S
from symgraph.ops.composite import Composite, c_fusable, c_literal
from symgraph.ops.elemwise import Elemwise


def _comp():
    # (exp(i0) + 1.0) * i1, in float64; i1 an int32 input
    return Composite(("float64", "int32"), [Composite.const_entry(1.0, "float64")],
                     [(S.Exp(), [("i", 0)], "float64"),
                      (S.Add(), [("s", 0), ("c", 0)], "float64"),
                      (S.Mul(), [("s", 1), ("i", 1)], "float64")])


def test_impl_follows_the_steps_with_numpy():
    c = _comp()
    a = np.array([[0.0, 1.0]])
    b = np.array([[2], [3]], dtype="int32")
    got = c.impl(a, b)
    np.testing.assert_array_equal(got, (np.exp(a) + 1.0) * b)
    assert got.dtype == np.float64 and got.shape == (2, 2)


def test_equality_hash_and_str():
    assert _comp() == _comp() and hash(_comp()) == hash(_comp())
    other = Composite(("float64", "int32"), [Composite.const_entry(2.0, "float64")],
                      _comp().steps)
    assert other != _comp()
    assert str(_comp()) == "Composite{mul(add(exp(i0), 1.0), i1)}"
    assert pickle.loads(pickle.dumps(_comp())) == _comp()


def test_elemwise_of_a_composite_checks_its_dtypes():
    x = T.dvector("x")
    i = T.ivector("i")
    out = Elemwise(_comp())(x, i)
    assert out.dtype == "float64"
    with pytest.raises(TypeError, match="dtypes"):
        Elemwise(_comp())(x, x)
    f = symgraph.function([x, i], out, mode="py")
    np.testing.assert_allclose(f([0.0, 1.0], [2, 3]), (np.exp([0.0, 1.0]) + 1) * [2, 3])


def test_c_expression_and_statements():
    c = _comp()
    assert c.c_expr == "((double)(((double)(((double)exp({0})) + ((double)1.0))) * {1}))"
    code = c.c_code(["a[i]", "b[i]"], "out[i]")
    assert code.splitlines() == [
        "double t0 = ((double)exp(a[i]));",
        "double t1 = ((double)(t0 + ((double)1.0)));",
        "double t2 = ((double)(t1 * b[i]));",
        "out[i] = t2;"]
    # int / int true division computes in the float result type
    div = Composite(("int32", "int32"), [], [(S.TrueDiv(), [("i", 0), ("i", 1)], "float64")])
    assert div.c_expr == "((double)(((double)({0})) / ((double)({1}))))"
    cast = Composite(("float64",), [], [(S.Cast("bool"), [("i", 0)], "bool")])
    assert cast.c_expr == "(({0}) != 0)"


def test_c_literals_are_exact():
    assert c_literal(0.1, "float32") == "((float)0.1)"
    assert c_literal(float("inf"), "float64") == "((double)INFINITY)"
    assert c_literal(float("-inf"), "float64") == "((double)(-INFINITY))"
    assert c_literal(float("nan"), "float64") == "((double)NAN)"
    assert c_literal(-(1 << 63), "int64") == "((int64_t)(-9223372036854775807LL - 1))"
    assert c_literal(True, "bool") == "1"
    assert Composite.const_entry(np.float32(0.1), "float32") == ("float32", repr(float(np.float32(0.1))))


def test_c_fusable_follows_the_backend():
    assert c_fusable(S.Exp(), ["float64"], "float64")
    assert c_fusable(S.IntDiv(), ["int32", "int32"], "int32")
    assert not c_fusable(S.Erfinv(), ["float64"], "float64")
    assert not c_fusable(S.Pow(), ["int32", "int32"], "int32")
    assert not c_fusable(S.Exp(), ["complex128"], "complex128")


def test_gradient_of_a_composite_is_that_of_its_graph():
    x = T.dvector("x")
    i = T.ivector("i")
    out = Elemwise(_comp())(x, i)
    gx = symgraph.grad(out.sum(), x)
    f = symgraph.function([x, i], gx, mode="py")
    v = np.array([0.5, -1.0])
    np.testing.assert_allclose(f(v, [2, 3]), np.exp(v) * [2, 3])


def test_output_never_aliases_an_input():
    c = Composite(("float64",), [], [(S.Real(), [("i", 0)], "float64")])
    a = np.array([1.0, 2.0])
    assert not np.shares_memory(c.impl(a), a)


def test_no_steps_or_nested_composites_are_refused():
    with pytest.raises(ValueError):
        Composite(("float64",), [], [])
    with pytest.raises(ValueError, match="inline"):
        Composite(("float64",), [], [(_comp(), [("i", 0), ("i", 0)], "float64")])


def test_bool_inputs_reach_each_step_as_bools():
    # Elemwise.perform promotes bool inputs to the output dtype (numpy refuses negative
    # of bools); a fused invert(bool) must still see bools
    x = T.TensorType("bool", (None,))("x")
    outs = [T.tanh(~x), T.cast(~x, "int32"), -x + 1.5, (x & ~x) * 2.0]
    v = np.array([True, False])
    want = symgraph.function([x], outs, mode="py")(v)
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        for g, w in zip(symgraph.function([x], outs, mode=mode)(v), want):
            np.testing.assert_array_equal(g, w)
            assert g.dtype == w.dtype
