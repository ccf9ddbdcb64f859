"""Composite: a fused graph of scalar ops, used as ``Elemwise(Composite(...))``.

The fusion rewrite (``opt/rules/elemwise.py``) turns a tree of elementwise nodes into one
Composite so the backends emit one loop. The inner graph is a straight-line program over
the composite's inputs, inlined scalar constants and earlier steps::

    Composite(input_dtypes=("float64", "float64"), consts=(("float64", "1.0"),),
              steps=((Exp(), (("i", 0),), "float64"),
                     (Add(), (("s", 0), ("c", 0)), "float64"),
                     (Mul(), (("s", 1), ("i", 1)), "float64")))

is ``(exp(i0) + 1.0) * i1``. Each step records the dtype its Elemwise node had, and is
evaluated exactly as that node was (same casts, same numpy function), so a fused graph gives
the numbers of the unfused one. `c_expr` is the C expression built from the inner ops'
`c_expr` strings; `c_code` spells the same thing as statements that compute each shared
temporary once.
"""
from __future__ import annotations

import math

import numpy as np

from .scalar import Cast, ScalarOp

__all__ = ["Composite", "CTYPES", "c_literal", "c_fusable", "NO_C_SPELLING"]

#: scalar ops (by class name) the C backend has no spelling for (kernels/c/prelude.c.j2
#: lacks their helpers): fusion leaves them out of Composites, so the rest of a fused loop
#: still compiles. A backend that learns one removes it here.
NO_C_SPELLING = {"Erfinv", "Psi", "TriGamma", "Real", "Imag", "Conj"}

#: ops without a `c_expr` that the C backend spells itself (Python's signs for // and %)
C_SPELLED_BY_BACKEND = {"IntDiv", "Mod", "Cast"}

_C_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                       "uint32", "uint64", "float32", "float64"})


def c_fusable(sop, in_dtypes, out_dtype) -> bool:
    """True when scalar op `sop` on `in_dtypes` giving `out_dtype` may be a step of a
    Composite that the C backend compiles."""
    name = type(sop).__name__
    if name in NO_C_SPELLING or out_dtype not in _C_DTYPES or \
            any(d not in _C_DTYPES for d in in_dtypes):
        return False
    if name == "Pow" and not str(out_dtype).startswith("float"):
        return False            # numpy raises on negative integer exponents
    return sop.c_expr is not None or name in C_SPELLED_BY_BACKEND

#: C spelling of each dtype (a backend with other names passes its own table).
CTYPES = {"bool": "bool", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
          "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t",
          "uint32": "uint32_t", "uint64": "uint64_t", "float16": "float",
          "float32": "float", "float64": "double", "complex64": "float _Complex",
          "complex128": "double _Complex"}


def c_literal(value, dtype, ctype=CTYPES) -> str:
    """`value` as a C literal of `dtype`: ``c_literal(0.5, 'float32') == '((float)0.5)'``."""
    t = ctype[dtype]
    kind = np.dtype(dtype).kind
    if kind == "b":
        return "1" if value else "0"
    if kind in "iu":
        v = int(value)
        if kind == "i" and v == -(1 << 63):
            return f"(({t})(-9223372036854775807LL - 1))"
        return f"(({t}){v}{'ULL' if kind == 'u' else 'LL'})"
    if kind == "c":
        v = complex(value)
        return f"(({t})({c_literal(v.real, 'float64')} + {c_literal(v.imag, 'float64')} * I))"
    v = float(value)
    if math.isnan(v):
        text = "NAN"
    elif math.isinf(v):
        text = "INFINITY" if v > 0 else "(-INFINITY)"
    else:
        text = repr(v)
    return f"(({t}){text})"


class Composite(ScalarOp):
    """A fused scalar graph; numpy reference: its steps evaluated in order, each as
    ``Elemwise(step_op)`` evaluates (inputs cast when the op casts, result cast to the
    step's dtype)."""

    __props__ = ("input_dtypes", "consts", "steps")
    cast_inputs = False

    def __init__(self, input_dtypes, consts, steps):
        self.input_dtypes = tuple(str(d) for d in input_dtypes)
        self.consts = tuple((str(d), str(v)) for d, v in consts)
        self.steps = tuple((op, tuple(tuple(r) for r in refs), str(d))
                           for op, refs, d in steps)
        if not self.steps:
            raise ValueError("Composite needs at least one step")
        for op, refs, _ in self.steps:
            if isinstance(op, Composite):
                raise ValueError("Composite steps must be plain scalar ops (inline nested "
                                 "composites)")
        self.nin = len(self.input_dtypes)
        self.dtype = self.steps[-1][2]
        self._values = tuple(np.asarray(_parse(v, d), dtype=d) for d, v in self.consts)
        self._hash = hash((Composite, self.input_dtypes, self.consts, self.steps))

    def __hash__(self):
        return self._hash

    @classmethod
    def const_entry(cls, value, dtype):
        """The ``consts`` entry for a scalar constant (exact for every dtype)."""
        return (str(dtype), _format(np.asarray(value, dtype=dtype).item()))

    # -- the ScalarOp interface ------------------------------------------------------------

    def out_dtype(self, *dtypes):
        return self.dtype

    def check_dtypes(self, dtypes):
        if tuple(dtypes) != self.input_dtypes:
            return f"expects inputs of dtypes {self.input_dtypes}, got {tuple(dtypes)}"
        return None

    def impl(self, *inputs):
        # Elemwise.perform may have promoted bool inputs to the composite's output dtype;
        # each step sees its input as the unfused node did
        inputs = [a if a.dtype == d else a.astype(d)
                  for a, d in zip(map(np.asarray, inputs), self.input_dtypes)]
        temps = []
        for op, refs, dtype in self.steps:
            args = [self._ref(r, inputs, temps) for r in refs]
            args = _as_elemwise_would(op, args, dtype)
            res = np.asarray(op.impl(*args))
            if res.dtype != dtype:
                res = res.astype(dtype)
            temps.append(res)
        out = temps[-1]
        shape = np.broadcast_shapes(*[a.shape for a in inputs])
        if out.shape != shape:
            out = np.array(np.broadcast_to(out, shape))
        if any(np.may_share_memory(out, a) for a in inputs):
            out = out.copy()
        return out

    def _ref(self, ref, inputs, temps):
        kind, k = ref
        if kind == "i":
            return inputs[k]
        if kind == "c":
            return self._values[k]
        return temps[k]

    def L_op(self, inputs, outputs, output_grads):
        """The gradient of the expanded elementwise graph."""
        from ..gradient import Lop
        out = self.expand(inputs)
        grads = Lop(out, list(inputs), output_grads[0], disconnected_inputs="ignore")
        return [g if x.dtype.startswith(("float", "complex")) else None
                for g, x in zip(grads, inputs)]

    def expand(self, inputs):
        """The inner graph rebuilt from Elemwise ops on tensor `inputs`."""
        from ..tensor.var import constant
        from .elemwise import Elemwise
        from .math import cast
        temps = []
        for op, refs, dtype in self.steps:
            args = []
            for kind, k in refs:
                if kind == "i":
                    args.append(inputs[k])
                elif kind == "c":
                    args.append(constant(self._values[k]))
                else:
                    args.append(temps[k])
            out = Elemwise(op)(*args)
            temps.append(out if out.dtype == dtype else cast(out, dtype))
        return temps[-1]

    # -- C ---------------------------------------------------------------------------------

    @property
    def c_expr(self):
        """One C expression with {0}, {1}, ... for the inputs (temporaries used twice are
        spelled twice; `c_code` avoids that), or None when a step has no C spelling."""
        try:
            texts = self._c_texts([f"{{{k}}}" for k in range(self.nin)], CTYPES, inline=True)
        except _NoC:
            return None
        return texts[-1]

    def c_code(self, inputs, output, ctype=CTYPES, prefix="t"):
        """C statements computing `output` from the input expressions `inputs`: one typed
        temporary per step, so shared sub-expressions are computed once."""
        texts = self._c_texts(list(inputs), ctype, inline=False, prefix=prefix)
        lines = [f"{ctype[d]} {prefix}{j} = {texts[j]};"
                 for j, (_, _, d) in enumerate(self.steps)]
        lines.append(f"{output} = {prefix}{len(self.steps) - 1};")
        return "\n".join(lines)

    def _c_texts(self, inputs, ctype, inline, prefix="t"):
        texts = []
        for j, (op, refs, dtype) in enumerate(self.steps):
            args = []
            for kind, k in refs:
                if kind == "i":
                    text, adt = inputs[k], self.input_dtypes[k]
                elif kind == "c":
                    text, adt = c_literal(self._values[k], self.consts[k][0], ctype), \
                        self.consts[k][0]
                else:
                    text = texts[k] if inline else f"{prefix}{k}"
                    adt = self.steps[k][2]
                if op.cast_inputs and adt != dtype:
                    text = f"(({ctype[dtype]})({text}))"
                args.append(text)
            texts.append(_c_step(op, args, dtype, ctype))
        return texts

    def __str__(self):
        text = self._infix()
        return f"Composite{{{text if len(text) <= 80 else text[:77] + '...'}}}"

    __repr__ = __str__

    @property
    def name(self):
        return str(self)

    def _infix(self):
        texts = []
        for op, refs, _ in self.steps:
            args = []
            for kind, k in refs:
                args.append(f"i{k}" if kind == "i" else self.consts[k][1] if kind == "c"
                            else texts[k])
            texts.append(f"{op.name}({', '.join(args)})")
        return texts[-1]


def _as_elemwise_would(op, args, dtype):
    """The arguments an unfused ``Elemwise(op)`` node of output `dtype` passes to
    ``op.impl`` (the casts of Elemwise.perform)."""
    if op.cast_inputs:
        return [a if a.dtype == dtype else a.astype(dtype) for a in args]
    if dtype != "bool" and op.nin != 3:
        # numpy refuses negative/subtract/sign/square of bools; the type says int8
        return [a.astype(dtype) if a.dtype == np.bool_ else a for a in args]
    return args


class _NoC(Exception):
    pass


def _c_step(op, args, dtype, ctype):
    t = ctype[dtype]
    if isinstance(op, Cast):
        if dtype == "bool":
            return f"(({args[0]}) != 0)"
        return f"(({t})({args[0]}))"
    template = op.c_expr
    if template is None:
        raise _NoC(op)
    nin = len(args)
    if nin > 2 and "{2}" not in template and op.associative:
        # n-ary add/mul: fold the binary template
        text = args[0]
        for a in args[1:]:
            text = template.format(text, a)
    else:
        text = template.format(*args)
    return f"(({t}){text})"


def _format(v) -> str:
    if isinstance(v, complex):
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, bool):
        return "True" if v else "False"
    return str(v)


def _parse(text, dtype):
    kind = np.dtype(dtype).kind
    if kind == "b":
        return text == "True"
    if kind in "iu":
        return int(text)
    if kind == "c":
        return complex(text)
    return float(text)
