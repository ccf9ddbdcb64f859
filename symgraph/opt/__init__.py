"""Graph rewriting: FunctionGraph, the rule registry and its phases, and the rules.

``rewrite_graph(fgraph, mode)`` is what ``function()`` calls; the phases are listed once in
``phases.PHASES`` and the rules live in ``opt/rules/<family>.py``. New op families register
their rules with ``local_rule``, ``rule`` (patterns) or ``global_rule`` from
``symgraph.opt.engine`` and are imported by ``opt/rules/__init__.py``.
"""
from .engine import (REGISTRY, RewriteWarning, global_rule, local_rule, rule,  # noqa: F401
                     rules_for_mode)
from .engine import rewrite_graph as _rewrite_graph
from .fgraph import Change, FunctionGraph, ReplacementTypeError  # noqa: F401
from .phases import MODES, PHASES  # noqa: F401


def rewrite_graph(fgraph, mode):
    """Apply the rewrite phases that `mode` selects to `fgraph`, in place."""
    return _rewrite_graph(fgraph, mode)
