"""Compilation modes: which rewrites run and which executor runs the result."""
from __future__ import annotations

from ..config import config

__all__ = ["Mode", "get_mode", "MODE_NAMES"]

MODE_NAMES = ("FAST_RUN", "FAST_COMPILE", "py", "DebugMode")


class _Names(tuple):
    """The rewrite names a mode includes or excludes. A tuple, and, as in Theano, callable:
    ``mode.excluding('fusion')`` is a new Mode that also excludes 'fusion'."""

    def __new__(cls, names, mode=None, field=None):
        self = super().__new__(cls, names)
        self._mode, self._field = mode, field
        return self

    def __call__(self, *names):
        mode = self._mode
        return mode.clone(**{self._field: tuple(self) + names})

    def __reduce__(self):
        return (tuple, (tuple(self),))


class Mode:
    """How ``function()`` compiles.

    ``Mode('FAST_RUN')`` (the default: every rewrite phase), ``'FAST_COMPILE'`` (merge,
    stabilize and fusion: numerical stability never depends on the mode) or ``'py'`` (no
    rewrites: the graph as built, on the numpy reference executor).

    >>> f = symgraph.function([x], T.exp(x) * 2, mode=Mode(excluding=['elemwise_fusion']))

    ``excluding`` turns rewrites off by name: a rule's name (``'log1p_of_add_one'``), a tag
    (``'fusion'``, ``'inplace'``, ``'constant_folding'``) or a phase (``'canonicalize'``);
    ``including`` turns on optional rules or adds a phase. ``optimizer=None`` runs no
    rewrites (Theano's spelling); ``optimizer='fast_compile'`` picks that set of phases.
    ``profile`` records time per node; ``nan_guard`` stops at the first node that produces
    NaN or Inf.
    """

    def __init__(self, name=None, including=(), excluding=(), profile=False,
                 nan_guard=False, debug=False, linker=None, optimizer="default"):
        name = name or config.mode
        if name not in MODE_NAMES:
            raise ValueError(f"unknown mode {name!r}; modes are {MODE_NAMES}")
        self.name = "DebugMode" if debug else name
        self.including = tuple(_names(including, "including"))
        self.excluding = tuple(_names(excluding, "excluding"))
        self.profile = profile
        self.nan_guard = nan_guard
        self.linker = linker
        self.optimizer = optimizer

    # `including` / `excluding` read as tuples and, called, give a new Mode
    including = property(lambda self: _Names(self._including, self, "including"),
                         lambda self, v: setattr(self, "_including", tuple(v)))
    excluding = property(lambda self: _Names(self._excluding, self, "excluding"),
                         lambda self, v: setattr(self, "_excluding", tuple(v)))

    def clone(self, **changes) -> "Mode":
        """A copy with some settings changed: ``mode.clone(excluding=('fusion',))``."""
        kw = dict(name=self.name, including=self._including, excluding=self._excluding,
                  profile=self.profile, nan_guard=self.nan_guard, linker=self.linker,
                  optimizer=self.optimizer)
        kw.update(changes)
        return Mode(**kw)

    def excluding_(self, *names) -> "Mode":
        return self.clone(excluding=self._excluding + names)

    def including_(self, *names) -> "Mode":
        return self.clone(including=self._including + names)

    def rewrite_phases(self) -> dict:
        """{phase: [rule names]} this mode runs, in order (what ``excluding`` left)."""
        from ..opt.engine import rules_for_mode
        return {p: [r.name for r in rules] for p, rules in rules_for_mode(self).items()}

    def __repr__(self):
        extra = "" if self.optimizer == "default" else f", optimizer={self.optimizer!r}"
        return (f"Mode({self.name!r}, including={self._including}, "
                f"excluding={self._excluding}{extra})")

    def __eq__(self, other):
        return isinstance(other, Mode) and repr(self) == repr(other) and \
            (self.profile, self.nan_guard, self.linker) == \
            (other.profile, other.nan_guard, other.linker)

    def __hash__(self):
        return hash(repr(self))


def _names(names, what):
    if isinstance(names, str):
        names = (names,)
    out = []
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"Mode({what}=...): rewrite names are strings, got {n!r}")
        out.append(n)
    return out


def get_mode(mode) -> Mode:
    if mode is None:
        return Mode(config.mode)
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        return Mode(mode)
    raise TypeError(f"mode must be a Mode or one of {MODE_NAMES}, got {mode!r}")
