"""FunctionGraph: the nodes between a function's inputs and outputs, owned and editable.

Edits are incremental: ``replace`` imports only the nodes the new variable brings and prunes
only the nodes that lost their last reader, so a rewrite costs the size of what it changes,
not the size of the graph. Listeners (the rewrite engine) hear about every imported node,
every changed input and every pruned node.
"""
from __future__ import annotations

from typing import NamedTuple

from ..errors import SymgraphError
from ..graph import Apply, Constant, Variable, io_toposort

__all__ = ["FunctionGraph", "ReplacementTypeError", "Change", "Clients"]


class ReplacementTypeError(SymgraphError, TypeError):
    """A rewrite tried to replace a variable by one of another type."""


class Clients(dict):
    """The readers of one variable: ``(node, input index)`` pairs (``("output", k)`` for the
    k-th output) in the order they started reading. Iterates like a list of pairs; a dict
    underneath, so dropping a reader is O(1) even for a constant read by thousands."""

    __slots__ = ()

    def __init__(self, pairs=()):
        super().__init__((p, None) for p in pairs)

    def append(self, pair):
        self[pair] = None

    def remove(self, pair):
        try:
            del self[pair]
        except KeyError:
            raise ValueError(f"{pair!r} does not read this variable") from None

    def __repr__(self):
        return repr(list(self))


class Change(NamedTuple):
    """One entry of ``FunctionGraph.history``: which rewrite replaced what by what."""

    reason: str
    old: Variable
    new: Variable


class FunctionGraph:
    """A private copy of the graph from `inputs` to `outputs`.

    ``memo`` maps every original variable to its copy, so callers can find the copies of
    the variables they passed. ``clients[v]`` lists the ``(node, input index)`` pairs that
    read `v`; an output is read by the pseudo-node ``"output"``. ``history`` lists the
    replacements made, as ``Change(reason, old, new)``.
    """

    def __init__(self, inputs, outputs, clone=True):
        inputs, outputs = list(inputs), list(outputs)
        self.memo = {}
        if clone:
            inputs, outputs = self._clone(inputs, outputs)
        self.inputs = inputs
        self.outputs = outputs
        self.history = []
        self._listeners = []
        self._input_set = set(inputs)
        self._index(outputs)

    def _index(self, outputs):
        self.outputs = outputs
        self.clients = {}
        self.apply_nodes = set()
        for v in self.inputs:
            self.clients.setdefault(v, Clients())
        for node in io_toposort(self.inputs, outputs):
            self._import(node)
        for i, o in enumerate(outputs):
            self.clients.setdefault(o, Clients()).append(("output", i))

    def restore(self, outputs, history_loader=None):
        """Make this graph the one from its inputs to `outputs`: a rewritten copy of it
        that the graph cache loaded (compile/graph_cache.py), built on these very input
        variables. `history_loader()` gives its ``history`` the first time it is read."""
        self._index(list(outputs))
        self.history = []
        self._history_loader = history_loader

    # ``history`` is read rarely (tests, debugging) and a cached graph's is as large as
    # every graph the rewrites went through, so a restored graph loads it on first use
    _history_loader = None

    @property
    def history(self):
        loader = self._history_loader
        if loader is not None:
            self._history_loader = None
            self._history = loader()
        return self._history

    @history.setter
    def history(self, value):
        self._history_loader = None
        self._history = value

    # -- building ------------------------------------------------------------------------

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

    def clone(self) -> "FunctionGraph":
        """An independent copy (its ``memo`` maps this graph's variables to the copy's);
        the extra attributes function() sets (``n_outputs``, ``update_targets``) follow."""
        fg = FunctionGraph(self.inputs, self.outputs, clone=True)
        for attr in ("n_outputs",):
            if hasattr(self, attr):
                setattr(fg, attr, getattr(self, attr))
        if hasattr(self, "update_targets"):
            fg.update_targets = list(self.update_targets)
        fg.history = list(self.history)
        return fg

    # -- listeners -------------------------------------------------------------------------

    def attach(self, listener):
        """Tell `listener` about changes: it may define ``on_import(fgraph, node)``,
        ``on_change_input(fgraph, node, index, old, new)`` and ``on_prune(fgraph, node)``."""
        self._listeners.append(listener)

    def detach(self, listener):
        self._listeners.remove(listener)

    def _notify(self, event, *args):
        for lst in self._listeners:
            fn = getattr(lst, event, None)
            if fn is not None:
                fn(self, *args)

    # -- queries ---------------------------------------------------------------------------

    def toposort(self) -> list:
        return io_toposort(self.inputs, self.outputs)

    def variables(self) -> set:
        out = set(self.inputs)
        for node in self.apply_nodes:
            out.update(node.inputs)
            out.update(node.outputs)
        return out

    def is_output(self, var) -> bool:
        # the "output" pseudo-client marks outputs: O(readers of var), not O(outputs)
        return any(c == "output" for c, _ in self.clients.get(var, ()))

    def client_nodes(self, var) -> list:
        """The distinct nodes that read `var` (without the "output" pseudo-node)."""
        seen, out = set(), []
        for c, _ in self.clients.get(var, ()):
            if c != "output" and c not in seen:
                seen.add(c)
                out.append(c)
        return out

    def new_nodes(self, var) -> list:
        """The nodes `var` depends on that are not in the graph yet (what replacing a
        variable by `var` would import), inputs first."""
        order, done = [], set()
        stack = [(var, False)]
        while stack:
            v, expanded = stack.pop()
            node = v.owner
            if node is None or node in self.apply_nodes or node in done:
                continue
            if expanded:
                done.add(node)
                order.append(node)
                continue
            stack.append((v, True))
            for i in reversed(node.inputs):
                if i.owner is not None and i.owner not in self.apply_nodes \
                        and i.owner not in done:
                    stack.append((i, False))
        return order

    # -- edits -----------------------------------------------------------------------------

    def _import(self, node):
        if node in self.apply_nodes:
            return
        self.apply_nodes.add(node)
        for o in node.outputs:
            self.clients.setdefault(o, Clients())
        for j, i in enumerate(node.inputs):
            self.clients.setdefault(i, Clients()).append((node, j))
        self._notify("on_import", node)

    def import_var(self, var, reason: str = "", nodes=None):
        """Add the nodes computing `var` that the graph does not hold yet."""
        for node in self.new_nodes(var) if nodes is None else nodes:
            for i in node.inputs:
                if i.owner is None and i not in self.clients and not isinstance(i, Constant):
                    raise SymgraphError(
                        f"rewrite {reason or '?'}: {node.op} reads {i!r} ({i.type}), which "
                        f"is not an input of the function graph")
            self._import(node)
        self.clients.setdefault(var, Clients())

    def change_input(self, node, index: int, new: Variable, reason: str = ""):
        """Make `node` (or the output slot `index` when node is "output") read `new`."""
        old = self.outputs[index] if node == "output" else node.inputs[index]
        if old is new:
            return
        self._check_types(old, new, reason)
        self.import_var(new, reason)
        if node == "output":
            self.outputs[index] = new
        else:
            node.inputs[index] = new
        self.clients[new].append((node, index))
        self._remove_client(old, node, index)
        if node != "output":
            self._notify("on_change_input", node, index, old, new)

    def replace(self, old: Variable, new: Variable, reason: str = ""):
        """Make every reader of `old` read `new` instead (types must agree; `new` may have a
        more specific static shape)."""
        if old is new:
            return
        self._check_types(old, new, reason)
        nodes = self.new_nodes(new)
        if any(old is i for node in nodes for i in node.inputs):
            raise SymgraphError(f"rewrite {reason or '?'}: the replacement of {old!r} "
                                f"depends on it")
        self.import_var(new, reason, nodes)
        readers = list(self.clients.get(old, []))
        for client, idx in readers:
            if client == "output":
                self.outputs[idx] = new
            else:
                client.inputs[idx] = new
            self.clients[new].append((client, idx))
        self.clients[old] = Clients()
        self.history.append(Change(reason, old, new))
        for client, idx in readers:
            if client != "output":
                self._notify("on_change_input", client, idx, old, new)
        self._prune_var(old)

    def replace_all(self, pairs, reason: str = ""):
        for old, new in pairs:
            self.replace(old, new, reason)

    @staticmethod
    def _check_types(old, new, reason):
        if old.type != new.type:
            if not (hasattr(old.type, "is_super") and old.type.is_super(new.type)):
                raise ReplacementTypeError(
                    f"rewrite {reason or '?'}: cannot replace {old!r} ({old.type}) by "
                    f"{new!r} ({new.type})")

    def _remove_client(self, var, node, index):
        lst = self.clients.get(var)
        if lst:
            lst.pop((node, index), None)
        self._prune_var(var)

    def _prune_var(self, var):
        """Drop the node computing `var` (and what only it needed) once nobody reads it."""
        stack = [var]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.apply_nodes:
                continue
            if any(self.clients.get(o) for o in node.outputs):
                continue
            self.apply_nodes.discard(node)
            for o in node.outputs:
                self.clients.pop(o, None)
            for j, i in enumerate(node.inputs):
                lst = self.clients.get(i)
                if lst is not None:
                    lst.pop((node, j), None)
                    self._notify("on_lose_client", i)
                    if not lst:
                        stack.append(i)
            self._notify("on_prune", node)

    # -- checks ----------------------------------------------------------------------------

    def check_integrity(self):
        """Raise if the client lists, the node set and the graph disagree (for tests)."""
        nodes = set(self.toposort())
        if nodes != self.apply_nodes:
            raise SymgraphError(f"apply_nodes out of date: {len(nodes ^ self.apply_nodes)} "
                                f"nodes differ")
        expect = {}
        for node in nodes:
            for j, i in enumerate(node.inputs):
                expect.setdefault(i, []).append((node, j))
        for k, o in enumerate(self.outputs):
            expect.setdefault(o, []).append(("output", k))
        for v, lst in self.clients.items():
            got = sorted(((id(n), j) for n, j in lst))
            want = sorted(((id(n), j) for n, j in expect.get(v, [])))
            if got != want:
                raise SymgraphError(f"clients of {v!r} out of date: {lst} vs "
                                    f"{expect.get(v, [])}")
        for v in expect:
            if v not in self.clients:
                raise SymgraphError(f"{v!r} is read but has no client list")
