"""The native entry's shape steps (kernels/c/entry.c `shape_step`): Shape_i, an int64
MakeVector and Reshape run in C without a Python frame and agree with the numpy
reference in every layout (a reshape numpy must copy included), and a reshape numpy
refuses still raises the op's error at the user's line."""
import inspect

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")


def _graphs():
    x, W = T.dtensor3("x"), T.dmatrix("W")
    return (x, W), {
        "flatten_dot": T.dot(x.flatten(2), W),
        "reshape_minus_one": T.dot(x.reshape((x.shape[0], -1)), W),
        "reshape_and_back": T.tanh(x.reshape((-1, x.shape[2])) * 2).reshape(x.shape) + x,
        "shape_entries": [x.shape[0] * x.shape[1], T.exp(x).reshape((x.shape[2], -1))],
        "flatten_all": x.flatten() * 3,
    }


def _layouts(a):
    return {"contiguous": a,
            "transposed": np.ascontiguousarray(a.transpose(2, 1, 0)).transpose(2, 1, 0),
            "strided": np.repeat(a, 2, axis=2)[:, :, ::2],
            "reversed": a[::-1].copy()[::-1]}


@pytest.mark.parametrize("name", list(_graphs()[1]))
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 5, 1), (0, 2, 3)])
def test_shape_steps_run_in_c_and_agree_with_py(name, shape, python_frames):
    inputs, outs = _graphs()
    out = outs[name]
    f = symgraph.function(list(inputs), out, on_unused_input="ignore")
    ref = symgraph.function(list(inputs), out, on_unused_input="ignore", mode="py")
    assert type(f._call).__name__ == "NativeEntry"
    rng = np.random.default_rng(len(name))
    a = rng.standard_normal(shape)
    w = rng.standard_normal((shape[1] * shape[2], 3))
    for layout, v in _layouts(a).items():
        np.testing.assert_array_equal(v, a)
        try:
            want = ref(v, w)
        except ValueError:                 # numpy cannot reshape size 0 with a -1
            with pytest.raises(ValueError, match="cannot reshape"):
                f(v, w)
            continue
        got, frames = python_frames(f, v, w)
        # no shape op's perform; a strided or reversed view (a reshape numpy makes
        # without copying) may still reach a Dot's Python compute, which copies it for BLAS
        assert "perform" not in frames, (layout, frames)
        assert frames == [] or layout in ("strided", "reversed"), (layout, frames)
        for g, r in zip(got if isinstance(got, list) else [got],
                        want if isinstance(want, list) else [want]):
            assert np.asarray(g).shape == np.asarray(r).shape, layout
            assert np.asarray(g).dtype == np.asarray(r).dtype, layout
            np.testing.assert_allclose(g, r, rtol=1e-14, atol=1e-15)


def test_shapes_given_as_inputs(python_frames):
    x, a, b = T.dmatrix("x"), T.lscalar("a"), T.lscalar("b")
    f = symgraph.function([x, a, b], x.reshape((a, b)) + 1)
    v = np.arange(12.0).reshape(3, 4)
    # 0-d int64 arrays stay in C; Python ints go through the Python call
    got, frames = python_frames(f, v, np.array(2), np.array(-1))
    assert frames == []
    np.testing.assert_array_equal(got, v.reshape(2, 6) + 1)
    np.testing.assert_array_equal(f(v, 6, 2), v.reshape(6, 2) + 1)


def test_a_reshape_numpy_refuses_is_the_ops_error_at_the_users_line():
    x, a = T.dmatrix("x"), T.lscalar("a")
    line = inspect.currentframe().f_lineno + 1
    out = x.reshape((a, 5)) * 2
    f = symgraph.function([x, a], out)
    assert type(f._call).__name__ == "NativeEntry"
    np.testing.assert_array_equal(f(np.ones((2, 5)), np.array(2)), np.full((2, 5), 2.0))
    for bad in (np.array(3), np.array(0)):
        with pytest.raises(ValueError) as info:
            f(np.ones((2, 5)), bad)
        msg = str(info.value)
        assert "Reshape" in msg and "cannot reshape" in msg, msg
        assert f"test_native_shapes.py:{line}" in msg, msg
        with pytest.raises(ValueError):
            symgraph.function([x, a], out, mode="py")(np.ones((2, 5)), bad)


def test_a_reshaped_result_is_the_callers_own_array():
    x = T.dmatrix("x")
    f = symgraph.function([x], x.reshape((x.shape[1], x.shape[0])))
    a = np.arange(6.0).reshape(2, 3)
    r = f(a)
    np.testing.assert_array_equal(r, a.reshape(3, 2))
    assert not np.shares_memory(r, a)
    r[0, 0] = 99.0
    assert a[0, 0] == 0.0
