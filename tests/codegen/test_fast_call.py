"""Function's generated fast path (compile/function.py `_fast_call`) and the CProgram's
``run_values``: the same results as the numpy executor, and inputs that are not already
of their type still checked and converted (errors naming the input)."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T


def test_scalar_call_matches_py_and_returns_fresh_arrays(compiledir):
    v = T.dscalar("x")
    f = symgraph.function([v], v + 1)
    x = np.array(1.5)
    a, b = f(x), f(x)
    assert type(a) is np.ndarray and a.shape == () and a.dtype == np.float64
    assert a == 2.5 and a is not b and not np.shares_memory(a, x)
    assert f(2) == 3.0 and f(np.float64(0.5)) == 1.5            # converted: general path
    with pytest.raises(TypeError, match=r"input 0 \(x\)"):
        f(np.ones(2))                                           # wrong ndim
    with pytest.raises(TypeError, match=r"input 0 \(x\)"):
        f(np.array(1, dtype="int64").astype("complex128"))       # wrong dtype, no downcast


@pytest.mark.parametrize("kind", ["single", "list", "list1"])
def test_return_shapes_on_the_fast_path(compiledir, kind):
    x, y = T.dvector("x"), T.dvector("y")
    outs = {"single": x * y, "list": [x * y, x + y], "list1": [x * y]}[kind]
    f = symgraph.function([x, y], outs)
    p = symgraph.function([x, y], outs, mode="py")
    a, b = np.arange(3.0), np.full(3, 2.0)
    got, want = f(a, b), p(a, b)
    assert type(got) is type(want)
    if isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    else:
        np.testing.assert_array_equal(got, want)


def test_static_shapes_and_dtypes_are_checked(compiledir):
    x = T.tensor("float32", (2, None), "x")
    f = symgraph.function([x], x * 2)
    np.testing.assert_array_equal(f(np.ones((2, 3), "float32")), np.full((2, 3), 2, "float32"))
    with pytest.raises((TypeError, ValueError), match=r"input 0 \(x\)"):
        f(np.ones((3, 3), "float32"))                  # static size 2 violated
    got = f(np.ones((2, 3), "float64").astype("float32")[:, ::-1])
    np.testing.assert_array_equal(got, np.full((2, 3), 2, "float32"))
    with pytest.raises(TypeError, match=r"input 0 \(x\)"):
        f(np.ones((2, 3), "float64"))                  # float64 into float32: no downcast


def test_keyword_and_default_arguments_take_the_general_path(compiledir):
    x, y = T.dvector("x"), T.dvector("y")
    f = symgraph.function([x, symgraph.In(y, value=np.ones(2))], x - y)
    np.testing.assert_array_equal(f(np.full(2, 3.0)), np.full(2, 2.0))
    np.testing.assert_array_equal(f(x=np.full(2, 3.0), y=np.zeros(2)), np.full(2, 3.0))


def test_profile_keeps_counting_calls(compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) + 1, profile=True)
    for _ in range(3):
        f(np.zeros(4))
    assert f.profile.calls == 3


def test_no_inputs(compiledir):
    f = symgraph.function([], T.constant(np.arange(3.0)) * 2)
    np.testing.assert_array_equal(f(), np.arange(3.0) * 2)
