"""The C backend (mode FAST_RUN) against the numpy executor (mode='py'): every Elemwise op,
dtype, broadcasting pattern and strided view; NaN/Inf/-0.0 and integer overflow."""
import importlib.util
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import symgraph
import symgraph.codegen
import symgraph.errors
import symgraph.tensor as T
from symgraph.ops.elemwise import Elemwise

_spec = importlib.util.spec_from_file_location(
    "_sg_elemwise_cases", Path(__file__).parents[1] / "ops" / "test_elemwise.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

RNG = np.random.default_rng(7)
PY_ONLY = {"Erfinv", "Psi", "TriGamma"}


def _compile_both(inputs, outputs):
    fc = symgraph.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
    fp = symgraph.function(inputs, outputs, mode="py", on_unused_input="ignore")
    return fc, fp


def _same(got, want, what):
    assert got.dtype == want.dtype, (what, got.dtype, want.dtype)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    if got.dtype.kind == "f":
        eps = np.finfo(got.dtype).eps
        np.testing.assert_allclose(got, want, rtol=8 * eps, atol=8 * eps, equal_nan=True,
                                   err_msg=what)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _elemwise_places(f):
    return {w for n, w in f.maker.fgraph.placement.items() if isinstance(n.op, Elemwise)}


def _placement(f):
    return {str(n.op): where for n, where in f.maker.fgraph.placement.items()}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
def test_unary_ops_match_py_contiguous_and_strided(compiledir, dtype):
    inputs, outputs, names, ranges = [], [], [], []
    for name, fn, _ref, rng, _dtypes in cases.UNARY:
        x0 = T.tensor(dtype, shape=())
        x2 = T.tensor(dtype, shape=(None, None))
        try:
            outs = [fn(x0), fn(x2)]
            symgraph.function([x0, x2], outs, mode="py")(
                cases._data((), dtype), cases._data((2, 2), dtype))
        except (TypeError, ValueError, symgraph.errors.SymgraphError):
            continue      # the op refuses this dtype (e.g. numpy's negative of bool)
        inputs += [x0, x2]
        outputs += outs
        names += [f"{name}(0-d)", f"{name}(2-d)"]
        ranges += [rng, rng]
    fc, fp = _compile_both(inputs, outputs)
    assert _elemwise_places(fc) == {"c"}, _placement(fc)
    views = [lambda a: a, lambda a: a.T.copy().T, lambda a: a[::2, 1:4][:, ::-1]]
    for view in views:
        vals = []
        for k, (lo, hi) in enumerate(ranges[::2]):
            vals.append(cases._data((), dtype, lo, hi))
            vals.append(view(cases._data((6, 5), dtype, lo, hi)))
        for name, got, want in zip(names, fc(*vals), fp(*vals)):
            _same(got, want, f"{name} {dtype}")


@pytest.mark.parametrize("da,db", [("float32", "float32"), ("float64", "float64"),
                                   ("int32", "int32"), ("int64", "int64"),
                                   ("int32", "float64"), ("float32", "int64")])
def test_binary_ops_match_py_with_broadcasting(compiledir, da, db):
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
    fc, fp = _compile_both(inputs, outputs)
    assert _elemwise_places(fc) == {"c"}, _placement(fc)
    vals = []
    for sa, sb, name in pairs:
        a, b = cases._data(sa, da), cases._data(sb, db)
        if name in ("int_div", "mod", "true_div"):
            b = np.where(b == 0, 2, b).astype(db)
        vals += [a, b]
    for name, got, want in zip(names, fc(*vals), fp(*vals)):
        _same(got, want, f"{name} {da},{db}")


def test_nan_inf_signed_zero_like_numpy(compiledir):
    x, y = T.dvector("x"), T.dvector("y")
    outs = [T.exp(x), T.log(x), T.sqrt(x), -x, abs(x), T.tanh(x), T.sigmoid(x),
            T.softplus(x), T.sgn(x), T.minimum(x, y), T.maximum(x, y), x // y, x % y,
            T.floor(x), T.round(x), T.isnan(x), T.isinf(x), T.clip(x, -1.0, 0.0), x / y,
            T.cast(x, "bool"), T.cast(x, "int32") * 0]
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 2.5, -7.0, 7.0]
    a = np.array([v for v in special for _ in special])
    b = np.array(special * len(special))
    fc, fp = _compile_both([x, y], outs)
    for k, (got, want) in enumerate(zip(fc(a, b), fp(a, b))):
        _same(got, want, str(outs[k].owner.op))
        if got.dtype.kind == "f":
            ok = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(got[ok]), np.signbit(want[ok]),
                                          err_msg=str(outs[k].owner.op))


def test_float64_tanh_through_expm1_within_a_few_ulp_at_every_magnitude(compiledir):
    # the C spelling is -e/(e+2), e = expm1(-2|x|): check it where that formula could lose
    # digits (tiny and subnormal x, |x| near 0.5 and 20, large x) against numpy's tanh
    x = T.dvector("x")
    mags = np.concatenate([10.0 ** np.arange(-310, 4, 0.25), [5e-324, 0.5, 19.0, 20.0,
                                                              22.0, 710.0, 1e308]])
    a = np.concatenate([mags, -mags, RNG.uniform(-25, 25, 4001)])
    got = symgraph.function([x], T.tanh(x), mode="FAST_RUN")(a)
    want = np.tanh(a)
    ulp = np.spacing(np.abs(want))
    assert np.all(np.abs(got - want) <= 4 * ulp), a[np.argmax(np.abs(got - want) / ulp)]
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_integer_overflow_division_by_zero_and_min_over_minus_one(compiledir):
    outs, ins, vals = [], [], []
    for dtype in ["int8", "int32", "int64", "uint8"]:
        info = np.iinfo(dtype)
        x, y = T.tensor(dtype, shape=(None,)), T.tensor(dtype, shape=(None,))
        ins += [x, y]
        outs += [x + x, x * y, x - y, -x, abs(x), x // y, x % y, T.sqr(x), ~x]
        a = np.array([info.max, info.min, 100, 7, -7 if info.min else 3, 0, 5], dtype)
        b = np.array([2, -1 if info.min else 1, 0, -2 if info.min else 2, 3, 0, info.max],
                     dtype)
        vals += [a, b]
    fc, fp = _compile_both(ins, outs)
    assert _elemwise_places(fc) == {"c"}, _placement(fc)
    with np.errstate(all="ignore"):
        for k, (got, want) in enumerate(zip(fc(*vals), fp(*vals))):
            _same(got, want, str(outs[k].owner.op))


def test_bool_bitwise_switch_cast_and_mixed_schedule(compiledir):
    c, a, b = T.bvector("c"), T.dvector("a"), T.drow("b")
    p, q = T.tensor("bool", shape=(None,)), T.tensor("bool", shape=(None,))
    outs = [T.switch(c, a, b), T.clip(a, -0.5, 0.5), ~p, p & q, p | q, p ^ q, p + q, p * q,
            T.cast(a * 3, "int8"), T.cast(a * 3, "uint8"), T.cast(c, "float32"),
            T.erfinv(T.tanh(a)) * 2, a.dimshuffle("x", 0) + b, a ** 2, T.lvector() ** 2]
    ins = [c, a, b, p, q, outs[-1].owner.inputs[0]]
    fc, fp = _compile_both(ins, outs)
    where = fc.maker.fgraph.placement
    # rewrites may fuse nodes into Composites: a node holding erfinv runs in Python
    assert set(where.values()) == {"c", "py"}
    assert all(w == "py" for n, w in where.items() if "erfinv" in str(n.op).lower())
    assert any(w == "c" for n, w in where.items() if "switch" in str(n.op).lower())
    vals = [np.array([1, 0, 1], "int8"), RNG.normal(size=3), RNG.normal(size=(1, 3)),
            RNG.random(3) > 0.5, RNG.random(3) > 0.5, np.arange(3)]
    for k, (got, want) in enumerate(zip(fc(*vals), fp(*vals))):
        _same(got, want, str(outs[k].owner.op))


def test_one_function_from_many_threads(compiledir):
    x, y = T.dmatrix("x"), T.dvector("y")
    f = symgraph.function([x, y], T.exp(-x * x) * T.sin(y) + 1)
    data = [(RNG.normal(size=(50, 40)), RNG.normal(size=40)) for _ in range(8)]
    want = [np.exp(-a * a) * np.sin(b) + 1 for a, b in data]
    errors = []

    def work(k):
        for _ in range(30):
            got = f(*data[k])
            if not np.allclose(got, want[k], rtol=1e-14):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_no_compiler_warns_once_and_runs_numpy(compiledir, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-sg")
    monkeypatch.setattr(symgraph.codegen, "_warned", [])
    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symgraph.function([x], T.exp(x) + 3.0)
        g = symgraph.function([x], T.exp(x) + 4.0)
    msgs = [str(w.message) for w in caught if "C backend" in str(w.message)]
    assert len(msgs) == 1 and "no-such-compiler-sg" in msgs[0]
    assert set(f.maker.fgraph.placement.values()) == {"py"}
    np.testing.assert_allclose(g(np.zeros(2)), [5.0, 5.0])


def test_composite_is_one_c_loop(compiledir):
    comp_mod = pytest.importorskip("symgraph.ops.composite")
    from symgraph.ops import scalar as S
    C = comp_mod.Composite
    comp = C(("float64", "int32"), (C.const_entry(1.0, "float64"), C.const_entry(-2, "int32")),
             ((S.Exp(), (("i", 0),), "float64"),
              (S.Add(), (("s", 0), ("c", 0)), "float64"),
              (S.IntDiv(), (("i", 1), ("c", 1)), "int32"),
              (S.Mul(), (("s", 1), ("s", 2)), "float64"),
              (S.Sigmoid(), (("s", 3),), "float64")))
    x, y = T.dmatrix("x"), T.ivector("y")
    out = Elemwise(comp)(x, y)
    fc, fp = _compile_both([x, y], out)
    assert _elemwise_places(fc) == {"c"}
    a = RNG.normal(size=(4, 7))
    b = np.arange(-3, 4).astype("int32")
    _same(fc(a, b), fp(a, b), "composite")
    _same(fc(a.T.copy().T, b[::-1]), fp(a, b[::-1]), "composite strided")
