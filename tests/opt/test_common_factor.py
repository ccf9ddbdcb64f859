"""add_common_factor (x*a + x*b -> x*(a + b) where a + b runs in a smaller loop) and the
constant-combining rules dropping a neutral result (x * 0.5 * 2 -> x): results equal mode
'py' on several shapes and dtypes; the rule stays away where it does not pay."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from symgraph.ops.elemwise import Elemwise
from rewrite_helpers import RNG, check_against_py, op_names, reasons

NO_FUSE = Mode("FAST_RUN", excluding=["fusion", "inplace"])


def run(inputs, out, values, rtol=1e-12, **kw):
    check_against_py(inputs, out, values, rtol=rtol, **kw)
    return symgraph.function(inputs, out, mode=NO_FUSE, on_unused_input="ignore")


def full_size_muls(f):
    """How many products run over the result's whole shape."""
    out = f.maker.fgraph.outputs[0]
    return sum(1 for n in f.maker.fgraph.apply_nodes
               if isinstance(n.op, Elemwise) and type(n.op.scalar_op).__name__ == "Mul"
               and n.outputs[0].type.broadcastable == out.type.broadcastable)


def row(dtype="float64"):
    return T.tensor(dtype, shape=(1, None))


@pytest.mark.parametrize("shape", [(3, 4), (1, 5), (6, 1), (7, 9)])
def test_rows_times_a_matrix_are_summed_first(shape):
    X, a, b, c, d = T.dmatrix("X"), row(), row(), row(), row()
    # the Hessian's form: -(X*a)*b - (X*a)*b + X*c*d, times a row
    out = (-(X * a) * b - (X * a) * b + X * c * d) * a
    vals = [RNG.normal(size=shape)] + [RNG.normal(size=(1, shape[1])) for _ in range(4)]
    f = run([X, a, b, c, d], out, vals)
    assert "add_common_factor" in reasons(f)
    assert full_size_muls(f) == 1


@pytest.mark.parametrize("build", [
    lambda X, a, b: X * a + X * b,
    lambda X, a, b: X * a - X * b,
    lambda X, a, b: a * X - X,
    lambda X, a, b: -(X * a) + b * X * 2.0,
    lambda X, a, b: X * a + X * b + X * X,          # a third term without the row
])
def test_sums_and_differences(build):
    X, a, b = T.dmatrix("X"), T.dvector("a"), T.dvector("b")
    vals = [RNG.normal(size=(4, 3)), RNG.normal(size=3), RNG.normal(size=3)]
    f = run([X, a, b], build(X, a, b), vals)
    assert "add_common_factor" in reasons(f)


def test_constant_cofactors_leave_the_factor():
    """E*0.5 + E*0.5 (the Hessian of x.x/2 over identity rows) is E itself."""
    E = T.dmatrix("E")
    f = run([E], E * 0.5 + E * 0.5, [np.eye(4)])
    assert "add_common_factor" in reasons(f) and op_names(f) == []
    f = run([E], E * 0.25 - E * 0.75, [RNG.normal(size=(3, 5))])
    assert op_names(f) == ["Mul"]


def test_mul_constants_drop_a_neutral_product():
    x = T.dmatrix("x")
    f = run([x], (x * 0.5) * 2, [RNG.normal(size=(2, 3))])
    assert "mul_constants" in reasons(f) and op_names(f) == []
    f = run([x], (x + 1.5) + (-1.5), [RNG.normal(size=(2, 3))])
    assert "add_constants" in reasons(f) and op_names(f) == []
    # a neutral constant that broadcasts the result keeps its shape
    v = T.dvector("v")
    ones = np.ones((3, 1))
    f = run([v], (v * ones) * 1.0, [RNG.normal(size=4)])
    assert f(np.arange(4.0)).shape == (3, 4)


def test_stays_away_where_it_does_not_pay():
    """Cofactors as big as the result: the same loop either way, so no rewrite (a term's
    inf * 0 would hide behind the sum)."""
    X, Y, Z = T.dmatrix("X"), T.dmatrix("Y"), T.dmatrix("Z")
    f = run([X, Y, Z], X * Y + X * Z, [RNG.normal(size=(3, 3)) for _ in range(3)])
    assert "add_common_factor" not in reasons(f)
    # one term only carries the factor
    a = row()
    f = run([X, a, Y], X * a + Y, [RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3)),
                                  RNG.normal(size=(2, 3))])
    assert "add_common_factor" not in reasons(f)


def test_inf_factor_keeps_what_numpy_gives_for_equal_signs():
    """With X = inf and cofactors of one sign, both forms give inf."""
    X, a, b = T.dmatrix("X"), row(), row()
    vals = [np.full((2, 2), np.inf), np.array([[1.0, 2.0]]), np.array([[3.0, 0.5]])]
    f = run([X, a, b], X * a + X * b, vals)
    assert np.isposinf(f(*vals)).all()


def test_shared_terms_are_not_opened():
    """A term another node reads stays one factor: the rewrite would not save its product."""
    X, a, b = T.dmatrix("X"), row(), row()
    t = X * a
    out = [t + X * b, T.exp(t)]
    vals = [RNG.normal(size=(3, 4)), RNG.normal(size=(1, 4)), RNG.normal(size=(1, 4))]
    check_against_py([X, a, b], out, vals, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32"])
def test_dtypes(dtype):
    X, a, b = T.tensor(dtype, shape=(None, None)), row(dtype), row(dtype)
    vals = [(RNG.normal(size=(3, 4)) * 4).astype(dtype),
            (RNG.normal(size=(1, 4)) * 4).astype(dtype), (RNG.normal(size=(1, 4)) * 4).astype(dtype)]
    f = run([X, a, b], X * a + X * b * 3, vals, rtol=1e-5)
    assert "add_common_factor" in reasons(f)
    # mixed: a float64 row times a float32 matrix computes in float64, as before
    c = row("float64")
    check_against_py([X, c], X * c + X * c, [vals[0], RNG.normal(size=(1, 4))], rtol=1e-6)


def test_bool_sums_are_left_alone():
    X, a, b = T.tensor("bool", shape=(None, None)), row("bool"), row("bool")
    vals = [RNG.normal(size=(3, 4)) > 0, RNG.normal(size=(1, 4)) > 0,
            RNG.normal(size=(1, 4)) > 0]
    f = run([X, a, b], X * a + X * b, vals)
    assert "add_common_factor" not in reasons(f)


def test_three_dimensional_and_fused():
    X = T.dtensor3("X")
    a, b = T.tensor("float64", shape=(1, None, 1)), T.dvector("b")
    out = T.exp(X) * a - T.exp(X) * b * a + 1
    vals = [RNG.normal(size=(2, 3, 4)), RNG.normal(size=(1, 3, 1)), RNG.normal(size=4)]
    fns = check_against_py([X, a, b], out, vals, rtol=1e-12)
    assert "add_common_factor" in reasons(fns["FAST_RUN"])


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (5, 1)])
def test_small_factors_multiply_in_their_own_loop(shape):
    """X * a * b with rows a, b: a * b once per row (fusion keeps loops of one shape)."""
    X, a, b = T.dmatrix("X"), row(), T.dvector("b")
    out = X * a * T.exp(b) * 2.0
    vals = [RNG.normal(size=shape), RNG.normal(size=(1, shape[1])), RNG.normal(size=shape[1])]
    f = run([X, a, b], out, vals)
    assert "mul_small_factors_together" in reasons(f)
    assert full_size_muls(f) == 1
    # fused too
    fns = check_against_py([X, a, b], out, vals, rtol=1e-12)
    assert "mul_small_factors_together" in reasons(fns["FAST_RUN"])


def test_small_factors_left_alone():
    X, Y, a = T.dmatrix("X"), T.dmatrix("Y"), row()
    vals = [RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=(1, 4))]
    for out in (X * Y * a, X * a):           # one small factor only
        f = run([X, Y, a], out, vals)
        assert "mul_small_factors_together" not in reasons(f)
    # a row and a column make a full-size product: nothing is saved
    c = T.tensor("float64", shape=(None, 1))
    f = run([X, a, c], X * a * c, [vals[0], vals[2], RNG.normal(size=(3, 1))])
    assert "mul_small_factors_together" not in reasons(f)
