"""The CUDA backend on a device (``config.device='cuda'``) against the numpy reference
(mode='py'): elementwise ops of every dtype with broadcasting and strided views,
reductions, softmax, crossentropy, inc_subtensor with repeated indices, dense algebra,
conv2d; shared variables on the GPU, updates on the device, device inputs and outputs.
Every test here skips without a CUDA device (cupy.cuda.is_available())."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import Out
from symgraph.ops.elemwise import Elemwise

from cuda_marks import needs_gpu

pytestmark = [pytest.mark.gpu, needs_gpu]

_spec = importlib.util.spec_from_file_location(
    "_sg_elemwise_cases_gpu", Path(__file__).parents[1] / "ops" / "test_elemwise.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

RNG = np.random.default_rng(11)


def _both(inputs, outputs, **kw):
    with symgraph.change_flags(device="cuda"):
        fd = symgraph.function(inputs, outputs, on_unused_input="ignore", **kw)
    fp = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return fd, fp


def _same(got, want, what, ulps=64):
    assert type(got) is np.ndarray, (what, type(got))
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if got.dtype.kind == "f":
        tol = ulps * np.finfo(got.dtype).eps
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=what)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _places(f, cls=Elemwise):
    return {p for n, p in f.maker.fgraph.placement.items() if isinstance(n.op, cls)}


@pytest.fixture(autouse=True)
def _tmp_compiledir(compiledir):
    yield


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_unary_ops_match_py_contiguous_and_strided(dtype):
    inputs, outputs, names, ranges = [], [], [], []
    for name, fn, _ref, rng, _dtypes in cases.UNARY:
        x0, x2 = T.tensor(dtype, shape=()), T.tensor(dtype, shape=(None, None))
        try:
            outs = [fn(x0), fn(x2)]
            symgraph.function([x0, x2], outs, mode="py")(
                cases._data((), dtype), cases._data((2, 2), dtype))
        except (TypeError, ValueError, symgraph.errors.SymgraphError):
            continue
        inputs += [x0, x2]
        outputs += outs
        names += [f"{name}(0-d)", f"{name}(2-d)"]
        ranges += [rng, rng]
    fd, fp = _both(inputs, outputs)
    assert "cuda" in _places(fd)
    views = [lambda a: a, lambda a: a.T.copy().T, lambda a: a[::2, 1:4][:, ::-1]]
    for view in views:
        vals = []
        for lo, hi in ranges[::2]:
            vals.append(cases._data((), dtype, lo, hi))
            vals.append(view(cases._data((6, 5), dtype, lo, hi)))
        for name, got, want in zip(names, fd(*vals), fp(*vals)):
            _same(got, want, f"{name} {dtype}", ulps=4096 if "gamma" in name else 64)


@pytest.mark.parametrize("da,db", [("float32", "float32"), ("float64", "float64"),
                                   ("int32", "int32"), ("int64", "int64"),
                                   ("int32", "float64"), ("float32", "int64")])
def test_binary_ops_match_py_with_broadcasting(da, db):
    inputs, outputs, names, pairs = [], [], [], []
    for name, fn, _ref, dtypes in cases.BINARY:
        if da not in dtypes and db not in dtypes:
            continue
        for sa, sb in cases.BROADCAST_PAIRS:
            x, y = cases._typed(sa, da), cases._typed(sb, db)
            inputs += [x, y]
            outputs.append(fn(x, y))
            names.append(f"{name}{sa}{sb}")
            pairs.append((sa, sb, name))
    fd, fp = _both(inputs, outputs)
    assert _places(fd) == {"cuda"}
    vals = []
    for sa, sb, name in pairs:
        a, b = cases._data(sa, da), cases._data(sb, db)
        if name in ("int_div", "mod", "true_div"):
            b = np.where(b == 0, 2, b).astype(db)
        vals += [a, b]
    for name, got, want in zip(names, fd(*vals), fp(*vals)):
        _same(got, want, f"{name} {da},{db}")


def test_nan_inf_signed_zero_and_integer_edge_cases():
    x, y = T.dvector("x"), T.dvector("y")
    i, j = T.ivector("i"), T.ivector("j")
    outs = [T.exp(x), T.log(x), T.sqrt(x), -x, abs(x), T.tanh(x), T.sigmoid(x),
            T.softplus(x), T.sgn(x), T.minimum(x, y), T.maximum(x, y), x // y, x % y,
            T.floor(x), T.round(x), T.isnan(x), T.isinf(x), T.clip(x, -1.0, 0.0), x / y,
            T.cast(x, "bool"), i // j, i % j, i + i, -i, abs(i)]
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 2.5, -7.0, 7.0]
    a = np.array([v for v in special for _ in special])
    b = np.array(special * len(special))
    info = np.iinfo("int32")
    ia = np.resize(np.array([info.max, info.min, 100, 7, -7, 0, 5], "int32"), a.size)
    ib = np.resize(np.array([2, -1, 0, -2, 3, 0, info.max], "int32"), a.size)
    fd, fp = _both([x, y, i, j], outs)
    with np.errstate(all="ignore"):
        for k, (got, want) in enumerate(zip(fd(a, b, ia, ib), fp(a, b, ia, ib))):
            _same(got, want, str(outs[k].owner.op))
            if got.dtype.kind == "f":
                ok = ~np.isnan(want)
                np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]))


def test_fused_elemwise_is_one_kernel_and_matches():
    x, y = T.fmatrix("x"), T.frow("y")
    out = T.exp(-x * x) * T.sin(y) + T.tanh(x) / 3
    fd, fp = _both([x, y], out)
    kernels = [n for n, p in fd.maker.fgraph.placement.items() if p == "cuda"]
    assert len(kernels) <= 2
    a, b = RNG.normal(size=(300, 257)).astype("float32"), RNG.normal(size=(1, 257)).astype(
        "float32")
    _same(fd(a, b), fp(a, b), "fused")
    _same(fd(a[::-1, ::3], b[:, ::3]), fp(a[::-1, ::3], b[:, ::3]), "fused strided")


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_reductions_over_any_axes(dtype):
    x = T.tensor(dtype, shape=(None, None, None))
    outs, names = [], []
    for axis in [None, 0, 1, 2, (0, 2), (1, 2), -1]:
        for fn in (T.sum, T.prod, T.max, T.min, T.any, T.all):
            for keepdims in (False, True):
                try:
                    outs.append(fn(x, axis=axis, keepdims=keepdims))
                except (TypeError, ValueError, symgraph.errors.SymgraphError):
                    continue
                names.append(f"{fn.__name__}({axis}, {keepdims})")
    fd, fp = _both([x], outs)
    assert "py" not in {p for n, p in fd.maker.fgraph.placement.items()
                        if type(n.op).__name__ in ("Sum", "Max", "Min", "Any", "All")}
    for shape in [(3, 4, 5), (2, 1, 1000), (1, 3000, 2), (7, 0, 3), (3, 2, 4000), (400, 3, 4)]:
        lo, hi = (-1, 1) if dtype != "bool" else (0, 1)
        v = cases._data(shape, dtype, lo, hi)
        if 0 in shape:
            ok = [k for k, o in enumerate(outs)
                  if type(o.owner.op).__name__ not in ("Max", "Min")]
            fd2, fp2 = _both([x], [outs[k] for k in ok])
            for k, got, want in zip(ok, fd2(v), fp2(v)):
                _same(got, want, f"{names[k]} {shape}", ulps=4096)
            continue
        for name, got, want in zip(names, fd(v), fp(v)):
            _same(got, want, f"{name} {shape} {dtype}", ulps=4096)


def test_max_of_empty_raises_like_numpy():
    x = T.dmatrix("x")
    fd, fp = _both([x], T.max(x, axis=1))
    with pytest.raises(ValueError):
        fp(np.zeros((3, 0)))
    with pytest.raises(ValueError):
        fd(np.zeros((3, 0)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_log_softmax_and_crossentropy(dtype):
    x = T.tensor(dtype, shape=(None, None, None))
    m = T.tensor(dtype, shape=(None, None))
    y = T.ivector("y")
    outs = [T.nnet.softmax(x, axis=a) for a in (0, 1, 2)] + \
           [T.nnet.log_softmax(x, axis=a) for a in (0, 2)] + \
           [T.nnet.categorical_crossentropy(T.nnet.softmax(m), y)]
    fd, fp = _both([x, m, y], outs)
    a = RNG.normal(size=(3, 4, 600)).astype(dtype) * 10
    b = RNG.normal(size=(50, 10)).astype(dtype)
    lab = RNG.integers(-10, 10, size=50).astype("int32")
    for k, (got, want) in enumerate(zip(fd(a, b, lab), fp(a, b, lab))):
        _same(got, want, str(outs[k].owner.op), ulps=4096)
    with pytest.raises(IndexError):
        fd(a, b, np.full(50, 10, "int32"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_inc_subtensor_repeated_indices_accumulate(dtype):
    x = T.tensor(dtype, shape=(None, None))
    v = T.tensor(dtype, shape=(None, None))
    i = T.lvector("i")
    outs = [T.inc_subtensor(x[i], v), T.set_subtensor(x[i], v), x[i], x[1:, ::2]]
    fd, fp = _both([x, v, i], outs)
    assert "cuda" in {p for n, p in fd.maker.fgraph.placement.items()
                      if type(n.op).__name__ == "AdvancedIncSubtensor"}
    a = cases._data((6, 5), dtype)
    b = cases._data((9, 5), dtype)
    idx = np.array([0, 3, 3, -1, 0, 0, 2, 5, -6])
    got, want = fd(a, b, idx), fp(a, b, idx)
    _same(got[0], want[0], "inc repeated", ulps=64)
    for g, w in zip(got[2:], want[2:]):
        _same(g, w, "read")
    with pytest.raises(IndexError):
        fd(a, b, np.array([0, 1, 2, 3, 4, 5, 6, 7, 8]) * 10)


def test_dense_algebra_and_conv2d():
    a, b, v = T.fmatrix("a"), T.fmatrix("b"), T.fvector("v")
    x4, w4 = T.dtensor4("x"), T.dtensor4("w")
    outs = [T.dot(a, b), T.dot(a, v), T.dot(v, v), T.matmul(a, b),
            T.nnet.conv2d(x4, w4, border_mode="half", subsample=(2, 1))]
    fd, fp = _both([a, b, v, x4, w4], outs)
    assert {p for n, p in fd.maker.fgraph.placement.items()
            if type(n.op).__name__ in ("Dot", "Conv2d")} == {"cuda"}
    vals = [RNG.normal(size=(30, 40)).astype("float32"),
            RNG.normal(size=(40, 20)).astype("float32"),
            RNG.normal(size=40).astype("float32"), RNG.normal(size=(2, 3, 9, 8)),
            RNG.normal(size=(4, 3, 3, 3))]
    for k, (got, want) in enumerate(zip(fd(*vals), fp(*vals))):
        _same(got, want, str(outs[k].owner.op), ulps=512)


def test_shared_variables_live_on_the_gpu_and_updates_stay_there():
    import cupy
    with symgraph.change_flags(device="cuda"):
        w = symgraph.shared(np.arange(6.0).reshape(2, 3), "w")
        b = symgraph.shared(np.zeros(3), "b")
        assert isinstance(w.get_value(borrow=True, return_internal_type=True), cupy.ndarray)
        assert type(w.get_value()) is np.ndarray
        x = T.dmatrix("x")
        y = T.dot(x, w) + b
        f = symgraph.function([x], [y, Out(y, borrow=True)],
                              updates=[(w, w - 0.5 * w), (b, b + 1.0)])
    xv = np.ones((4, 2))
    got, dev = f(xv)
    assert type(got) is np.ndarray and isinstance(dev, cupy.ndarray)
    np.testing.assert_allclose(got, xv @ np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(cupy.asnumpy(dev), got)
    for var in (w, b):
        assert isinstance(var.container.value, cupy.ndarray)      # updated on the device
    np.testing.assert_allclose(w.get_value(), 0.5 * np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(b.get_value(), np.ones(3))
    got2, _ = f(cupy.asarray(xv))                                   # a device input
    np.testing.assert_allclose(got2, xv @ w.get_value() * 2 + 1)
    w.set_value(np.zeros((2, 3)))
    assert isinstance(w.container.value, cupy.ndarray)
    w.set_value(cupy.ones((2, 3)))
    np.testing.assert_allclose(f(xv)[0], 2 * np.ones((4, 3)) + 2)
    with pytest.raises(TypeError, match="cannot be safely cast"):
        f(cupy.ones((4, 2), dtype="complex128"))
    with symgraph.change_flags(device="cuda"):
        fp = symgraph.function([x], y, mode="py")                     # numpy reference
    assert type(fp(xv)) is np.ndarray


def test_mlp_training_step_on_the_gpu_matches_cpu():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 20)).astype("float32")
    Y = rng.integers(0, 5, size=64).astype("int32")
    W1, W2 = (rng.normal(size=s).astype("float32") * 0.1 for s in ((20, 32), (32, 5)))
    losses = {}
    for device in ("cpu", "cuda"):
        with symgraph.change_flags(device=device):
            w1, w2 = symgraph.shared(W1.copy(), "w1"), symgraph.shared(W2.copy(), "w2")
            x, y = T.fmatrix("x"), T.ivector("y")
            p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, w1)), w2))
            loss = T.nnet.categorical_crossentropy(p, y).mean()
            g1, g2 = symgraph.grad(loss, [w1, w2])
            step = symgraph.function([x, y], loss, updates=[(w1, w1 - 0.1 * g1),
                                                            (w2, w2 - 0.1 * g2)])
            losses[device] = [float(step(X, Y)) for _ in range(20)]
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-4)
    assert losses["cuda"][-1] < losses["cuda"][0]


def test_random_draws_on_the_device_are_reproducible_and_advance():
    import cupy
    from symgraph.tensor.random import RandomStream
    draws = []
    for _ in range(2):
        with symgraph.change_flags(device="cuda"):
            srng = RandomStream(42)
            lo = T.fvector("lo")
            u = srng.uniform(low=lo, high=2.0, dtype="float32")
            n = srng.normal((400, 300), avg=1.0, std=2.0)
            f = symgraph.function([lo], [u, n, Out(n, borrow=True)])
        assert {p for nd, p in f.maker.fgraph.placement.items()
                if type(nd.op).__name__ == "RandomVariable"} == {"cuda"}
        low = np.linspace(-1, 1, 5000).astype("float32")
        a = f(low)
        b = f(low)
        draws.append((a, b))
        assert a[0].dtype == np.float32 and a[0].shape == (5000,)
        assert np.all((a[0] >= low) & (a[0] < 2.0))
        assert a[1].dtype == np.float64 and a[1].shape == (400, 300)
        assert isinstance(a[2], cupy.ndarray)
        assert abs(a[1].mean() - 1.0) < 0.05 and abs(a[1].std() - 2.0) < 0.05
        assert not np.array_equal(a[1], b[1])                  # the state advanced
    np.testing.assert_array_equal(draws[0][0][1], draws[1][0][1])   # same seed, same draws
    np.testing.assert_array_equal(draws[0][1][0], draws[1][1][0])
