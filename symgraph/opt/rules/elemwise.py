"""Rules for Elemwise and DimShuffle: dimshuffle chains, elementwise fusion into
Composites, and in-place elementwise ops."""
from __future__ import annotations

from ...graph import Constant, io_toposort
from ...ops import scalar as S
from ...ops.composite import Composite, c_fusable
from ...ops.elemwise import DimShuffle, Elemwise
from ...tensor.var import TensorConstant
from ..engine import local_rule
from ..utils import scalar_op_of

# -- dimshuffle chains ----------------------------------------------------------------------


def _compose(inner, outer):
    """The DimShuffle pattern of ``outer(inner(x))`` as one pattern on x."""
    return tuple("x" if o == "x" else inner.new_order[o] for o in outer.new_order)


def _dimshuffle(x, new_order):
    """DimShuffle(x) with `new_order`, applied to data directly for a constant."""
    new_order = tuple(new_order)
    if new_order == tuple(range(x.ndim)):
        return x
    op = DimShuffle(x.ndim, new_order)
    if isinstance(x, Constant):
        node = op.make_node(x)
        storage = [[None]]
        op.perform(node, [x.data], storage)
        return TensorConstant(node.outputs[0].type, storage[0][0].copy())
    return op(x)


@local_rule("canonicalize", DimShuffle, name="dimshuffle_of_dimshuffle",
            tags=("dimshuffle",))
def dimshuffle_of_dimshuffle(fgraph, node):
    """x.dimshuffle(p).dimshuffle(q) -> x.dimshuffle(p∘q); identity patterns vanish."""
    (x,) = node.inputs
    if node.op.new_order == tuple(range(x.ndim)):
        return [x]
    if x.owner is None or not isinstance(x.owner.op, DimShuffle):
        return None
    inner = x.owner.op
    order = _compose(inner, node.op)
    new = _dimshuffle(x.owner.inputs[0], order)
    return [new] if new.type == node.outputs[0].type else None


@local_rule("canonicalize", DimShuffle, name="dimshuffle_lift", tags=("dimshuffle",))
def dimshuffle_lift(fgraph, node):
    """DimShuffle(elemwise(a, b)) -> elemwise(DimShuffle(a), DimShuffle(b)) when that
    cancels or merges another DimShuffle (or reshapes a constant): transposes cancel out
    and broadcast patterns reach the leaves, where fusion wants them."""
    (x,) = node.inputs
    inner = x.owner
    if scalar_op_of(inner) is None or len(fgraph.client_nodes(x)) != 1 or fgraph.is_output(x):
        return None
    pays = any(isinstance(i, Constant) or (i.owner is not None
                                           and isinstance(i.owner.op, DimShuffle))
               for i in inner.inputs)
    if not pays:
        return None
    new_inputs = [_dimshuffle(i, node.op.new_order) for i in inner.inputs]
    new = inner.op(*new_inputs)
    out = node.outputs[0]
    return [new] if new.type == out.type or out.type.is_super(new.type) else None


# -- fusion ---------------------------------------------------------------------------------

#: the most inputs and steps a fused loop takes (C argument lists and expressions stay small)
MAX_FUSED_INPUTS = 32
MAX_FUSED_STEPS = 128

#: scalar ops whose numpy result may be the input itself (np.real of a real array):
#: never fused, never written in place
_ALIASING = (S.Real, S.Imag)


def _fusable(node) -> bool:
    """An out-of-place, one-output Elemwise whose loop the C backend can compile."""
    sop = scalar_op_of(node)
    if sop is None or len(node.outputs) != 1 or isinstance(sop, _ALIASING):
        return False
    if isinstance(sop, Composite):
        return True
    return c_fusable(sop, [i.dtype for i in node.inputs], node.outputs[0].dtype)


def _n_steps(node) -> int:
    sop = node.op.scalar_op
    return len(sop.steps) if isinstance(sop, Composite) else 1


def _expand_only(op) -> bool:
    """A DimShuffle that only inserts broadcastable dimensions (the order is kept)."""
    kept = [o for o in op.new_order if o != "x"]
    return isinstance(op, DimShuffle) and not op.drop and kept == sorted(kept)


def _embed(order, pattern):
    """Compose an embedding (a DimShuffle pattern into the root's dims, None = identity)
    with a DimShuffle `pattern` met on the way up."""
    if order is None:
        return tuple(pattern)
    return tuple("x" if o == "x" else pattern[o] for o in order)


def _embedded_bcast(var, order):
    b = var.type.broadcastable
    if order is None:
        return b
    return tuple(True if o == "x" else b[o] for o in order)


class _Fusion:
    """Grow the largest elementwise tree ending at `root` whose inner values nobody else
    reads and whose loops all have the root's shape, then spell it as one Composite."""

    def __init__(self, fgraph, root):
        self.fgraph = fgraph
        self.root = root
        self.bcast = root.outputs[0].type.broadcastable
        self.nodes = {root: None}       # absorbed Elemwise / DimShuffle node -> embedding
        self.n_steps = _n_steps(root)

    def grow(self):
        """Take in producers until none fits; False when nothing was taken in."""
        fg = self.fgraph
        queue = [(i, None) for i in self.root.inputs]
        blocked = []      # read by nodes outside the tree (so far): retried after progress
        while queue:
            while queue and self.n_steps < MAX_FUSED_STEPS:
                var, order = queue.pop()
                got = self._absorb(fg, var, order)
                if got is False:
                    return False
                if got == "blocked":
                    blocked.append((var, order))
                elif got:
                    queue.extend(got)
            if self.n_steps >= MAX_FUSED_STEPS:
                break
            before = len(self.nodes)
            for var, order in blocked:
                got = self._absorb(fg, var, order)
                if got is False:
                    return False
                if got and got != "blocked":
                    queue.extend(got)
            blocked = [b for b in blocked if b[0].owner not in self.nodes]
            if len(self.nodes) == before:
                break
        return len(self.nodes) > 1

    def _absorb(self, fg, var, order):
        """New (var, embedding) pairs to look at when `var` is taken in; None when it stays
        an input; "blocked" when it may be taken in once its other readers are; False when
        the embeddings disagree."""
        node = var.owner
        if node is None or fg.is_output(var):
            return None
        if node in self.nodes:
            return False if self.nodes[node] != order else None
        if any(c not in self.nodes for c in fg.client_nodes(var)):
            return "blocked"
        if isinstance(node.op, DimShuffle) and _expand_only(node.op):
            (u,) = node.inputs
            inner = _embed(order, node.op.new_order)
            if u.owner is None or not _fusable(u.owner) or fg.is_output(u) or \
                    fg.client_nodes(u) != [node] or \
                    _embedded_bcast(u, inner) != self.bcast:
                return None
            self.nodes[node] = order
            return [(u, inner)]
        if not _fusable(node) or _embedded_bcast(var, order) != self.bcast or \
                self.n_steps + _n_steps(node) > MAX_FUSED_STEPS:
            return None
        self.nodes[node] = order
        self.n_steps += _n_steps(node)
        return [(i, order) for i in node.inputs]

    def build(self):
        """The replacement of the root's output: Elemwise(Composite) on the leaves."""
        absorbed_vars = {o for n in self.nodes for o in n.outputs}
        leaves = []
        for n, order in self.nodes.items():
            for i in n.inputs:
                if i not in absorbed_vars:
                    leaves.append(i)
        order_nodes = io_toposort(set(leaves), [self.root.outputs[0]])
        inputs, input_index, consts, const_index = [], {}, [], {}
        steps, ref_of = [], {}

        def leaf_ref(var, emb):
            if isinstance(var, Constant) and var.data.size == 1:
                entry = Composite.const_entry(var.data.reshape(()), var.dtype)
                if entry not in const_index:
                    const_index[entry] = len(consts)
                    consts.append(entry)
                return ("c", const_index[entry])
            key = (var, emb)
            if key not in input_index:
                input_index[key] = len(inputs)
                inputs.append(var if emb is None else _dimshuffle(var, emb))
            return ("i", input_index[key])

        for n in order_nodes:
            emb = self.nodes[n]
            if isinstance(n.op, DimShuffle):
                (u,) = n.inputs
                ref_of[n.outputs[0]] = ref_of[u]
                continue
            refs = [ref_of[i] if i in ref_of else leaf_ref(i, emb) for i in n.inputs]
            sop = n.op.scalar_op
            if isinstance(sop, Composite):
                base = len(steps)
                for op, inner_refs, dtype in sop.steps:
                    new_refs = []
                    for kind, k in inner_refs:
                        if kind == "i":
                            new_refs.append(refs[k])
                        elif kind == "c":
                            entry = sop.consts[k]
                            if entry not in const_index:
                                const_index[entry] = len(consts)
                                consts.append(entry)
                            new_refs.append(("c", const_index[entry]))
                        else:
                            new_refs.append(("s", base + k))
                    steps.append((op, tuple(new_refs), dtype))
            else:
                steps.append((sop, tuple(refs), n.outputs[0].dtype))
            ref_of[n.outputs[0]] = ("s", len(steps) - 1)
        if not inputs or len(inputs) > MAX_FUSED_INPUTS or len(steps) > MAX_FUSED_STEPS:
            return None
        comp = Composite([i.dtype for i in inputs], consts, steps)
        new = Elemwise(comp)(*inputs)
        old = self.root.outputs[0]
        if new.type != old.type and not old.type.is_super(new.type):
            return None
        return new


@local_rule("fuse", Elemwise, name="elemwise_fusion",
            tags=("fusion", "local_elemwise_fusion"))
def elemwise_fusion(fgraph, node):
    """A tree of elementwise nodes -> one Elemwise(Composite) node (one loop, no
    temporaries). An inner value is taken in only when the tree is its only reader and its
    loop has the result's broadcast pattern (so nothing is computed twice); DimShuffles
    that only add broadcastable dimensions are taken in too."""
    if not _fusable(node):
        return None
    f = _Fusion(fgraph, node)
    if not f.grow():
        return None
    new = f.build()
    return None if new is None else [new]


# -- in place -------------------------------------------------------------------------------

def _fresh_ops():
    """Ops whose outputs are always new buffers that nobody else holds: a destroyed value
    must be one of these (possibly seen through views). Elemwise allocates its result;
    dots return numpy's new arrays (or the C backend's); reductions copy when numpy would
    alias (reduce._as_out); the nnet ops and Alloc build new arrays. An op elsewhere can
    say so with ``fresh_outputs = True``."""
    from ...ops import blas, nnet, reduce
    from ...ops.alloc import Alloc
    return (Elemwise, blas.Dot, blas.TensorDot, blas.MatMul, reduce.Reduce, Alloc,
            nnet.Softmax, nnet.SoftmaxGrad, nnet.LogSoftmax, nnet.LogSoftmaxGrad,
            nnet.CrossentropyCategorical1Hot, nnet.CrossentropyCategorical1HotGrad,
            nnet.NegLogProb1Hot, nnet.NegLogProb1HotGrad, nnet.CrossentropyCategoricalDense)


_FRESH = []


def _fresh(node) -> bool:
    op = node.op
    if isinstance(op, Elemwise):
        return not isinstance(op.scalar_op, _ALIASING)
    if not _FRESH:
        _FRESH.append(_fresh_ops())
    return isinstance(op, _FRESH[0]) or getattr(op, "fresh_outputs", False) is True


def _value_readers(fgraph, var) -> list:
    """The nodes reading var's value: inputs from an op's `n_value_inputs` on only order
    the schedule (an in-place Gemm update waits for the readers of the old weight)."""
    out = []
    for c, k in fgraph.clients.get(var, ()):
        if c != "output" and c not in out and k < getattr(c.op, "n_value_inputs", k + 1):
            out.append(c)
    return out


def destroyable(fgraph, var, reader) -> bool:
    """True when `reader` may overwrite `var`: it is var's only reader, and var is (a view
    of) an intermediate buffer that no one else reads: never a function input, a shared
    value, a constant, or a function output."""
    while True:
        if var in fgraph._input_set or isinstance(var, Constant) or var.owner is None:
            return False
        if fgraph.is_output(var) or _value_readers(fgraph, var) != [reader]:
            return False
        node = var.owner
        if node.op.destroy_map.get(var.index):
            # an in-place result: its buffer was checked to be this chain's alone when that
            # node was made in-place, and var has no other reader
            return True
        src = node.op.view_map.get(var.index)
        if not src:
            return _fresh(node)
        reader, var = node, node.inputs[src[0]]


@local_rule("inplace", Elemwise, name="inplace_elemwise", tags=("inplace",))
def inplace_elemwise(fgraph, node):
    """Elemwise -> Elemwise writing its result into an input's buffer, when that buffer is
    an intermediate value only this node reads (same dtype and shape as the result)."""
    op = node.op
    if op.inplace_pattern or len(node.outputs) != 1 or isinstance(op.scalar_op, _ALIASING):
        return None
    out = node.outputs[0]
    for k, inp in enumerate(node.inputs):
        if inp.dtype != out.dtype or inp.type.broadcastable != out.type.broadcastable:
            continue
        if not destroyable(fgraph, inp, node):
            continue
        new_op = Elemwise(op.scalar_op, {0: k}, name=op.name)
        new = new_op.make_node(*node.inputs).outputs[0]
        if new.type == out.type or out.type.is_super(new.type):
            return [new]
    return None
