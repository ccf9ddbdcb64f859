"""Global flags: ``symgraph.config``.

Flags come from their defaults, then from the environment variable
``SYMGRAPH_FLAGS="floatX=float32,device=cpu"``, then from assignments in code.
``change_flags`` sets some for the length of a ``with`` block (or a decorated function).
"""
from __future__ import annotations

import contextlib
import os

__all__ = ["config", "change_flags"]


def _user_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symgraph")


def _nonneg_int(value) -> int:
    v = int(value)
    if v < 0:
        raise ValueError(f"expected a count >= 0, got {value!r}")
    return v


def _bool(value) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    return bool(value)


class _Flag:
    def __init__(self, default, doc, choices=None, convert=str):
        self.default, self.doc, self.choices, self.convert = default, doc, choices, convert

    def check(self, name, value):
        try:
            value = self.convert(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"config.{name}: {e}") from None
        if self.choices is not None and value not in self.choices:
            raise ValueError(
                f"config.{name} must be one of {sorted(self.choices)}, got {value!r}")
        return value


_FLAGS = {
    "floatX": _Flag("float64", "dtype of T.scalar/vector/matrix and of Python floats",
                    {"float64", "float32"}),
    "device": _Flag("cpu", "where shared variables live and functions run", {"cpu", "cuda"}),
    "mode": _Flag("FAST_RUN", "default compilation mode",
                  {"FAST_RUN", "FAST_COMPILE", "py", "DebugMode"}),
    "compiledir": _Flag(os.environ.get("SYMGRAPH_COMPILEDIR") or _user_cache_dir(),
                        "on-disk cache of generated and compiled kernels"),
    "exception_verbosity": _Flag("low", "'high' adds the graph around a failing node",
                                 {"low", "high"}),
    "quiet": _Flag(False, "no progress lines on stderr", convert=_bool),
    "openmp": _Flag(True, "use OpenMP threads for large loops", convert=_bool),
    "alloc_cache_mb": _Flag(256, "MiB of freed large (>= 32 MiB) outputs of compiled "
                            "functions kept to be reused by the next calls (0: none); the "
                            "latest compile's value holds", convert=_nonneg_int),
    "on_opt_error": _Flag("warn", "what a failing rewrite does", {"warn", "raise", "ignore"}),
}


class Config:
    """Attribute access to the flags; assignment is checked against each flag's choices."""

    def __init__(self):
        object.__setattr__(self, "_values", {k: f.default for k, f in _FLAGS.items()})

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"symgraph.config has no flag {name!r}; "
                                 f"flags are {sorted(_FLAGS)}") from None

    def __setattr__(self, name, value):
        if name not in _FLAGS:
            raise AttributeError(f"symgraph.config has no flag {name!r}; "
                                 f"flags are {sorted(_FLAGS)}")
        self._values[name] = _FLAGS[name].check(name, value)

    def __dir__(self):
        return sorted(_FLAGS)

    def __repr__(self):
        return "\n".join(f"{k} = {self._values[k]!r}  # {_FLAGS[k].doc}" for k in sorted(_FLAGS))

    def change_flags(self, **flags):
        """``with symgraph.config.change_flags(floatX='float32'): ...`` (as Theano's and
        PyTensor's config objects): the module-level `change_flags`."""
        return change_flags(**flags)

    def apply_flag_string(self, flags: str, source: str = "SYMGRAPH_FLAGS"):
        for item in filter(None, (s.strip() for s in flags.split(","))):
            if "=" not in item:
                raise ValueError(f"{source}: expected name=value, got {item!r}")
            key, value = (s.strip() for s in item.split("=", 1))
            try:
                setattr(self, key, value)
            except (AttributeError, ValueError) as e:
                raise ValueError(f"{source}: {e}") from None


config = Config()
config.apply_flag_string(os.environ.get("SYMGRAPH_FLAGS", ""))


class change_flags(contextlib.ContextDecorator):
    """Set flags temporarily: ``with change_flags(floatX='float32'): ...``."""

    def __init__(self, **flags):
        for k, v in flags.items():
            if k not in _FLAGS:
                raise AttributeError(f"symgraph.config has no flag {k!r}")
            _FLAGS[k].check(k, v)
        self.flags = flags
        self._saved = []

    def __enter__(self):
        self._saved.append({k: config._values[k] for k in self.flags})
        for k, v in self.flags.items():
            setattr(config, k, v)
        return config

    def __exit__(self, *exc):
        config._values.update(self._saved.pop())
        return False
