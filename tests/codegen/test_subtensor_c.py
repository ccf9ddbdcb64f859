"""Advanced indexing in C (mode FAST_RUN) against the numpy executor (mode='py'): integer
index arrays along one axis (x[i], x[:, i], take), the pair gather x[a, b], and
inc_subtensor / set_subtensor with an integer vector along axis 0; every dtype with a C
type, strided and reversed inputs, empty, repeated, negative and out-of-range indices.
Basic indexing, DimShuffle and Reshape stay numpy views inside the C program."""
import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen.cbackend import CProgram
from symgraph.ops.subtensor import AdvancedIncSubtensor, AdvancedSubtensor

RNG = np.random.default_rng(11)
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64"]
ADV = (AdvancedSubtensor, AdvancedIncSubtensor)


def _compile_both(inputs, outputs):
    fc = symgraph.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
    fp = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return fc, fp


def _places(f):
    return [(n.op, w) for n, w in f.maker.fgraph.placement.items() if isinstance(n.op, ADV)]


def _rand(shape, dtype):
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -1000), min(info.max, 1000), size=shape,
                            endpoint=True).astype(dtype)
    return (RNG.normal(size=shape) * 10).astype(dtype)


def _views(a):
    """a, and strided / reversed / transposed-back views with the same shape."""
    big = np.repeat(np.repeat(a, 2, axis=0), 3, axis=-1)
    return [a, big[::2, ..., ::3], a[::-1][::-1].copy()[::-1, ::-1][::-1, ::-1],
            np.ascontiguousarray(np.swapaxes(a, 0, -1)).swapaxes(0, -1)]


def _equal(got, want, what):
    assert type(got) is np.ndarray and got.dtype == want.dtype and got.shape == want.shape, \
        (what, got.dtype, want.dtype, got.shape, want.shape)
    np.testing.assert_array_equal(got, want, err_msg=what)


def _check_types(outs, results):
    for o, r in zip(outs, results):
        assert r.dtype == o.dtype and r.ndim == o.ndim, (o, r.dtype)
        assert all(s is None or s == d for s, d in zip(o.type.shape, r.shape)), (o.type, r.shape)


INDEX_SETS = [np.array([0, 2, -1, 2, 2, -4, 1]), np.array([], dtype=np.int64),
              np.array([3, 3, 3]), np.array([-1])]


@pytest.mark.parametrize("dtype", DTYPES)
def test_reads_match_py(compiledir, dtype):
    x = T.tensor(dtype, shape=(None, None, None))
    i = T.lvector("i")
    j = T.ivector("j")
    m = T.lmatrix("m")
    a = T.lvector("a")
    b = T.bvector("b")
    s = T.lscalar("s")
    outs = [x[i], x[:, i], x[:, :, j], x[..., i], T.take(x, i, axis=1), T.take(x, j),
            x[m], x[:, m], x[a, b], x[T.arange(i.shape[0]) // 2, i], x[s, i], x[:, :, 2][a, i]]
    fc, fp = _compile_both([x, i, j, m, a, b, s], outs)
    places = _places(fc)
    assert len(places) >= 10 and all(w == "c" for _, w in places), places
    assert isinstance(fc.program, CProgram)
    for k, xv in enumerate(_views(_rand((4, 5, 6), dtype))):
        idx = INDEX_SETS[k % len(INDEX_SETS)]
        vals = [xv, idx, idx.astype(np.int32), np.array([[0, -1], [3, 1], [2, 2]]),
                np.array([3, -4, 0, 0, 1, 1, 2])[:idx.size], np.array([4, -1, 0, 2, 2, 1, 0],
                                                                    np.int8)[:idx.size],
                np.int64(-2)]
        got, want = fc(*vals), fp(*vals)
        _check_types(outs, want)
        for o, g, w in zip(outs, got, want):
            _equal(g, w, f"{dtype} view {k}: {o.owner.op}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_inc_and_set_subtensor_match_py(compiledir, dtype):
    x = T.tensor(dtype, shape=(None, None, None))
    v = T.tensor(dtype, shape=(None, None, None))
    row = T.tensor(dtype, shape=(None,))
    i = T.lvector("i")
    j = T.wvector("j")
    outs = [T.inc_subtensor(x[i], v), T.set_subtensor(x[i], v), T.inc_subtensor(x[j], row),
            T.set_subtensor(x[i], row), T.inc_subtensor(x[i], 1),
            T.set_subtensor(x[j], T.constant(np.array(7, dtype)))]
    fc, fp = _compile_both([x, v, row, i, j], outs)
    places = _places(fc)
    assert len(places) == len(outs) and all(w == "c" for _, w in places), places
    for k, xv in enumerate(_views(_rand((4, 3, 5), dtype))):
        idx = INDEX_SETS[k % len(INDEX_SETS)]
        vv = _views(_rand((idx.size, 3, 5), dtype))[(k + 1) % 4]
        vals = [xv, vv, _rand((5,), dtype)[::-1], idx, idx.astype(np.int16)]
        before = xv.copy()
        got, want = fc(*vals), fp(*vals)
        _check_types(outs, want)
        for o, g, w in zip(outs, got, want):
            _equal(g, w, f"{dtype} view {k}: {o.owner.op}")
        _equal(xv, before, "the input is unchanged")


def test_inc_subtensor_accumulates_and_casts(compiledir):
    x = T.vector("x", dtype="float64")
    v32 = T.vector("v", dtype="float32")
    i = T.lvector("i")
    out = T.inc_subtensor(x[i], v32)
    fc, fp = _compile_both([x, v32, i], [out, T.set_subtensor(x[i], v32)])
    assert all(w == "c" for _, w in _places(fc))
    idx = np.array([1, 1, 1, -3, 0])
    vals = [np.zeros(3), np.array([1, 2, 4, 8, 16], np.float32), idx]
    got = fc(*vals)
    _equal(got[0], np.array([24.0, 7.0, 0.0]), "accumulated")
    _equal(got[1], np.array([16.0, 4.0, 0.0]), "last write")
    for g, w in zip(got, fp(*vals)):
        _equal(g, w, "against py")


def _raises_like_py(fc, fp, vals, opname):
    with pytest.raises(IndexError) as want:
        fp(*vals)
    with pytest.raises(IndexError) as got:
        fc(*vals)
    msg = str(got.value)
    assert opname in msg and "test_subtensor_c.py" in msg, msg
    assert "out of bounds" in msg and "out of bounds" in str(want.value), msg


@pytest.mark.parametrize("bad", [5, -6])
def test_out_of_range_indices_raise_with_the_op(compiledir, bad):
    x = T.matrix("x")
    i = T.lvector("i")
    a = T.lvector("a")
    xv = RNG.normal(size=(5, 4))
    idx = np.array([0, 1, bad])
    cases = [(x[i], [xv, idx, idx], "AdvancedSubtensor"),
             (x[:, i], [xv.T[:, :4].copy(), idx, idx], "AdvancedSubtensor"),
             (x[a, i], [xv, np.array([0, 1, 2]), idx], "AdvancedSubtensor"),
             (x[a, i], [xv, idx, np.array([0, 1, 2])], "AdvancedSubtensor"),
             (T.inc_subtensor(x[i], 1.0), [xv, idx, idx], "AdvancedIncSubtensor"),
             (T.set_subtensor(x[i], x[a]), [xv, idx, np.array([0, 1, 2])],
              "AdvancedSetSubtensor")]
    for out, vals, opname in cases:
        fc, fp = _compile_both([x, i, a], out)
        assert all(w == "c" for _, w in _places(fc)), _places(fc)
        before = vals[0].copy()
        _raises_like_py(fc, fp, vals, opname)
        _equal(vals[0], before, "the input is unchanged")


def test_basic_indexing_and_shape_ops_stay_views(compiledir):
    x = T.matrix("x")
    i = T.lvector("i")
    outs = [x[1:, ::2], x.T, x.reshape((-1,)), x[None, 2], x.dimshuffle(1, "x", 0), x[i]]
    fc = symgraph.function([x, i], [symgraph.Out(o, borrow=True) for o in outs],
                           mode="FAST_RUN")
    assert isinstance(fc.program, CProgram)
    kinds = {type(n.op).__name__: w for n, w in fc.maker.fgraph.placement.items()}
    assert kinds["AdvancedSubtensor"] == "c" and kinds["Subtensor"] == "py", kinds
    xv = RNG.normal(size=(4, 6))
    got = fc(xv, np.array([0, 3]))
    want = [xv[1:, ::2], xv.T, xv.reshape(-1), xv[None, 2], xv.T[:, None, :], xv[[0, 3]]]
    for g, w in zip(got, want):
        _equal(g, w, "value")
    assert all(np.shares_memory(g, xv) for g in got[:-1])
    assert not np.shares_memory(got[-1], xv)


def test_other_advanced_forms_run_perform(compiledir):
    x = T.matrix("x")
    i = T.lvector("i")
    u = T.vector("u", dtype="uint64")
    outs = [x[x > 0], x[i, 1:], x[1:, i], T.inc_subtensor(x[:, i], 1.0),
            T.inc_subtensor(x[i], 1.0, ignore_duplicates=True), x[u], x[i[:, None], i]]
    fc, fp = _compile_both([x, i, u], outs)
    places = {n.outputs[0]: w for n, w in fc.maker.fgraph.placement.items()
              if isinstance(n.op, ADV)}
    got = [places[o] for o in fc.maker.fgraph.outputs]
    # a mask, mixed int/slice, a slice before the index, inc along axis 1 and the buffered
    # increment run perform; uint64 indices (left to numpy at run time) and x[i[:, None], i]
    # have C kernels
    assert got == ["py", "py", "py", "py", "py", "c", "c"], got
    vals = [RNG.normal(size=(4, 4)), np.array([1, -1, 1]), np.array([3, 0], np.uint64)]
    for o, g, w in zip(outs, fc(*vals), fp(*vals)):
        _equal(g, w, str(o.owner.op))


@pytest.mark.parametrize("setting", [False, True])
def test_inplace_increment_writes_the_strided_input(compiledir, setting):
    x = T.matrix("x")
    v = T.matrix("v")
    i = T.lvector("i")
    out = AdvancedIncSubtensor(("?",), set_instead_of_inc=setting, inplace=True)(x, v, i)
    fc = symgraph.function([symgraph.In(x, mutable=True), v, i],
                           symgraph.Out(out, borrow=True), mode="FAST_RUN")
    assert [w for _, w in _places(fc)] == ["c"]
    base = RNG.normal(size=(6, 4))
    xv = base[::2, ::-1]
    want = xv.copy()
    vv, idx = RNG.normal(size=(3, 4)), np.array([0, 0, -1])
    if setting:
        want[idx] = vv
    else:
        np.add.at(want, idx, vv)
    got = fc(xv, vv, idx)
    assert np.shares_memory(got, base)
    _equal(got, want, "result")
    _equal(xv, want, "the input, written in place")
