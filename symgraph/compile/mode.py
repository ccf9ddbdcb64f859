"""Compilation modes: which rewrites run and which executor runs the result."""
from __future__ import annotations

from ..config import config

__all__ = ["Mode", "get_mode", "MODE_NAMES"]

MODE_NAMES = ("FAST_RUN", "FAST_COMPILE", "py", "DebugMode")


class Mode:
    """How ``function()`` compiles.

    ``Mode('FAST_RUN')`` (the default), ``'FAST_COMPILE'`` or ``'py'``; ``excluding`` turns
    rewrites off by name, ``including`` turns optional ones on; ``profile`` records time per
    node; ``nan_guard`` stops at the first node that produces NaN or Inf.

    Until the rewrite and C backend issues land, every mode runs the numpy reference
    executor without rewrites; the names are accepted so that user code keeps working.
    """

    def __init__(self, name=None, including=(), excluding=(), profile=False,
                 nan_guard=False, debug=False, linker=None, optimizer=None):
        name = name or config.mode
        if name not in MODE_NAMES:
            raise ValueError(f"unknown mode {name!r}; modes are {MODE_NAMES}")
        self.name = "DebugMode" if debug else name
        self.including = tuple(including)
        self.excluding = tuple(excluding)
        self.profile = profile
        self.nan_guard = nan_guard
        self.linker = linker
        self.optimizer = optimizer

    def excluding_(self, *names):
        return Mode(self.name, self.including, self.excluding + names, self.profile,
                    self.nan_guard)

    def __repr__(self):
        return (f"Mode({self.name!r}, including={self.including}, "
                f"excluding={self.excluding})")

    def __eq__(self, other):
        return isinstance(other, Mode) and repr(self) == repr(other) and \
            (self.profile, self.nan_guard) == (other.profile, other.nan_guard)

    def __hash__(self):
        return hash(repr(self))


def get_mode(mode) -> Mode:
    if mode is None:
        return Mode(config.mode)
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        return Mode(mode)
    raise TypeError(f"mode must be a Mode or one of {MODE_NAMES}, got {mode!r}")
