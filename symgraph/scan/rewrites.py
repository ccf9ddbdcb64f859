"""Scan rewrites, registered with the rewrite engine (symgraph/opt).

``scan_save_mem``: a carry whose history is only read at its last step (``out[-1]``, also
through the ``out[:, k]`` of a tap window) is stored as its last value only, so a loop
returning only its final state uses memory independent of the number of steps. Gradients
are built before compiling, on the op that stores every step, so they are unaffected.
``out[-1]`` of a loop that runs no step still raises IndexError, as without the rewrite.

Loop-invariant work is moved out of the step when the loop is built (builder.py).
"""
from __future__ import annotations

from ..ops.subtensor import Slice, Subtensor
from .op import Scan

__all__ = ["scan_save_mem"]


def _last_readers(fgraph, var, depth=0):
    """[(reader node, rest of index)] when every reader of `var` takes ``var[-1, ...]``
    (or ``var[:, k]`` whose readers all take ``[-1, ...]``); None otherwise."""
    out = []
    for client, _ in fgraph.clients.get(var, ()):
        if client == "output" or not isinstance(client.op, Subtensor) or client.op.n_sym:
            return None
        idx = client.op.idx_list
        if idx and idx[0] == -1:
            out.append((client, tuple(idx[1:]), None))
        elif depth == 0 and len(idx) == 2 and idx[0] == Slice(None, None, None) \
                and isinstance(idx[1], int):
            inner = _last_readers(fgraph, client.outputs[0], depth + 1)
            if inner is None:
                return None
            out.extend((c, (idx[1],) + rest, None) for c, rest, _ in inner)
        else:
            return None
    return out


def scan_save_mem(fgraph, node):
    op = node.op
    keep = list(op.keep)
    plans = {}
    for j in range(op.n_carry):
        if keep[j] != "all":
            continue
        readers = _last_readers(fgraph, node.outputs[j])
        if readers:
            plans[j] = readers
            keep[j] = "end"
    if not plans:
        return None
    new = op.with_keep(tuple(keep)).make_node(*node.inputs)
    new.trace = node.trace
    result = {}
    for j, readers in plans.items():
        last = new.outputs[j]
        for client, rest, _ in readers:
            value = Subtensor(rest)(last) if rest else last
            result[client.outputs[0]] = value
    for k, (o, n) in enumerate(zip(node.outputs, new.outputs)):
        if k not in plans and fgraph.clients.get(o):
            result[o] = n
    return result


try:
    from ..opt.engine import local_rule
except ImportError:  # the rewrite engine is not part of this build
    local_rule = None

if local_rule is not None:
    local_rule(("specialize", "fuse"), Scan, name="scan_save_mem",
               tags=("scan", "save_mem"))(scan_save_mem)
