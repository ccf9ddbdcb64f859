"""Small tree patterns over the graph: ``pat(log, pat(add, 1, X))``.

A pattern is an op with argument patterns. An argument is

- a capture: ``X``, ``Y``, ``Z`` (any variable, bound by name; a name used twice must bind
  the same variable) or ``C`` (a constant whose elements are all equal; binds its value);
- a number: matches a constant whose elements all equal it (through DimShuffle and fill);
- another pattern.

The op of a pattern is an Elemwise (``log``: matches out-of-place Elemwise nodes with an
equal scalar op), a ScalarOp class (any Elemwise of that class), an Op class (isinstance) or
an Op instance (equality). Two-input commutative scalar ops also match with their inputs
swapped. Patterns are a few levels deep, so matching recurses over the pattern (never over
the graph).
"""
from __future__ import annotations

import numpy as np

from ..graph import Op
from ..ops.elemwise import Elemwise
from ..ops.scalar import ScalarOp
from .utils import const_value, scalar_op_of

__all__ = ["Pat", "pat", "Var", "Const", "X", "Y", "Z", "C", "match"]


class Var:
    """Capture any variable under `name` (optionally only when ``pred(var)`` holds)."""

    def __init__(self, name, pred=None):
        self.name, self.pred = name, pred

    def __repr__(self):
        return self.name.upper()


class Const:
    """Capture the value of a uniform constant under `name`."""

    def __init__(self, name, pred=None):
        self.name, self.pred = name, pred

    def __repr__(self):
        return self.name.upper()


X, Y, Z = Var("x"), Var("y"), Var("z")
C = Const("c")


class Pat:
    """`op` applied to argument patterns."""

    def __init__(self, op, *args):
        self.op = op
        self.args = args

    def __repr__(self):
        name = getattr(self.op, "name", None) or getattr(self.op, "__name__", str(self.op))
        return f"{name}({', '.join(map(repr, self.args))})"

    def tracks(self):
        """What the rule engine dispatches on: a ScalarOp class or an Op class."""
        if isinstance(self.op, Elemwise):
            return type(self.op.scalar_op)
        if isinstance(self.op, Op):
            return type(self.op)
        return self.op

    def op_matches(self, node) -> bool:
        op = self.op
        if isinstance(op, Elemwise):
            sop = scalar_op_of(node)
            return sop is not None and sop == op.scalar_op
        if isinstance(op, type) and issubclass(op, ScalarOp):
            sop = scalar_op_of(node)
            return sop is not None and isinstance(sop, op)
        if isinstance(op, type):
            return isinstance(node.op, op)
        return node.op == op


pat = Pat


def match(pattern, var, binds=None, nodes=None):
    """The captures (a dict) when `var` matches `pattern`, else None. `nodes`, when given a
    list, receives the matched nodes."""
    binds = {} if binds is None else binds
    if _match(pattern, var, binds, nodes):
        return binds
    return None


def _match(p, var, binds, nodes):
    if isinstance(p, Var):
        if p.name in binds:
            return binds[p.name] is var
        if p.pred is not None and not p.pred(var):
            return False
        binds[p.name] = var
        return True
    if isinstance(p, Const):
        value = const_value(var)
        if value is None or (p.pred is not None and not p.pred(value)):
            return False
        if p.name in binds:
            return bool(binds[p.name] == value)
        binds[p.name] = value
        return True
    if isinstance(p, (int, float, bool, np.number)):
        value = const_value(var)
        return value is not None and bool(value == p)
    node = var.owner
    if node is None or not p.op_matches(node) or len(node.outputs) != 1:
        return False
    if len(node.inputs) != len(p.args):
        return False
    orders = [node.inputs]
    sop = scalar_op_of(node)
    if sop is not None and sop.commutative and len(node.inputs) == 2:
        orders.append(node.inputs[::-1])
    for inputs in orders:
        trial = dict(binds)
        sub = [] if nodes is not None else None
        if all(_match(a, i, trial, sub) for a, i in zip(p.args, inputs)):
            binds.clear()
            binds.update(trial)
            if nodes is not None:
                nodes.append(node)
                nodes.extend(sub)
            return True
    return False
