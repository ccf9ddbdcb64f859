"""The on-disk cache of compiled modules, keyed by content.

key = sha256 over named parts (the rendered source, the compiler's identity, the flags, the
platform and CPU, Python's extension ABI, cffi and numpy versions, `CACHE_FORMAT`). An entry
lives in ``config.compiledir/<key[:2]>/<key>/``: ``source.c`` (the kernels), the built
extension and ``meta.json`` (the parts, the binary's size and sha256, the gcc commands).
Entries are immutable once published:

- a miss takes an ``fcntl.flock`` on ``<key[:2]>/<key>.lock`` (per key: builds of other keys
  never wait), checks again, builds in a temporary folder beside the entry and publishes it
  with ``os.replace`` (atomic on one file system), so no reader ever sees half an entry;
- readers take no lock; an entry whose binary does not match its ``meta.json`` (truncated,
  corrupted) or does not load is moved aside and rebuilt under the lock;
- a build runs the compiler directly (no setuptools); a source cut into units (the marks
  of ``kernels/c/module.c.j2``) is compiled as up to one unit of kernels per CPU side by
  side, each with the shared header, and linked with cffi's side of the module (`_front`:
  the wrappers and Python.h, the same for every module, compiled once like bytecode):
  W4's training function 0.62 s of gcc as one file, 0.37-0.40 s as cffi's file and two
  units on two cores; a 100-node chain 0.13 s as cffi's file beside one unit, 0.11 s as
  two units and the front (and half the CPU time). The key does not depend on the cut.
  A source without marks (the native entry's runner) is cffi's file whole.
  Each build appends a line to the file
  named by ``SYMGRAPH_BUILD_LOG`` when that variable is set (tests count builds with it):
  ``key pid label``, the label "kernels" for a function's module and "runtime" for the
  native entry's runner (`native_entry`), built once per compiledir.

``explain(fn)`` says which key a compiled function uses and, on a miss, which parts differ
from the closest entry on disk. ``python -m symgraph.cache {list,clear,info}`` manages it.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

from ..config import config
from ..errors import CompileError, SymgraphError

__all__ = ["CACHE_FORMAT", "CompiledirError", "NoCompilerError", "compiler", "key_parts",
           "make_key", "get_module", "module_by_key", "source_of", "explain", "entries",
           "clear", "stats", "GRAPHS"]

CACHE_FORMAT = 1
#: the folder of rewritten graphs under config.compiledir (compile/graph_cache.py)
GRAPHS = "graphs"
_SOURCE = "source.c"
_META = "meta.json"

# where a module's source may be cut into units compiled side by side (module.c.j2)
UNIT_MARK = "/* @@sg-unit@@ */"
# kernels' characters per unit: a smaller unit's gain is below its cost (its own parse of
# the header and gcc's start, ~0.03 s): a 100-node chain's two kernels (6,900 characters)
# took 0.107 s of gcc as one unit, 0.092 s as two side by side
UNIT_MIN_CHARS = 3000
# cffi's side of every module (`_front`): its module name and flags
FRONT = "_sg_front"
FRONT_FLAGS = ("-O2", "-fPIC", "-g0", "-w")

stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0}
_loaded = {}                      # key -> module
_loaded_lock = threading.Lock()
_thread_locks = {}                # key -> threading.Lock: flock does not exclude threads
_ids = {}
_fronts = {}                      # digest -> path of the front's object
_front_lock = threading.Lock()    # one thread builds it (scan bodies compile in threads)


class CompiledirError(SymgraphError, OSError):
    """The compile cache folder cannot be created or written."""


class NoCompilerError(CompileError):
    """No working C compiler was found."""


def compiler():
    """The C compiler's path: ``$CC`` or gcc on PATH; NoCompilerError when there is none."""
    name = os.environ.get("CC") or "gcc"
    path = shutil.which(name)
    if path is None:
        raise NoCompilerError(f"no C compiler: {name!r} is not on PATH (set CC to one)")
    return os.path.realpath(path)


def _compiler_id(path):
    # keyed on the file itself, not `gcc --version` (3 ms a process)
    st = os.stat(path)
    return f"{path}|{st.st_mtime_ns}|{st.st_size}"


def _cpu_id():
    if "cpu" not in _ids:
        text = ""
        with contextlib.suppress(OSError):
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith(("model name", "flags", "Features", "CPU part")):
                        text += line
                    elif not line.strip() and text:
                        break
        _ids["cpu"] = platform.machine() + "|" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return _ids["cpu"]


def key_parts(source, flags, cc):
    """The named parts the key hashes (stored in meta.json to explain misses)."""
    import cffi
    import numpy
    return {
        "cache_format": CACHE_FORMAT,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": _compiler_id(cc),
        "flags": " ".join(flags),
        "platform": f"{sys.platform}|{platform.libc_ver()[0]}{platform.libc_ver()[1]}",
        "cpu": _cpu_id(),
        "python_abi": sysconfig.get_config_var("EXT_SUFFIX") or "",
        "cffi": cffi.__version__,
        "numpy_abi": numpy.__version__.split(".")[0],
    }


def make_key(parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _root():
    return os.path.abspath(os.path.expanduser(config.compiledir))


def _writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-")
        probe.close()
    except OSError as e:
        raise CompiledirError(
            f"symgraph cannot write its compile cache in {_root()!r} ({e.strerror or e}); "
            f"set config.compiledir (or the SYMGRAPH_COMPILEDIR environment variable, or "
            f"SYMGRAPH_FLAGS='compiledir=...') to a writable folder") from e


def _module_name(key):
    return f"_sg_{key[:16]}"


def _load(entry, key, meta):
    """The module of a published entry, or None if its binary is damaged."""
    path = os.path.join(entry, meta["binary"])
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) != meta["binary_size"] or \
            hashlib.sha256(data).hexdigest() != meta["binary_sha256"]:
        return None
    name = _module_name(key)
    if name in sys.modules:
        return sys.modules[name]
    try:
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        mod = importlib.util.module_from_spec(spec)
        loader.exec_module(mod)
    except ImportError:
        return None
    sys.modules[name] = mod
    return mod


def _read_meta(entry):
    try:
        with open(os.path.join(entry, _META)) as f:
            meta = json.load(f)
        return meta if {"binary", "binary_size", "binary_sha256"} <= set(meta) else None
    except (OSError, ValueError):
        return None


def get_module(source, cdef, flags, link_flags=(), label="kernels"):
    """The loaded cffi module for `source` (C with the functions that `cdef` declares):
    from memory, from disk, or built now. Returns (module, key). `label` says what the
    module holds in meta.json and the build log: "kernels" (a function's) or "runtime"
    (native_entry's runner, one for all functions)."""
    cc = compiler()
    parts = key_parts(source + "\n/* cdef */\n" + cdef, list(flags) + list(link_flags), cc)
    key = make_key(parts)
    mod = _loaded.get(key)
    if mod is not None:
        stats["memory_hits"] += 1
        return mod, key, parts
    with _loaded_lock:
        tlock = _thread_locks.setdefault(key, threading.Lock())
    with tlock:
        mod = _loaded.get(key)
        if mod is not None:
            return mod, key, parts
        shard = os.path.join(_root(), key[:2])
        entry = os.path.join(shard, key)
        meta = _read_meta(entry)
        mod = _load(entry, key, meta) if meta else None
        if mod is not None:
            stats["disk_hits"] += 1
        else:
            _writable_dir(shard)
            try:
                mod = _locked_build(shard, entry, key, parts, source, cdef, flags,
                                    link_flags, cc, label)
            except OSError as e:
                if isinstance(e, SymgraphError):
                    raise
                # a full disk, a quota, a folder gone read-only half way: name the place
                raise CompiledirError(
                    f"symgraph could not write the compile cache entry {entry!r} "
                    f"({e.strerror or e}); free some space there or set config.compiledir "
                    f"(or SYMGRAPH_COMPILEDIR) to another folder") from e
        _loaded[key] = mod
        return mod, key, parts


def module_by_key(key, flags):
    """(module, parts) of the published entry `key`, from memory or disk without building;
    None when it is not on disk, damaged, or built for another environment than this
    process's with `flags` (compiler, CPU, Python, cffi, numpy, CACHE_FORMAT: every part
    of the key but the source). The caller then renders and builds as usual (a damaged
    entry is replaced by that build). Used by the graph cache's replay of a program."""
    mod = _loaded.get(key)
    entry = os.path.join(_root(), key[:2], key)
    meta = _read_meta(entry)
    if meta is None or meta.get("key") != key or not isinstance(meta.get("parts"), dict):
        return None
    parts = meta["parts"]
    now = key_parts("", list(flags), compiler())
    now["source_sha256"] = parts.get("source_sha256")
    if now != parts or make_key(parts) != key:
        return None
    if mod is not None:
        stats["memory_hits"] += 1
        return mod, meta["parts"]
    with _loaded_lock:
        tlock = _thread_locks.setdefault(key, threading.Lock())
    with tlock:
        mod = _loaded.get(key) or _load(entry, key, meta)
        if mod is None:
            return None
        stats["disk_hits"] += 1
        _loaded[key] = mod
    return mod, meta["parts"]


def source_of(key):
    """The kernels' C source stored in entry `key` (None when it is gone)."""
    try:
        with open(os.path.join(_root(), key[:2], key, _SOURCE)) as f:
            return f.read()
    except OSError:
        return None


def _locked_build(shard, entry, key, parts, source, cdef, flags, link_flags, cc, label):
    with open(os.path.join(shard, key + ".lock"), "a") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        meta = _read_meta(entry)       # another process may have built it
        mod = _load(entry, key, meta) if meta else None
        if mod is None:
            _discard(entry)
            _build(entry, key, parts, source, cdef, flags, link_flags, cc, label)
            mod = _load(entry, key, _read_meta(entry))
            if mod is None:
                raise CompileError(f"the module built in {entry} does not load")
        else:
            stats["disk_hits"] += 1
    return mod


def _discard(entry):
    if os.path.lexists(entry):
        trash = f"{entry}.bad-{os.getpid()}-{time.monotonic_ns()}"
        os.replace(entry, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _build(entry, key, parts, source, cdef, flags, link_flags, cc, label):
    name = _module_name(key)
    tmp = tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=os.path.dirname(entry))
    try:
        with open(os.path.join(tmp, _SOURCE), "w") as f:
            f.write(source)
        units = _units(source, name)
        front = _front(cdef, cc) if units else None
        binary = name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        t0 = time.perf_counter()
        if front is not None:
            compile_flags = [f for f in flags if f != "-shared"]
            cmds = []
            for i, unit in enumerate(units):
                path = os.path.join(tmp, f"unit{i}.c")
                with open(path, "w") as f:
                    f.write(unit)
                cmds.append([cc, *compile_flags, "-c", path, "-o", path[:-2] + ".o"])
            _run_compilers(cmds, cc, tmp)
            # -Bsymbolic: the units' calls into the front (and its call of sg_run) bind
            # inside this module even where another module's symbols are global
            cmd = [cc, *flags, *(c[-1] for c in cmds), front, "-Wl,-Bsymbolic",
                   "-o", os.path.join(tmp, binary), *link_flags]
        else:
            cmds = []
            cfile = _cffi_source(name, source, cdef, tmp)
            include = ["-I", sysconfig.get_paths()["include"]]
            cmd = [cc, *flags, *include, cfile, "-o", os.path.join(tmp, binary), *link_flags]
        _run_compilers([cmd], cc, tmp)
        with open(os.path.join(tmp, binary), "rb") as f:
            data = f.read()
        meta = {"key": key, "module": name, "label": label, "binary": binary,
                "binary_size": len(data), "binary_sha256": hashlib.sha256(data).hexdigest(), "parts": parts,
                "command": cmd, "unit_commands": cmds,
                "build_seconds": round(time.perf_counter() - t0, 4),
                "created": time.time()}
        with open(os.path.join(tmp, _META), "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(tmp, entry)
    except BaseException as e:
        if not isinstance(e, CompileError) or isinstance(e, NoCompilerError):
            shutil.rmtree(tmp, ignore_errors=True)     # a failed compile keeps its source
        raise
    stats["builds"] += 1
    log = os.environ.get("SYMGRAPH_BUILD_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{key} {os.getpid()} {label}\n")


def _cffi_source(name, source, cdef, folder):
    """Write cffi's C file for module `name` (`source` and the wrappers of `cdef`) into
    `folder`; its path."""
    import cffi
    from cffi import recompiler
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(name, source)
    cfile = os.path.join(folder, name + ".c")
    # emit_c_code without its "generating ..." line; not by redirecting sys.stdout,
    # which is the whole process's: a build in another thread (scan and ifelse bodies
    # compile beside their outer function) restored the wrong stream and muted it
    recompiler.recompile(ffi, name, source, c_file=cfile, call_c_compiler=False,
                         uses_ffiplatform=False, compiler_verbose=0)
    return cfile


def _front(cdef, cc):
    """The object file of cffi's side of a module (the Python wrappers of `cdef` and the
    module's init), or None where it cannot be written. It does not depend on the
    kernels, so it is compiled once, like Python's bytecode: in ``kernels/__pycache__``
    where that can be written, else under ``config.compiledir``; a module links it beside
    its units and names its own init after it (`_units`). Parsing Python.h made cffi's
    file 0.10-0.11 s of gcc in every module, as long as the kernels of a 100-node chain."""
    import cffi
    parts = {"cdef": cdef, "compiler": _compiler_id(cc), "flags": " ".join(FRONT_FLAGS),
             "python": sys.version, "python_abi": sysconfig.get_config_var("EXT_SUFFIX") or "",
             "python_include": sysconfig.get_paths()["include"], "cffi": cffi.__version__,
             "cache_format": CACHE_FORMAT}
    digest = make_key(parts)[:16]
    path = _fronts.get(digest)
    if path is not None and os.path.exists(path):
        return path
    with _front_lock:
        return _find_or_build_front(cdef, cc, digest)


def _find_or_build_front(cdef, cc, digest):
    from .cbackend import kernels_dir
    for folder in (os.path.join(kernels_dir(), "__pycache__"), os.path.join(_root(), "front")):
        path = os.path.join(folder, f"front-{digest}.o")
        if os.path.exists(path):
            _fronts[digest] = path
            return path
        try:
            os.makedirs(folder, exist_ok=True)
            _remove_stale(folder, "front-*.tmp-*")
            tmp = tempfile.mkdtemp(prefix=f"front-{digest}.tmp-", dir=folder)
        except OSError:
            continue                # not writable (a read-only install or compiledir)
        try:
            cfile = _cffi_source(FRONT, "#include <stdint.h>\n" + cdef + "\n", cdef, tmp)
            obj = os.path.join(tmp, "front.o")
            _run_compilers([[cc, *FRONT_FLAGS, "-I", sysconfig.get_paths()["include"],
                             "-c", cfile, "-o", obj]], cc, tmp)
            os.replace(obj, path)        # whole or absent: other processes read it unlocked
        except OSError:
            continue
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _fronts[digest] = path
        return path
    return None


def _remove_stale(folder, pattern, age=600):
    """Remove the temporary folders `pattern` in `folder` older than `age` seconds (left
    by a process killed while it built)."""
    import glob
    for path in glob.glob(os.path.join(folder, pattern)):
        with contextlib.suppress(OSError):
            if time.time() - os.path.getmtime(path) > age:
                shutil.rmtree(path)


def _units(source, name):
    """The sources of the units a module is compiled from, side by side: [] for a source
    without UNIT_MARKs (cffi's file is then the whole source), else up to one unit of
    consecutive kernels per CPU of at least UNIT_MIN_CHARS each (always one), each with
    the header; the last also holds the dispatcher and the module's init, which calls the
    front's (`_front`)."""
    pieces = source.split("\n" + UNIT_MARK + "\n")
    if len(pieces) < 3:
        return []
    header, kernels, tail = pieces[0], pieces[1:-1], pieces[-1]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    total = max(1, sum(map(len, kernels)))
    n = max(1, min(cpus, len(kernels), total // UNIT_MIN_CHARS))
    # consecutive kernels, each in the n-th of the total where its middle falls
    groups, size = [[] for _ in range(n)], 0
    for k in kernels:
        groups[min(n - 1, (size + len(k) // 2) * n // total)].append(k)
        size += len(k)
    groups = [g for g in groups if g]
    init = (f"void *PyInit_{FRONT}(void);\n"
            f"__attribute__((visibility(\"default\"))) void *PyInit_{name}(void)\n"
            f"{{\n    return PyInit_{FRONT}();\n}}\n")
    groups[-1] += [tail, init]
    return [header + "\n" + "\n".join(g) for g in groups]


def _run_compilers(cmds, cc, tmp):
    """Run the compiler commands side by side; CompileError with the first failure's
    output (the sources stay in `tmp`)."""
    procs = []
    try:
        for c in cmds:
            procs.append(subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True))
    except OSError as e:
        for p in procs:
            p.kill()
            p.communicate()
        raise NoCompilerError(f"cannot run the C compiler {cc}: {e}") from e
    outs = [p.communicate() for p in procs]
    for c, p, (_, err) in zip(cmds, procs, outs):
        if p.returncode != 0:
            raise CompileError(f"C compilation failed ({' '.join(c)}):\n"
                               f"{err[-4000:]}\n  source kept in {tmp}")


# -- inspection ----------------------------------------------------------------------------

def entries():
    """meta.json of every published entry, newest first."""
    root = _root()
    out = []
    if not os.path.isdir(root):
        return out
    for shard in os.listdir(root):
        sdir = os.path.join(root, shard)
        if len(shard) != 2 or not os.path.isdir(sdir):
            continue
        for name in os.listdir(sdir):
            path = os.path.join(sdir, name)
            if len(name) == 64 and os.path.isdir(path):
                meta = _read_meta(path)
                if meta is not None:
                    meta["path"] = path
                    out.append(meta)
    out.sort(key=lambda m: -m.get("created", 0))
    return out


def clear():
    """Delete every entry (and stale temporary folders) under config.compiledir."""
    root = _root()
    n = 0
    if os.path.isdir(root):
        for shard in os.listdir(root):
            sdir = os.path.join(root, shard)
            if len(shard) == 2 and os.path.isdir(sdir):
                n += sum(1 for m in os.listdir(sdir) if len(m) == 64)
                shutil.rmtree(sdir, ignore_errors=True)
    shutil.rmtree(os.path.join(root, GRAPHS), ignore_errors=True)
    shutil.rmtree(os.path.join(root, "front"), ignore_errors=True)
    _loaded.clear()
    _fronts.clear()
    return n


def explain(fn):
    """Why compiled function `fn` hit or missed: its key, entry and, for a key not on disk,
    the parts that differ from the closest entry."""
    prog = getattr(fn, "program", fn)
    info = getattr(prog, "cache_info", None)
    if info is None:
        return "this function runs no C code (no cache entry)"
    key, parts = info["key"], info["parts"]
    entry = os.path.join(_root(), key[:2], key)
    lines = [f"key {key}", f"entry {entry}"]
    if _read_meta(entry) is not None:
        lines.append("on disk: yes (a fresh process loads it without compiling)")
    else:
        lines.append("on disk: no (a fresh process compiles it)")
        best, diff = None, None
        for meta in entries():
            d = sorted(k for k in parts if meta.get("parts", {}).get(k) != parts[k])
            if diff is None or len(d) < len(diff):
                best, diff = meta, d
        if best is not None:
            lines.append(f"closest entry {best['key']} differs in: {', '.join(diff)}")
    lines += [f"  {k}: {v}" for k, v in sorted(parts.items())]
    return "\n".join(lines)


def main(argv=None):
    """``python -m symgraph.cache {list,clear,info}``."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m symgraph.cache",
                                description="symgraph's compile cache")
    p.add_argument("command", choices=["list", "clear", "info"])
    args = p.parse_args(argv)
    if args.command == "list":
        for m in entries():
            print(f"{m['key'][:16]}  {m['binary_size']:>8} B  {m.get('build_seconds', 0):6.2f} s"
                  f"  {time.strftime('%Y-%m-%d %H:%M', time.localtime(m.get('created', 0)))}"
                  f"  {m['path']}")
    elif args.command == "clear":
        print(f"removed {clear()} entries from {_root()}")
    else:
        es = entries()
        size = sum(m["binary_size"] for m in es)
        print(f"compiledir: {_root()}  (config.compiledir / SYMGRAPH_COMPILEDIR)")
        print(f"entries: {len(es)}, {size / 1e6:.2f} MB of binaries")
        with contextlib.suppress(NoCompilerError):
            print(f"compiler: {compiler()}")
    return 0
