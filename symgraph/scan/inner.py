"""Inner graphs: a subgraph lifted out of the outer graph and held by an op (ifelse, scan).

The op's node reads the subgraph's free variables as ordinary inputs; inside the op they are
stand-ins (``placeholders``). The inner graph is compiled with ``symgraph.function`` in the
outer function's mode (the executor hands the mode to ``prepare_perform``), so rewrites and
the backend apply inside the loop or branch, while the outer rewrites never see, merge or
hoist the nodes one branch alone needs.
"""
from __future__ import annotations

import threading

from ..graph import Constant, Variable, graph_inputs, io_toposort

__all__ = ["InnerGraph", "lift", "mode_key", "clone_from", "placeholder"]


def mode_key(mode):
    """A hashable stand-in for a mode (None, a name or a Mode)."""
    if mode is None or isinstance(mode, str):
        return mode
    return repr(mode), getattr(mode, "nan_guard", False), getattr(mode, "linker", None)


class InnerGraph:
    """`outputs` computed from the placeholder `inputs`; compiled once per mode."""

    def __init__(self, inputs, outputs):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._fns = {}
        self._lock = threading.Lock()

    def function(self, mode=None):
        """The compiled inner function (a ``symgraph.function`` taking every input)."""
        key = mode_key(mode)
        fn = self._fns.get(key)
        if fn is None:
            from ..compile.function import function
            with self._lock:
                fn = self._fns.get(key)
                if fn is None:
                    fn = function(self.inputs, self.outputs, mode=mode,
                                  on_unused_input="ignore", trust_input=True)
                    self._fns[key] = fn
        return fn

    def __getstate__(self):
        return {"inputs": self.inputs, "outputs": self.outputs}

    def __setstate__(self, state):
        self.__init__(state["inputs"], state["outputs"])


def lift(outputs, fixed=(), boundary=()):
    """(free variables, InnerGraph) of `outputs`: every non-constant variable the outputs
    depend on, stopping at the `boundary` variables, becomes a placeholder input (the
    `fixed` ones first, in their order)."""
    outputs = list(outputs)
    fixed = list(fixed)
    stop = set(fixed) | set(boundary)
    free = [v for v in graph_inputs(outputs, stop)
            if not isinstance(v, Constant) and v not in fixed]
    outer = fixed + free
    holders = [placeholder(v) for v in outer]
    inner_outs = clone_from(outputs, dict(zip(outer, holders)))
    return outer, InnerGraph(holders, inner_outs)


def placeholder(v: Variable) -> Variable:
    """A fresh input of v's type (a plain tensor variable, even for a shared one)."""
    from ..tensor.var import TensorVariable
    p = TensorVariable(v.type, name=v.name)
    return p


def clone_from(outputs, memo: dict) -> list:
    """Copies of `outputs` computed from ``memo``'s values instead of its keys: every node
    between the keys and the outputs is cloned, and nothing above the keys is visited
    (unlike ``clone_replace``, a replaced variable with an owner is a boundary)."""
    memo = dict(memo)
    for node in io_toposort(list(memo), outputs):
        new = node.clone_with_new_inputs([memo.get(i, i) for i in node.inputs], strict=False)
        memo.update(zip(node.outputs, new.outputs))
    return [memo.get(o, o) for o in outputs]
