"""Rebuild a C program from the plan an earlier build of the same graph recorded.

The graph cache (`symgraph/compile/graph_cache.py`) stores, beside a rewritten graph, the
``plan`` that `cbackend.build_program` recorded for it: the key of the kernels' module and,
per node in schedule order, its kernel number and the lowering that made it. The graph is
the same and so is symgraph's code (both are in the graph cache's key), so the lowering
would render the same source again: here the module is loaded by its key instead, and each
node's thunk is made as the build made it, with no jinja2 import and no rendering (about
half of a warm compile). Anything unexpected (the entry gone or damaged, a node no longer
lowered the same way) returns None, and the caller builds as usual.
"""
from __future__ import annotations

import os

from ..config import config
from ..profiling import _recorder, phase
from . import cache, cbackend
from .shared_kernels import constant_thunk_maker, shareable_lifts

__all__ = ["program_from_plan"]


def program_from_plan(fgraph, mode, plan):
    """The CProgram (or PyProgram) `plan` describes for `fgraph`, or None."""
    order = fgraph.toposort()
    if plan.get("module") is None:
        if any(plan.get("nodes") or ()):
            return None
        fgraph.placement = {node: "py" for node in order}
        prog = cbackend.PyProgram(fgraph, nan_guard=mode.nan_guard)
        prog.plan = plan
        return prog
    nodes = plan.get("nodes")
    if nodes is None or len(nodes) != len(order) or \
            plan.get("share") != cbackend.SHARE_CONSTANT_KERNELS:
        return None
    omp_min = cbackend.OMP_MIN if config.openmp and not cbackend._uses_blas(fgraph) else 0
    omp = ("-fopenmp",) if omp_min else ()
    with phase("cache_load"):
        found = cache.module_by_key(plan["module"],
                                    cbackend.CFLAGS + omp + cbackend.LDFLAGS + omp)
    if found is None:
        return None
    rec = _recorder()
    if rec is not None:             # fn.profile counts it as a module loaded from the cache
        rec.cached += 1
    mod, parts = found
    if omp_min:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    rules = {rule.__name__: rule for rule in cbackend.lowerings()}
    lifts = shareable_lifts(order, cbackend._signature) if plan["share"] else {}
    thunks, makers = {}, {}
    for node, entry in zip(order, nodes):
        if entry is None:
            continue
        k, rule_name = entry
        lifted = lifts.get(node)
        target = lifted[0] if lifted is not None else node
        make_thunk = _thunk_maker(rules, rule_name, target, omp_min)
        if make_thunk is None:
            return None
        if lifted is not None:
            make_thunk = constant_thunk_maker(make_thunk, lifted[1])
        makers[node] = (make_thunk, k)
        thunks[node] = make_thunk(mod.lib, mod.ffi, k)
    fgraph.placement = {node: ("c" if node in thunks else "py") for node in order}
    prog = cbackend.CProgram(fgraph, thunks, nan_guard=mode.nan_guard)
    prog._source_key = plan["module"]
    prog.placement = fgraph.placement
    prog.cache_info = {"key": plan["module"], "parts": parts}
    prog.plan = plan
    prog.module, prog.thunk_makers = mod, makers      # as build_program leaves them
    return prog


def _thunk_maker(rules, rule_name, node, omp_min):
    if rule_name == "_lower_elemwise_node":
        # the one lowering that renders to decide: its conditions, without rendering
        op = node.op
        if not isinstance(op, cbackend.Elemwise) or node.outputs[0].ndim > 32 or \
                cbackend.elemwise_expr(node) is None:
            return None
        return lambda lib, ffi, k: cbackend._elemwise_thunk(lib, ffi, k, node)
    rule = rules.get(rule_name)
    found = rule(node, omp_min) if rule is not None else None
    return None if found is None else found[2]
