"""The reference executor: runs a FunctionGraph node by node with each op's numpy `perform`.

Storage is allocated per call (a list indexed by variable number), so one compiled function
may be called from several threads at once. Values are dropped after their last reader, so
long graphs do not hold every intermediate alive.
"""
from __future__ import annotations

from ..config import config
from ..errors import SymgraphError, describe_values, format_trace
from ..graph import Constant

__all__ = ["PyProgram", "run_error"]


class PyProgram:
    """A schedule of `perform` calls over numbered storage cells.

    ``profile``: a `symgraph.profiling.ProfileStats` (set by ``function(profile=True)``)
    that each call reports its per-step times to.
    """

    profile = None

    def __init__(self, fgraph, nan_guard=False):
        self.fgraph = fgraph
        order = fgraph.toposort()
        index = {}
        for v in fgraph.inputs:
            index[v] = len(index)
        template = [None] * len(index)
        for node in order:
            for v in node.inputs:
                if v not in index:
                    if not isinstance(v, Constant):
                        raise SymgraphError(f"{v!r} is used by {node.op} but is not an input")
                    index[v] = len(template)
                    template.append(v.data)
            for o in node.outputs:
                index[o] = len(template)
                template.append(None)
        for o in fgraph.outputs:
            if o not in index:
                index[o] = len(template)
                template.append(o.data)
        self.index = index
        self.template = template
        self.n_inputs = len(fgraph.inputs)
        self.out_idx = [index[o] for o in fgraph.outputs]
        keep = set(self.out_idx) | set(range(self.n_inputs))
        last_use = {}
        for step, node in enumerate(order):
            for v in node.inputs:
                last_use[index[v]] = step
        frees = [[] for _ in order]
        for i, step in last_use.items():
            if i not in keep and template[i] is None:
                frees[step].append(i)
        mode = getattr(fgraph, "mode", None)
        self.steps = [(_perform_of(node, mode), node, [index[i] for i in node.inputs],
                       [index[o] for o in node.outputs], frees[s])
                      for s, node in enumerate(order)]
        self.nan_guard = nan_guard

    def __call__(self, inputs):
        if self.profile is not None:
            return self._call_profiled(inputs)
        vals = list(self.template)
        vals[:self.n_inputs] = inputs
        for perform, node, ins, outs, frees in self.steps:
            args = [vals[i] for i in ins]
            storage = [[None] for _ in outs]
            try:
                perform(node, args, storage)
            except Exception as e:
                raise run_error(node, args, e) from e
            for o, cell in zip(outs, storage):
                vals[o] = cell[0]
            if self.nan_guard:
                _nan_check(node, args, [c[0] for c in storage])
            for i in frees:
                vals[i] = None
        return [vals[i] for i in self.out_idx]

    def _call_profiled(self, inputs):
        """`__call__` timing each step with perf_counter."""
        from time import perf_counter
        times = [None] * len(self.steps)
        t_start = perf_counter()
        vals = list(self.template)
        vals[:self.n_inputs] = inputs
        try:
            for k, (perform, node, ins, outs, frees) in enumerate(self.steps):
                args = [vals[i] for i in ins]
                storage = [[None] for _ in outs]
                t0 = perf_counter()
                try:
                    perform(node, args, storage)
                except Exception as e:
                    raise run_error(node, args, e) from e
                times[k] = perf_counter() - t0
                for o, cell in zip(outs, storage):
                    vals[o] = cell[0]
                if self.nan_guard:
                    _nan_check(node, args, [c[0] for c in storage])
                for i in frees:
                    vals[i] = None
        finally:
            self.profile.record(times, perf_counter() - t_start)
        return [vals[i] for i in self.out_idx]


def _perform_of(node, mode):
    """The node's perform; ops with inner graphs (ifelse, scan) compile them for the
    function's mode in ``prepare_perform(node, mode)``."""
    prepare = getattr(node.op, "prepare_perform", None)
    return node.op.perform if prepare is None else prepare(node, mode)


def run_error(node, values, exc):
    """The exception to raise when `node` failed on `values`: op, shapes, the user's line."""
    msg = (f"{node.op} failed: {exc}\n"
           f"  input values: {describe_values(values)}\n"
           f"  input types: {', '.join(str(i.type) for i in node.inputs)}\n"
           f"  node {format_trace(node.trace)}")
    if config.exception_verbosity == "high":
        from ..printing import debugprint
        msg += "\n  the node's inputs:\n" + debugprint(node.outputs, file="str")
    cls = type(exc)
    try:
        err = cls(msg)
        if not isinstance(err, Exception) or str(err) != msg:
            raise TypeError
    except Exception:
        err = SymgraphError(msg)
    err.node = node
    return err


def _nan_check(node, args, outs):
    import numpy as np
    from ..errors import NanGuardError
    for k, v in enumerate(outs):
        if isinstance(v, np.ndarray) and v.dtype.kind in "fc" and not np.isfinite(v).all():
            bad = "NaN" if np.isnan(v).any() else "Inf"
            raise NanGuardError(f"{node.op} produced {bad} in output {k}\n"
                                f"  input values: {describe_values(args)}\n"
                                f"  node {format_trace(node.trace)}")
