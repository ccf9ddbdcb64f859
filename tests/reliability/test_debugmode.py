"""DebugMode: kernels checked against perform; broken kernels and wrong in-place/view
declarations (test-only ops) are caught and named with the rewrite and the user's line."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cbackend
from symgraph.compile.debugmode import (BadDestroyMapError, BadResultError,
                                        BadViewMapError, DebugModeError)
from symgraph.graph import Apply, Op
from symgraph.types import TensorType

from .conftest import have_cc

needs_cc = pytest.mark.skipif(not have_cc(), reason="needs a C compiler")
RNG = np.random.default_rng(11)


def _dm(**kw):
    return symgraph.Mode(debug=True, **kw)


# -- test-only ops ---------------------------------------------------------------------

class _Unary(Op):
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)()])


class SneakyInplace(_Unary):
    """x + 1, computed in place in x but declaring no destroy_map (a wrong declaration)."""

    def perform(self, node, inputs, out):
        x, = inputs
        x += 1
        out[0][0] = x


class DeclaredInplace(_Unary):
    """x + 1 computed in x, with destroy_map = {0: [0]} (a right declaration)."""
    destroy_map = {0: [0]}

    def perform(self, node, inputs, out):
        x, = inputs
        x += 1
        out[0][0] = x


class UndeclaredView(_Unary):
    """x[...] returned as a view without a view_map."""

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0][...]


class DeclaredView(UndeclaredView):
    """x[...] returned as a view with view_map = {0: [0]}."""
    view_map = {0: [0]}


class WrongDtype(_Unary):
    """x + 1 returned as float32 whatever the type says (a broken kernel)."""

    def perform(self, node, inputs, out):
        out[0][0] = (inputs[0] + 1).astype("float32")


# -- right graphs pass -----------------------------------------------------------------

@pytest.mark.parametrize("mode", ["DebugMode", "debug"])
def test_right_graph_runs_and_matches_py(compiledir, mode):
    x, y = T.dmatrix("x"), T.dvector("y")
    out = (T.exp(x) * 2 + y).sum(axis=0) + T.dot(x, y).sum() + T.tanh(x[1:, ::2]).mean()
    m = "DebugMode" if mode == "DebugMode" else _dm()
    f = symgraph.function([x, y], out, mode=m)
    g = symgraph.function([x, y], out, mode="py")
    a, b = RNG.random((3, 4)), RNG.random(4)
    np.testing.assert_allclose(f(a, b), g(a, b), rtol=1e-12)
    assert f.maker.mode.name == "DebugMode"
    assert f.program.checked == len(f.maker.fgraph.toposort())
    if have_cc():
        assert "c" in set(f.maker.fgraph.placement.values())


def test_inplace_rewrites_pass_debugmode(compiledir):
    x, y = T.dvector("x"), T.dvector("y")
    out = T.exp(T.dot(x, y) * x) + T.sin(y).sum()
    f = symgraph.function([x, y], T.sqrt(T.abs(out)) * T.sort(out), mode="DebugMode")
    a, b = RNG.random(5), RNG.random(5)
    ref = symgraph.function([x, y], T.sqrt(T.abs(out)) * T.sort(out), mode="py")(a, b)
    np.testing.assert_allclose(f(a, b), ref, rtol=1e-12)
    np.testing.assert_array_equal(a, a.copy())


def test_declared_inplace_and_view_pass(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], DeclaredView()(DeclaredInplace()(x * 2)) + 1, mode="DebugMode")
    a = RNG.random(4)
    np.testing.assert_allclose(f(a), a * 2 + 2)


# -- broken things are caught ------------------------------------------------------------

def test_undeclared_inplace_write_is_caught(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], SneakyInplace()(x * 2) * 3, mode="DebugMode")
    with pytest.raises(BadDestroyMapError) as ei:
        f(RNG.random(4))
    msg = str(ei.value)
    assert "SneakyInplace" in msg and "destroy_map" in msg and "input 0" in msg
    assert "test_debugmode.py" in msg and "built by the user" in msg
    assert isinstance(ei.value.node.op, SneakyInplace)
    # the py mode silently gives the result: DebugMode is what catches it
    symgraph.function([x], SneakyInplace()(x * 2) * 3, mode="py")(RNG.random(4))


def test_undeclared_view_is_caught(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], UndeclaredView()(T.exp(x)) + 1, mode="DebugMode")
    with pytest.raises(BadViewMapError) as ei:
        f(RNG.random(3))
    msg = str(ei.value)
    assert "UndeclaredView" in msg and "view_map" in msg and "test_debugmode.py" in msg


def test_wrong_output_dtype_is_caught(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], WrongDtype()(x), mode="DebugMode")
    with pytest.raises(BadResultError, match=r"dtype is float32, the type says float64"):
        f(RNG.random(3))


def _break_add(monkeypatch):
    orig = cbackend.scalar_c

    def broken(sop, args, in_dtypes, out_dtype):
        expr = orig(sop, args, in_dtypes, out_dtype)
        if type(sop).__name__ == "Add" and expr:
            return f"(({expr}) + 1)"
        return expr
    monkeypatch.setattr(cbackend, "scalar_c", broken)


@needs_cc
def test_broken_c_kernel_is_caught(fresh_compiledir, monkeypatch):
    _break_add(monkeypatch)
    x, y = T.dvector("x"), T.dvector("y")
    out = T.log(T.dot(x, y)) + x          # an Elemwise add alone
    f = symgraph.function([x, y], out, mode=_dm(excluding=["fusion"]))
    with pytest.raises(BadResultError) as ei:
        f(RNG.random(4) + 1, RNG.random(4) + 1)
    msg = str(ei.value)
    assert "C kernel" in msg and "add" in msg and "test_debugmode.py" in msg
    assert "values differ beyond tolerance" in msg
    # FAST_RUN runs the same broken kernel silently
    fr = symgraph.function([x, y], out, mode=symgraph.Mode("FAST_RUN", excluding=["fusion"]))
    a, b = RNG.random(4) + 1, RNG.random(4) + 1
    np.testing.assert_allclose(fr(a, b), np.log(a @ b) + a + 1)


@needs_cc
def test_broken_fused_kernel_names_the_rewrite(fresh_compiledir, monkeypatch):
    _break_add(monkeypatch)
    x, y = T.dvector("x"), T.dvector("y")
    out = T.exp(x) * 2 + y                # fused into one Composite by elemwise_fusion
    f = symgraph.function([x, y], out, mode="DebugMode")
    with pytest.raises(DebugModeError) as ei:
        f(RNG.random(3), RNG.random(3))
    assert isinstance(ei.value, BadResultError)
    assert ei.value.reason == "elemwise_fusion"
    msg = str(ei.value)
    assert "made by the rewrite 'elemwise_fusion'" in msg and "Composite" in msg
    assert "test_debugmode.py" in msg


def test_nan_positions_must_agree():
    from symgraph.compile.debugmode import _compare
    t = TensorType("float64", (None,))
    assert _compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), t) is None
    assert _compare(np.array([np.inf, 1.0]), np.array([np.inf, 1.0 + 1e-12]), t) is None
    assert "differ" in _compare(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), t)
    assert "differ" in _compare(np.array([np.inf]), np.array([-np.inf]), t)
    assert "differ" in _compare(np.array([1.0]), np.array([1.0001]), t)
    ti = TensorType("int64", (None,))
    assert "differ" in _compare(np.array([1, 2]), np.array([1, 3]), ti)
    assert "shapes differ" in _compare(np.zeros(2), np.zeros(3), t)
