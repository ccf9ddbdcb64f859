"""FunctionGraph: the nodes between a function's inputs and outputs, owned and editable."""
from __future__ import annotations

from ..errors import SymgraphError
from ..graph import Apply, Constant, Variable, io_toposort

__all__ = ["FunctionGraph", "ReplacementTypeError"]


class ReplacementTypeError(SymgraphError, TypeError):
    """A rewrite tried to replace a variable by one of another type."""


class FunctionGraph:
    """A private copy of the graph from `inputs` to `outputs`.

    ``memo`` maps every original variable to its copy, so callers can find the copies of
    the variables they passed. ``clients[v]`` lists the ``(node, input index)`` pairs that
    read `v`; an output is read by the pseudo-node ``"output"``.
    """

    def __init__(self, inputs, outputs, clone=True):
        inputs, outputs = list(inputs), list(outputs)
        self.memo = {}
        if clone:
            inputs, outputs = self._clone(inputs, outputs)
        self.inputs = inputs
        self.outputs = outputs
        self.clients = {}
        self.apply_nodes = set()
        self.history = []
        for v in inputs:
            self.clients.setdefault(v, [])
        for node in io_toposort(inputs, outputs):
            self._import(node)
        for i, o in enumerate(outputs):
            self.clients.setdefault(o, []).append(("output", i))

    def _clone(self, inputs, outputs):
        memo = self.memo
        for v in inputs:
            c = v.clone() if isinstance(v, Constant) else v.type.make_variable(v.name)
            c.tag = dict(v.tag)
            memo[v] = c
        for node in io_toposort(inputs, outputs):
            for i in node.inputs:
                if i not in memo:
                    if i.owner is None and not isinstance(i, Constant):
                        raise SymgraphError(
                            f"{i!r} ({i.type}) is needed to compute the outputs but is not "
                            f"among the inputs; pass it in `inputs` or `givens`")
                    memo[i] = i.clone()
            new = Apply(node.op, [memo[i] for i in node.inputs],
                        [o.clone() for o in node.outputs], trace=node.trace)
            new.tag = dict(node.tag)
            for o, n in zip(node.outputs, new.outputs):
                n.tag = dict(o.tag)
                memo[o] = n
        outs = []
        for o in outputs:
            if o not in memo:
                if o.owner is None and not isinstance(o, Constant):
                    raise SymgraphError(f"output {o!r} is not computed from the inputs")
                memo[o] = o.clone()
            outs.append(memo[o])
        return [memo[v] for v in inputs], outs

    def _import(self, node):
        if node in self.apply_nodes:
            return
        self.apply_nodes.add(node)
        for o in node.outputs:
            self.clients.setdefault(o, [])
        for j, i in enumerate(node.inputs):
            self.clients.setdefault(i, []).append((node, j))

    def toposort(self) -> list:
        return io_toposort(self.inputs, self.outputs)

    def variables(self) -> set:
        out = set(self.inputs)
        for node in self.apply_nodes:
            out.update(node.inputs)
            out.update(node.outputs)
        return out

    def replace(self, old: Variable, new: Variable, reason: str = ""):
        """Make every reader of `old` read `new` instead (types must agree)."""
        if old is new:
            return
        if old.type != new.type:
            if not (hasattr(old.type, "is_super") and old.type.is_super(new.type)):
                raise ReplacementTypeError(
                    f"rewrite {reason or '?'}: cannot replace {old!r} ({old.type}) by "
                    f"{new!r} ({new.type})")
        for node in io_toposort(self.inputs + [v for v in self.clients if v.owner is None],
                                [new]):
            self._import(node)
        self.clients.setdefault(new, [])
        for client, idx in list(self.clients.get(old, [])):
            if client == "output":
                self.outputs[idx] = new
            else:
                client.inputs[idx] = new
            self.clients[new].append((client, idx))
        self.clients[old] = []
        self.history.append((reason, old, new))
        self._prune()

    def _prune(self):
        live = set(self.toposort())
        for node in list(self.apply_nodes - live):
            self.apply_nodes.discard(node)
            for j, i in enumerate(node.inputs):
                lst = self.clients.get(i)
                if lst:
                    self.clients[i] = [(n, k) for n, k in lst if n is not node]
