"""The native entry point (symgraph/codegen/native_entry.py, kernels/c/entry.c): a compiled
function's call runs in one C call that agrees with the numpy reference (Elemwise kernels
from C, other steps through their compute/perform), and every call it does not take goes to
the Python path unchanged."""
import hashlib
import sys
from pathlib import Path
import threading
import weakref

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache, cbackend

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")


def _native(f):
    return type(f._call).__name__ == "NativeEntry"


def _both(inputs, outputs):
    return (symgraph.function(inputs, outputs, mode="FAST_RUN"),
            symgraph.function(inputs, outputs, mode="py"))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_fused_elementwise_agrees_with_py(dtype, shape):
    rng = np.random.default_rng(len(shape))
    x = T.tensor(dtype, shape=(None,) * len(shape), name="x")
    y = T.tensor(dtype, shape=(None,) * len(shape), name="y")
    f, ref = _both([x, y], (x * 2 + y) * (x - y) + 3)
    assert _native(f)
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    b = (rng.standard_normal(shape) * 10).astype(dtype)
    got = f(a, b)
    assert type(got) is np.ndarray and got.dtype == ref(a, b).dtype and got.shape == shape
    np.testing.assert_allclose(got, ref(a, b), rtol=1e-6 if dtype == "float32" else 1e-14)


def test_static_broadcasting_and_constants():
    x, row = T.dmatrix("x"), T.row("r", dtype="float64")
    f, ref = _both([x, row], T.exp(-x * x) * row + np.float64(0.5))
    assert _native(f)
    a, r = np.random.default_rng(1).standard_normal((4, 6)), np.arange(6.0)[None]
    np.testing.assert_allclose(f(a, r), ref(a, r), rtol=1e-14)
    np.testing.assert_allclose(f(a, r), np.exp(-a * a) * r + 0.5, rtol=1e-14)


def test_several_outputs_and_in_place_steps():
    x, y = T.dvector("x"), T.dvector("y")
    s = T.sin(x) + y
    outs = [s * 2, T.exp(s) - x, s]
    f, ref = _both([x, y], outs)
    assert _native(f)
    a, b = np.linspace(-1, 1, 9), np.linspace(2, 3, 9)
    got, want = f(a, b), ref(a, b)
    assert isinstance(got, list) and len(got) == 3
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    assert len({id(g) for g in got}) == 3 and not any(np.shares_memory(g, a) for g in got)
    # the inputs are left as they were
    np.testing.assert_array_equal(a, np.linspace(-1, 1, 9))


def test_single_output_in_a_list():
    x = T.dvector("x")
    f = symgraph.function([x], [x + 1])
    assert _native(f)
    (out,) = f(np.zeros(3))
    np.testing.assert_array_equal(out, np.ones(3))


@pytest.mark.parametrize("call", ["keywords", "list", "python_scalar", "strided", "fortran"])
def test_calls_it_does_not_take_go_to_the_python_path(call):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([x, y], x * 3 - y)
    assert _native(f)
    a = np.arange(12.0).reshape(3, 4)
    b = np.ones((3, 4))
    args, kwargs = {
        "keywords": ((), {"x": a, "y": b}),
        "list": ((a.tolist(), b), {}),
        "python_scalar": ((a, [[1.0] * 4] * 3), {}),
        "strided": ((np.arange(24.0).reshape(3, 8)[:, ::2], b), {}),
        "fortran": ((np.asfortranarray(a), b), {}),
    }[call]
    want = np.asarray(kwargs.get("x", args[0] if args else None), dtype=float) * 3 - \
        np.asarray(kwargs.get("y", args[1] if args else None), dtype=float)
    np.testing.assert_array_equal(f(*args, **kwargs), want)


def test_errors_are_the_python_paths():
    x, y = T.fvector("x"), T.fvector("y")
    f = symgraph.function([x, y], x + y)
    assert _native(f)
    with pytest.raises(TypeError, match="input 0 \\(x\\)"):
        f(np.zeros(3) + 0.5, np.zeros(3, np.float32))         # a downcast refused
    with pytest.raises(TypeError, match="takes 2 inputs"):
        f(*[np.zeros(3, np.float32)] * 3)
    with pytest.raises(ValueError, match="Elemwise|shape|broadcast"):
        f(np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="missing"):
        f(np.zeros(3, np.float32))


def test_no_reference_leaks():
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 2 + x)
    a = np.ones(5)
    before = sys.getrefcount(a)
    for _ in range(1000):
        f(a)
    assert sys.getrefcount(a) == before
    out = weakref.ref(f(a))
    assert out() is None                        # nothing but the caller held the output


def test_threads_calling_one_function_large_arrays():
    x = T.dvector("x")
    f = symgraph.function([x], T.tanh(x) * x + 1)
    assert _native(f)
    inputs = [np.linspace(-k, k, 200_000) for k in range(1, 9)]
    results = [None] * 8

    def work(k):
        results[k] = [f(inputs[k]) for _ in range(5)]
    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        for r in results[k]:
            np.testing.assert_allclose(r, np.tanh(inputs[k]) * inputs[k] + 1, rtol=1e-14)


def test_not_taken_with_a_profile_a_dict_or_in_py_mode():
    x = T.dvector("x")
    assert not _native(symgraph.function([x], x + 1, mode="py"))
    assert not _native(symgraph.function([x], {"y": x + 1}))
    prof = symgraph.function([x], x + 1, profile=True)
    assert not _native(prof)
    np.testing.assert_array_equal(prof(np.zeros(2)), np.ones(2))


def test_shared_inputs_and_updates():
    """A training-style function: shared weights read at each call, updates written
    together after every result is computed from the old values."""
    rng = np.random.default_rng(2)
    w0, b0 = rng.standard_normal(3), np.float64(0.5)
    w, b = symgraph.shared(w0.copy(), name="w"), symgraph.shared(np.array(b0), name="b")
    n = symgraph.shared(np.array(0, dtype="int64"), name="n")
    X, y = T.dmatrix("X"), T.dvector("y")
    err = T.dot(X, w) + b - y
    loss = T.mean(err ** 2)
    gw, gb = symgraph.grad(loss, [w, b])
    f = symgraph.function([X, y], [loss, w], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb),
                                                     (n, n + 1)])
    assert _native(f)
    Xv, yv = rng.standard_normal((8, 3)), rng.standard_normal(8)
    wn, bn = w0.copy(), b0
    for step in range(4):
        r = Xv @ wn + bn - yv
        want_loss = np.mean(r ** 2)
        got_loss, got_w = f(Xv, yv)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-13)
        np.testing.assert_allclose(got_w, wn, rtol=1e-13)      # the value before the update
        wn, bn = wn - 0.1 * 2 * Xv.T @ r / 8, bn - 0.1 * 2 * r.mean()
        np.testing.assert_allclose(w.get_value(), wn, rtol=1e-13)
        np.testing.assert_allclose(b.get_value(), bn, rtol=1e-13)
        assert int(n.get_value()) == step + 1
    # the returned w is a copy: neither the next update nor the caller's writes reach w
    got_w[:] = 99
    assert not np.any(w.get_value() == 99)


def test_outputs_that_alias_inputs_or_each_other_are_copies():
    x = T.dvector("x")
    s = symgraph.shared(np.arange(3.0), name="s")
    f = symgraph.function([x], [x, s, x * 2, x * 2], updates=[(s, s + x)])
    assert _native(f)
    a = np.ones(3)
    out = f(a)
    assert not np.shares_memory(out[0], a) and not np.shares_memory(out[2], out[3])
    np.testing.assert_array_equal(out[1], np.arange(3.0))
    out[1][:] = -1
    np.testing.assert_array_equal(s.get_value(), np.arange(3.0) + 1)


def test_threads_updating_one_shared_counter():
    c = symgraph.shared(np.array(0.0), name="c")
    x = T.dscalar("x")
    f = symgraph.function([x], c, updates=[(c, c + x)])
    assert _native(f)

    def work():
        for _ in range(500):
            f(np.array(1.0))
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a native call on arrays this small never lets go of the GIL (no Python step, kernels
    # under NOGIL_MIN), so calls do not overlap and no update is lost
    assert float(c.get_value()) == 4000


def test_reductions_dot_and_python_steps():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    h = T.tanh(T.dot(x, W))
    # erfinv has no C kernel: its step calls its perform from the runner
    outs = [h.sum(axis=0), T.erfinv(h * 0.5).mean(), T.argmax(h, axis=1)]
    f, ref = _both([x, W], outs)
    assert _native(f) and "py" in set(f.maker.fgraph.placement.values())
    rng = np.random.default_rng(3)
    a, w = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    for g, r in zip(f(a, w), ref(a, w)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    np.testing.assert_allclose(f(a, w)[0], np.tanh(a @ w).sum(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(f(a, w)[2], np.argmax(a @ w, axis=1))


def test_a_step_with_two_outputs():
    x = T.dvector("x")
    (c, s), _ = symgraph.scan(lambda v: [T.cos(v), T.sin(v) * 2], sequences=x)
    f, ref = _both([x], [c + 1, s])
    assert _native(f)
    a = np.linspace(0, 1, 6)
    for g, r in zip(f(a), ref(a)):
        np.testing.assert_allclose(g, r, rtol=1e-14)
    np.testing.assert_allclose(f(a)[1], np.sin(a) * 2, rtol=1e-14)


def test_a_failing_step_names_the_op_and_the_users_line():
    import inspect
    x, i = T.dvector("x"), T.lscalar("i")
    line = inspect.currentframe().f_lineno + 1
    y = T.exp(x)[i] * 2
    f = symgraph.function([x, i], y)
    assert _native(f)
    np.testing.assert_allclose(f(np.zeros(3), np.array(1)), 2.0)
    with pytest.raises(IndexError) as info:
        f(np.zeros(3), np.array(7))
    msg = str(info.value)
    assert "Subtensor" in msg and f"test_native_entry.py:{line}" in msg, msg


def test_the_runner_built_into_the_compile_cache(monkeypatch, fresh_compiledir):
    """Where setup.py could not build symgraph._entry, the same source is built into the
    compile cache (label "runtime") and runs the same calls."""
    from symgraph.codegen import native_entry
    monkeypatch.setattr(native_entry, "USE_INSTALLED", False)
    monkeypatch.setattr(native_entry, "_runner", None)
    x, y = T.dvector("x"), T.dvector("y")
    f, ref = _both([x, y], [T.exp(x) * y, (x * y).sum()])
    assert _native(f)
    a, b = np.linspace(-1, 1, 5), np.arange(5.0)
    for g, r in zip(f(a, b), ref(a, b)):
        np.testing.assert_allclose(g, r, rtol=1e-14)
    labels = [e.get("label") for e in cache.entries()]
    assert "runtime" in labels, labels


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shapes", [((5, 4), (4, 3)), ((5, 4), (4,)), ((4,), (4, 3)),
                                    ((4,), (4,)), ((1, 4), (4, 1)), ((5, 1), (1, 3)),
                                    ((0, 4), (4, 3)), ((5, 0), (0, 3))])
def test_dot_from_the_runner(dtype, shapes):
    sa, sb = shapes
    a_ = T.tensor(dtype, shape=(None,) * len(sa), name="a")
    b_ = T.tensor(dtype, shape=(None,) * len(sb), name="b")
    f, ref = _both([a_, b_], T.dot(a_, b_))
    assert _native(f)
    rng = np.random.default_rng(len(sa) * 3 + len(sb))
    a, b = rng.standard_normal(sa).astype(dtype), rng.standard_normal(sb).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-13
    for x, y in [(a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b))]:
        got = f(x, y)
        assert got.dtype == dtype and got.shape == np.dot(a, b).shape
        np.testing.assert_allclose(got, np.dot(a.astype(float), b.astype(float)),
                                   rtol=tol, atol=tol)
        np.testing.assert_allclose(got, ref(x, y), rtol=tol, atol=tol)


def test_dot_of_views_transposes_and_its_shape_error():
    import inspect
    A, B = T.dmatrix("A"), T.dmatrix("B")
    line = inspect.currentframe().f_lineno + 1
    f = symgraph.function([A, B], T.dot(A, B) * 2)
    assert _native(f)
    rng = np.random.default_rng(7)
    big = rng.standard_normal((6, 8))
    for a, b in [(big[:, ::2], big[:4, :3]), (big.T[:3, :6], big[:, 1:4]),
                 (big[::-1, :4], big[:4, ::3]), (big[:2, :4], big.T[:4, ::-2])]:
        np.testing.assert_allclose(f(a, b), 2 * a @ b, rtol=1e-13)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 2)))
    assert "Dot" in str(info.value) and f"test_native_entry.py:{line}" in str(info.value)


def test_the_installed_runner_is_taken_only_when_built_from_this_source(monkeypatch):
    from symgraph.codegen import native_entry
    try:
        from symgraph import _entry
    except ImportError:
        pytest.skip("symgraph._entry was not built at install (no compiler then)")
    source = Path(cbackend.kernels_dir()) / "c" / "entry.c"
    # fails after editing entry.c until `pip install -e .` builds it again
    assert _entry.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setattr(native_entry, "_runner", None)
    assert native_entry._runner_new() is _entry.new
    # a stale build (its entry.c changed since the install) is left alone
    monkeypatch.setattr(native_entry, "_runner", None)
    monkeypatch.setattr(_entry, "source_sha256", "0" * 64)
    assert native_entry._runner_new() is not _entry.new


REDUCTIONS = {
    "sum": lambda x, ax, kd: x.sum(axis=ax, keepdims=kd),
    "max": lambda x, ax, kd: x.max(axis=ax, keepdims=kd),
    "min": lambda x, ax, kd: x.min(axis=ax, keepdims=kd),
    "prod": lambda x, ax, kd: x.prod(axis=ax, keepdims=kd),
    "mean": lambda x, ax, kd: x.mean(axis=ax, keepdims=kd),
    "argmax": lambda x, ax, kd: T.argmax(x, axis=ax, keepdims=kd),
    "any": lambda x, ax, kd: T.any(x > 0, axis=ax, keepdims=kd),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), (2, False),
                                           ((0, 2), True), ((1, 2), False)])
def test_reductions_from_the_runner(name, dtype, axis, keepdims):
    if name == "argmax" and isinstance(axis, tuple):
        pytest.skip("argmax over one axis or all")
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    f, ref = _both([x], REDUCTIONS[name](x, axis, keepdims))
    assert _native(f)
    rng = np.random.default_rng(11)
    base = (rng.standard_normal((4, 6, 10)) * 3).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for a in [base[:3, :5, :7].copy(), base[:3, :5, :7], base.transpose(2, 0, 1)[:3, :5, :7],
              np.asfortranarray(base[:3, :5, :7]), base[::-1, ::2, 1::3],
              np.zeros((3, 0, 2), dtype)]:
        try:
            want = ref(a)
        except ValueError:                  # numpy's: an empty reduction with no identity
            with pytest.raises(ValueError):
                f(a)
            continue
        got = f(a)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_a_loss_with_dot_reduction_and_elementwise():
    X, w, y = T.dmatrix("X"), T.dvector("w"), T.dvector("y")
    loss = T.mean((T.dot(X, w) - y) ** 2) + 0.01 * T.sum(w * w)
    f, ref = _both([X, w, y], [loss, symgraph.grad(loss, w)])
    assert _native(f)
    rng = np.random.default_rng(5)
    a, b, c = rng.standard_normal((20, 3)), rng.standard_normal(3), rng.standard_normal(20)
    r = a @ b - c
    np.testing.assert_allclose(f(a, b, c)[0], np.mean(r ** 2) + 0.01 * b @ b, rtol=1e-13)
    np.testing.assert_allclose(f(a, b, c)[1], 2 * a.T @ r / 20 + 0.02 * b, rtol=1e-12)
    for g, want in zip(f(a, b, c), ref(a, b, c)):
        np.testing.assert_allclose(g, want, rtol=1e-13)


def test_dot_and_reductions_run_from_c_not_their_compute(monkeypatch):
    """The runner calls their kernels itself; their Python compute only for what it leaves
    to them (here an empty input, a copy for BLAS)."""
    from symgraph.codegen import blas, reduce_c
    calls = []

    def counting(perform_of):
        def wrap(compute):
            def counted(args):
                calls.append(compute)
                return compute(args)
            return perform_of(counted)
        return wrap
    monkeypatch.setattr(blas, "perform_of", counting(blas.perform_of))
    monkeypatch.setattr(reduce_c, "perform_of", counting(reduce_c.perform_of))
    A, B = T.dmatrix("A"), T.dmatrix("B")
    f = symgraph.function([A, B], [T.dot(A, B).sum(axis=1), T.max(A, axis=0)])
    assert _native(f)
    a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 4))
    got = f(a, b)
    np.testing.assert_allclose(got[0], (a @ b).sum(axis=1))
    np.testing.assert_allclose(got[1], a.max(axis=0))
    assert calls == []
    strided = np.arange(12.0).reshape(2, 6)[:, ::2]
    got = f(strided, b)
    np.testing.assert_allclose(got[0], (strided @ b).sum(axis=1))
    np.testing.assert_allclose(got[1], strided.max(axis=0))
    assert len(calls) == 1                  # Dot's compute: BLAS cannot take that operand


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_from_the_runner_in_place_and_copied(dtype, monkeypatch):
    """An SGD-style update, one in-place Gemm into the shared value (W4's shape), and a Gemm
    into a copy of z (an input), against numpy, with no call through Gemm's compute."""
    from symgraph.codegen import blas
    calls = []
    real = blas.perform_of

    def counting(compute):
        def counted(args):
            calls.append(1)
            return compute(args)
        return real(counted)
    monkeypatch.setattr(blas, "perform_of", counting)
    rng = np.random.default_rng(4)
    X, Y = (T.tensor(dtype, shape=(None, None), name=n) for n in "XY")
    W = symgraph.shared(rng.standard_normal((5, 3)).astype(dtype), name="W")
    w0 = W.get_value()
    f = symgraph.function([X, Y], T.sum(Y),
                          updates=[(W, W - np.asarray(0.1, dtype) * T.dot(X.T, Y))])
    ops = [str(n.op) for n in f.maker.fgraph.apply_nodes]
    assert _native(f) and "Gemm{inplace=True}" in ops, ops
    x, y = rng.standard_normal((8, 5)).astype(dtype), rng.standard_normal((8, 3)).astype(dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(f(x, y), y.sum(), rtol=tol)
    np.testing.assert_allclose(W.get_value(), w0 - 0.1 * x.T @ y, rtol=tol, atol=tol)
    Z, A, B = (T.tensor(dtype, shape=(None, None), name=n) for n in "ZAB")
    h = symgraph.function([Z, A, B], Z * 0.5 + T.dot(A, B) * 2)
    assert _native(h) and any("Gemm" in str(n.op) for n in h.maker.fgraph.apply_nodes)
    z, a, b = (rng.standard_normal(s).astype(dtype) for s in ((4, 3), (4, 6), (6, 3)))
    z0 = z.copy()
    np.testing.assert_allclose(h(z, a, b), z * 0.5 + a @ b * 2, rtol=tol, atol=tol)
    np.testing.assert_array_equal(z, z0)              # the input z is left as it was
    np.testing.assert_allclose(h(z, a[:, ::2], b[::2]), z * 0.5 + a[:, ::2] @ b[::2] * 2,
                               rtol=tol, atol=tol)    # a copy for BLAS: Gemm's compute
    assert len(calls) == 1
    k = symgraph.function([Z, A, B], Z + T.dot(A, B))  # z an input: Gemm into its copy
    assert "Gemm{inplace=False}" in [str(n.op) for n in k.maker.fgraph.apply_nodes]
    np.testing.assert_allclose(k(z, a, b), z + a @ b, rtol=tol, atol=tol)
    np.testing.assert_array_equal(z, z0)
    assert len(calls) == 1


def test_a_runner_that_cannot_be_built_leaves_the_python_call(monkeypatch, fresh_compiledir):
    """No installed runner and a compiledir it cannot write: functions still compile and run
    through their Python call, and the build is not tried again for each function."""
    from symgraph.codegen import native_entry
    tries = []

    def refuse(*args, **kwargs):
        tries.append(1)
        raise cache.CompiledirError("read-only compiledir (simulated)")
    monkeypatch.setattr(native_entry, "USE_INSTALLED", False)
    monkeypatch.setattr(native_entry, "_runner", None)
    monkeypatch.setattr(native_entry, "_runner_failed", None)
    real = cache.get_module
    monkeypatch.setattr(cache, "get_module", lambda source, cdef, flags, link_flags=(),
                        label="kernels": refuse() if label == "runtime" else
                        real(source, cdef, flags, link_flags, label))
    x = T.dvector("x")
    fs = [symgraph.function([x], x * k + 1) for k in (2.0, 3.0)]
    for k, f in zip((2.0, 3.0), fs):
        assert not _native(f)
        np.testing.assert_array_equal(f(np.ones(3)), np.full(3, k + 1))
    assert tries == [1]
