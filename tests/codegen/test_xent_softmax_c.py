"""The one-pass softmax crossentropy kernels (kernels/c/xent_softmax.c.j2) against the numpy
executor (mode='py'): float32/float64, with and without bias, labels of every integer width,
negative labels, strided, transposed and 3-d logits, rows long enough for OpenMP, and the
errors and fallbacks."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.ops import nnet as N

RNG = np.random.default_rng(13)
FUSED = (N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx)


def _graph(nd, dtype, bias, label_dtype):
    x = T.tensor(dtype, (None,) * nd, name="x")
    b = T.tensor(dtype, (None,), name="b")
    y = T.tensor(label_dtype, (None,) * (nd - 1), name="y")
    z = x + b if bias else x
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(z), y)
    outs = [loss] + symgraph.grad(loss.mean(), [x, b] if bias else [x])
    ins = [x, b, y] if bias else [x, y]
    fc = symgraph.function(ins, outs)
    fp = symgraph.function(ins, outs, mode="py")
    places = {type(n.op): p for n, p in fc.maker.fgraph.placement.items()
              if isinstance(n.op, FUSED)}
    assert places == {N.CrossentropySoftmax1Hot: "c", N.CrossentropySoftmax1HotDx: "c"}, places
    return fc, fp


def _close(got, want, rtol, what):
    # a loss near 0 is log(s) for a sum s near 1: its error is absolute, a few ulps of the
    # logits (of order 10 here), in numpy's formula as in the kernel's
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, equal_nan=True, err_msg=what)


def _labels(shape, n, label_dtype):
    low = 0 if label_dtype.startswith("u") else -n
    return np.asarray(RNG.integers(low, n, size=shape), dtype=label_dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("label_dtype", ["int64", "int32", "int8", "uint16"])
def test_matrices_match_py(compiledir, dtype, bias, label_dtype):
    fc, fp = _graph(2, dtype, bias, label_dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-13
    a = (RNG.normal(size=(9, 12)) * 4).astype(dtype)
    bv = RNG.normal(size=12).astype(dtype)
    views = [a, a[:, ::-1], a[::-2], a[::2, 1::3], a.T[:9, :9].copy().T, a[:1, :1],
             np.asfortranarray(a)]
    for k, xv in enumerate(views):
        yv = _labels(xv.shape[:1], xv.shape[1], label_dtype)
        vals = [xv, bv[:xv.shape[1]], yv] if bias else [xv, yv]
        for j, (got, want) in enumerate(zip(fc(*vals), fp(*vals))):
            _close(got, want, rtol, f"view {k} output {j}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_three_d_logits_match_py(compiledir, dtype):
    fc, fp = _graph(3, dtype, True, "int32")
    xv = RNG.normal(size=(3, 4, 5)).astype(dtype)
    bv = RNG.normal(size=5).astype(dtype)
    for view in (xv, xv.transpose(1, 0, 2)):
        yv = _labels(view.shape[:2], 5, "int32")
        for got, want in zip(fc(view, bv, yv), fp(view, bv, yv)):
            _close(got, want, 1e-5 if dtype == "float32" else 1e-13, "3-d")


@pytest.mark.parametrize("openmp", [False, True])
def test_long_rows_within_1e12_of_numpy(compiledir, openmp):
    # 300 x 1000 passes OMP_MIN: the rows are shared among threads when OpenMP is on
    with symgraph.change_flags(openmp=openmp):
        fc, fp = _graph(2, "float64", False, "int64")
        assert ("omp parallel" in fc.program.source) == openmp
    xv = RNG.normal(size=(300, 1000)) * 10
    yv = RNG.integers(0, 1000, size=300)
    loss_c, dx_c = fc(xv, yv)
    loss_p, dx_p = fp(xv, yv)
    np.testing.assert_allclose(loss_c, loss_p, rtol=1e-12)
    np.testing.assert_allclose(dx_c, dx_p, rtol=1e-12, atol=1e-12 * np.abs(dx_p).max())


def test_label_out_of_range_raises_the_reference_error(compiledir):
    fc, fp = _graph(2, "float64", False, "int32")
    xv = RNG.normal(size=(4, 3))
    for bad, where in (([0, 1, 3, 0], "label 3 at position 2"),
                       ([0, -4, 0, 0], "label -4 at position 1")):
        for f, op in ((fc, "CrossentropySoftmax1Hot"), (fp, "NegLogProb1Hot")):
            with pytest.raises(IndexError) as e:
                f(xv, np.array(bad, "int32"))
            assert f"{op}" in str(e.value) and where in str(e.value)
    fu, _ = _graph(2, "float64", False, "uint8")
    with pytest.raises(IndexError, match="label 255 at position 0"):
        fu(xv, np.array([255, 0, 1, 2], "uint8"))


def test_empty_inputs_and_inputs_the_kernel_leaves_to_numpy(compiledir):
    fc, fp = _graph(2, "float64", False, "int64")
    xv, yv = np.zeros((0, 5)), np.zeros(0, "int64")
    for got, want in zip(fc(xv, yv), fp(xv, yv)):
        assert got.shape == want.shape and got.dtype == want.dtype
    with pytest.raises(IndexError):
        fc(np.zeros((2, 0)), np.zeros(2, "int64"))
    # a node whose g is of another float type: cast on the way in, as the reference does
    x, y, g = T.dmatrix("x"), T.lvector("y"), T.fvector("g")
    out = N.CrossentropySoftmax1HotDx()(g, x, y)
    fc2 = symgraph.function([g, x, y], out)
    assert [p for n, p in fc2.maker.fgraph.placement.items()
            if isinstance(n.op, N.CrossentropySoftmax1HotDx)] == ["c"]
    xv, yv, gv = RNG.normal(size=(5, 4)), np.array([0, 1, 2, 3, -1]), \
        RNG.normal(size=5).astype("float32")
    np.testing.assert_allclose(fc2(gv, xv, yv),
                               symgraph.function([g, x, y], out, mode="py")(gv, xv, yv),
                               rtol=1e-13, atol=1e-15)


def test_debug_mode_agrees(compiledir):
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.lvector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x + b), y).mean()
    f = symgraph.function([x, b, y], [loss] + symgraph.grad(loss, [x, b]),
                          mode=symgraph.Mode(debug=True))
    assert {N.CrossentropySoftmax1Hot, N.CrossentropySoftmax1HotDx} <= \
        {type(n.op) for n in f.maker.fgraph.apply_nodes}
    f(RNG.normal(size=(6, 5)), RNG.normal(size=5), np.array([0, 1, 2, 3, 4, -5]))


def test_one_row_vector_matches_py(compiledir):
    fc, fp = _graph(1, "float64", True, "int64")
    xv, bv = RNG.normal(size=7), RNG.normal(size=7)
    for label in (3, -2, 0):
        for got, want in zip(fc(xv, bv, np.int64(label)), fp(xv, bv, np.int64(label))):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)
            assert np.shape(got) == np.shape(want)


def test_exponentials_call_the_vector_exp(compiledir, tmp_path):
    # the rows' exponentials are the kernel's whole cost: they must go through libmvec
    import re
    import subprocess

    from symgraph.codegen import cbackend
    from symgraph.codegen.cache import compiler
    if not cbackend._simd_decls():
        pytest.skip("no libmvec declarations on this platform")
    fc, _ = _graph(2, "float64", True, "int64")
    src = tmp_path / "module.c"
    src.write_text(fc.program.source)
    flags = [f for f in cbackend.CFLAGS if f not in ("-shared", "-fPIC")]
    asm = tmp_path / "module.s"
    subprocess.run([compiler(), *flags, "-fopenmp", "-S", str(src), "-o", str(asm)],
                   check=True, capture_output=True)
    calls = set(re.findall(r"_ZGV[bcde]N\d+v_exp\b", asm.read_text()))
    assert calls, "the exponentials of the softmax crossentropy are not vectorised"
