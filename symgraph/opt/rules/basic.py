"""Merge (common sub-expressions, equal constants) and constant folding."""
from __future__ import annotations

import numpy as np

from ...graph import Constant
from ..engine import global_rule, local_rule

#: folded results bigger than this (in elements) stay computed at run time, unless they are
#: no bigger than an input: a constant of that size would bloat the graph and the cache.
FOLD_LIMIT = 1 << 16


def _mergeable(node) -> bool:
    op = node.op
    return not op.destroy_map and not getattr(op, "nondeterministic", False)


@global_rule("merge", name="merge", tags=("cse", "merge1"))
def merge(fgraph) -> bool:
    """Compute equal things once: constants of equal type and value become one, and nodes
    applying equal ops to the same inputs become one. One pass in topological order is a
    fixed point, since merging a node makes its readers' inputs identical before they are
    visited."""
    changed = False
    consts = {}
    for node in fgraph.toposort():
        for j, i in enumerate(node.inputs):
            if isinstance(i, Constant):
                try:
                    sig = i.signature()
                except Exception:
                    continue
                canon = consts.setdefault(sig, i)
                if canon is not i and canon.type == i.type:
                    fgraph.change_input(node, j, canon, "merge")
                    changed = True
    seen = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes or not _mergeable(node):
            continue
        key = (node.op, tuple(id(i) for i in node.inputs))
        other = seen.get(key)
        if other is None or other not in fgraph.apply_nodes:
            seen[key] = node
            continue
        if any(a.type != b.type and not a.type.is_super(b.type)
               for a, b in zip(node.outputs, other.outputs)):
            continue
        for a, b in zip(node.outputs, other.outputs):
            if a in fgraph.clients:
                fgraph.replace(a, b, "merge")
        changed = True
    return changed


@local_rule("merge", name="constant_folding", tags=("constant_folding", "fold"))
def constant_folding(fgraph, node):
    """A node whose inputs are all constants is computed now (with its `perform`)."""
    op = node.op
    if not node.inputs or not all(isinstance(i, Constant) for i in node.inputs):
        return None
    if op.destroy_map or getattr(op, "nondeterministic", False) or op.lazy:
        return None
    types = [o.type for o in node.outputs]
    if not all(hasattr(t, "make_constant") and hasattr(t, "value_ok") for t in types):
        return None
    biggest_in = max(np.size(i.data) for i in node.inputs)
    for t in types:
        shape = getattr(t, "shape", None)
        if shape is not None and None not in shape:
            size = int(np.prod(shape))
            if size > FOLD_LIMIT and size > biggest_in:
                return None
    storage = [[None] for _ in node.outputs]
    try:
        with np.errstate(all="ignore"):
            op.perform(node, [i.data for i in node.inputs], storage)
    except Exception:  # the error belongs to run time, where it names the user's line
        return None
    out = []
    for t, (value,) in zip(types, storage):
        if not t.value_ok(value):
            return None
        if value.size > FOLD_LIMIT and value.size > biggest_in:
            return None
        if any(np.may_share_memory(value, i.data) for i in node.inputs):
            value = np.array(value, copy=True)
        out.append(t.make_constant(value))
    return out
