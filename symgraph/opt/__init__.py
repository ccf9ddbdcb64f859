"""Graph rewriting: FunctionGraph, the rule registry and its phases, and the rules.

``rewrite_graph(fgraph, mode)`` is what ``function()`` calls; the phases are listed once in
``phases.PHASES`` and the rules live in ``opt/rules/<family>.py``. New op families register
their rules with ``local_rule``, ``rule`` (patterns) or ``global_rule`` from
``symgraph.opt.engine`` and are imported by ``opt/rules/__init__.py`` (or, for a package
that must not import opt early, at its own import, as ``scan/rewrites.py`` does).
"""
from .engine import (REGISTRY, RewriteWarning, global_rule, local_rule, rule,
                     rules_for_mode)
from .engine import rewrite_graph as _rewrite_graph
from .fgraph import Change, FunctionGraph, ReplacementTypeError
from .phases import MODES, PHASES

__all__ = ["rewrite_graph", "FunctionGraph", "Change", "ReplacementTypeError", "REGISTRY",
           "RewriteWarning", "local_rule", "rule", "global_rule", "rules_for_mode",
           "PHASES", "MODES"]


def rewrite_graph(fgraph, mode):
    """Apply the rewrite phases that `mode` selects to `fgraph`, in place."""
    return _rewrite_graph(fgraph, mode)
