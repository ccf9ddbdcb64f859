"""Jacobians and Hessians without one backward graph per output element.

Design. ``jacobian(y, x)`` for a vector y of length n needs n vector-Jacobian products
``vjp(v) = Lop(y, x, v)`` at the rows of the identity. Building n copies of the backward
graph (Theano's scan-free fallback) makes the graph, and compile time, grow with n. Instead
the VJP graph is built **once**, for a symbolic cotangent v, and a ``Vectorized`` op holds it
as an inner graph and maps it over a batch of v (here the n rows of the identity: an
`identity` input of the op, given by any vector of length n, the expression itself or, for a
Hessian, x; the rows are made inside the op). The outer graph is therefore the same size for
n = 3 and n = 300.

``Vectorized`` is generic: any inner graph, any subset of inputs batched along a new leading
axis (the others shared by every batch item), each output either stacked along the batch
axis or summed over it. ``perform`` evaluates the inner graph batched when it can (below),
else once per batch item (the numpy reference; either graph is compiled once per op). Its
``L_op`` is again a ``Vectorized`` op, over the inner graph's own VJP: gradients of batched
inputs are stacked, those of shared inputs summed over the batch, so
``hessian = jacobian(grad(cost, x), x)`` is itself differentiable, and ``Rop`` reaches it
through the transpose of that ``L_op``.

Batching. When every op of the inner graph that depends on a batched input has a batching
rule (``batch_graph``: Elemwise, DimShuffle, Dot, Sum/Prod/Max/Min/Any/All, Subtensor and
IncSubtensor with shared indices), ``perform`` runs a second, *batched* inner graph once
instead of looping: each variable depending on a batched input gets a leading batch dim
(JAX's vmap). When the batched value is the identity (an `identity` input, as in
``jacobian``, or a ``BasisRows`` value), the batched graph makes it itself (``Eye``: a fresh
buffer a gemm may write into) and a product with the identity rows is the other operand or
its transpose, so W6's Hessian is one scaled matrix product into the identity. An op without
a rule anywhere on that path sends the op back to the per-item loop. The batched graph
lives only inside ``perform``: the op, its ``L_op`` and the outer graph are the same either
way, so gradients and graph size do not change. It is compiled in the default mode
(``BATCH_MODE``: rewrites, fusion, C kernels where available) since it runs once per call,
on whole batches; the per-item loop keeps the numpy reference executor.
"""
from __future__ import annotations

import numpy as np

from ..graph import Apply, Constant, Op, clone_replace, graph_inputs, toposort
from ..types import TensorType
from .reverse import Lop, _as_list, _as_var, grad, is_differentiable_dtype, zeros_for

__all__ = ["jacobian", "hessian", "hessian_vector_product", "Vectorized", "BasisRows",
           "vectorize_graph", "batch_graph"]


class BasisRows(Op):
    """numpy.eye(len(v), dtype=v.dtype): the rows of the identity, for a vector v."""

    def make_node(self, v):
        v = _as_var(v)
        if v.ndim != 1:
            raise TypeError(f"BasisRows needs a vector, got {v.type}")
        n = v.type.shape[0]
        return Apply(self, [v], [TensorType(v.dtype, (n, n))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.eye(inputs[0].shape[0], dtype=node.outputs[0].dtype)

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, eval_points):
        return [None]

    def infer_shape(self, node, input_shapes):
        n = input_shapes[0][0]
        return [(n, n)]


class Vectorized(Op):
    """An inner graph mapped over a leading batch axis: for each b,
    ``outs[b] = inner(*[x[b] if batched else x for x in inputs])``; outputs flagged `summed`
    are summed over b instead of stacked.

    An input flagged in `identity` (a batched vector) is given by any vector u of the batch
    length: its items are the rows of the identity, ``e_b``, never stored as an n x n matrix
    outside the op (``jacobian`` passes the expression itself). Its gradient is
    disconnected: u only gives the length."""

    def __init__(self, inner_inputs, inner_outputs, batched, summed=None, name="Vectorized",
                 identity=None):
        self.inner_inputs = list(inner_inputs)
        self.inner_outputs = list(inner_outputs)
        self.batched = tuple(bool(b) for b in batched)
        self.summed = tuple(bool(s) for s in (summed or [False] * len(self.inner_outputs)))
        self.identity = tuple(bool(e) for e in (identity or [False] * len(self.inner_inputs)))
        if len(self.batched) != len(self.inner_inputs) or \
                len(self.identity) != len(self.inner_inputs):
            raise ValueError("Vectorized: one batched (and identity) flag per inner input")
        if len(self.summed) != len(self.inner_outputs):
            raise ValueError("Vectorized: one summed flag per inner output")
        if not any(self.batched):
            raise ValueError("Vectorized: at least one input must be batched")
        for x, b, e in zip(self.inner_inputs, self.batched, self.identity):
            if e and (not b or x.ndim != 1):
                raise ValueError(f"Vectorized: an identity input must be a batched vector, "
                                 f"got {x.type} (batched={b})")
        self.name = name
        self.use_batching = True     # False: always the per-item loop (tests compare both)
        self._fn = None
        self._batched = {}           # identity flags -> (fn, out_batched), or False: no rule

    # each instance holds its own graph: compare by identity
    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)

    def __str__(self):
        return f"{self.name}{{{len(self.inner_outputs)} outputs}}"

    __repr__ = __str__

    def make_node(self, *inputs):
        from ..errors import op_build_error
        inputs = [_as_var(x) for x in inputs]
        if len(inputs) != len(self.inner_inputs):
            raise op_build_error(self, inputs, f"takes {len(self.inner_inputs)} inputs, got "
                                 f"{len(inputs)}", TypeError)
        batch = None
        for x, inner, b, e in zip(inputs, self.inner_inputs, self.batched, self.identity):
            if e:       # any vector: only its length is read
                if x.ndim != 1:
                    raise op_build_error(self, inputs, f"identity input {x!r} has type "
                                         f"{x.type}; expected a vector", TypeError)
            elif x.ndim != inner.ndim + (1 if b else 0) or x.dtype != inner.dtype:
                want = inner.ndim + (1 if b else 0)
                raise op_build_error(self, inputs, f"input {x!r} has type {x.type}; expected "
                                     f"{want}-d {inner.dtype}" + (" (batched)" if b else ""),
                                     TypeError)
            if b and x.type.shape[0] is not None:
                batch = x.type.shape[0]
        outs = []
        for o, s in zip(self.inner_outputs, self.summed):
            shape = o.type.shape if s else (batch,) + o.type.shape
            outs.append(TensorType(o.dtype, shape)())
        return Apply(self, inputs, outs)

    def connection_pattern(self, node):
        return [[not e] * len(node.outputs) for e in self.identity]

    def _compiled(self):
        if self._fn is None:
            from ..compile.function import function
            self._fn = function(self.inner_inputs, self.inner_outputs, mode="py",
                                on_unused_input="ignore")
        return self._fn

    def batched_function(self, identity=None):
        """(compiled batched inner graph, which of its outputs carry the batch dim), or
        None when some op on a batched path has no batching rule (``batch_graph``).
        `identity` flags the batched inputs known to be the rows of the identity (those of
        ``self.identity`` always are); the compiled function then takes the batch length for
        each of them instead of its value."""
        identity = tuple(bool(i) or e for i, e in
                         zip(identity or [False] * len(self.inner_inputs), self.identity))
        if identity not in self._batched:
            built = batch_graph(self.inner_inputs, self.inner_outputs, self.batched, identity)
            if built is None:
                self._batched[identity] = False
            else:
                from ..compile.function import function
                new_inputs, new_outputs, out_batched = built
                fn = function(new_inputs, new_outputs, mode=BATCH_MODE,
                              on_unused_input="ignore")
                self._batched[identity] = (fn, out_batched)
        return self._batched[identity] or None

    def perform(self, node, inputs, output_storage):
        sizes = {x.shape[0] for x, b in zip(inputs, self.batched) if b}
        if len(sizes) != 1:
            raise ValueError(f"{self}: batched inputs have different leading sizes {sorted(sizes)}")
        (n,) = sizes
        batched = None
        if self.use_batching:
            identity = [e or (b and x.owner is not None and isinstance(x.owner.op, BasisRows))
                        for x, b, e in zip(node.inputs, self.batched, self.identity)]
            batched = self.batched_function(identity)
        if batched is not None:
            fn, out_batched = batched
            # a 0-d array, not a numpy scalar: the function's fast path takes only arrays
            size = np.array(n, dtype=np.int64)
            args = [size if e else x for x, e in zip(inputs, identity)]
            for k, r in enumerate(fn(*args)):
                dtype = node.outputs[k].type.numpy_dtype
                if out_batched[k]:
                    out = r.sum(axis=0, dtype=dtype) if self.summed[k] else r
                elif self.summed[k]:           # the same value for every item, n times
                    out = r * n if n else np.zeros_like(r)
                else:
                    out = np.broadcast_to(r, (n,) + r.shape).copy()
                output_storage[k][0] = np.asarray(out, dtype=dtype)
            return
        fn = self._compiled()
        results = [[] for _ in self.inner_outputs]
        if any(self.identity):
            # the identity rows, one at a time
            inputs = [_EyeRows(n, inner.dtype) if e else x
                      for x, e, inner in zip(inputs, self.identity, self.inner_inputs)]
        if n == 0:
            # run once on zeros to learn the item shapes
            probe = fn(*[np.zeros(x.shape[1:], x.dtype) if b else x
                         for x, b in zip(inputs, self.batched)])
            for k, (r, s) in enumerate(zip(probe, self.summed)):
                out = np.zeros_like(r) if s else np.zeros((0,) + r.shape, r.dtype)
                output_storage[k][0] = np.asarray(out, dtype=node.outputs[k].dtype)
            return
        for i in range(n):
            vals = fn(*[x[i] if b else x for x, b in zip(inputs, self.batched)])
            for k, v in enumerate(vals):
                if self.summed[k]:
                    if results[k]:
                        results[k][0] = results[k][0] + v
                    else:
                        results[k].append(np.array(v, copy=True))
                else:
                    results[k].append(v)
        for k, r in enumerate(results):
            out = r[0] if self.summed[k] else np.stack(r)
            output_storage[k][0] = np.asarray(out, dtype=node.outputs[k].dtype)

    def L_op(self, inputs, outputs, output_grads):
        # inner VJP: cotangents w_k for the inner outputs; a summed output's cotangent is the
        # same for every batch item (shared), a stacked one's is batched
        ws = [o.type() for o in self.inner_outputs]
        diff_in = [i for i, x in enumerate(self.inner_inputs)
                   if is_differentiable_dtype(x.dtype) and not self.identity[i]]
        diff_out = [k for k, o in enumerate(self.inner_outputs)
                    if is_differentiable_dtype(o.dtype)]
        if not diff_in or not diff_out:
            return [None] * len(inputs)
        g_inner = Lop([self.inner_outputs[k] for k in diff_out],
                      [self.inner_inputs[i] for i in diff_in], [ws[k] for k in diff_out])
        op = Vectorized(self.inner_inputs + [ws[k] for k in diff_out], g_inner,
                        batched=list(self.batched) + [not self.summed[k] for k in diff_out],
                        summed=[not self.batched[i] for i in diff_in],
                        name=f"{self.name}_grad",
                        identity=list(self.identity) + [False] * len(diff_out))
        res = op(*(list(inputs) + [output_grads[k] for k in diff_out]))
        res = res if isinstance(res, list) else [res]
        out = [None] * len(inputs)
        for i, r in zip(diff_in, res):
            out[i] = r
        return out


class _EyeRows:
    """The rows of numpy.eye(n, dtype=dtype), made one at a time (the per-item loop over an
    identity input), with the ``shape``/``dtype``/``[i]`` the loop reads."""

    def __init__(self, n, dtype):
        self.shape, self.dtype = (int(n), int(n)), np.dtype(dtype)

    def __getitem__(self, i):
        row = np.zeros(self.shape[1], self.dtype)
        row[i] = 1
        return row


# the mode of the batched inner graph (None: the default mode, rewrites and C kernels)
BATCH_MODE = None
_REDUCE_RULES = ("Sum", "Prod", "ProdWithoutZeros", "Max", "Min", "Any", "All")


def _batch_node(node, ins, batched_in, identity=()):
    """The outputs of `node` with a leading batch dim, given its inputs `ins` (those flagged
    in `batched_in` with a batch dim added in front); None when there is no rule. The
    batched variables in `identity` are the rows of the identity."""
    from ..ops import blas, reduce, subtensor
    from ..ops.alloc import alloc
    from ..ops.elemwise import DimShuffle, Elemwise, dimshuffle
    from ..ops.subtensor import Subtensor
    op = node.op
    if isinstance(op, Elemwise):
        # Elemwise pads the shared inputs on the left: they broadcast along the batch dim
        return op.make_node(*ins).outputs
    if isinstance(op, DimShuffle):
        order = (0,) + tuple("x" if o == "x" else o + 1 for o in op.new_order)
        return [dimshuffle(ins[0], order)]
    if type(op) is blas.Dot:
        (a, b), (ba, bb) = ins, batched_in
        ka, kb = node.inputs[0].ndim, node.inputs[1].ndim
        dtype = node.outputs[0].dtype
        # the rows e_i of the identity: dot(e_i, b) = b[i] and dot(a, e_i) = a[..., i]
        if ba and not bb and ka == 1 and a in identity and b.dtype == dtype:
            return [b]
        if bb and not ba and kb == 1 and b in identity and a.dtype == dtype:
            return [a if ka == 1 else dimshuffle(a, (1, 0))]
        if ba and bb:
            # (B, [n,] k) . (B, k[, m])
            return [blas.batched_dot(a, b)]
        if ba:                                 # (B, [n,] k) . (k[, m])
            return [blas.dot(a, b) if ka == 1 else blas.tensordot(a, b, [[2], [0]])]
        if kb == 1:                            # ([n,] k) . (B, k)
            return [blas.dot(b, a) if ka == 1 else blas.dot(b, dimshuffle(a, (1, 0)))]
        if ka == 1:                            # (k) . (B, k, m)
            return [blas.tensordot(a, b, [[0], [1]])]
        out = blas.tensordot(a, b, [[1], [1]])     # (n, k) . (B, k, m) -> (n, B, m)
        return [dimshuffle(out, (1, 0, 2))]
    if type(op) in (subtensor.Subtensor, subtensor.IncSubtensor):
        # a full slice in front; the index inputs must be shared
        n_data = 1 if type(op) is subtensor.Subtensor else 2
        if any(batched_in[n_data:]):
            return None
        idx = (subtensor.Slice(None, None, None),) + tuple(op.idx_list)
        if n_data == 1:
            return Subtensor(idx).make_node(*ins).outputs
        x, v = ins[:2]
        if not batched_in[0]:      # x[b] = x for every item; v[b] goes into it
            x = alloc(x, v.shape[0], *[x.shape[d] for d in range(x.ndim)])
        return type(op)(idx, op.set_instead_of_inc).make_node(x, v, *ins[2:]).outputs
    if type(op).__name__ in _REDUCE_RULES and isinstance(op, reduce.Reduce):
        nd = node.inputs[0].ndim
        axes = range(nd) if op.axis is None else [a + nd if a < 0 else a for a in op.axis]
        props = {p: getattr(op, p) for p in op.__props__}
        props["axis"] = tuple(a + 1 for a in axes)
        return type(op)(**props).make_node(ins[0]).outputs
    return None


def batch_graph(inputs, outputs, batched, identity=None):
    """`outputs` with a leading batch dim on every variable that depends on an input flagged
    in `batched` (JAX's vmap), as ``(new_inputs, new_outputs, out_batched)``: `new_inputs`
    are the batched inputs with the batch dim and the shared ones themselves, `out_batched`
    says which outputs got the batch dim (the others depend on shared inputs only). None when
    an op on a batched path has no batching rule (see ``_batch_node``). `identity` flags the
    batched vectors whose values will be the rows of the identity: the new input is then
    the batch length (an int64 scalar), the identity is made inside the graph (so a product
    may write into it in place), and a product with it is the other operand (or its
    transpose)."""
    from ..ops.alloc import eye
    memo = {}
    new_inputs = []
    ident = set()
    for x, b, e in zip(inputs, batched, identity or [False] * len(inputs)):
        if b and e:
            if x.ndim != 1:
                return None
            n = TensorType("int64", ())()
            memo[x] = eye(n, n, 0, dtype=x.dtype)
            ident.add(memo[x])
            new_inputs.append(n)
        elif b:
            xb = TensorType(x.dtype, (None,) + tuple(x.type.shape))()
            memo[x] = xb
            new_inputs.append(xb)
        else:
            new_inputs.append(x)
    for node in toposort(outputs):
        flags = [i in memo for i in node.inputs]
        if not any(flags):
            continue
        try:
            outs = _batch_node(node, [memo.get(i, i) for i in node.inputs], flags, ident)
        except (TypeError, ValueError):
            outs = None
        if outs is None or len(outs) != len(node.outputs):
            return None
        for o, ob in zip(node.outputs, outs):
            if ob.dtype != o.dtype or ob.ndim != o.ndim + 1:
                return None
            memo[o] = ob
    return new_inputs, [memo.get(o, o) for o in outputs], [o in memo for o in outputs]


def vectorize_graph(outputs, batch_over, batched_values, identity=False):
    """``Vectorized`` applied to the graph `outputs`, mapping the placeholders `batch_over`
    over the leading axis of `batched_values`; every other free variable is shared. With
    `identity`, the `batch_over` vectors run over the rows of the identity instead, and each
    of `batched_values` is a vector giving the number of rows."""
    outputs = list(outputs)
    free = [v for v in graph_inputs(outputs)
            if not isinstance(v, Constant) and v not in batch_over]
    placeholders = [v.type() for v in list(batch_over) + free]
    mapping = dict(zip(list(batch_over) + free, placeholders))
    inner_outs = clone_replace(outputs, mapping)
    op = Vectorized(placeholders, inner_outs,
                    batched=[True] * len(batch_over) + [False] * len(free),
                    identity=[bool(identity)] * len(batch_over) + [False] * len(free))
    res = op(*(list(batched_values) + free))
    return res if isinstance(res, list) else [res]


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt for a vector (or scalar) `expression`: shape ``(n,) + wrt.shape``.

    >>> x = T.dvector('x')
    >>> J = jacobian(x ** 2, x)          # diag(2 x)

    One VJP graph is built and mapped over the rows of the identity (see the module
    docstring): the graph size does not depend on n. `wrt` may be a list (a list comes back).
    """
    return _jacobian(expression, wrt, consider_constant, disconnected_inputs)


def _jacobian(expression, wrt, consider_constant, disconnected_inputs, rows_like=None):
    """jacobian; `rows_like`: a vector as long as `expression` that is cheaper to have (the
    Vectorized op reads only its length), e.g. x for the gradient with respect to x."""
    expression = _as_var(expression)
    wrts, single = _as_list(wrt, "jacobian: wrt")
    if expression.ndim == 0:
        res = grad(expression, wrts, consider_constant=consider_constant,
                   disconnected_inputs=disconnected_inputs)
        return res[0] if single else res
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression must be a vector (or a scalar), got "
                        f"{expression.type}; flatten it first")
    v = expression.type()
    v.name = "cotangent"
    vjps = Lop(expression, wrts, v, consider_constant=consider_constant,
               disconnected_inputs=disconnected_inputs)
    vjps = [g if g is not None else zeros_for(w) for g, w in zip(vjps, wrts)]
    # the cotangents are the rows of the identity: the expression gives their number
    res = vectorize_graph(vjps, [v], [expression if rows_like is None else rows_like],
                          identity=True)
    return res[0] if single else res


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Matrix of second derivatives of the scalar `cost` with respect to the vector `wrt`
    (or a list of vectors: a list of Hessians).

    >>> H = hessian((x ** 2).sum(), x)   # 2 I
    """
    cost = _as_var(cost)
    wrts, single = _as_list(wrt, "hessian: wrt")
    out = []
    for w in wrts:
        if w.ndim != 1:
            raise TypeError(f"hessian: wrt must be a vector (or a list of vectors), got "
                            f"{w!r} of type {w.type}")
        g = grad(cost, w, consider_constant=consider_constant,
                 disconnected_inputs=disconnected_inputs)
        # the gradient has w's shape: w gives the number of rows without computing g
        out.append(_jacobian(g, w, consider_constant, "ignore", rows_like=w))
    return out[0] if single else out


def hessian_vector_product(cost, wrt, p, consider_constant=None):
    """H·p without forming H: the VJP of ``grad(cost, wrt)`` at p (H is symmetric).

    >>> Hp = hessian_vector_product(cost, x, p)

    `wrt` and `p` may be equally long lists (the Hessian of all of them, times p).
    """
    wrts, single = _as_list(wrt, "hessian_vector_product: wrt")
    ps = list(p) if isinstance(p, (list, tuple)) else [p]
    if len(ps) != len(wrts):
        raise ValueError(f"hessian_vector_product: {len(wrts)} wrt but {len(ps)} vectors p")
    gs = grad(cost, wrts, consider_constant=consider_constant)
    res = Lop(gs, wrts, ps, consider_constant=consider_constant)
    return res[0] if single else res
