"""Errors users see: input checking at call time, build-time type/shape errors, and run-time
failures inside a node. Each names the input (by name and position) or the op and the user's
own source line."""
import re
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import DtypeError, ShapeError, SymgraphError

MODES = ["py", "FAST_COMPILE", "FAST_RUN", "DebugMode"]


def _line():
    """The caller's line number (an independent check of the recorded source lines)."""
    return sys._getframe(1).f_lineno


def _here(line):
    return f"test_errors.py:{line}"


# -- input checking at call time ------------------------------------------------------------

def test_wrong_ndim_names_the_input_by_name_and_position():
    x = T.dvector("x")
    m = T.dmatrix("weights")
    f = symgraph.function([x, m], x + m, mode="py")
    with pytest.raises(TypeError, match=r"input 1 \(weights\): expected 2-d array.*got 1-d"):
        f(np.zeros(3), np.zeros(3))
    with pytest.raises(TypeError, match=r"input 0 \(x\): expected 1-d array.*got 0-d"):
        f(1.0, np.zeros((2, 3)))


def test_unnamed_input_is_named_by_position():
    a = T.dvector()
    b = T.dvector()
    f = symgraph.function([a, b], a * b, mode="py")
    with pytest.raises(TypeError, match=r"^function: input 1: expected 1-d array"):
        f(np.zeros(2), np.zeros((2, 2)))


def test_input_given_by_keyword_is_named():
    x, y = T.dscalars("x", "y")
    f = symgraph.function([x, symgraph.In(y, value=1.0)], x * y, mode="py")
    with pytest.raises(TypeError, match=r"input 1 \(y\): expected 0-d array"):
        f(1.0, y=[1.0, 2.0])


@pytest.mark.parametrize(
    "make, value, have",
    [
        (T.fvector, np.zeros(3), "float64"),
        (T.ivector, np.zeros(3, dtype=np.int64), "int64"),
        (T.lvector, np.zeros(3), "float64"),
        (T.bvector, np.zeros(3, dtype=np.int16), "int16"),
        (T.dvector, np.zeros(3, dtype=np.complex128), "complex128"),
    ],
)
def test_dtype_that_would_lose_precision_names_the_input(make, value, have):
    x = T.dscalar("x")
    v = make("v")
    f = symgraph.function([x, v], v * 2, mode="py", on_unused_input="ignore")
    with pytest.raises(TypeError, match=rf"input 1 \(v\): dtype {have} would lose precision"):
        f(1.0, value)
    with pytest.raises(TypeError, match="allow_input_downcast"):
        f(1.0, value)


def test_python_value_that_does_not_fit_names_the_input():
    n = T.bscalar("n")
    f = symgraph.function([n], n + 1, mode="py")
    with pytest.raises(TypeError, match=r"input 0 \(n\): 1000 cannot be stored exactly as int8"):
        f(1000)


def test_shape_that_contradicts_the_static_shape_names_the_input():
    x = T.tensor("float64", shape=(None, 3), name="pixels")
    y = T.dscalar("scale")
    f = symgraph.function([y, x], x * y, mode="py")
    with pytest.raises(ValueError,
                       match=r"input 1 \(pixels\): dimension 1 must have size 3 .*\(2, 4\)"):
        f(2.0, np.zeros((2, 4)))
    np.testing.assert_array_equal(f(2.0, np.ones((5, 3))), np.full((5, 3), 2.0))


def test_non_numeric_input_names_the_input():
    x = T.dvector("x")
    f = symgraph.function([x], x + 1, mode="py")
    with pytest.raises(TypeError, match=r"input 0 \(x\): cannot convert"):
        f(["a", object()])


# -- build-time errors -----------------------------------------------------------------------

def test_incompatible_static_shapes_name_the_op_inputs_and_line():
    a = T.tensor("float64", shape=(2, 3), name="a")
    b = T.tensor("float64", shape=(4, 3), name="b")
    where = _line() + 2
    with pytest.raises(ValueError) as info:
        a + b
    msg = str(info.value)
    assert isinstance(info.value, ShapeError) and isinstance(info.value, SymgraphError)
    assert msg.startswith("add:")
    assert "a: TensorType(float64, (2, 3))" in msg and "b: TensorType(float64, (4, 3))" in msg
    assert _here(where) in msg


def test_int_only_op_on_floats_names_the_op_and_line():
    u = T.dvector("u")
    v = T.dvector("v")
    where = _line() + 2
    with pytest.raises(TypeError) as info:
        T.and_(u, v)
    msg = str(info.value)
    assert isinstance(info.value, DtypeError)
    assert re.match(r"and_: needs integer or boolean inputs, got float64, float64", msg)
    assert "u: TensorType(float64, (None,))" in msg
    assert _here(where) in msg
    where = _line() + 2
    with pytest.raises(TypeError, match=rf"or_:(.|\n)*{_here(where)}"):
        u | T.ivector("k")


def test_bad_axis_names_the_op_and_line():
    m = T.dmatrix("m")
    where = _line() + 2
    with pytest.raises(ValueError) as info:
        T.sum(m, axis=3)
    msg = str(info.value)
    assert "axis 3" in msg and "m: TensorType(float64, (None, None))" in msg
    assert _here(where) in msg


def _helper_layer(x, w):
    return x + w  # the innermost user line


def test_error_inside_a_helper_names_the_helper_and_its_caller():
    x = T.tensor("float64", shape=(5,), name="x")
    w = T.tensor("float64", shape=(6,), name="w")
    caller = _line() + 2
    with pytest.raises(ValueError) as info:
        _helper_layer(x, w)
    msg = str(info.value)
    inner = _helper_layer.__code__.co_firstlineno + 1
    assert re.search(rf"made at \S*{_here(inner)} \(in _helper_layer\)", msg)
    assert re.search(rf"called from \S*{_here(caller)} \(in test_error_inside", msg)


# -- run-time errors inside a node ----------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_run_time_error_names_op_shapes_dtypes_line_and_chains_the_cause(mode):
    x = T.dvector("x")
    y = T.fvector("y")
    where = _line() + 1
    z = T.exp(x) + y
    f = symgraph.function([x, y], z, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.zeros(3), np.zeros(4, dtype=np.float32))
    err = info.value
    msg = str(err)
    assert "add" in msg.split("\n")[0] and "failed" in msg.split("\n")[0]
    assert "float64 (3,)" in msg and "float32 (4,)" in msg
    assert _here(where) in msg
    cause = err.__cause__
    assert isinstance(cause, ValueError) and cause is not err
    assert str(cause) in msg  # the original message is kept, not replaced


def test_run_time_index_error_keeps_its_class_and_names_the_line():
    m = T.dmatrix("m")
    i = T.lvector("i")
    where = _line() + 1
    picked = m[i]
    f = symgraph.function([m, i], picked, mode="py")
    with pytest.raises(IndexError) as info:
        f(np.zeros((2, 3)), [5])
    msg = str(info.value)
    assert "float64 (2, 3), int64 (1,)" in msg
    assert _here(where) in msg
    assert isinstance(info.value.__cause__, IndexError)


def test_run_time_error_of_a_custom_op_chains_the_original():
    from symgraph.graph import Apply, Op

    class Fails(Op):
        """Raises ZeroDivisionError at run time."""

        def make_node(self, x):
            x = T.as_tensor_variable(x)
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, out):
            raise ZeroDivisionError("custom failure")

    x = T.dvector("x")
    where = _line() + 1
    y = Fails()(x) * 2
    f = symgraph.function([x], y, mode="py")
    with pytest.raises(ZeroDivisionError) as info:
        f(np.zeros(2))
    msg = str(info.value)
    assert msg.startswith("Fails failed: custom failure")
    assert "input values: float64 (2,)" in msg and _here(where) in msg
    assert str(info.value.__cause__) == "custom failure"
    assert info.value.node.op == Fails()


def test_exception_verbosity_high_adds_the_graph():
    x = T.dvector("x")
    y = T.dvector("y")
    z = T.exp(x) + y
    f = symgraph.function([x, y], z, mode="py")
    with symgraph.change_flags(exception_verbosity="high"):
        with pytest.raises(ValueError) as info:
            f(np.zeros(3), np.zeros(4))
    msg = str(info.value)
    assert "the node's inputs" in msg and "exp [id" in msg and "x [id" in msg


def test_update_with_a_wrong_type_names_the_variable_and_line():
    s = symgraph.shared(np.zeros(3, dtype=np.float32), name="state")
    where = _line() + 1
    new = s * 2.0 + T.dvector("d")
    with pytest.raises(TypeError) as info:
        symgraph.function([], [], updates=[(s, new)], on_unused_input="ignore")
    msg = str(info.value)
    assert "update of state" in msg and "float64" in msg and "T.cast" in msg
    assert _here(where) in msg
