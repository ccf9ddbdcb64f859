"""DebugMode: every node run twice, through its compiled kernel and its numpy `perform`.

``symgraph.function(..., mode=symgraph.Mode(debug=True))`` (or ``mode='DebugMode'``) runs the
rewrites of FAST_RUN, builds the C kernels FAST_RUN would build, and then, node by node:

- runs the kernel the compiled function would run (the C kernel where ``fgraph.placement``
  says ``'c'``, else the op's `perform`) and the op's numpy `perform` (the reference), each
  on its own copies of the inputs;
- compares the results: dtype and ndim as the output's type says, the same shape, values
  within `TOLERANCES` (per dtype; integers and bools exactly; NaN and Inf where the
  reference has them);
- checks aliasing: an output may share memory with an input only when the op declares it
  (``view_map`` or ``destroy_map``);
- checks in-place writes: an input may change only when ``destroy_map`` declares it.

The run stops at the first node that fails a check with a `DebugModeError`
(`BadResultError`, `BadViewMapError`, `BadDestroyMapError`) naming the op, the rewrite that
made the node (``node.tag['reason']``; "built by the user" when none did) and the user's
source line. The kernel's results go on to the next nodes, so the values are the ones the
compiled function would compute. DebugMode is slow (two runs and copies per node): it is for
finding bugs, not for running models.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np

from ..errors import SymgraphError, describe_values, format_trace
from ..types import TensorType

__all__ = ["DebugModeError", "BadResultError", "BadViewMapError", "BadDestroyMapError",
           "DebugProgram", "build_debug_program", "TOLERANCES"]

#: (rtol, atol) per dtype for kernel vs reference; integers and bools compare exactly
TOLERANCES = {"float16": (1e-2, 1e-3), "float32": (1e-4, 1e-6), "float64": (1e-7, 1e-12),
              "complex64": (1e-4, 1e-6), "complex128": (1e-7, 1e-12)}


class DebugModeError(SymgraphError, AssertionError):
    """A node failed a DebugMode check; `node`, `reason` (the rewrite that made it) are set."""

    def __init__(self, msg, node=None):
        super().__init__(msg)
        self.node = node
        self.reason = node.tag.get("reason") if node is not None else None


class BadResultError(DebugModeError):
    """The compiled kernel's result differs from the op's numpy `perform`."""


class BadViewMapError(DebugModeError):
    """An output shares memory with an input the op does not declare in view_map/destroy_map."""


class BadDestroyMapError(DebugModeError):
    """An op wrote into an input it does not declare in destroy_map."""


def _where(node):
    reason = node.tag.get("reason")
    made = f"made by the rewrite {reason!r}" if reason else "built by the user (no rewrite)"
    return f"  node: {made}; {format_trace(node.trace)}"


def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (int, float, complex, bool, str, type(None), np.generic)):
        return v
    return copy.deepcopy(v)


def _same_value(a, b):
    """Exact equality (NaN equal to NaN) of two stored values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    try:
        return bool(a == b) or a is b
    except Exception:
        return a is b


def _compare(ref, got, vtype):
    """None when `got` matches the reference `ref`, else what differs."""
    if not isinstance(vtype, TensorType):
        return None
    if not isinstance(got, (np.ndarray, np.generic)):
        return f"the kernel gave a {type(got).__name__}, not an array"
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.dtype != vtype.numpy_dtype:
        return f"the kernel's dtype is {got.dtype}, the type says {vtype.dtype}"
    if got.ndim != vtype.ndim:
        return f"the kernel's ndim is {got.ndim}, the type says {vtype.ndim}"
    if got.shape != ref.shape:
        return f"shapes differ: kernel {got.shape}, reference {ref.shape}"
    for d, s in enumerate(vtype.shape):
        if s is not None and got.shape[d] != s:
            return f"the kernel's shape {got.shape} breaks the static shape {vtype.shape}"
    if got.size == 0:
        return None
    kind = got.dtype.kind
    if kind in "fc":
        rtol, atol = TOLERANCES.get(str(got.dtype), (1e-7, 1e-12))
        g, r = got.astype(np.complex128 if kind == "c" else np.float64), \
            ref.astype(np.complex128 if kind == "c" else np.float64)
        nan_g, nan_r = np.isnan(g), np.isnan(r)
        fin = np.isfinite(g) & np.isfinite(r)
        inf = ~fin & ~nan_g & ~nan_r
        with np.errstate(invalid="ignore"):
            far = np.abs(g - r) > atol + rtol * np.abs(r)
        bad = (nan_g != nan_r) | (inf & (g != r)) | (fin & far)
    else:
        bad = got != ref
    if not bad.any():
        return None
    pos = np.unravel_index(int(np.argmax(bad.reshape(-1))), bad.shape)
    n = int(bad.sum())
    return (f"{n} of {got.size} values differ beyond tolerance; first at {tuple(map(int, pos))}: "
            f"kernel {got[pos]!r}, reference {ref[pos]!r}")


def _check_memory(node, who, before, args, outs, error_type_out):
    """Raise when `who` (a label) wrote into an undeclared input or aliased one."""
    op = node.op
    destroyed = {i for ins in op.destroy_map.values() for i in ins}
    for i, (b, a) in enumerate(zip(before, args)):
        if i not in destroyed and not _same_value(b, a):
            raise BadDestroyMapError(
                f"DebugMode: {op} ({who}) wrote into its input {i} but its destroy_map "
                f"{op.destroy_map} does not declare it\n"
                f"  input types: {', '.join(str(v.type) for v in node.inputs)}\n"
                f"{_where(node)}", node)
    for o, out in enumerate(outs):
        if not isinstance(out, np.ndarray):
            continue
        allowed = set(op.view_map.get(o, ())) | set(op.destroy_map.get(o, ()))
        for i, a in enumerate(args):
            if i in allowed or not isinstance(a, np.ndarray):
                continue
            if np.may_share_memory(out, a):
                raise BadViewMapError(
                    f"DebugMode: output {o} of {op} ({who}) shares memory with input {i}, "
                    f"which neither its view_map {op.view_map} nor its destroy_map "
                    f"{op.destroy_map} declares\n"
                    f"  input types: {', '.join(str(v.type) for v in node.inputs)}\n"
                    f"{_where(node)}", node)


class DebugProgram:
    """Runs `base`'s schedule (a PyProgram or CProgram) with DebugMode's checks per node."""

    def __init__(self, base, fgraph):
        self.base = base
        self.fgraph = fgraph
        self.placement = getattr(fgraph, "placement", {})
        for attr in ("source", "cache_info"):
            if hasattr(base, attr):
                setattr(self, attr, getattr(base, attr))
        self.checked = 0                 # nodes checked (all calls), for tests
        # the reference: each op's numpy perform (inner graphs of ifelse/scan in 'py' mode)
        from ..codegen.executor import _perform_of
        from .mode import Mode
        py = Mode("py")
        self.reference = {node: _perform_of(node, py) for _, node, _, _, _ in base.steps}

    def __call__(self, inputs):
        from ..codegen.executor import run_error
        base = self.base
        vals = list(base.template)
        vals[:base.n_inputs] = inputs
        for kernel, node, ins, outs, frees in base.steps:
            args = [vals[i] for i in ins]
            before = [_copy(a) for a in args]
            # the reference: the op's numpy perform on its own copies
            ref_args = [_copy(a) for a in args]
            ref_store = [[None] for _ in outs]
            try:
                self.reference[node](node, ref_args, ref_store)
            except Exception as e:
                raise run_error(node, args, e) from e
            _check_memory(node, "its perform", before, ref_args,
                          [c[0] for c in ref_store], None)
            # the compiled kernel, on other copies
            k_args = [_copy(a) for a in args]
            k_store = [[None] for _ in outs]
            try:
                kernel(node, k_args, k_store)
            except Exception as e:
                raise run_error(node, args, e) from e
            where = self.placement.get(node, "py")
            who = "its C kernel" if where == "c" else "its perform"
            _check_memory(node, who, before, k_args, [c[0] for c in k_store], None)
            for k, (r, g) in enumerate(zip(ref_store, k_store)):
                problem = _compare(r[0], g[0], node.outputs[k].type)
                if problem is not None:
                    raise BadResultError(
                        f"DebugMode: output {k} of {node.op} ({who}) differs from its numpy "
                        f"perform: {problem}\n"
                        f"  input values: {describe_values(args)}\n"
                        f"  input types: {', '.join(str(v.type) for v in node.inputs)}\n"
                        f"{_where(node)}", node)
            for o, cell in zip(outs, k_store):
                vals[o] = cell[0]
            for i in frees:
                vals[i] = None
            self.checked += 1
        return [vals[i] for i in base.out_idx]


_warned = []


def build_debug_program(fgraph, mode):
    """The DebugProgram of `fgraph`: the C kernels FAST_RUN would build (``fgraph.placement``),
    checked against each op's `perform`. Without a C compiler, the perform-only checks
    (aliasing, in-place writes, dtypes) still run."""
    from ..codegen.executor import PyProgram
    from ..errors import CompileError
    try:
        from ..codegen.cbackend import build_program
        base = build_program(fgraph, mode)
    except (CompileError, ImportError) as e:
        if not _warned:
            _warned.append(e)
            warnings.warn(f"symgraph DebugMode: no C backend ({e}); only the numpy perform "
                          f"of each node is checked", RuntimeWarning, stacklevel=5)
        fgraph.placement = {node: "py" for node in fgraph.toposort()}
        base = PyProgram(fgraph)
    return DebugProgram(base, fgraph)
