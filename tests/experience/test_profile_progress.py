"""function(profile=True) / Mode(profile=True): per-op and per-node times, call counts, the
compile-time split; the progress line of long compiles (TTY only, silent under quiet)."""
import io

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph import profiling
from symgraph.profiling import ProfileStats


def _graph():
    x = T.dmatrix("x")
    w = symgraph.shared(np.linspace(-1, 1, 12).reshape(4, 3), "w")
    y = T.tanh(T.dot(x, w)).sum() + T.exp(x).mean()
    return x, w, y


def _expected(xv, wv):
    return np.tanh(xv @ wv).sum() + np.exp(xv).mean()


@pytest.mark.parametrize("how", ["flag", "mode"])
@pytest.mark.parametrize("mode", ["py", "FAST_RUN"])
def test_profile_counts_calls_and_times_every_node(how, mode, capsys):
    x, w, y = _graph()
    if how == "flag":
        user_mode = symgraph.Mode(mode)
        f = symgraph.function([x], y, mode=user_mode, profile=True)
        assert user_mode.profile is False            # the caller's Mode is not changed
    else:
        f = symgraph.function([x], y, mode=symgraph.Mode(mode, profile=True))
    assert isinstance(f.profile, ProfileStats)
    xv = np.random.default_rng(0).normal(size=(5, 4))
    for _ in range(3):
        assert np.allclose(f(xv), _expected(xv, w.get_value()))
    p = f.profile
    n_nodes = len(f.maker.fgraph.toposort())
    assert p.calls == 3 and len(p.nodes) == n_nodes
    assert p.node_calls == [3] * n_nodes
    assert all(t > 0 for t in p.node_time)
    assert 0 < sum(p.node_time) <= p.call_time
    ops = {row[0]: row for row in p.op_table()}
    assert "Dot" in ops and ops["Dot"][3] == 3 and ops["Dot"][4] == 1
    assert abs(sum(r[2] for r in p.op_table()) - 1) < 1e-9
    assert set(p.compile_times) == {"rewrite", "codegen", "compiler", "cache_load"}
    assert all(v >= 0 for v in p.compile_times.values())
    assert sum(p.compile_times.values()) <= p.compile_time + 1e-6
    if mode == "py":
        assert p.compile_times["compiler"] == 0 and p.compile_times["cache_load"] == 0
    text = p.summary()
    printed = capsys.readouterr().out
    assert text.strip() == printed.strip()
    assert "Ops (by class)" in text and "Nodes (Apply)" in text and "Dot" in text
    assert "3 call(s)" in text and "compile time" in text and "rewrite" in text
    assert "test_profile_progress.py:" in text            # nodes name the user's line


def test_unprofiled_function_has_no_profile():
    x, w, y = _graph()
    f = symgraph.function([x], y, mode="py")
    assert f.profile is None and f.program.profile is None


def test_compile_split_compiler_then_cache(tmp_path):
    x = T.dvector("x")
    y = T.exp(-x * x) * T.sin(x) + 0.25
    with symgraph.change_flags(compiledir=str(tmp_path)):
        f1 = symgraph.function([x], y, profile=True)
        if set(f1.maker.fgraph.placement.values()) != {"c"}:
            pytest.skip("no C compiler")
        p1 = f1.profile
        assert p1.kernels_built == 1 and p1.compile_times["compiler"] > 0
        assert p1.compile_times["codegen"] > 0 and p1.compile_times["rewrite"] > 0
        f2 = symgraph.function([x], y, profile=True)
        p2 = f2.profile
        assert p2.kernels_built == 0 and p2.kernels_cached == 1
        assert p2.compile_times["compiler"] == 0
        # the build dominates the cold compile; the warm one only loads
        assert p2.compile_time < p1.compile_time
    v = np.linspace(-2, 2, 7)
    assert np.allclose(f2(v), np.exp(-v * v) * np.sin(v) + 0.25)


def test_profile_records_the_failing_call_too():
    x = T.dvector("x")
    y = T.dvector("y")
    f = symgraph.function([x, y], x * y, mode="py", profile=True)
    with pytest.raises(ValueError):
        f(np.ones(2), np.ones(3))
    assert f.profile.calls == 1 and f.profile.node_calls == [0]


class _TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty, quiet, shown", [(True, False, True), (False, False, False),
                                               (True, True, False)])
def test_progress_line_only_on_a_terminal(monkeypatch, tmp_path, tty, quiet, shown):
    err = _TTY() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(profiling, "PROGRESS_AFTER", 0.0)
    x = T.dvector("x")
    with symgraph.change_flags(compiledir=str(tmp_path), quiet=quiet):
        f = symgraph.function([x], T.cos(x) * 3 + 1, name="progress_fn")
    text = err.getvalue()
    assert np.allclose(f(np.arange(3.0)), np.cos(np.arange(3.0)) * 3 + 1)
    if not shown:
        assert text == ""
        return
    assert "[symgraph] compiled 'progress_fn' in" in text and text.endswith("\n")
    c_nodes = sum(1 for v in f.maker.fgraph.placement.values() if v == "c")
    assert f"kernels {1 if c_nodes else 0} built / 0 cached" in text
    assert "rewrite" in text and "compiler" in text


def test_no_progress_line_for_a_fast_compile(monkeypatch):
    err = _TTY()
    monkeypatch.setattr("sys.stderr", err)
    x = T.dvector("x")
    symgraph.function([x], x + 1, mode="py")
    assert err.getvalue() == ""


def test_inner_function_compiles_count_in_the_outer_split(tmp_path):
    scan = pytest.importorskip("symgraph.scan").scan
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    hs, _ = scan(lambda x, h: T.tanh(x + h * 0.5), sequences=X, outputs_info=h0)
    with symgraph.change_flags(compiledir=str(tmp_path)):
        f = symgraph.function([X, h0], hs.sum(), profile=True)
    xv = np.linspace(-1, 1, 15).reshape(5, 3)
    h, total = np.zeros(3), 0.0
    for row in xv:
        h = np.tanh(row + h * 0.5)
        total += h.sum()
    assert np.allclose(f(xv, np.zeros(3)), total)
    p = f.profile
    split = sum(p.compile_times.values())
    assert split <= p.compile_time + 1e-6          # nothing counted twice
    assert split >= 0.9 * p.compile_time - 0.01    # and the phases cover the compile
