"""Reductions in C (mode FAST_RUN) against the numpy executor (mode='py'): every reduction
op over any axes with keepdims, dtypes with numpy's accumulation dtypes, 0-d, empty,
transposed, strided and reversed inputs, NaN and Inf."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops import reduce as R

RNG = np.random.default_rng(11)

OPS = {
    "sum": lambda x, **k: T.sum(x, **k), "prod": lambda x, **k: T.prod(x, **k),
    "max": T.max, "min": T.min, "argmax": T.argmax, "argmin": T.argmin,
    "any": T.any, "all": T.all, "mean": lambda x, **k: T.mean(x, **k),
    "logsumexp": T.logsumexp,
}
NEEDS_ITEMS = {"max", "min", "argmax", "argmin"}
AXES3 = [None, 0, 1, -1, (0, 2), (0, 1), (1, 2)]


def _compile_both(inputs, outputs):
    fc = symgraph.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
    fp = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return fc, fp


def _reduce_places(f):
    return {w for n, w in f.maker.fgraph.placement.items() if isinstance(n.op, R.Reduce)}


def _close(got, want, x, what):
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if got.dtype.kind == "f":
        rtol = 1e-12 if got.dtype == np.float64 else 2e-5
        # sums: a few ulps of the sum of magnitudes (numpy's pairwise order is not ours
        # everywhere); the rest relative
        scale = float(np.abs(x.astype(np.float64)).sum()) if x.size else 0.0
        atol = rtol * scale if what.split("(")[0] in ("sum", "mean", "logsumexp") else 0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _data(shape, dtype):
    if dtype == "bool":
        return RNG.random(shape) > 0.3
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(0 if dtype.startswith("u") else -4, 5, size=shape).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


def _views(a):
    return [a, a.transpose(2, 0, 1), np.asfortranarray(a), a[::2, ::-1, 1:], a[:, :, ::-2]]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "uint8", "bool"])
def test_reductions_match_py_over_axes_views_and_keepdims(compiledir, dtype):
    x3 = T.tensor(dtype, shape=(None, None, None))
    x1 = T.tensor(dtype, shape=(None,))
    x0 = T.tensor(dtype, shape=())
    outs, names, srcs = [], [], []
    for name, fn in OPS.items():
        if name == "logsumexp" and dtype == "bool":
            continue
        for axis in AXES3:
            for keepdims in (False, True):
                outs.append(fn(x3, axis=axis, keepdims=keepdims))
                names.append(f"{name}(x3, axis={axis}, keepdims={keepdims})")
                srcs.append(0)
        for axis in (None, 0, -1):
            outs.append(fn(x1, axis=axis))
            names.append(f"{name}(x1, axis={axis})")
            srcs.append(1)
        outs.append(fn(x0))
        names.append(f"{name}(x0)")
        srcs.append(2)
    fc, fp = _compile_both([x3, x1, x0], outs)
    assert _reduce_places(fc) == {"c"}
    for k, view in enumerate(_views(_data((6, 5, 4), dtype))):
        vals = [view, _data(37, dtype)[::-3] if k % 2 else _data(300, dtype),
                _data((), dtype)]
        for name, src, got, want in zip(names, srcs, fc(*vals), fp(*vals)):
            _close(got, want, vals[src], f"{name} {dtype} view {k}")
            assert got.ndim == outs[names.index(name)].ndim


def test_float_sums_are_accurate_on_long_runs(compiledir):
    x, y = T.dvector("x"), T.fmatrix("y")
    outs = [T.sum(x), T.mean(x), T.sum(y, axis=0), T.sum(y, axis=1), T.sum(y),
            T.sum(y, dtype="float64")]
    fc, fp = _compile_both([x, y], outs)
    a = RNG.normal(size=100_003) + 1.0
    b = RNG.normal(size=(301, 517)).astype("float32")
    got, want = fc(a, b), fp(a, b)
    assert abs(got[0] - want[0]) <= 1e-13 * np.abs(a).sum()
    assert abs(got[1] - want[1]) <= 1e-13 * np.abs(a).mean()
    for g, w, ref in zip(got[2:], want[2:], [b, b, b, b]):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * np.abs(ref).sum())
    exact = np.sum(b.astype(np.float64))
    assert abs(float(got[5]) - exact) <= 1e-12 * np.abs(b).sum()


def test_nan_inf_and_empty_like_numpy(compiledir):
    x = T.dmatrix("x")
    outs = [T.max(x, axis=1), T.min(x, axis=1), T.argmax(x, axis=1), T.argmin(x, axis=1),
            T.sum(x, axis=1), T.prod(x, axis=1), T.any(x, axis=1), T.all(x, axis=1),
            T.logsumexp(x, axis=1), T.max(x, axis=0), T.argmax(x, axis=0)]
    fc, fp = _compile_both([x], outs)
    nan, inf = np.nan, np.inf
    a = np.array([[1.0, nan, 3.0, nan], [-inf, -inf, -inf, -inf], [inf, 1.0, inf, -inf],
                  [0.0, -0.0, 0.0, 0.0], [2.0, 5.0, 5.0, -1.0]])
    for k, (got, want) in enumerate(zip(fc(a), fp(a))):
        _close(got, want, a, str(outs[k].owner.op))
    # long rows: max/min/any/all fold contiguous runs in 8 lanes
    long = RNG.normal(size=(5, 45))
    long[1, 3], long[2, 44], long[3, 17] = nan, nan, inf
    long[4] = 0.0
    long[4, 40] = -0.5
    for k, (got, want) in enumerate(zip(fc(long), fp(long))):
        _close(got, want, long, "long rows " + str(outs[k].owner.op))
    empty_axis = [T.sum(x, axis=1), T.prod(x, axis=1), T.any(x, axis=1), T.all(x, axis=1),
                  T.logsumexp(x, axis=1), T.max(x, axis=0), T.sum(x, axis=0), T.sum(x)]
    fc, fp = _compile_both([x], empty_axis)
    e = np.zeros((3, 0))
    for k, (got, want) in enumerate(zip(fc(e), fp(e))):
        _close(got, want, e, str(empty_axis[k].owner.op))
    fc, fp = _compile_both([x], T.argmax(x, axis=1))
    with pytest.raises(ValueError):
        fp(e)
    with pytest.raises(ValueError, match="Argmax"):
        fc(e)


def test_kernels_shared_across_axes_and_dtypes_follow_numpy(compiledir):
    x = T.imatrix("x")
    outs = [T.sum(x, axis=0), T.sum(x, axis=1), T.sum(x), T.prod(x, axis=0),
            T.sum(x, dtype="int32"), T.sum(x, dtype="float32", axis=1)]
    fc, fp = _compile_both([x], outs)
    src = fc.program.source
    # the three int64 sums share one kernel; int32 and float32 sums get their own
    assert src.count("Sum{") >= 3 and src.count("static int k") == 4
    a = RNG.integers(-2**31, 2**31 - 1, size=(9, 13)).astype("int32")
    for k, (got, want) in enumerate(zip(fc(a), fp(a))):
        _close(got, want, a, str(outs[k].owner.op))
        assert got.dtype == np.dtype(outs[k].dtype)
