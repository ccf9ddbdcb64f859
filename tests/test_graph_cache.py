"""The rewritten-graph cache (symgraph/compile/graph_cache.py): a warm compile of the same
graph skips rewriting and rendering; a different graph never gets another's result; a
damaged entry rebuilds."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache
from symgraph.compile import graph_cache
from symgraph.ifelse import ifelse


def _c_available(fn):
    return "c" in fn.maker.fgraph.placement.values()


def _hits():
    return graph_cache.stats["hits"]


def _entries(root):
    return sorted((root / cache.GRAPHS).glob("*/*"))


@pytest.fixture(autouse=True)
def _enabled(monkeypatch):
    from symgraph.opt.engine import REGISTRY
    monkeypatch.setattr(graph_cache, "ENABLED", True)
    # another test module may have registered a rule of its own, which turns the cache off
    monkeypatch.setattr(REGISTRY, "custom", False)


def test_a_rule_from_outside_symgraph_turns_the_cache_off(monkeypatch):
    from symgraph.opt.engine import REGISTRY, Rule
    x = T.dvector("x")
    assert symgraph.function([x], x + 1).maker._graph_key is not None
    monkeypatch.setattr(REGISTRY, "rules", dict(REGISTRY.rules))
    REGISTRY.add(Rule("a_test_rule_that_does_nothing", lambda fgraph, node: None,
                      "canonicalize"))
    assert REGISTRY.custom
    assert symgraph.function([x], x + 1).maker._graph_key is None


def test_same_graph_hits_with_equal_results_and_history(fresh_compiledir):
    x, y = T.dmatrix("x"), T.dvector("y")
    build = lambda: symgraph.function([x, y], [T.exp(-x * x) * y + 1.5, (x * 2).sum()])  # noqa: E731
    f = build()
    if not _c_available(f):
        pytest.skip("no C compiler")
    assert len(_entries(fresh_compiledir)) == 1
    before = _hits()
    g = build()
    assert _hits() == before + 1
    xv, yv = np.random.default_rng(0).normal(size=(3, 4)), np.arange(4.0)
    for a, b in zip(f(xv, yv), g(xv, yv)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(g(xv, yv)[0], np.exp(-xv * xv) * yv + 1.5, rtol=1e-15)
    assert g.program.cache_info["key"] == f.program.cache_info["key"]
    assert "static int k0" in g.program.source               # read from the entry
    assert [c.reason for c in g.maker.fgraph.history] == \
        [c.reason for c in f.maker.fgraph.history]
    assert g.maker.fgraph.placement.keys() == set(g.maker.fgraph.toposort())
    g.maker.fgraph.check_integrity()
    assert "on disk: yes" in cache.explain(g)


@pytest.mark.parametrize("other", [
    lambda x: x * 3.0 + 1,                       # another constant
    lambda x: x * 2.0 - 1,                       # another op
    lambda x: (x * 2.0 + 1).astype("float32"),   # another dtype
    lambda x: 1 + x * 2.0,                       # another order of operands
])
def test_different_graphs_never_share_an_entry(fresh_compiledir, other):
    x = T.dvector("x")
    xv = np.linspace(-2, 2, 7)
    f = symgraph.function([x], x * 2.0 + 1)
    g = symgraph.function([x], other(x))
    assert g.maker._graph_key != f.maker._graph_key
    want = symgraph.function([x], other(x), mode="py")(xv)
    got = g(xv)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_array_equal(f(xv), xv * 2.0 + 1)


def test_loaded_constants_stay_read_only(fresh_compiledir):
    x = T.dmatrix("x")
    c = np.arange(6.0).reshape(2, 3)
    symgraph.function([x], x * c + T.exp(x))
    before = _hits()
    g = symgraph.function([x], x * c + T.exp(x))
    assert _hits() == before + 1
    consts = [i for n in g.maker.fgraph.toposort() for i in n.inputs
              if isinstance(i, symgraph.graph.Constant) and isinstance(i.data, np.ndarray)]
    assert consts and not any(k.data.flags.writeable for k in consts)
    np.testing.assert_allclose(g(np.ones((2, 3))), c + np.e, rtol=1e-15)


def test_types_names_modes_and_constants_are_in_the_key(fresh_compiledir):
    def key(build):
        return build().maker._graph_key
    x, x2 = T.dvector("x"), T.dvector("x2")
    xs = T.tensor("float64", (5,), "x")
    base = key(lambda: symgraph.function([x], T.exp(x) + 1))
    assert key(lambda: symgraph.function([x], T.exp(x) + 1)) == base
    assert key(lambda: symgraph.function([x2], T.exp(x2) + 1)) != base      # a name
    assert key(lambda: symgraph.function([xs], T.exp(xs) + 1)) != base      # a static shape
    assert key(lambda: symgraph.function(
        [x], T.exp(x) + 1, mode=symgraph.Mode(excluding=["fusion"]))) != base
    with symgraph.change_flags(openmp=False):
        assert key(lambda: symgraph.function([x], T.exp(x) + 1)) != base
    m = T.dmatrix("m")
    c1, c2 = np.eye(3), np.eye(3)
    c2[0, 1] = 1e-300                        # one bit of a large constant
    k1 = key(lambda: symgraph.function([m], T.dot(m, c1)))
    k2 = key(lambda: symgraph.function([m], T.dot(m, c2)))
    assert k1 != k2
    f = symgraph.function([m], T.dot(m, c2))
    np.testing.assert_array_equal(f(np.ones((2, 3))), np.ones((2, 3)) @ c2)


def test_updates_bind_to_the_new_functions_shared_variables(fresh_compiledir):
    def build():
        x = T.dvector("x")
        w = symgraph.shared(np.zeros(3), "w")
        f = symgraph.function([x], (w * x).sum(), updates=[(w, w + x * 0.5)])
        return f, w
    f1, w1 = build()
    before = _hits()
    f2, w2 = build()
    assert _hits() == before + 1
    f2(np.ones(3))
    f2(np.ones(3))
    np.testing.assert_array_equal(w2.get_value(), np.ones(3))
    np.testing.assert_array_equal(w1.get_value(), np.zeros(3))        # untouched
    assert f1(np.full(3, 2.0)) == 0.0
    np.testing.assert_array_equal(w1.get_value(), np.ones(3))


@pytest.mark.parametrize("damage", ["truncate", "flip", "other_key", "garbage"])
def test_a_damaged_entry_rebuilds(fresh_compiledir, damage):
    x = T.dvector("x")
    f = symgraph.function([x], T.sin(x) * 2.5 + 0.5)
    (path,) = _entries(fresh_compiledir)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "other_key":
        other = symgraph.function([x], T.cos(x) * 2.5 + 0.5)
        path.write_bytes(_entries_for(fresh_compiledir, other).read_bytes())
    else:
        path.write_bytes(b"\x00" * 64)
    bad, hits = graph_cache.stats["bad"], _hits()
    g = symgraph.function([x], T.sin(x) * 2.5 + 0.5)
    assert graph_cache.stats["bad"] == bad + 1 and _hits() == hits
    xv = np.linspace(0, 3, 5)
    np.testing.assert_allclose(g(xv), np.sin(xv) * 2.5 + 0.5, rtol=1e-15)
    symgraph.function([x], T.sin(x) * 2.5 + 0.5)            # the rebuilt entry is used
    assert _hits() == hits + 1
    assert f.maker._graph_key == g.maker._graph_key


def _entries_for(root, fn):
    key = fn.maker._graph_key
    return root / cache.GRAPHS / key[:2] / key


def test_a_missing_module_is_built_again(fresh_compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 1.25 - 2)
    if not _c_available(f):
        pytest.skip("no C compiler")
    key = f.program.cache_info["key"]
    shutil.rmtree(fresh_compiledir / key[:2] / key)
    cache._loaded.clear()
    builds = cache.stats["builds"]
    g = symgraph.function([x], T.exp(x) * 1.25 - 2)
    assert cache.stats["builds"] == builds + 1
    np.testing.assert_allclose(g(np.ones(2)), np.exp(1) * 1.25 - 2)


def test_graphs_the_key_cannot_describe_are_not_cached(fresh_compiledir):
    c, x = T.bscalar("c"), T.dvector("x")
    f = symgraph.function([c, x], ifelse(c, x.sum(), (x * 2).sum()))
    assert f.maker._graph_key is None
    assert f(np.int8(0), np.ones(3)) == 6.0
    g = symgraph.function([x], x + 1, mode="FAST_COMPILE")
    assert g.maker._graph_key is None


def test_clear_removes_the_graphs(fresh_compiledir):
    x = T.dvector("x")
    symgraph.function([x], T.tanh(x) * 3.5)
    assert _entries(fresh_compiledir)
    cache.clear()
    assert not _entries(fresh_compiledir)


WARM = textwrap.dedent("""
    import json, sys
    import numpy as np
    import symgraph, symgraph.tensor as T
    from symgraph.compile import graph_cache
    h, W = T.dvector("h"), T.dmatrix("W")
    y = h
    for k in range(6):
        y = T.tanh(T.dot(y, W)) * 0.5 + y * (0.1 + 0.01 * k)
    f = symgraph.function([h, W], y)
    skipped = {m: m in sys.modules for m in ("symgraph.opt.rules", "jinja2")}
    rng = np.random.default_rng(0)
    hv, Wv = rng.normal(size=8), rng.normal(size=(8, 8)) / 4
    ref = symgraph.function([h, W], y, mode="py")(hv, Wv)
    print(json.dumps({"stats": graph_cache.stats, "out": f(hv, Wv).tolist(),
                      "ref": ref.tolist(), "placement": sorted(set(
                          f.maker.fgraph.placement.values())),
                      "rules": skipped["symgraph.opt.rules"],
                      "jinja2": skipped["jinja2"]}))
""")


def test_a_fresh_process_skips_rewriting_and_rendering(tmp_path):
    script = tmp_path / "warm.py"
    script.write_text(WARM)
    log = tmp_path / "builds.log"
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
               SYMGRAPH_BUILD_LOG=str(log), SYMGRAPH_GRAPH_CACHE="1")
    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    if "c" not in cold["placement"]:
        pytest.skip("no C compiler")
    assert cold["stats"]["stores"] == 1 and cold["stats"]["hits"] == 0
    assert warm["stats"]["hits"] == 1
    assert not warm["rules"] and not warm["jinja2"]     # no rewriting, no rendering
    kernel_builds = [b for b in log.read_text().splitlines() if not b.endswith(" runtime")]
    assert len(kernel_builds) == 1                        # one build, by the cold process
    assert warm["out"] == cold["out"]                     # bit for bit
    np.testing.assert_allclose(warm["out"], warm["ref"], rtol=1e-13)


def test_a_hit_names_this_compiles_lines_in_errors(fresh_compiledir):
    import inspect
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symgraph.function([x, y], T.exp(x) + y)
    before = _hits()
    line = inspect.currentframe().f_lineno + 1
    g = symgraph.function([x, y], T.exp(x) + y)
    assert _hits() == before + 1 and f.maker._graph_key == g.maker._graph_key
    with pytest.raises(ValueError) as err:
        g(np.ones((2, 3)), np.ones((3, 2)))
    assert f"test_graph_cache.py:{line}" in str(err.value)


def test_the_blas_found_is_in_the_key(fresh_compiledir, monkeypatch):
    from symgraph.codegen import blas
    if blas.provider() is None:
        pytest.skip("no CBLAS in numpy's wheel here")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    with_blas = symgraph.function([x, y], T.dot(x, y) * 2)
    monkeypatch.setattr(blas, "_found", [None])          # a process without a CBLAS
    hits = _hits()
    without = symgraph.function([x, y], T.dot(x, y) * 2)
    assert without.maker._graph_key != with_blas.maker._graph_key
    assert _hits() == hits                               # not the entry made with BLAS
    a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
    np.testing.assert_allclose(without(a, b), 2 * a @ b)
    dots = [n for n in without.maker.fgraph.apply_nodes if "Dot" in type(n.op).__name__]
    assert dots and all(without.maker.fgraph.placement[n] == "py" for n in dots)
