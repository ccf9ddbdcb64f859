"""A module cut into units compiled side by side and linked with cffi's side compiled once
(symgraph/codegen/cache.py `_units`, `_front`): the cut follows the CPUs and the kernels'
size, the built function agrees with numpy, the key does not depend on the cut, modules
sharing the front keep their own kernels, and a unit that fails to compile raises the
compiler's error."""
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
        # up to one unit per CPU (fewer where one kernel is more than a CPU's share),
        # linked with the front
        if cpus == 1:
            assert units == 1
        else:
            assert 2 <= units <= cpus, meta["unit_commands"]
        assert any(os.path.basename(a).startswith("front-") for a in meta["command"])
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
    init = "PyInit__sg_name(void)"
    # small kernels: one unit, with the dispatcher and the module's init after them
    source = "head" + mark + "k0" + mark + "k1" + mark + "tail"
    (unit,) = cache._units(source, "_sg_name")
    assert unit.startswith("head\nk0\nk1\ntail\n") and init in unit
    big = ["x" * cache.UNIT_MIN_CHARS] * 3
    units = cache._units(mark.join(["head", *big, "tail"]), "_sg_name")
    assert len(units) == 3 and all(u.startswith("head\n") for u in units)
    assert [init in u for u in units] == [False, False, True]
    assert "".join(u[len("head\n"):] for u in units).startswith("".join(big) + "\ntail\n")
    assert cache._units("no marks at all", "_sg_name") == []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert len(cache._units(mark.join(["head", *big, "tail"]), "_sg_name")) == 1


def test_modules_sharing_the_front_run_their_own_kernels(tmp_path):
    """Every module links the same front (its init and wrappers): two functions loaded in
    one process still call their own kernels."""
    cache._loaded.clear()
    with symgraph.config.change_flags(compiledir=str(tmp_path)):
        x = T.dvector("x")
        f = symgraph.function([x], T.exp(x) * 3.0)
        g = symgraph.function([x], T.log1p(T.abs(x)) - 2.0)
        metas = _entry_meta(tmp_path)
    assert len(metas) == 2
    fronts = {a for m in metas for a in m["command"] if os.path.basename(a).startswith("front-")}
    assert len(fronts) == 1
    v = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(f(v), np.exp(v) * 3.0, rtol=1e-15)
    np.testing.assert_allclose(g(v), np.log1p(np.abs(v)) - 2.0, rtol=1e-15)


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


def test_without_a_front_the_module_is_cffis_file_whole(tmp_path, monkeypatch):
    """Where no folder can hold the front, a module is built as before: cffi's file with
    every kernel in it."""
    monkeypatch.setattr(cache, "_front", lambda cdef, cc: None)
    cache._loaded.clear()
    with symgraph.config.change_flags(compiledir=str(tmp_path)):
        x = T.dvector("x")
        f = symgraph.function([x], T.tanh(x) * 0.5 + x)
        (meta,) = _entry_meta(tmp_path)
    assert meta["unit_commands"] == []
    assert not any(os.path.basename(a).startswith("front-") for a in meta["command"])
    v = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(f(v), np.tanh(v) * 0.5 + v, rtol=1e-15)


def test_front_goes_to_the_compiledir_where_the_kernels_folder_is_read_only(tmp_path,
                                                                           monkeypatch):
    from symgraph.codegen import cbackend
    blocked = tmp_path / "a_file"
    blocked.write_text("")                 # kernels/__pycache__ under a file: not creatable
    monkeypatch.setattr(cbackend, "kernels_dir", lambda: str(blocked / "kernels"))
    monkeypatch.setattr(cache, "_fronts", {})
    cache._loaded.clear()
    cd = tmp_path / "cd"
    with symgraph.config.change_flags(compiledir=str(cd)):
        x = T.dvector("x")
        f = symgraph.function([x], T.sin(x) * 2.0 - x)
        (meta,) = _entry_meta(cd)
        fronts = [a for a in meta["command"] if os.path.basename(a).startswith("front-")]
        assert len(fronts) == 1 and fronts[0].startswith(str(cd / "front"))
        v = np.linspace(-3, 3, 9)
        np.testing.assert_allclose(f(v), np.sin(v) * 2.0 - v, rtol=1e-15)
        cache.clear()
        assert not (cd / "front").exists()
