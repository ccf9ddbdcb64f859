"""The compile cache: hits across processes, concurrent builds, damaged entries, keys that
follow the templates, a clear error for an unwritable compiledir, the CLI, explain()."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache, cbackend

ROOT = Path(__file__).parents[2]
SNAPSHOT = Path(__file__).parent / "snapshots" / "elemwise_add.c"

SCRIPT = textwrap.dedent("""
    import numpy as np, symgraph, symgraph.tensor as T
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * {c} + T.sin(x))
    assert set(f.maker.fgraph.placement.values()) == {{"c"}}
    v = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(f(v), np.exp(v) * {c} + np.sin(v), rtol=1e-14)
    print("ok")
""")


def _spawn(tmp_path, c, n=1):
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
               SYMGRAPH_BUILD_LOG=str(tmp_path / "builds.log"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("SYMGRAPH_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(c=c)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err
    log = tmp_path / "builds.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if not line.endswith(" runtime")]   # kernels only


def test_second_process_runs_no_compiler(tmp_path):
    assert len(_spawn(tmp_path, 1.25)) == 1
    assert len(_spawn(tmp_path, 1.25)) == 1          # the second process only loaded it


def test_four_processes_build_a_new_function_once(tmp_path):
    builds = _spawn(tmp_path, 2.5, n=4)
    assert len(builds) == 1, builds


def test_truncated_binary_is_rebuilt(tmp_path):
    (build,) = _spawn(tmp_path, 3.5)
    key = build.split()[0]
    (so,) = (tmp_path / "cd" / key[:2] / key).glob("_sg_*.so")
    data = so.read_bytes()
    so.write_bytes(data[: len(data) // 3])
    assert len(_spawn(tmp_path, 3.5)) == 2            # detected, rebuilt, loaded
    assert so.stat().st_size == len(data)


def test_corrupt_meta_is_rebuilt_in_process(fresh_compiledir):
    x = T.dvector("x")
    f = symgraph.function([x], T.tanh(x) * 4.5)
    key = f.program.cache_info["key"]
    cache._loaded.pop(key)
    (fresh_compiledir / key[:2] / key / "meta.json").write_text("{not json")
    before = cache.stats["builds"]
    g = symgraph.function([x], T.tanh(x) * 4.5)
    assert cache.stats["builds"] == before + 1
    np.testing.assert_allclose(g(np.ones(2)), np.tanh(1) * 4.5)


def test_editing_a_template_changes_the_key(fresh_compiledir, tmp_path, monkeypatch):
    import jinja2
    x = T.dvector("x")
    key = symgraph.function([x], x * 5.5 + 1).program.cache_info["key"]
    kdir = tmp_path / "kernels"
    (kdir / "c").mkdir(parents=True)
    for tpl in Path(cbackend.kernels_dir(), "c").glob("*.c.j2"):
        text = tpl.read_text()
        if tpl.name == "elemwise.c.j2":
            text = text.replace("static void {{ name }}_strided",
                                "/* edited */\nstatic void {{ name }}_strided")
        (kdir / "c" / tpl.name).write_text(text)
    monkeypatch.setattr(cbackend, "_env", jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(kdir)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True))
    f = symgraph.function([x], x * 5.5 + 1)
    assert f.program.cache_info["key"] != key
    assert "/* edited */" in f.program.source
    np.testing.assert_allclose(f(np.ones(3)), 6.5)


def test_unwritable_compiledir_names_it_and_the_flag(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    bad = blocker / "cache"
    x = T.dvector("x")
    with symgraph.change_flags(compiledir=str(bad)):
        with pytest.raises(cache.CompiledirError) as err:
            symgraph.function([x], x * 6.5 - 2)
    msg = str(err.value)
    assert str(bad) in msg and "SYMGRAPH_COMPILEDIR" in msg and "config.compiledir" in msg


def test_elemwise_template_snapshot():
    x = T.dvector("x")
    node = (x + T.constant(np.array([2.0]))).owner
    src = cbackend.lower_elemwise(node, "k0")
    assert src == SNAPSHOT.read_text(), "kernels/c/elemwise.c.j2 changed: update " + str(
        SNAPSHOT) + " if intended"


def test_explain_list_clear(fresh_compiledir, capsys):
    x = T.dvector("x")
    f = symgraph.function([x], T.log1p(x) * 7.5)
    text = cache.explain(f)
    assert f.program.cache_info["key"] in text and "on disk: yes" in text
    assert "compiler:" in text and "source_sha256" in text
    assert cache.main(["list"]) == 0
    assert f.program.cache_info["key"][:16] in capsys.readouterr().out
    assert cache.main(["info"]) == 0
    assert "entries: 1" in capsys.readouterr().out
    cache.main(["clear"])
    assert "removed 1" in capsys.readouterr().out
    assert "on disk: no" in cache.explain(f)
    g = symgraph.function([x], x + 1, mode="py")
    assert "no C code" in cache.explain(g)


def test_cli_module(tmp_path):
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("SYMGRAPH_FLAGS", None)
    out = subprocess.run([sys.executable, "-m", "symgraph.cache", "info"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(tmp_path / "cd") in out.stdout and "entries: 0" in out.stdout
