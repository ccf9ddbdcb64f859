"""TensorType (equality, hash, filter rules) and the variable constructors of symgraph.tensor."""
import numpy as np
import pytest

import symgraph.tensor as T
from symgraph import change_flags
from symgraph.tensor.var import TensorVariable
from symgraph.types import TensorType

PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
            "d": "float64", "c": "complex64", "z": "complex128"}
KINDS = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
         "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
         "tensor5": (None,) * 5}
PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
           "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s"}


# -- TensorType -----------------------------------------------------------------------------

def test_equality_and_hash_follow_dtype_and_static_shape():
    a = TensorType("float64", (None, 3))
    b = TensorType(np.float64, [None, 3])
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != TensorType("float32", (None, 3))
    assert a != TensorType("float64", (None, None))
    assert a != TensorType("float64", (None, 3, 1))
    assert a != "TensorType(float64, (None, 3))"
    assert TensorType("int64", ()) == TensorType("int64", shape=())


def test_broadcastable_is_static_one():
    t = TensorType("float32", (1, None, 3, 1))
    assert t.broadcastable == (True, False, False, True)
    assert t.ndim == 4 and t.shape == (1, None, 3, 1)
    assert TensorType("int8", broadcastable=(True, False)).shape == (1, None)


def test_floatx_dtype_and_str():
    with change_flags(floatX="float32"):
        assert TensorType("floatX", ()).dtype == "float32"
    t = TensorType("float64", (None, 3))
    assert str(t) == "TensorType(float64, (None, 3))"


def test_bad_types_are_refused():
    with pytest.raises(TypeError, match="unsupported dtype"):
        TensorType("object", ())
    with pytest.raises(TypeError, match="needs a shape"):
        TensorType("float64")
    with pytest.raises(ValueError, match="negative static shape"):
        TensorType("float64", (2, -1))


def test_calling_a_type_makes_a_named_variable():
    t = TensorType("int16", (None,))
    v = t("idx")
    assert isinstance(v, TensorVariable)
    assert v.type is t and v.name == "idx" and v.owner is None
    assert t().name is None


def test_is_super_and_clone():
    gen = TensorType("float64", (None, None))
    spec = TensorType("float64", (2, None))
    assert gen.is_super(spec) and not spec.is_super(gen)
    assert not gen.is_super(TensorType("float32", (2, None)))
    assert spec.clone(dtype="int32") == TensorType("int32", (2, None))
    assert spec.clone(shape=(None,)) == TensorType("float64", (None,))


# -- filter ---------------------------------------------------------------------------------

def test_filter_passes_exact_arrays_through():
    t = TensorType("float32", (None, 2))
    v = np.zeros((3, 2), dtype=np.float32)
    assert t.filter(v) is v
    assert t.value_ok(v)
    assert not t.value_ok(v.astype(np.float64))
    assert not t.value_ok(np.zeros((3, 3), np.float32))


@pytest.mark.parametrize(
    "dtype, value, want_dtype",
    [
        ("float64", np.arange(3, dtype=np.int32), "float64"),
        ("float64", np.ones(3, dtype=np.float32), "float64"),
        ("int64", np.arange(3, dtype=np.int8), "int64"),
        ("int32", np.array([True, False]), "int32"),
        ("complex128", np.ones(3), "complex128"),
        ("float64", [1, 2, 3], "float64"),
        ("int8", [1, -2, 127], "int8"),
        ("float32", [0.5, 0.25, 1.0], "float32"),
    ],
)
def test_filter_accepts_safe_and_exact_conversions(dtype, value, want_dtype):
    got = TensorType(dtype, (None,)).filter(value)
    assert isinstance(got, np.ndarray) and got.dtype == np.dtype(want_dtype)
    np.testing.assert_array_equal(got, np.asarray(value))


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize(
    "dtype, value, match",
    [
        ("float32", np.ones(3), "dtype float64 would lose precision as float32"),
        ("int32", np.ones(3, dtype=np.int64), "dtype int64 would lose precision as int32"),
        ("int64", np.ones(3), "dtype float64 would lose precision as int64"),
        ("float64", np.ones(3, dtype=np.complex128), "dtype complex128 would lose"),
        ("int8", [1, 300], "cannot be stored exactly as int8"),
        ("int32", [1.5], "cannot be stored exactly as int32"),
        ("float32", [0.1], "cannot be stored exactly as float32"),
        ("bool", [2], "cannot be stored exactly as bool"),
    ],
)
def test_filter_refuses_lossy_conversions(dtype, value, match):
    t = TensorType(dtype, (None,))
    with pytest.raises(TypeError, match=match):
        t.filter(value, what="input 0 (x)")
    with pytest.raises(TypeError, match=r"^input 0 \(x\)"):
        t.filter(value, what="input 0 (x)")
    # allowed when downcasting is asked for, with numpy's conversion
    got = t.filter(value, allow_downcast=True)
    assert got.dtype == np.dtype(dtype)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.asarray(value).astype(dtype))


def test_filter_python_float_becomes_floatx():
    with change_flags(floatX="float32"):
        t = TensorType("float32", ())
        assert t.filter(0.1).dtype == np.float32
        # ... unless downcasting is explicitly refused
        with pytest.raises(TypeError, match="cannot be stored exactly"):
            t.filter(0.1, allow_downcast=False)


def test_filter_checks_ndim_and_static_shape():
    t = TensorType("float64", (None, 3))
    with pytest.raises(TypeError, match=r"expected 2-d array .*got 1-d array of shape \(3,\)"):
        t.filter(np.zeros(3))
    with pytest.raises(ValueError, match=r"dimension 1 must have size 3 .*got shape \(2, 4\)"):
        t.filter(np.zeros((2, 4)))
    assert t.filter(np.zeros((0, 3))).shape == (0, 3)


def test_filter_strict():
    t = TensorType("float64", (None,))
    v = np.zeros(2)
    assert t.filter(v, strict=True) is v
    with pytest.raises(TypeError, match="expected a numpy.ndarray of dtype float64"):
        t.filter([0.0, 1.0], strict=True)
    with pytest.raises(TypeError, match="of dtype float32"):
        t.filter(np.zeros(2, np.float32), strict=True)


def test_filter_refuses_objects():
    t = TensorType("float64", (None,))
    with pytest.raises(TypeError, match="cannot convert"):
        t.filter([object(), 1.0])


# -- constructors ----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_typed_constructors(prefix, kind):
    make = getattr(T, prefix + kind)
    v = make("v")
    assert v.name == "v" and v.owner is None
    assert v.type == TensorType(PREFIXES[prefix], KINDS[kind])
    assert v.dtype == PREFIXES[prefix] and v.ndim == len(KINDS[kind])
    assert v.broadcastable == tuple(s == 1 for s in KINDS[kind])
    assert make().name is None
    assert make.__doc__


@pytest.mark.parametrize("kind", list(KINDS))
def test_floatx_constructors_take_a_dtype(kind):
    make = getattr(T, kind)
    assert make("a").dtype == "float64"
    assert make("a", dtype="int32").dtype == "int32"
    assert make(dtype="int32").type.shape == KINDS[kind]


@pytest.mark.parametrize("prefix", ["", "b", "i", "l", "f", "d", "c", "z"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_plural_constructors(prefix, kind):
    make = getattr(T, prefix + PLURALS[kind])
    a, b, c = make("a", "b", "c")
    assert [v.name for v in (a, b, c)] == ["a", "b", "c"]
    assert len({a, b, c}) == 3
    want = TensorType(PREFIXES.get(prefix, "float64"), KINDS[kind])
    assert a.type == b.type == c.type == want
    # a single name gives a single variable; an int gives that many unnamed ones
    one = make("only")
    assert isinstance(one, TensorVariable) and one.name == "only"
    two = make(2)
    assert len(two) == 2 and all(v.name is None and v.type == want for v in two)


def test_tensor_constructor():
    x = T.tensor("float32", shape=(None, 3), name="x")
    assert x.type == TensorType("float32", (None, 3)) and x.name == "x"
    y = T.tensor(dtype="int64", shape=(1, None, 1))
    assert y.broadcastable == (True, False, True)
    z = T.tensor(shape=(2,))
    assert z.dtype == "float64" and z.type.shape == (2,)
    w = T.tensor("int8", (None,))
    assert w.type == TensorType("int8", (None,))
    b = T.tensor("float64", broadcastable=(False, True))
    assert b.type.shape == (None, 1)
    s = T.tensor("bool", shape=())
    assert s.ndim == 0 and s.dtype == "bool"
    with pytest.raises(TypeError, match="needs shape"):
        T.tensor("float32")


def test_type_call_and_type_of_variables():
    x = T.TensorType("float64", (None, None))("x")
    assert x.type == T.dmatrix().type
    assert x.type != T.fmatrix().type
    assert (x + 1).type == x.type
    assert x.static_shape == (None, None)


def test_exact_python_float_into_int_input_is_accepted_like_theano():
    import symgraph
    i = T.iscalar("i")
    f = symgraph.function([i], i * 2, mode="py")
    assert f(2.0) == 4
    with pytest.raises(TypeError, match="cannot be stored exactly"):
        f(2.5)
