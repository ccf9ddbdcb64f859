"""The graph: Type, Variable, Constant, Apply, Op, and traversals.

Nothing here recurses over the graph: traversals keep explicit stacks, so a chain of
10,000 nodes is handled with Python's default recursion limit.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from .errors import GradientError, format_trace, user_trace

__all__ = ["Type", "Variable", "Constant", "Apply", "Op", "toposort", "ancestors",
           "graph_inputs", "clone_replace", "io_toposort", "variables_between"]

_ids = itertools.count()


class Type:
    """The kind of value a Variable stands for. Subclasses define equality and `filter`."""

    def filter(self, value, strict: bool = False, allow_downcast: bool | None = None):
        raise NotImplementedError

    def make_variable(self, name=None):
        return Variable(self, name=name)

    def __call__(self, name=None):
        return self.make_variable(name)


class Variable:
    """A value in the graph: a function input, a constant, or the output of an Apply."""

    def __init__(self, type: Type, owner: "Apply | None" = None, index: int | None = None,
                 name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.tag = {}
        self.auto_name = f"v{next(_ids)}"

    def clone(self):
        """An ownerless copy with the same type and name."""
        return type(self)(self.type, name=self.name)

    def __repr__(self):
        if self.name:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            out = f"{op}.{self.index}" if len(self.owner.outputs) > 1 else f"{op}.out"
            return out
        return f"<{self.type}>"

    def get_parents(self):
        return [self.owner] if self.owner is not None else []


class Constant(Variable):
    """A Variable whose value is fixed when the graph is built."""

    def __init__(self, type: Type, data, name: str | None = None):
        super().__init__(type, None, None, name)
        self.data = data

    def clone(self):
        c = type(self)(self.type, self.data, name=self.name)
        c.tag = dict(self.tag)
        return c

    def signature(self):
        """Equal for constants of equal type and value (used by merging and caching)."""
        return (self.type, id(self.data))


class Apply:
    """One use of an Op: its inputs, its freshly made outputs, and where the user made it."""

    def __init__(self, op: "Op", inputs: Sequence[Variable], outputs: Sequence[Variable],
                 trace: tuple | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        for i, out in enumerate(self.outputs):
            if out.owner is not None and out.owner is not self:
                raise ValueError(f"{op}: output {i} already belongs to another node")
            out.owner, out.index = self, i
        self.trace = trace if trace is not None else user_trace()
        self.tag = {}

    @property
    def out(self):
        if len(self.outputs) != 1:
            raise AttributeError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    @property
    def origin(self) -> str:
        return format_trace(self.trace)

    def clone_with_new_inputs(self, inputs: Sequence[Variable], strict: bool = True) -> "Apply":
        """The same op applied to other inputs (of the same types when `strict`)."""
        if strict and all(a.type == b.type for a, b in zip(inputs, self.inputs)):
            node = Apply(self.op, inputs, [o.clone() for o in self.outputs], trace=self.trace)
        else:
            node = self.op.make_node(*inputs)
            node.trace = self.trace
        node.tag = dict(self.tag)
        return node

    def __repr__(self):
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class Op:
    """An operation. Subclasses set ``__props__`` (parameters that define equality and hash)
    and implement ``make_node`` (type inference and checks) and ``perform`` (the numpy
    reference). Differentiable ops implement ``L_op``; ``R_op`` only where it beats the
    transpose-of-L_op default.
    """

    __props__: tuple = ()
    #: {output index: [input indices]} the output may alias (views)
    view_map: dict = {}
    #: {output index: [input indices]} the op overwrites
    destroy_map: dict = {}
    #: lazy ops decide themselves which inputs to compute (ifelse)
    lazy = False

    def _props(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self):
        return hash((type(self), self._props()))

    def __str__(self):
        if not self.__props__:
            return type(self).__name__
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
        return f"{type(self).__name__}{{{args}}}"

    __repr__ = __str__

    def make_node(self, *inputs) -> Apply:
        raise NotImplementedError

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def perform(self, node: Apply, inputs: list, output_storage: list):
        """Compute outputs with numpy: ``output_storage[i][0] = value``."""
        raise NotImplementedError(f"{self} has no perform")

    def L_op(self, inputs, outputs, output_grads):
        raise GradientError(f"{self} has no gradient")

    R_op = None

    def infer_shape(self, node, input_shapes):
        """Symbolic output shapes from symbolic input shapes; None when unknown."""
        return None

    def error_context(self, node: Apply) -> str:
        return format_trace(node.trace)


# -- traversals ---------------------------------------------------------------------------

def ancestors(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list:
    """All variables the outputs depend on (outputs included), stopping at blockers."""
    blockers = set(blockers)
    seen, order, stack = set(), [], list(outputs)[::-1]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(reversed(v.owner.inputs))
    return order


def graph_inputs(outputs: Iterable[Variable], blockers: Iterable[Variable] = ()) -> list:
    """The ownerless variables (and blockers) the outputs depend on, in first-seen order."""
    blockers = set(blockers)
    return [v for v in ancestors(outputs, blockers) if v.owner is None or v in blockers]


def io_toposort(inputs: Iterable[Variable], outputs: Iterable[Variable]) -> list:
    """Apply nodes between inputs and outputs, each after the nodes that feed it."""
    inputs = set(inputs)
    order, done = [], set()
    stack = [(v, False) for v in reversed(list(outputs))]
    while stack:
        v, expanded = stack.pop()
        node = v.owner
        if node is None or v in inputs or node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((v, True))
        for i in reversed(node.inputs):
            if i.owner is not None and i not in inputs and i.owner not in done:
                stack.append((i, False))
    return order


def toposort(outputs: Iterable[Variable]) -> list:
    return io_toposort((), outputs)


def variables_between(inputs: Iterable[Variable], outputs: Iterable[Variable]) -> set:
    """Variables that depend on `inputs` and that `outputs` depend on (both ends included)."""
    inputs = set(inputs)
    nodes = io_toposort(inputs, outputs)
    reach = set(inputs)
    for node in nodes:
        if any(i in reach for i in node.inputs):
            reach.update(node.outputs)
    anc = set(ancestors(outputs, inputs))
    return reach & anc


def clone_replace(outputs, replace: dict | None = None, copy_all: bool = False):
    """Copies of `outputs` with the variables in `replace` substituted.

    Nodes that depend on no replaced variable are shared with the original graph unless
    `copy_all`; a single variable in gives a single variable out.
    """
    single = isinstance(outputs, Variable)
    outs = [outputs] if single else list(outputs)
    memo = dict(replace or {})
    for node in toposort(outs):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if not copy_all and all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new = node.clone_with_new_inputs(new_inputs, strict=False)
        for o, n in zip(node.outputs, new.outputs):
            memo[o] = n
    result = [memo.get(o, o) for o in outs]
    return result[0] if single else result
