"""Shared variables: type inference, borrow semantics of get_value/set_value, errors."""
import pickle

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import change_flags, shared
from symgraph.shared import SharedVariable


@pytest.mark.parametrize(
    "value, dtype, ndim",
    [
        (np.zeros((2, 3), dtype=np.float32), "float32", 2),
        (np.arange(4, dtype=np.int32), "int32", 1),
        (np.arange(4, dtype=np.int64).reshape(2, 1, 2), "int64", 3),
        (np.array(True), "bool", 0),
        (np.float32(2.5), "float32", 0),
        (np.zeros((0, 4), dtype=np.int8), "int8", 2),
        (np.ones(3, dtype=np.complex64), "complex64", 1),
        (0, "int64", 0),
        (True, "bool", 0),
        ([1, 2, 3], "int64", 1),
    ],
)
def test_type_is_inferred_from_the_value(value, dtype, ndim):
    s = shared(value, name="s")
    assert isinstance(s, SharedVariable)
    assert s.dtype == dtype and s.ndim == ndim
    # nothing broadcasts unless asked for, even dimensions of size 1
    assert s.broadcastable == (False,) * ndim
    assert s.type.shape == (None,) * ndim
    got = s.get_value()
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, np.asarray(value))


@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_python_floats_become_floatx(floatx):
    with change_flags(floatX=floatx):
        assert shared(1.5).dtype == floatx
        assert shared([1.0, 2.0]).dtype == floatx
        # numpy arrays keep their dtype
        assert shared(np.zeros(2)).dtype == "float64"


def test_shape_gives_broadcastable_dims():
    s = shared(np.zeros((1, 3)), name="row", shape=(1, None))
    assert s.type.shape == (1, None) and s.broadcastable == (True, False)
    b = shared(np.zeros((1, 3)), name="row", broadcastable=(True, False))
    assert b.type == s.type
    m = T.dmatrix("m")
    f = symgraph.function([m], m + s, mode="py")
    np.testing.assert_array_equal(f(np.ones((4, 3))), np.ones((4, 3)))
    # without the static 1 the (1, 3) value does not broadcast: only equal shapes add
    plain = shared(np.zeros((1, 3)), name="plain")
    g = symgraph.function([m], m + plain, mode="py")
    np.testing.assert_array_equal(g(np.ones((1, 3))), np.ones((1, 3)))
    with pytest.raises(ValueError, match="add"):
        g(np.ones((4, 3)))


def test_shape_that_contradicts_the_value_is_refused():
    with pytest.raises(ValueError, match="dimension 0 must have size 1"):
        shared(np.zeros((2, 3)), name="r", shape=(1, None))
    with pytest.raises(ValueError, match="does not fit"):
        shared(np.zeros(3), name="r", shape=(None, None))


def test_set_value_checks_the_static_shape():
    s = shared(np.zeros((1, 3)), name="row", shape=(1, None))
    s.set_value(np.ones((1, 5)))
    assert s.get_value().shape == (1, 5)
    with pytest.raises(ValueError, match=r"row.set_value: dimension 0 must have size 1"):
        s.set_value(np.ones((2, 5)))


def test_get_value_without_borrow_is_a_copy():
    v = np.arange(3.0)
    s = shared(v, name="s")
    out = s.get_value()
    out[0] = 100.0
    assert s.get_value()[0] == 0.0
    assert s.get_value() is not s.get_value()


def test_shared_without_borrow_copies_the_users_array():
    v = np.arange(3.0)
    s = shared(v, name="s")
    v[0] = 100.0
    assert s.get_value()[0] == 0.0


def test_shared_with_borrow_may_keep_the_users_array():
    v = np.arange(3.0)
    s = shared(v, name="s", borrow=True)
    assert s.get_value(borrow=True) is v
    v[1] = 50.0
    assert s.get_value()[1] == 50.0


def test_set_value_without_borrow_copies_in():
    s = shared(np.zeros(3), name="s")
    v = np.ones(3)
    s.set_value(v)
    v[:] = 7.0
    np.testing.assert_array_equal(s.get_value(), np.ones(3))
    assert s.get_value(borrow=True) is not v


def test_set_value_with_borrow_keeps_the_array():
    s = shared(np.zeros(3), name="s")
    v = np.ones(3)
    s.set_value(v, borrow=True)
    assert s.get_value(borrow=True) is v


def test_set_value_converts_lists_and_safe_dtypes():
    s = shared(np.zeros((2, 2)), name="s")
    s.set_value([[1, 2], [3, 4]])
    got = s.get_value()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])
    s.set_value(np.ones((3, 1), dtype=np.float32))  # shapes may change, dtype upcasts
    assert s.get_value().dtype == np.float64 and s.get_value().shape == (3, 1)


def test_set_value_with_wrong_ndim_names_the_variable():
    s = shared(np.zeros((2, 3)), name="weights")
    with pytest.raises(TypeError, match=r"weights\.set_value: expected 2-d array.*got 1-d"):
        s.set_value(np.zeros(3))
    np.testing.assert_array_equal(s.get_value(), np.zeros((2, 3)))


def test_set_value_that_loses_precision_is_refused():
    s = shared(np.zeros(2, dtype=np.float32), name="w32")
    with pytest.raises(TypeError, match=r"w32\.set_value: dtype float64 would lose precision"):
        s.set_value(np.zeros(2))
    i = shared(np.zeros(2, dtype=np.int32), name="counts")
    with pytest.raises(TypeError, match=r"counts\.set_value"):
        i.set_value([0.5, 1.0])


def test_values_that_are_not_arrays_are_refused():
    with pytest.raises(TypeError, match="cannot store a NoneType"):
        shared(None)
    with pytest.raises(TypeError, match="unsupported dtype"):
        shared("text")
    with pytest.raises(TypeError, match="shared variable"):
        shared(shared(1.0))
    with pytest.raises(TypeError, match="unexpected arguments"):
        shared(1.0, colour="red")


def test_shared_variable_in_a_graph_reads_the_current_value():
    s = shared(np.array([1.0, 2.0]), name="s")
    x = T.dvector("x")
    f = symgraph.function([x], x * s, mode="py")
    np.testing.assert_array_equal(f(np.ones(2)), [1.0, 2.0])
    s.set_value(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(f(np.ones(2)), [3.0, 4.0])
    s.set_value(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(f(np.full(3, 2.0)), [2.0, 2.0, 2.0])


def test_repr_name_and_value_property():
    s = shared(np.zeros(2), name="bias")
    assert repr(s) == "bias"
    assert "float64" in repr(shared(np.zeros(2)))
    np.testing.assert_array_equal(s.value, np.zeros(2))


def test_pickle_keeps_the_value():
    s = shared(np.arange(3.0), name="s")
    t = pickle.loads(pickle.dumps(s))
    assert t.name == "s" and t.type == s.type
    np.testing.assert_array_equal(t.get_value(), np.arange(3.0))
    t.set_value(np.zeros(3))
    np.testing.assert_array_equal(s.get_value(), np.arange(3.0))

