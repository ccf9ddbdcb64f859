"""Error types, and where in the user's code a node was made.

Every Apply records ``trace``: the user's stack frames (outermost last) that were live when it
was built, skipping frames inside the symgraph package. Errors print the innermost user line
first and then the chain of callers, so a node made inside a helper function still points at
the model code that called the helper.
"""
from __future__ import annotations

import os
import sys
import sysconfig

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_MAX_FRAMES = 4
# the standard library and installed packages (pytest, IPython, runpy...): after the innermost
# user frame, frames there are not the user's code and are left out of the chain
_LIB_DIRS = tuple(sorted({
    os.path.join(fix(p), "")
    for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib",
                                                     "platlib")) if p
    for fix in (os.path.abspath, os.path.realpath)}))


class SymgraphError(Exception):
    """Base of symgraph's own errors."""


class ShapeError(SymgraphError, ValueError):
    """Static or run-time shapes that do not fit an op."""


class DtypeError(SymgraphError, TypeError):
    """A dtype an op cannot take."""


class GradientError(SymgraphError, TypeError):
    """An op that has no gradient was differentiated, or a gradient request is malformed."""


class DisconnectedInputError(GradientError, ValueError):
    """The cost does not depend on a variable its gradient was asked for."""


class CompileError(SymgraphError, RuntimeError):
    """Generated code failed to build."""


class NanGuardError(SymgraphError, FloatingPointError):
    """A node produced NaN or Inf under ``Mode(nan_guard=True)``."""


def user_trace(limit: int = _MAX_FRAMES) -> tuple:
    """The innermost ``limit`` stack frames outside symgraph, as (file, line, function)."""
    out = []
    f = sys._getframe(1)
    while f is not None and len(out) < limit:
        fn = f.f_code.co_filename
        if not fn.startswith(_PKG_DIR) and not fn.startswith("<frozen") and \
                not (out and fn.startswith(_LIB_DIRS)):
            out.append((fn, f.f_lineno, f.f_code.co_name))
        f = f.f_back
    return tuple(out)


def format_trace(trace) -> str:
    """'made at model.py:12 (in build_layer), called from train.py:40 (in main)'."""
    if not trace:
        return "made at an unknown place"
    parts = []
    for i, (fn, line, func) in enumerate(trace):
        where = f"{_short(fn)}:{line}" + (f" (in {func})" if func != "<module>" else "")
        parts.append(("made at " if i == 0 else "called from ") + where)
    return ", ".join(parts)


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


def describe_inputs(inputs) -> str:
    """'x: TensorType(float64, (None, 3)), <const 2.0>: ...' for symbolic inputs."""
    return ", ".join(f"{_label(v)}: {getattr(v, 'type', type(v).__name__)}" for v in inputs)


def describe_values(values) -> str:
    """'float64 (3, 4), int64 ()' for run-time values."""
    out = []
    for v in values:
        dt, sh = getattr(v, "dtype", None), getattr(v, "shape", None)
        out.append(f"{dt} {tuple(sh)}" if dt is not None and sh is not None else type(v).__name__)
    return ", ".join(out)


def _label(v) -> str:
    name = getattr(v, "name", None)
    if name:
        return name
    if hasattr(v, "data"):
        return f"<constant {_abbrev(v.data)}>"
    return "<unnamed>"


def _abbrev(data) -> str:
    text = repr(data)
    return text if len(text) <= 40 else text[:37] + "..."


def op_build_error(op, inputs, message: str, cls=TypeError, trace=None):
    """An exception for a node that cannot be built: op, input types and the user's line."""
    trace = trace if trace is not None else user_trace()
    err_cls = _mixed(cls)
    return err_cls(f"{op}: {message}\n  inputs: {describe_inputs(inputs)}\n  {format_trace(trace)}")


def _mixed(cls):
    """An exception class that is both `cls` (what callers catch) and a SymgraphError."""
    if issubclass(cls, SymgraphError):
        return cls
    if cls is TypeError:
        return DtypeError
    if cls is ValueError:
        return ShapeError
    return cls
