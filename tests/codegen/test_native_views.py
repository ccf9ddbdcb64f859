"""The native entry's strided Elemwise call and its DimShuffle views (kernels/c/entry.c):
broadcast rows, transposes and strided or reversed inputs run in C without a Python frame,
agree with the numpy reference, and what the types do not allow still raises the Python
path's error."""
import inspect

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")


def _graphs():
    x, b = T.matrix("x", dtype="float64"), T.vector("b", dtype="float64")
    r, c = T.row("r", dtype="float64"), T.col("c", dtype="float64")
    return (x, b, r, c), {
        "row": x + r,
        "col_and_row": x * c - r,
        "dimshuffled_bias": T.tanh(x + b.dimshuffle("x", 0)),
        "transpose": x.T * 2 + 1,
        "transpose_times_bias": T.exp(x.T) * b.dimshuffle(0, "x"),
        "outer": b.dimshuffle(0, "x") * b.dimshuffle("x", 0),
    }


def _values(rng, n, m):
    return (rng.standard_normal((n, m)), rng.standard_normal(m), rng.standard_normal((1, m)),
            rng.standard_normal((n, 1)))


@pytest.mark.parametrize("name", list(_graphs()[1]))
@pytest.mark.parametrize("layout", ["contiguous", "strided", "reversed", "fortran"])
def test_broadcasts_and_views_run_in_c_and_agree_with_py(name, layout, python_frames):
    inputs, outs = _graphs()
    out = outs[name]
    if name in ("transpose_times_bias",):
        inputs = inputs[:2]
    f = symgraph.function(list(inputs), out, on_unused_input="ignore")
    ref = symgraph.function(list(inputs), out, on_unused_input="ignore", mode="py")
    assert type(f._call).__name__ == "NativeEntry"
    rng = np.random.default_rng(3)
    n, m = (4, 4) if name == "transpose_times_bias" else (3, 5)
    vals = list(_values(rng, n, m))[:len(inputs)]
    x = vals[0]
    vals[0] = {"contiguous": x,
               "strided": np.repeat(x, 2, axis=1)[:, ::2],
               "reversed": x[::-1, ::-1].copy()[::-1, ::-1],
               "fortran": np.asfortranarray(x)}[layout]
    np.testing.assert_array_equal(vals[0], x)
    got, frames = python_frames(f, *vals)
    np.testing.assert_allclose(got, ref(*vals), rtol=1e-14, atol=1e-15)
    assert frames == [], frames
    assert got.flags.c_contiguous and got.flags.writeable


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_strided_call_in_other_dtypes(dtype, python_frames):
    x, r = T.matrix("x", dtype=dtype), T.row("r", dtype=dtype)
    f = symgraph.function([x, r], x.T * 3 - r.T)
    ref = symgraph.function([x, r], x.T * 3 - r.T, mode="py")
    a = (np.arange(35).reshape(5, 7) - 11).astype(dtype)[:, ::2]
    row = np.arange(4, dtype=dtype)[None]
    got, frames = python_frames(f, a.T.copy().T, row)
    assert frames == [] and got.dtype == dtype
    np.testing.assert_array_equal(got, ref(a, row))
    np.testing.assert_array_equal(got, a.T * 3 - row.T)


def test_higher_rank_and_zero_size():
    x = T.tensor("float64", shape=(None, None, None), name="x")
    v = T.tensor("float64", shape=(1, None, None), name="v")
    out = T.sqrt(abs(x.dimshuffle(2, 0, 1))) + v.dimshuffle(1, 2, 0)
    f = symgraph.function([x, v], out)
    ref = symgraph.function([x, v], out, mode="py")
    rng = np.random.default_rng(0)
    for shape in [(2, 3, 4), (1, 5, 2), (0, 3, 2)]:
        a = rng.standard_normal(shape)
        w = rng.standard_normal((1, shape[2], shape[0]))
        got = f(a, w)
        assert got.shape == (shape[2], shape[0], shape[1])
        np.testing.assert_allclose(got, ref(a, w), rtol=1e-15)


def test_runtime_broadcasting_the_type_forbids_is_the_python_paths_error():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    line = inspect.currentframe().f_lineno + 1
    out = x.T + y
    f = symgraph.function([x, y], out)
    assert type(f._call).__name__ == "NativeEntry"
    np.testing.assert_array_equal(f(np.ones((4, 3)), np.ones((3, 4))), np.full((3, 4), 2.0))
    for a, b in [(np.ones((4, 3)), np.ones((1, 4))), (np.ones((4, 3)), np.ones((3, 5)))]:
        with pytest.raises(ValueError) as info:
            f(a, b)
        msg = str(info.value)
        assert "add" in msg and f"test_native_views.py:{line}" in msg, msg
        with pytest.raises(ValueError):
            symgraph.function([x, y], out, mode="py")(a, b)


def test_a_returned_view_is_the_callers_own_array():
    x = T.dmatrix("x")
    f = symgraph.function([x], [x.T, x.dimshuffle("x", 0, 1)])
    a = np.arange(6.0).reshape(2, 3)
    t, e = f(a)
    np.testing.assert_array_equal(t, a.T)
    np.testing.assert_array_equal(e, a[None])
    assert not np.shares_memory(t, a) and not np.shares_memory(e, a)
    t[0, 0] = 99.0
    assert a[0, 0] == 0.0


def test_in_place_step_over_a_view_leaves_the_input_alone():
    x, b = T.dmatrix("x"), T.dvector("b")
    out = T.exp(x.T) + b.dimshuffle(0, "x")
    f = symgraph.function([x, b], [out, x])
    a, v = np.arange(6.0).reshape(2, 3) / 6, np.arange(3.0)
    keep = a.copy()
    got, same = f(a, v)
    np.testing.assert_allclose(got, np.exp(a.T) + v[:, None], rtol=1e-15)
    np.testing.assert_array_equal(a, keep)
    np.testing.assert_array_equal(same, keep)
