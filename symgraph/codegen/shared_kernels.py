"""Composites that differ only in their constants share one C kernel.

Fusion bakes scalar constants into each Composite (``mul(i1, 0.1)``, ``mul(i1, 0.11)``,
...), so a chain of equal elementwise trees gives as many distinct kernels, and gcc's time
grows with each (W7: 20 kernels of one shape took ~0.9 s of a 1.07 s cold compile). Here
`lift_constants` spells such a node for the C backend as the same Composite reading those
constants as extra all-1 inputs: the kernel source no longer depends on their values, so
nodes with equal structure share one kernel, and each node hands in its constants by
pointers taken once (`_elemwise_thunk`'s constant pointers). Only structures that repeat
within one function are lifted (`shareable_lifts`): a lone Composite keeps its literals.

Results do not change: a lifted constant is read as the same value of the same C type,
and only operands of ops whose C spelling gcc cannot turn into something else for a
literal (no fast-math: +, -, *, / and min/max are evaluated as written) are lifted; a
constant used anywhere else (``pow``'s exponent, which gcc turns into ``x*x`` for a literal
2.0) stays a literal. The graph itself is never edited: the lifted node exists only inside
the C backend, and the thunk built for it is wrapped to take the original node's inputs.
"""
from __future__ import annotations

import numpy as np

from ..graph import Apply
from ..ops.elemwise import Elemwise

__all__ = ["lift_constants", "shareable_lifts", "with_constants", "constant_thunk_maker"]

# scalar ops whose constant operands may be read from memory instead of a literal
_LIFTABLE = frozenset({"Add", "Sub", "Mul", "TrueDiv", "Maximum", "Minimum"})
_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                     "uint64", "float32", "float64"})


def lift_constants(node):
    """``(lifted node, constant arrays)`` for an Elemwise(Composite) `node` whose liftable
    constants become trailing all-1 constant inputs, or None when nothing is lifted."""
    op = node.op
    if not isinstance(op, Elemwise) or len(node.outputs) != 1:
        return None
    comp = op.scalar_op
    if type(comp).__name__ != "Composite" or not comp.consts:
        return None
    keep = set()
    for sop, refs, _ in comp.steps:
        if type(sop).__name__ not in _LIFTABLE:
            keep.update(k for kind, k in refs if kind == "c")
    lift = [k for k, (dtype, _) in enumerate(comp.consts) if k not in keep and dtype in _DTYPES]
    if not lift:
        return None
    nin = len(comp.input_dtypes)
    new_pos = {k: nin + j for j, k in enumerate(lift)}
    kept = [k for k in range(len(comp.consts)) if k not in new_pos]
    kept_pos = {k: j for j, k in enumerate(kept)}
    steps = []
    for sop, refs, dtype in comp.steps:
        new_refs = []
        for kind, k in refs:
            if kind == "c":
                new_refs.append(("i", new_pos[k]) if k in new_pos else ("c", kept_pos[k]))
            else:
                new_refs.append((kind, k))
        steps.append((sop, tuple(new_refs), dtype))
    new_comp = type(comp)(list(comp.input_dtypes) + [comp.consts[k][0] for k in lift],
                          [comp.consts[k] for k in kept], steps)
    ndim = node.outputs[0].ndim
    from ..tensor.var import TensorConstant
    from ..types import TensorType
    consts, cvars = [], []
    for k in lift:
        dtype = comp.consts[k][0]
        data = np.full((1,) * ndim, comp._values[k], dtype=dtype)
        data.setflags(write=False)
        consts.append(data)
        cvars.append(TensorConstant(TensorType(dtype, (1,) * ndim), data))
    lifted = Apply(Elemwise(new_comp, dict(op.inplace_pattern)), list(node.inputs) + cvars,
                   [node.outputs[0].type()], trace=node.trace)
    return lifted, consts


def shareable_lifts(nodes, signature):
    """{node: lift_constants(node)} for the `nodes` whose lifted kernel (by `signature`)
    at least two of them would share; the others keep their literals, so a function's
    single Composite compiles as before (and constants still tell functions apart)."""
    lifts, count = {}, {}
    for node in nodes:
        lifted = lift_constants(node)
        if lifted is not None:
            sig = signature(lifted[0])
            lifts[node] = (lifted, sig)
            count[sig] = count.get(sig, 0) + 1
    return {node: lifted for node, (lifted, sig) in lifts.items() if count[sig] > 1}


def with_constants(perform, consts):
    """A `perform` for the original node from one built for its lifted node: the lifted
    constants are appended to the arguments (the inline spelling gets them as pointers)."""
    compute_lifted = perform.compute
    extra = list(consts)

    def compute(args):
        return compute_lifted(list(args) + extra)

    def wrapped(node, args, storage):
        storage[0][0] = compute(args)
    wrapped.compute = compute
    info = getattr(perform, "inline", None)
    n_extra = len(extra)
    if info is not None and all(p is not None for p in info["const_ptrs"][-n_extra:]):
        general = info["general"]
        wrapped.inline = dict(info, general=lambda args: general(list(args) + extra))
    return wrapped


def constant_thunk_maker(make_thunk, consts):
    """`make_thunk` of a lifted node's lowering, made to build the original node's thunk."""
    return lambda lib, ffi, k: with_constants(make_thunk(lib, ffi, k), consts)
