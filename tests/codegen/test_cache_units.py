"""A module cut into units compiled side by side (symgraph/codegen/cache.py `_units`): the
cut follows the CPUs and the kernels' size, the built function agrees with numpy, the key
does not depend on the cut, and a unit that fails to compile raises the compiler's error."""
import json
import os

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache
from symgraph.errors import CompileError

pytestmark = pytest.mark.skipif(cache.compiler() is None, reason="needs a C compiler")


def _graph():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    b, y = T.dvector("b"), T.lvector("y")
    h = T.tanh(T.dot(x, W) + b)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
    return [x, W, b, y], [loss, symgraph.grad(loss, W), h.sum(axis=0)]


def _numpy(xv, wv, bv, yv):
    h = np.tanh(xv @ wv + bv)
    e = np.exp(h - h.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    n = len(yv)
    loss = -np.log(p[np.arange(n), yv]).mean()
    dz = p.copy()
    dz[np.arange(n), yv] -= 1
    gW = xv.T @ (dz / n * (1 - h * h))
    return [loss, gW, h.sum(axis=0)]


def _entry_meta(compiledir):
    metas = []
    for root, _, files in os.walk(compiledir):
        if "meta.json" in files:
            with open(os.path.join(root, "meta.json")) as f:
                metas.append(json.load(f))
    return [m for m in metas if m["label"] == "kernels"]


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_units_follow_the_cpus_and_the_function_agrees(cpus, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    monkeypatch.setattr(cache, "UNIT_MIN_CHARS", 1000)
    cache._loaded.clear()
    with symgraph.config.change_flags(compiledir=str(tmp_path / f"cd{cpus}")):
        inputs, outputs = _graph()
        f = symgraph.function(inputs, outputs)
        rng = np.random.default_rng(cpus)
        args = (rng.standard_normal((6, 4)), rng.standard_normal((4, 5)),
                rng.standard_normal(5), rng.integers(0, 5, 6))
        for got, want in zip(f(*args), _numpy(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        (meta,) = _entry_meta(tmp_path / f"cd{cpus}")
        units = len(meta["unit_commands"])
        # the cffi module's own file, then up to one unit per CPU (fewer where one kernel
        # is more than a CPU's share)
        if cpus == 1:
            assert units == 0
        else:
            assert 3 <= units <= cpus + 1, meta["unit_commands"]
        key = meta["key"]
    cache._loaded.clear()
    with symgraph.config.change_flags(compiledir=str(tmp_path / "other")):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
        inputs, outputs = _graph()
        symgraph.function(inputs, outputs)
        (other,) = _entry_meta(tmp_path / "other")
    assert other["key"] == key                      # the cut is not part of the key


def test_how_a_source_is_cut(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    mark = "\n" + cache.UNIT_MARK + "\n"
    source = "head" + mark + "k0" + mark + "k1" + mark + "tail"
    assert cache._units(source) == (source, [])
    big = ["x" * cache.UNIT_MIN_CHARS] * 3
    main, units = cache._units(mark.join(["head", *big, "tail"]))
    assert main == "head\ntail" and len(units) == 3
    assert all(u.startswith("head\n") for u in units)
    assert "".join(u[len("head\n"):] for u in units) == "".join(big)
    assert cache._units("no marks at all") == ("no marks at all", [])
    # one unit is enough to run the kernels beside the cffi file; one CPU: one file
    one = mark.join(["head", "y" * cache.UNIT_MIN_CHARS, "tail"])
    assert cache._units(one) == ("head\ntail", ["head\n" + "y" * cache.UNIT_MIN_CHARS])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert cache._units(one) == (one, [])


def test_a_unit_that_does_not_compile_raises_its_error(tmp_path):
    bad = tmp_path / "unit0.c"
    bad.write_text("int f(void) { return undeclared_name; }\n")
    good = tmp_path / "unit1.c"
    good.write_text("int g(void) { return 1; }\n")
    cc = cache.compiler()
    cmds = [[cc, "-c", str(p), "-o", str(p)[:-2] + ".o"] for p in (good, bad)]
    with pytest.raises(CompileError) as info:
        cache._run_compilers(cmds, cc, str(tmp_path))
    assert "undeclared_name" in str(info.value) and "unit0.c" in str(info.value)
    assert (tmp_path / "unit1.o").exists()
