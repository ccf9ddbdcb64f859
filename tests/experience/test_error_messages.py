"""Errors a user sees name the op, the input types and shapes and the user's own file:line
(the chain of lines through helper functions); the internal exception stays chained; the C
kernels' failures read the same; exception_verbosity='high' adds the inputs' debugprint; a
missing gradient names the op and the line; NaN/Inf stop at the first node under the guard."""
import re
import sys

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.errors import GradientError, NanGuardError, ShapeError
from symgraph.graph import Apply, Op
from symgraph.types import TensorType

HERE = "test_error_messages.py"


def _line():
    return sys._getframe(1).f_lineno


def _layer(a, b):
    return a + b  # the line a helper-made node records first


LAYER_LINE = _layer.__code__.co_firstlineno + 1


def test_build_time_shape_error_names_op_types_and_helper_chain():
    a = T.tensor("float64", shape=(2, 3), name="a")
    b = T.tensor("float64", shape=(4, 3), name="b")
    with pytest.raises(ValueError) as info:
        line = _line(); _layer(a, b)  # noqa: E702
    msg = str(info.value)
    assert isinstance(info.value, ShapeError)
    assert msg.startswith("add")
    assert "a: TensorType(float64, (2, 3))" in msg and "b: TensorType(float64, (4, 3))" in msg
    assert re.search(rf"{HERE}:{LAYER_LINE} \(in _layer\), called from .*{HERE}:{line}", msg)
    # the chain stops at the user's code: no frames of pytest, pluggy or the stdlib
    assert "pluggy" not in msg and "_pytest" not in msg and "runpy" not in msg


@pytest.mark.parametrize("mode", ["py", "FAST_RUN"])
def test_run_time_shape_error_in_c_and_python_names_everything(mode):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    line = _line(); z = _layer(x, y)  # noqa: E702
    f = symgraph.function([x, y], z, mode=mode)
    if mode == "FAST_RUN":
        placement = f.maker.fgraph.placement
        if set(placement.values()) != {"c"}:
            pytest.skip("no C compiler: the node runs in Python")
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((3, 3)))
    msg = str(info.value)
    assert msg.startswith("add failed")
    assert "float64 (2, 3), float64 (3, 3)" in msg
    assert "TensorType(float64, (None, None))" in msg
    assert re.search(rf"{HERE}:{LAYER_LINE} \(in _layer\), called from .*{HERE}:{line}", msg)
    assert info.value.__cause__ is not None           # the internal error is chained
    assert info.value.node.op == f.maker.fgraph.outputs[0].owner.op


def test_exception_verbosity_high_adds_the_inputs_debugprint():
    x, y = T.dvector("xin"), T.dvector("yin")
    f = symgraph.function([x, y], T.exp(x) * y, mode="py")
    with symgraph.change_flags(exception_verbosity="high"):
        with pytest.raises(ValueError) as info:
            f(np.ones(2), np.ones(3))
    msg = str(info.value)
    assert "the node's inputs" in msg
    assert re.search(r"\|exp \[id [A-Z]+\]", msg) and re.search(r"xin \[id [A-Z]+\]", msg)
    assert re.search(r"yin \[id [A-Z]+\]", msg)
    with pytest.raises(ValueError) as low:
        f(np.ones(2), np.ones(3))
    assert "[id " not in str(low.value)


class _NoGrad(Op):
    """x * 3 (a test op without a gradient)."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] * 3


def test_missing_gradient_names_op_and_line():
    x = T.dvector("x")
    line = _line(); y = _NoGrad()(x)  # noqa: E702
    cost = (y ** 2).sum()
    with pytest.raises(GradientError) as info:
        symgraph.grad(cost, x)
    msg = str(info.value)
    assert "_NoGrad" in msg and "no gradient" in msg
    assert f"{HERE}:{line}" in msg


@pytest.mark.parametrize("mode", ["py", "FAST_COMPILE", "FAST_RUN"])
def test_nan_guard_stops_at_first_bad_node(mode):
    x = T.dvector("x")
    line = _line(); y = T.log(x)  # noqa: E702
    z = T.sqrt(y) + 1.0
    guarded = symgraph.function([x], z, mode=symgraph.Mode(mode, nan_guard=True))
    assert np.allclose(guarded(np.array([3.0, 4.0])), np.sqrt(np.log([3.0, 4.0])) + 1)
    with pytest.raises(NanGuardError) as info:
        guarded(np.array([1.0, -1.0]))
    msg = str(info.value)
    assert "NaN" in msg and f"{HERE}:{line}" in msg
    if mode == "py":
        assert msg.startswith("log produced NaN")   # the first node, not sqrt or add
    assert isinstance(info.value, FloatingPointError)
    plain = symgraph.function([x], z, mode=mode)
    assert np.isnan(plain(np.array([1.0, -1.0]))[1])   # unguarded: silently NaN


def test_nan_guard_catches_inf_in_c_mode():
    x = T.dvector("x")
    line = _line(); y = 1.0 / x  # noqa: E702
    f = symgraph.function([x], y * 2, mode=symgraph.Mode("FAST_RUN", nan_guard=True))
    with pytest.raises(NanGuardError, match="produced Inf") as info:
        f(np.array([1.0, 0.0]))
    assert f"{HERE}:{line}" in str(info.value)
