"""The native entry's Subtensor views (kernels/c/entry.c `subtensor`): basic indexing with
constant or symbolic int64 bounds, negative steps, new axes and integer indices runs in C
without a Python frame and gives numpy's values; what numpy refuses (an index out of
range, a zero step) raises the Python path's error at the user's line."""
import inspect

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")

# (index on a 3-d x, the same index for numpy given the symbolic values i, j, k)
CASES = {
    "rows": (lambda x, i, j, k: x[1:], lambda a, i, j, k: a[1:]),
    "two_slices": (lambda x, i, j, k: x[1:, :2], lambda a, i, j, k: a[1:, :2]),
    "negative_step": (lambda x, i, j, k: x[::-1, :, ::-2], lambda a, i, j, k: a[::-1, :, ::-2]),
    "out_of_range_slice": (lambda x, i, j, k: x[-10:10, 5:], lambda a, i, j, k: a[-10:10, 5:]),
    "empty_reversed": (lambda x, i, j, k: x[0:0, ::-1], lambda a, i, j, k: a[0:0, ::-1]),
    "integer": (lambda x, i, j, k: x[1, :, -1], lambda a, i, j, k: a[1, :, -1]),
    "all_integers": (lambda x, i, j, k: x[1, 0, 2], lambda a, i, j, k: a[1, 0, 2]),
    "new_axis": (lambda x, i, j, k: x[None, 1, None, ::2], lambda a, i, j, k: a[None, 1, None, ::2]),
    "symbolic_bounds": (lambda x, i, j, k: x[i:j, ::k], lambda a, i, j, k: a[i:j, ::k]),
    "symbolic_index": (lambda x, i, j, k: x[:, j, i], lambda a, i, j, k: a[:, j, i]),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_views_run_in_c_and_agree_with_numpy(name, dtype, python_frames):
    sym, ref_index = CASES[name]
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    i, j, k = T.lscalar("i"), T.lscalar("j"), T.lscalar("k")
    out = sym(x, i, j, k) * 2
    f = symgraph.function([x, i, j, k], out, on_unused_input="ignore")
    ref = symgraph.function([x, i, j, k], out, on_unused_input="ignore", mode="py")
    assert type(f._call).__name__ == "NativeEntry"
    a = (np.arange(60) - 17).astype(dtype).reshape(3, 4, 5)
    for v in (a, np.asfortranarray(a), a[:, ::-1][:, ::-1]):
        for iv, jv, kv in [(1, 3, 2), (-2, -1, -1), (0, 2, 3)]:
            args = (v, np.array(iv), np.array(jv), np.array(kv))
            got, frames = python_frames(f, *args)
            assert frames == [], frames
            want = ref_index(a, iv, jv, kv) * 2
            assert np.asarray(got).shape == want.shape and np.asarray(got).dtype == want.dtype
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(got, ref(*args))


def test_an_index_numpy_refuses_is_the_python_paths_error():
    x, i, k = T.dmatrix("x"), T.lscalar("i"), T.lscalar("k")
    line = inspect.currentframe().f_lineno + 1
    out = x[i] + x[::k, 0]
    f = symgraph.function([x, i, k], out)
    assert type(f._call).__name__ == "NativeEntry"
    a = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(f(a, np.array(-1), np.array(1)), a[-1] + a[:, 0])
    for iv, kv, err in [(3, 1, IndexError), (-4, 1, IndexError), (0, 0, ValueError)]:
        with pytest.raises(err) as info:
            f(a, np.array(iv), np.array(kv))
        assert f"test_native_subtensor.py:{line}" in str(info.value), str(info.value)
        with pytest.raises(err):
            symgraph.function([x, i, k], out, mode="py")(a, np.array(iv), np.array(kv))


def test_views_returned_or_updated_in_place_leave_the_input_alone():
    x = T.dmatrix("x")
    f = symgraph.function([x], [x[1:], T.exp(x[:, ::-1]) + 1, x[0]])
    a = np.arange(6.0).reshape(2, 3) / 6
    keep = a.copy()
    rows, ex, first = f(a)
    np.testing.assert_array_equal(a, keep)
    np.testing.assert_allclose(ex, np.exp(keep[:, ::-1]) + 1, rtol=1e-15)
    assert not np.shares_memory(rows, a) and not np.shares_memory(first, a)
    rows[0, 0] = 99.0
    assert a[1, 0] == keep[1, 0]


def test_other_index_dtypes_take_the_ops_perform(python_frames):
    x, i = T.dmatrix("x"), T.iscalar("i")
    f = symgraph.function([x, i], x[i, ::-1] * 3)
    a = np.arange(12.0).reshape(3, 4)
    got, frames = python_frames(f, a, np.array(-2, dtype=np.int32))
    assert "perform" in frames
    np.testing.assert_array_equal(got, a[-2, ::-1] * 3)


def test_extreme_steps_as_numpy(python_frames):
    x, k = T.dvector("x"), T.lscalar("k")
    f = symgraph.function([x, k], x[::k] * 2)
    a = np.arange(5.0)
    for kv in (np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 7):
        got, frames = python_frames(f, a, np.array(kv))
        assert frames == []
        np.testing.assert_array_equal(got, a[::kv] * 2)
