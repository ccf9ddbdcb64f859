"""Fault injection into the compile cache (symgraph/codegen/cache.py): a build killed with
SIGKILL half way, a read-only compiledir, a full disk, a damaged binary, two symgraph
versions sharing one compiledir. Each fault leaves the next call working (it rebuilds, or
loads what is there) with a clear message: never a hang, a crash or a wrong result."""
import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.codegen import cache

from .conftest import have_cc

pytestmark = pytest.mark.skipif(not have_cc(), reason="needs a C compiler")

# a child process: compile exp(x) * c + 1 in FAST_RUN, check it, print ok and the key
CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, symgraph, symgraph.tensor as T
    from symgraph.codegen import cache
    fault = {fault!r}
    if fault == "kill_in_compile":          # SIGKILL while gcc runs
        import subprocess
        real_popen = subprocess.Popen
        def popen(cmd, **kw):
            if "-o" in cmd:                   # a compiler command: start it, then die
                real_popen(cmd)
                os.kill(os.getpid(), signal.SIGKILL)
            return real_popen(cmd, **kw)
        cache.subprocess.Popen = popen
    elif fault == "kill_before_publish":    # SIGKILL with the binary built, not published
        real_replace = os.replace
        def replace(a, b):
            if ".tmp-" in str(a):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(a, b)
        cache.os.replace = replace
    elif fault.startswith("format="):       # another symgraph version
        cache.CACHE_FORMAT = int(fault[7:])
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * {c} + 1, mode="FAST_RUN")
    a = np.linspace(-1, 1, 7)
    assert np.allclose(f(a), np.exp(a) * {c} + 1, rtol=1e-12), f(a)
    assert "c" in set(f.maker.fgraph.placement.values())
    print("ok", f.program.cache_info["key"])
""")


def _child(tmp_path, c, fault="", timeout=120):
    env = dict(os.environ, SYMGRAPH_COMPILEDIR=str(tmp_path / "cd"),
               SYMGRAPH_BUILD_LOG=str(tmp_path / "builds.log"))
    return subprocess.run([sys.executable, "-c", CHILD.format(c=c, fault=fault)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _builds(tmp_path):
    log = tmp_path / "builds.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if not line.endswith(" runtime")]   # kernels only


def _published(cd):
    return [m for m in cd.glob("*/*/meta.json") if len(m.parent.name) == 64 and
            '"label": "runtime"' not in m.read_text()]


def _ok(p):
    assert p.returncode == 0 and p.stdout.startswith("ok"), p.stderr[-3000:]
    return p.stdout.split()[1]


# -- SIGKILL half way ----------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["kill_in_compile", "kill_before_publish"])
def test_build_killed_half_way_leaves_next_call_working(tmp_path, fault):
    p = _child(tmp_path, 1.75, fault)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr[-2000:])
    cd = tmp_path / "cd"
    # nothing half-built is published: no entry with a meta.json
    assert not _published(cd)
    assert _builds(tmp_path) == []
    # the next process takes the lock (flock died with the killed one) and builds
    key = _ok(_child(tmp_path, 1.75, timeout=120))
    assert len(_builds(tmp_path)) == 1
    assert (cd / key[:2] / key / "meta.json").exists() and len(_published(cd)) == 1
    # and the one after only loads it
    assert _ok(_child(tmp_path, 1.75)) == key
    assert len(_builds(tmp_path)) == 1


# -- a damaged binary ------------------------------------------------------------------------

DAMAGES = ["truncate", "garbage_same_size", "garbage_and_meta", "delete_binary", "empty_meta"]


def _damage(entry, how):
    import hashlib
    import json
    (so,) = entry.glob("_sg_*.so")
    data = so.read_bytes()
    junk = np.random.default_rng(0).integers(0, 256, len(data), dtype=np.uint8).tobytes()
    if how == "truncate":
        so.write_bytes(data[:len(data) // 2])
    elif how == "garbage_same_size":
        so.write_bytes(junk)
    elif how == "garbage_and_meta":      # a consistent meta.json: the load itself fails
        so.write_bytes(junk)
        meta = json.loads((entry / "meta.json").read_text())
        meta["binary_sha256"] = hashlib.sha256(junk).hexdigest()
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "delete_binary":
        so.unlink()
    else:
        (entry / "meta.json").write_text("")


def test_damaged_entry_is_rebuilt(tmp_path):
    key = _ok(_child(tmp_path, 2.25))
    entry = tmp_path / "cd" / key[:2] / key
    for n, how in enumerate(DAMAGES):
        _damage(entry, how)
        # a fresh process: detects it, rebuilds once, right result (checked in the child)
        assert _ok(_child(tmp_path, 2.25)) == key, how
        assert len(_builds(tmp_path)) == n + 2, how
    assert _ok(_child(tmp_path, 2.25)) == key
    assert len(_builds(tmp_path)) == len(DAMAGES) + 1      # the rebuilt entry is good


# -- two versions in one compiledir ---------------------------------------------------------

def test_two_versions_share_one_compiledir(tmp_path):
    k1 = _ok(_child(tmp_path, 2.75, "format=1"))
    k2 = _ok(_child(tmp_path, 2.75, "format=2"))     # the version part of the key differs
    assert k1 != k2 and len(_builds(tmp_path)) == 2
    # interleaved again: each version loads its own entry, neither rebuilds the other's
    assert _ok(_child(tmp_path, 2.75, "format=1")) == k1
    assert _ok(_child(tmp_path, 2.75, "format=2")) == k2
    assert len(_builds(tmp_path)) == 2
    with symgraph.change_flags(compiledir=str(tmp_path / "cd")):
        metas = {m["key"]: m for m in cache.entries()}
    assert metas[k1]["parts"]["cache_format"] == 1 and metas[k2]["parts"]["cache_format"] == 2


def test_explain_names_the_version_part(fresh_compiledir, monkeypatch):
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 3.75 + 1, mode="FAST_RUN")
    monkeypatch.setattr(cache, "CACHE_FORMAT", cache.CACHE_FORMAT + 1)
    cache._loaded.clear()
    g = symgraph.function([x], T.exp(x) * 3.75 + 1, mode="FAST_RUN")
    assert g.program.cache_info["key"] != f.program.cache_info["key"]
    monkeypatch.setattr(cache, "CACHE_FORMAT", cache.CACHE_FORMAT - 1)
    os.remove(fresh_compiledir / f.program.cache_info["key"][:2] /
              f.program.cache_info["key"] / "meta.json")
    text = cache.explain(f)
    assert "on disk: no" in text and "differs in: cache_format" in text


# -- a read-only compiledir ------------------------------------------------------------------

def _read_only(monkeypatch, root):
    """Make `root` read-only: chmod, and (root ignores modes) refuse writes under it."""
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR)
    root = str(root)
    real_open, real_makedirs = open, os.makedirs
    real_ntf, real_mkdtemp = cache.tempfile.NamedTemporaryFile, cache.tempfile.mkdtemp

    def erofs(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def guarded(fn, writing=lambda *a, **k: True):
        def inner(path=None, *a, **k):
            p = str(k.get("dir", path))
            if p.startswith(root) and writing(path, *a, **k):
                erofs(p)
            return fn(path, *a, **k) if path is not None else fn(*a, **k)
        return inner
    monkeypatch.setattr(cache, "open", guarded(
        real_open, lambda p, mode="r", *a, **k: any(c in mode for c in "wax+")),
        raising=False)
    monkeypatch.setattr(cache.os, "makedirs", guarded(
        real_makedirs, lambda p, *a, **k: not os.path.isdir(p)))
    monkeypatch.setattr(cache.tempfile, "NamedTemporaryFile",
                        lambda *a, **k: erofs(k.get("dir")) if str(k.get("dir", "")).startswith(
                            root) else real_ntf(*a, **k))
    monkeypatch.setattr(cache.tempfile, "mkdtemp",
                        lambda *a, **k: erofs(k.get("dir")) if str(k.get("dir", "")).startswith(
                            root) else real_mkdtemp(*a, **k))


def _restore(root):
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, stat.S_IRWXU)


def test_read_only_compiledir_loads_what_it_has(fresh_compiledir, monkeypatch):
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 4.25 + 1, mode="FAST_RUN")
    key = f.program.cache_info["key"]
    cache._loaded.clear()                       # as a fresh process: from disk
    _read_only(monkeypatch, fresh_compiledir)
    try:
        before = dict(cache.stats)
        g = symgraph.function([x], T.exp(x) * 4.25 + 1, mode="FAST_RUN")
        assert g.program.cache_info["key"] == key
        assert cache.stats["builds"] == before["builds"]
        np.testing.assert_allclose(g(np.ones(3)), np.exp(1) * 4.25 + 1)
        # a miss there is a clear error naming the folder and the flag, not a wrong result
        with pytest.raises(cache.CompiledirError) as err:
            symgraph.function([x], T.exp(x) * 4.5 + 1, mode="FAST_RUN")
        msg = str(err.value)
        assert str(fresh_compiledir) in msg and "compiledir" in msg
        assert "SYMGRAPH_COMPILEDIR" in msg
        # py and FAST_COMPILE never touch the cache
        h = symgraph.function([x], T.exp(x) * 4.5 + 1, mode="FAST_COMPILE")
        np.testing.assert_allclose(h(np.ones(3)), np.exp(1) * 4.5 + 1)
    finally:
        monkeypatch.undo()
        _restore(fresh_compiledir)
    # writable again: the next call builds and is right
    k = symgraph.function([x], T.exp(x) * 4.5 + 1, mode="FAST_RUN")
    np.testing.assert_allclose(k(np.ones(3)), np.exp(1) * 4.5 + 1)


# -- a full disk -----------------------------------------------------------------------------

@pytest.mark.parametrize("k, which", enumerate(["source.c", "meta.json", ".lock"]))
def test_full_disk_is_a_clear_error_and_the_next_call_builds(fresh_compiledir, monkeypatch,
                                                             k, which):
    c = 5.25 + k               # a function no earlier test built (no memory hit)
    real_open = open

    def full(path, mode="r", *a, **k):
        if str(path).endswith(which) and any(c in mode for c in "wa"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr(cache, "open", full, raising=False)
    x = T.dvector("x")
    with pytest.raises(cache.CompiledirError) as err:
        symgraph.function([x], T.exp(x) * c + 1, mode="FAST_RUN")
    msg = str(err.value)
    assert "No space left on device" in msg and str(fresh_compiledir) in msg
    assert "compiledir" in msg
    assert isinstance(err.value, OSError)
    # nothing half-written is left published or lying around
    assert not _published(fresh_compiledir)
    assert not list(fresh_compiledir.glob("*/*.tmp-*"))
    monkeypatch.undo()
    f = symgraph.function([x], T.exp(x) * c + 1, mode="FAST_RUN")
    np.testing.assert_allclose(f(np.ones(2)), np.exp(1) * c + 1)
    assert len(_published(fresh_compiledir)) == 1
