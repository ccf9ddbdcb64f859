"""Phase 'canonicalize': each rule fires on its pattern, keeps the numbers of mode='py', and
stays away where it would be wrong."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Mode
from rewrite_helpers import RNG, check_against_py, op_names, reasons

# only the phase under test (and merge), so the graph after it is visible
CANON = Mode("FAST_RUN", excluding=["stabilize", "specialize", "fusion", "inplace"])


def run(inputs, out, values, **kw):
    fns = check_against_py(inputs, out, values, modes=("FAST_RUN",), **kw)
    canon = symgraph.function(inputs, out, mode=CANON, on_unused_input="ignore")
    got, want = canon(*values), fns["py"](*values)
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-7, equal_nan=True)
    return canon


X = RNG.normal(size=(3, 4))
V = RNG.normal(size=4)


@pytest.mark.parametrize("build,rule", [
    (lambda x: x * 1, "mul_one"),
    (lambda x: 1 * x * 1, "mul_one"),
    (lambda x: x + 0, "add_zero"),
    (lambda x: 0.0 + x, "add_zero"),
    (lambda x: x - 0, "sub_zero"),
    (lambda x: x / 1, "div_one"),
    (lambda x: x ** 1, "pow_one"),
    (lambda x: -(-x), "neg_neg"),
])
def test_neutral_elements_leave_x(build, rule):
    x = T.dmatrix("x")
    f = run([x], build(x), [X])
    assert rule in reasons(f)
    assert op_names(f) == []


def test_neutral_elements_keep_dtype_and_broadcast_shape():
    x = T.fvector("x")
    # float32 * float64 1: the result is float64, so x is cast, not returned
    f = run([x], x * np.ones((), "float64"), [V.astype("float32")])
    assert op_names(f) == ["Cast"]
    # a constant of ones with a bigger shape still broadcasts the result
    s = T.dscalar("s")
    f = run([s], s * np.ones((2, 3)) + np.zeros((2, 3)), [np.float64(2.5)])
    assert f(2.5).shape == (2, 3)
    x = T.ivector("x")
    f = run([x], x + np.int8(0), [np.array([1, 2], "int32")])
    assert op_names(f) == []


def test_mul_zero_only_for_integers():
    i = T.ivector("i")
    f = run([i], i * 0, [np.array([3, -4], "int32")])
    assert "mul_zero_int" in reasons(f)
    assert "Mul" not in op_names(f)
    x = T.dvector("x")
    f = run([x], x * 0, [np.array([np.inf, np.nan, 1.0])])
    assert "mul_zero_int" not in reasons(f)
    assert np.isnan(f([np.inf, np.nan, 1.0])[:2]).all()


def test_x_minus_x_is_zero_only_for_integers():
    i = T.lmatrix("i")
    f = run([i], i - i, [np.arange(6).reshape(2, 3)])
    assert "sub_self" in reasons(f) and "Sub" not in op_names(f)
    x = T.dvector("x")
    f = run([x], x - x, [np.array([np.inf, 1.0])])
    assert "sub_self" not in reasons(f)
    assert np.isnan(f([np.inf, 1.0])[0])       # inf - inf is NaN, as numpy says


def test_negation_rules():
    x, y = T.dvectors("x", "y")
    f = run([x, y], x - (-y), [V, V[::-1].copy()])
    assert "sub_neg" in reasons(f) and op_names(f) == ["Add"]
    f = run([x, y], x + (-y), [V, V[::-1].copy()])
    assert "add_neg" in reasons(f) and op_names(f) == ["Sub"]
    f = run([x], 0 - x, [V])
    assert op_names(f) == ["Neg"]
    f = run([x], -1 * x, [V])
    assert op_names(f) == ["Neg"] and "mul_minus_one" in reasons(f)
    b = T.bvector("b")
    f = run([b], -(-b), [np.array([-128, 5], "int8")])    # wraps the same both ways
    assert op_names(f) == []


def test_add_and_mul_flatten_and_combine_constants():
    x, y, z = T.dvectors("x", "y", "z")
    f = run([x, y, z], ((x + 1) + y) + (z + 2), [V, V * 2, V * 3])
    assert "add_flatten" in reasons(f) and "add_constants" in reasons(f)
    assert op_names(f) == ["Add"]
    (node,) = f.maker.fgraph.apply_nodes
    assert len(node.inputs) == 4
    f = run([x, y], (x * 2) * (y * 3), [V, V * 2])
    assert op_names(f) == ["Mul"]
    assert "mul_flatten" in reasons(f) and "mul_constants" in reasons(f)


def test_flatten_keeps_values_with_other_readers_and_other_dtypes():
    x, y = T.dvectors("x", "y")
    inner = x + y
    f = run([x, y], [inner + 1, inner * 2], [V, V])
    assert "add_flatten" not in reasons(f)
    i = T.bvector("i")
    # int8 + int8 wraps before it meets the float: flattening would change the result
    out = (i + i) + x
    f = run([i, x], out, [np.array([100, -100], "int8"), np.array([0.5, 0.5])])
    assert "add_flatten" not in reasons(f)


def test_pow_zero_gives_ones_even_for_nan():
    x = T.dvector("x")
    f = run([x], x ** 0, [np.array([np.nan, 0.0, np.inf])])
    assert "pow_zero" in reasons(f)
    assert f([np.nan])[0] == 1.0


def test_log_exp():
    x = T.dvector("x")
    f = run([x], T.log(T.exp(x)), [V])
    assert op_names(f) == []
    np.testing.assert_array_equal(f([800.0]), [800.0])     # exp(800) would be inf
    i = T.ivector("i")
    f = run([i], T.log(T.exp(i)), [np.array([1, 2], "int32")])
    assert op_names(f) == ["Cast"]


def test_division_chains_by_constants():
    x = T.dvector("x")
    f = run([x], (x / 2.0) / 4.0, [V])
    assert "div_div_constants" in reasons(f) and op_names(f) == ["TrueDiv"]
    # integer division is left alone
    i = T.lvector("i")
    f = run([i], (i // 2) // 4, [np.array([7, -7])])
    assert "div_div_constants" not in reasons(f)
    # a product that would overflow is left alone
    f = run([x], (x / 1e200) / 1e200, [np.array([1e300])])
    assert "div_div_constants" not in reasons(f)


def test_cast_of_cast():
    i = T.ivector("i")
    f = run([i], T.cast(T.cast(i, "float64"), "float32"), [np.array([16777217, 3], "int32")])
    assert "cast_cast" in reasons(f) and op_names(f) == ["Cast"]
    x = T.dvector("x")
    # float64 -> int32 loses the fraction: no shortcut
    f = run([x], T.cast(T.cast(x, "int32"), "float64"), [np.array([1.5, -2.5])])
    assert "cast_cast" not in reasons(f)


def test_fill_and_switch():
    x, y = T.dvectors("x", "y")
    f = run([x, y], T.second(x, y), [V, V * 2])
    assert op_names(f) == []
    c = T.constant(np.bool_(True))
    f = run([x, y], T.switch(c, x, y), [V, V * 2])
    assert op_names(f) == [] and "switch_constant" in reasons(f)
    f = run([x, y], T.switch(T.gt(x, 0), y, y), [V, V * 2])
    assert op_names(f) == []


def test_fill_of_a_smaller_value_stays():
    x = T.dmatrix("x")
    s = T.dscalar("s")
    f = run([x, s], T.second(x, s), [X, np.float64(2.0)])
    assert "fill_noop" not in reasons(f)
    assert f(X, 2.0).shape == X.shape


def test_dimshuffle_chains():
    x = T.dmatrix("x")
    f = run([x], x.T.T, [X])
    assert op_names(f) == []
    f = run([x], x.dimshuffle(1, "x", 0).dimshuffle(2, 1, 0), [X])
    assert op_names(f) == ["DimShuffle"] and "dimshuffle_of_dimshuffle" in reasons(f)
    y = T.dmatrix("y")
    # (x.T + y.T).T -> x + y: the transposes meet and cancel
    f = run([x, y], (x.T + y.T).T, [X, X * 2])
    assert op_names(f) == ["Add"] and "dimshuffle_lift" in reasons(f)


def test_sub_graph_reuse_after_canonicalization():
    x = T.dvector("x")
    out = T.exp(x * 1) + T.exp(x + 0)
    f = run([x], out, [V])
    assert op_names(f).count("Exp") == 1


def test_fill_of_fill_and_fill_of_an_unread_elemwise():
    x = T.dmatrix("x")
    r = T.drow("r")
    f = run([x, r], T.second(T.second(x, 1.0), r), [X, X[:1] * 2])
    assert op_names(f) == ["Second"] and "fill_of_fill" in reasons(f)
    # only the shape of exp(x) * 2 is needed: exp is not computed
    f = run([x, r], T.second(T.exp(x) * 2, r), [X, X[:1] * 2])
    assert "Exp" not in op_names(f)
    # an elemwise read elsewhere stays (it is computed anyway)
    e = T.exp(x)
    f = run([x, r], [T.second(e, r), e], [X, X[:1]])
    assert "Exp" in op_names(f)


def test_cast_of_cast_keeps_the_rounding_of_a_lossy_middle():
    i = T.lvector("i")
    big = np.array([2 ** 53 + 1, 3])
    # int64 -> float64 rounds 2**53 + 1: the middle cast is not exact, so it stays
    f = run([i], T.cast(T.cast(i, "float64"), "int64"), [big])
    assert "cast_cast" not in reasons(f)
    assert f(big)[0] == 2 ** 53
