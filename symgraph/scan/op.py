"""The core loop op: one uniform step, ``(x_t, carry, params) -> (carry', y_t[, stop])``.

``scan()`` (builder.py) lowers Theano's argument rules to this op: sequence taps become
shifted slices of the sequences, output taps become carried windows, shared variables
updated in the loop (random states included) become carries returned as updates.

Outer inputs: ``n_steps`` (int64; -1: as long as the sequences), the sequences (time
first), the initial carries, the parameters. Outer outputs: for each carry its history
(``keep='all'``: the carry after every step, time first) or only its final value
(``keep='last'``: the initial value when no step runs, as for shared-variable updates;
``keep='end'``: ``history[-1]``, raising IndexError when no step runs; both use memory
independent of the step count), then each y stacked over time: step t's y at row t, or at row
``n - 1 - t`` for a y marked in ``rev_ys`` (a backward loop's per-step outputs come out in the
forward loop's time order, so their readers need no reversed copy).

Gradient (grad.py): a reverse Scan over the stored carries running the step's own VJP.

Running: when the step is a CProgram whose every node calls a C kernel the same way at
every step (``symgraph/codegen/plan.py``), the whole loop runs in one C call (`_run_native`:
sequence rows and carries are pointed at, outputs copied into the histories); otherwise,
or when that loop reports a kernel error, a Python loop calls the compiled step.
"""
from __future__ import annotations

import sys
import weakref

import numpy as np

from ..errors import op_build_error
from ..graph import Apply, Op
from ..tensor.var import as_tensor_variable
from ..types import TensorType

__all__ = ["Scan"]

# run fully C-able steps in one C loop (tests turn it off to compare with the Python loop)
NATIVE = True

# The C loop's stacks (histories, per-step outputs) of at least this many bytes are kept
# for the op's next run once nothing else holds them: a fresh stack's pages are zeroed by
# the kernel on first touch, a pass over memory as long as the loop's own (W5: 3-4 us of a
# 150 us step for each 32 MB stack). The cost: the stacks of a function's last call stay
# allocated between calls.
REUSE_MIN_BYTES = 1 << 20
_spares = weakref.WeakKeyDictionary()   # Scan op -> {(shape, dtype): [stacks]}


class Scan(Op):
    """``for t in range(n): carry, y[t] = step(seq[t], carry, params)`` (stop early when the
    step's `until` output is true), returning the carry histories (or last carries) and ys."""

    def __init__(self, inner, n_seqs, n_carry, n_ys, keep=None, until=False, name=None,
                 mode=None, truncate_gradient=-1, rev_ys=None):
        self.inner = inner
        self.n_seqs, self.n_carry, self.n_ys = n_seqs, n_carry, n_ys
        self.n_params = len(inner.inputs) - n_seqs - n_carry
        self.keep = tuple(keep or ("all",) * n_carry)
        self.until = bool(until)
        self.name = name
        self.mode = mode
        self.truncate_gradient = int(truncate_gradient)
        self.rev_ys = tuple(bool(r) for r in (rev_ys or (False,) * n_ys))
        if len(self.rev_ys) != n_ys:
            raise ValueError(f"Scan: rev_ys has {len(self.rev_ys)} entries for {n_ys} outputs")
        if self.until and any(self.rev_ys):
            # rows n-1-t of a loop that may stop early are not known before it stops
            raise ValueError("Scan: rev_ys cannot be combined with until")
        if len(inner.outputs) != n_carry + n_ys + (1 if until else 0):
            raise ValueError(f"Scan: the step has {len(inner.outputs)} outputs, expected "
                             f"{n_carry} carries + {n_ys} outputs" + (" + until" if until else ""))

    # each instance holds its own graph: compare by identity
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        rev = "" if not any(self.rev_ys) else \
            ", rev_ys=" + "".join("r" if r else "-" for r in self.rev_ys)
        return f"Scan{{{self.name or 'scan'}{rev}}}"

    __repr__ = __str__

    def with_keep(self, keep):
        """The same loop storing `keep` ('all', 'last' or 'end' per carry)."""
        return Scan(self.inner, self.n_seqs, self.n_carry, self.n_ys, keep, self.until,
                    self.name, self.mode, self.truncate_gradient, self.rev_ys)

    def with_rev_ys(self, rev_ys):
        """The same loop storing its per-step outputs in `rev_ys` order."""
        return Scan(self.inner, self.n_seqs, self.n_carry, self.n_ys, self.keep, self.until,
                    self.name, self.mode, self.truncate_gradient, rev_ys)

    # -- parts of the inputs ------------------------------------------------------------
    def split(self, inputs):
        """(n_steps, seqs, inits, params) from the outer inputs."""
        ns, nc = self.n_seqs, self.n_carry
        return inputs[0], inputs[1:1 + ns], inputs[1 + ns:1 + ns + nc], inputs[1 + ns + nc:]

    def make_node(self, n_steps, *inputs):
        n_steps = as_tensor_variable(n_steps)
        inputs = [as_tensor_variable(x) for x in inputs]
        everything = [n_steps] + inputs
        if len(inputs) != len(self.inner.inputs):
            raise op_build_error(self, everything, f"takes {len(self.inner.inputs)} inputs "
                                 f"after n_steps, got {len(inputs)}", TypeError)
        for k, (x, h) in enumerate(zip(inputs, self.inner.inputs)):
            want = h.ndim + (1 if k < self.n_seqs else 0)
            if x.ndim != want or x.dtype != h.dtype:
                raise op_build_error(self, everything, f"input {k} ({x!r}) has type {x.type}, "
                                     f"expected {want}-d {h.dtype}", TypeError)
        n_static = None
        if self.n_seqs and not self.until:
            lens = [x.type.shape[0] for x in inputs[:self.n_seqs]]
            if all(s is not None for s in lens):
                n_static = min(lens)
            data = getattr(n_steps, "data", None)
            if data is not None and n_static is not None and int(data) >= 0:
                n_static = min(n_static, int(data))
        elif getattr(n_steps, "data", None) is not None and not self.until:
            n_static = int(n_steps.data) if int(n_steps.data) >= 0 else None
        outs = []
        inits = inputs[self.n_seqs:self.n_seqs + self.n_carry]
        for j, c in enumerate(inits):
            h = self.inner.inputs[self.n_seqs + j]
            shape = c.type.shape if self.keep[j] != "all" else (n_static,) + c.type.shape
            outs.append(TensorType(h.dtype, shape)())
        for y in self.inner.outputs[self.n_carry:self.n_carry + self.n_ys]:
            outs.append(TensorType(y.dtype, (n_static,) + y.type.shape)())
        return Apply(self, everything, outs)

    # -- running --------------------------------------------------------------------------
    def perform(self, node, inputs, output_storage):
        self._run(self.inner.function(self.mode or "py"), node, inputs, output_storage)

    def prepare_perform(self, node, mode):
        """A perform running the step compiled in the outer function's mode (or scan's)."""
        fn = self.inner.function(self.mode or mode)
        return lambda node, inputs, storage: self._run(fn, node, inputs, storage)

    def n_iterations(self, n_steps, seqs):
        n = int(n_steps)
        lens = [len(s) for s in seqs]
        if lens:
            n = min(lens) if n < 0 else min([n] + lens)
        elif n < 0:
            raise ValueError(f"{self}: a scan without sequences needs n_steps >= 0, got {n}")
        return n

    def _run(self, fn, node, inputs, output_storage):
        n_steps, seqs, carries, params = self.split(inputs)
        n = self.n_iterations(n_steps, seqs)
        if NATIVE and n > 0 and self._run_native(fn, node, n, seqs, carries, params,
                                                 output_storage):
            return
        nc, ny = self.n_carry, self.n_ys
        prog = fn.program
        out_types = [o.type for o in node.outputs]
        hist = [np.empty((n,) + np.shape(c), out_types[j].numpy_dtype)
                if self.keep[j] == "all" else None for j, c in enumerate(carries)]
        ys = [None] * ny
        carries = list(carries)
        params = list(params)
        stored = [(j, hist[j], hist[j].shape[1:]) for j in range(nc) if hist[j] is not None]
        ndarray = np.ndarray
        rev = self.rev_ys
        done = n
        for t in range(n):
            vals = [s[t] for s in seqs] + carries + params
            try:
                res = prog(vals)
            except Exception as e:
                raise _step_error(self, t, e) from e
            carries[:] = res[:nc]
            for j, buf, shape in stored:  # the common case without _store's conversions
                c = res[j]
                if type(c) is ndarray and c.shape == shape:
                    buf[t] = c
                else:
                    _store(self, buf, t, c, f"carry {j}")
            for k in range(ny):
                y = res[nc + k]
                buf = ys[k]
                if buf is None:
                    y = np.asarray(y)
                    buf = ys[k] = np.empty((n,) + y.shape, out_types[nc + k].numpy_dtype)
                row = n - 1 - t if rev[k] else t
                if type(y) is ndarray and y.shape == buf.shape[1:]:
                    buf[row] = y
                else:
                    _store(self, buf, row, y, f"output {k}")
            if self.until and bool(res[-1]):
                done = t + 1
                break
        for j in range(nc):
            dt = out_types[j].numpy_dtype
            if self.keep[j] == "all":
                output_storage[j][0] = hist[j][:done] if done < n else hist[j]
            else:
                if self.keep[j] == "end" and done == 0:
                    raise IndexError(f"{self}: index -1 is out of bounds: the loop ran no "
                                     f"step, so output {j} has no last value")
                c = np.asarray(carries[j])
                output_storage[j][0] = c if c.dtype == dt else c.astype(dt)
        for k in range(ny):
            y = ys[k]
            if y is None:  # no step ran: empty, shaped by the static type or one probe
                y = np.empty((0,) + self._y_shape(fn, node, inputs, k),
                             out_types[nc + k].numpy_dtype)
            output_storage[nc + k][0] = y[:done] if done < len(y) else y

    def _run_native(self, fn, node, n, seqs, carries, params, output_storage):
        """Run the n steps as one C loop over the step's plan; False (nothing stored) when
        the step has no plan for these inputs or a kernel reported an error."""
        from ..codegen.plan import loop, plan_for
        ns, nc, ny = self.n_seqs, self.n_carry, self.n_ys
        values = list(seqs) + list(carries) + list(params)
        if any(type(v) is not np.ndarray or v.dtype != h.dtype
               for v, h in zip(values, self.inner.inputs)):
            return False
        # the carries run in contiguous buffers of their own (the loop writes into them)
        starts = [np.array(c, order="C") for c in carries]
        plan = plan_for(fn.program, [s[0, ...] for s in seqs] + starts + list(params))
        if plan is None:
            return False
        out_types = [o.type.numpy_dtype for o in node.outputs]
        got = plan.out_types
        if any(got[j] != (c.shape, out_types[j]) for j, c in enumerate(starts)) or \
                any(got[nc + k][1] != out_types[nc + k] for k in range(ny)):
            return False                      # the Python loop raises the shape error
        stop = None
        if self.until:
            if got[nc + ny] != ((), np.dtype(bool)):
                return False
            stop = nc + ny
        addr = _address
        patches = [(i, (0, addr(s), s.strides[0], 0)) for i, s in enumerate(seqs)]
        copies, hist, pairs = [], {}, {}
        spares = _spares.get(self)
        if spares is None:
            spares = _spares.setdefault(self, {})
        made = []

        def stack(shape, dtype):
            a = _spare(spares, shape, dtype)
            made.append(a)
            return a
        for j, c in enumerate(starts):
            if self.keep[j] == "all":
                h = hist[j] = stack((n,) + c.shape, c.dtype)
                row = c.nbytes
                patches.append((ns + j, (2, addr(c), addr(h), row)))
                copies.append((j, (0, addr(h), row, 0)))
            else:
                a, b = c, np.empty_like(c)
                pairs[j] = (a, b)
                patches.append((ns + j, (1, addr(a), addr(b), 0)))
                copies.append((j, (1, addr(b), addr(a), 0)))
        patches += [(ns + nc + i, (0, addr(p), 0, 0)) for i, p in enumerate(params)]
        ys = []
        for k in range(ny):
            shape, dtype = got[nc + k]
            y = stack((n,) + shape, dtype)
            ys.append(y)
            row = y.strides[0] if n else 0
            # the last row's address as a number: y[n - 1] of a vector is a numpy scalar,
            # a copy whose address the loop must never write
            copies.append((nc + k, (0, addr(y) + (n - 1) * row, -row, 0) if self.rev_ys[k]
                           else (0, addr(y), row, 0)))
        done, failed = loop(plan, n, patches, copies, stop)
        for a in made:
            if a.nbytes >= REUSE_MIN_BYTES:
                kept = spares.setdefault((a.shape, a.dtype.str), [])
                if len(kept) < 4:
                    kept.append(a)
        if failed:
            return False
        for j in range(nc):
            if j in hist:
                output_storage[j][0] = hist[j][:done] if done < n else hist[j]
            else:
                output_storage[j][0] = pairs[j][done % 2]
        for k in range(ny):
            output_storage[nc + k][0] = ys[k][:done] if done < n else ys[k]
        return True

    def _y_shape(self, fn, node, inputs, k):
        static = self.inner.outputs[self.n_carry + k].type.shape
        if all(s is not None for s in static):
            return tuple(static)
        _, seqs, carries, params = self.split(inputs)
        try:
            probe = fn.program([np.zeros(s.shape[1:], s.dtype) for s in seqs] + list(carries)
                               + list(params))
            return np.shape(probe[self.n_carry + k])
        except Exception:
            return tuple(0 if s is None else s for s in static)

    # -- gradients ------------------------------------------------------------------------
    def connection_pattern(self, node):
        n_out = len(node.outputs)
        return [[False] * n_out] + [[True] * n_out] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        from .grad import scan_lop
        if any(self.rev_ys):        # the loop in step order, its reversed ys read reversed
            nc = self.n_carry
            flip = [nc + k for k, r in enumerate(self.rev_ys) if r]
            outputs, output_grads = list(outputs), list(output_grads)
            for i in flip:
                outputs[i] = outputs[i][::-1]
                if output_grads[i] is not None:
                    output_grads[i] = output_grads[i][::-1]
            return scan_lop(self.with_rev_ys(None), inputs, outputs, output_grads)
        return scan_lop(self, inputs, outputs, output_grads)

    def R_op(self, inputs, eval_points):
        from .grad import scan_rop
        out = scan_rop(self.with_rev_ys(None) if any(self.rev_ys) else self, inputs,
                       eval_points)
        nc = self.n_carry
        return [v[::-1] if v is not None and i >= nc and self.rev_ys[i - nc] else v
                for i, v in enumerate(out)]

    def infer_shape(self, node, input_shapes):
        return None


def _address(a):
    return a.__array_interface__["data"][0]


def _spare(spares, shape, dtype):
    """An uninitialised array: a kept stack of that layout nothing else holds any more
    (no output, view or caller: its only references are the list and this frame), or a
    new one."""
    dtype = np.dtype(dtype)
    kept = spares.get((shape, dtype.str))
    while kept:
        try:
            a = kept.pop()
        except IndexError:          # another thread took the last one
            break
        if sys.getrefcount(a) == 2:
            return a
    return np.empty(shape, dtype)


def _store(op, buf, t, value, what):
    value = np.asarray(value)
    if value.shape != buf.shape[1:]:
        raise ValueError(f"{op}: step {t} gave {what} of shape {value.shape}, but earlier "
                         f"steps (or its initial value) have shape {buf.shape[1:]}; every "
                         f"step must give the same shape")
    buf[t] = value


def _step_error(op, t, exc):
    msg = f"{op}: step {t} failed: {exc}"
    try:
        err = type(exc)(msg)
        if str(err) != msg:
            raise TypeError
    except Exception:
        from ..errors import SymgraphError
        err = SymgraphError(msg)
    return err
