"""Seeing graphs: debugprint (a tree with ids, types and the rewrite that made each node),
pp (infix formulas), pydotprint (an SVG/PNG picture through graphviz) and to_html (one
self-contained interactive page, in ``printing_html``).

Ops that hold graphs of their own (a fused ``Composite``, the branches of ``ifelse``, the
step of ``scan``) show them as collapsible sub-graphs: an op may say which with a method
``inner_graphs()`` returning ``[(label, inputs, outputs)]``; otherwise `inner_graphs`
looks for Composite scalar ops and for attributes holding ``inputs``/``outputs`` lists.
"""
from __future__ import annotations

import sys

from .graph import Constant, Variable, toposort

__all__ = ["debugprint", "pp", "pydotprint", "to_html", "inner_graphs", "graph_model"]


def _ident(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def debugprint(obj, file=None, print_type=True, depth=-1, ids="id", print_origin=False,
               print_inner=True):
    """Print the graph below `obj` (a variable, a list of them, an Apply or a compiled
    function) as an indented tree; shared subtrees are printed once and then referred to by
    id. Each node made by a rewrite shows the rule's name (``<- elemwise_fusion``). Ops
    holding graphs (ifelse branches, scan steps) have them printed after the tree under
    "Inner graphs:" (``print_inner=False`` leaves them out). ``file='str'`` returns the text
    instead of printing it.
    """
    roots, header = _roots(obj)
    ident = {}
    lines = list(header)
    _tree(roots, ident, lines, print_type, depth, print_origin)
    if print_inner:
        done, k = set(), 0
        while k < len(lines):      # inner graphs may hold inner graphs: walk what was added
            k = len(lines)
            for var in list(ident):
                node = var.owner
                if node is None or node in done or getattr(node.op, "scalar_op", None):
                    continue
                done.add(node)
                subs = inner_graphs(node.op)
                if not subs:
                    continue
                if "Inner graphs:" not in lines:
                    lines += ["", "Inner graphs:"]
                # the node's id is its first printed output's (a scan's output 0 may be unused)
                shown = next(o for o in node.outputs if o in ident)
                lines += ["", f"{node.op} [id {ident[shown]}]"]
                for lab, _, sub_outs in subs:
                    lines.append(f" # {lab}")
                    sub = []
                    _tree(sub_outs, ident, sub, print_type, depth, print_origin)
                    lines += [" " + ln for ln in sub]
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return obj


def _tree(roots, ident, lines, print_type, depth, print_origin):
    for root in roots:
        stack = [(root, 0)]
        while stack:
            var, level = stack.pop()
            first = var not in ident
            if first:
                ident[var] = _ident(len(ident))
            lines.append(_indent(level) + _describe(var, ident[var], print_type,
                                                    print_origin, first))
            node = var.owner
            if first and node is not None and (depth < 0 or level < depth):
                for i in reversed(node.inputs):
                    stack.append((i, level + 1))


_MAX_INDENT = 64


def _indent(level: int) -> str:
    """' | | |' for `level`; past _MAX_INDENT levels the bars are replaced by the level
    number, so a 10,000-deep chain prints in linear (not quadratic) space."""
    if level <= _MAX_INDENT:
        return " |" * level
    return " |" * 4 + f" ~{level}~" + " |" * 4


def _roots(obj):
    from .compile.function import Function
    if isinstance(obj, Function):
        fg = obj.maker.fgraph
        n = fg.n_outputs
        header = []
        if len(fg.outputs) > n:
            header = [f"# {len(fg.outputs) - n} update(s) follow the outputs"]
        return list(fg.outputs), header
    if isinstance(obj, Variable):
        return [obj], []
    if hasattr(obj, "outputs") and hasattr(obj, "op"):
        return list(obj.outputs), []
    if hasattr(obj, "outputs") and hasattr(obj, "inputs"):  # a FunctionGraph
        return list(obj.outputs), []
    return list(obj), []


def _describe(var, ident, print_type, print_origin, first):
    node = var.owner
    if node is None:
        label = repr(var) if isinstance(var, Constant) or var.name else f"<{var.type}>"
        text = f"{label} [id {ident}]"
    else:
        out = f".{var.index}" if len(node.outputs) > 1 else ""
        text = f"{node.op}{out} [id {ident}]"
        if var.name:
            text += f" '{var.name}'"
        reason = node.tag.get("reason")
        if reason:
            text += f" <- {reason}"
    if print_type:
        text += f" <{var.type.dtype}, {var.type.shape}>" if hasattr(var.type, "dtype") \
            else f" <{var.type}>"
    if print_origin and node is not None:
        from .errors import format_trace
        text += f"  # {format_trace(node.trace)}"
    if not first and node is not None:
        text += " ..."
    return text


_INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "true_div": ("/", 2),
          "int_div": ("//", 2), "mod": ("%", 2), "pow": ("**", 3), "lt": ("<", 0),
          "le": ("<=", 0), "gt": (">", 0), "ge": (">=", 0), "eq": ("==", 0),
          "neq": ("!=", 0), "and_": ("&", 0), "or_": ("|", 0), "xor": ("^", 0)}


def pp(var) -> str:
    """An infix formula for `var`: ``pp(x * 2 + y)`` gives ``'((x * 2) + y)'``."""
    # Each variable's text is a list of pieces: strings and the piece lists of its inputs
    # (shared, not copied), flattened once at the end; this keeps deep chains linear.
    text = {}
    for node in toposort([var]):
        args = [text.get(i) or [_leaf(i)] for i in node.inputs]
        name = getattr(node.op, "name", None) or type(node.op).__name__
        if name in _INFIX and len(args) >= 2:
            parts = ["("]
            for k, a in enumerate(args):
                parts += [f" {_INFIX[name][0]} ", a] if k else [a]
            parts.append(")")
        elif name == "neg":
            parts = ["-", args[0]]
        else:
            parts = [f"{name}("]
            for k, a in enumerate(args):
                parts += [", ", a] if k else [a]
            parts.append(")")
        for k, o in enumerate(node.outputs):
            text[o] = parts if len(node.outputs) == 1 else [parts, f"[{k}]"]
    return _flatten(text.get(var) or [_leaf(var)])


def _flatten(parts) -> str:
    out, stack = [], [iter(parts)]
    while stack:
        for p in stack[-1]:
            if isinstance(p, str):
                out.append(p)
            else:
                stack.append(iter(p))
                break
        else:
            stack.pop()
    return "".join(out)


def _leaf(v) -> str:
    if isinstance(v, Constant):
        return repr(v)
    return v.name or f"<{v.type}>"


# -- the graph as items and edges (pydotprint and to_html) ---------------------------------

def inner_graphs(op) -> list:
    """The graphs `op` holds, as ``[(label, inputs, outputs)]`` (empty for most ops)."""
    hook = getattr(op, "inner_graphs", None)
    if callable(hook):
        return [(str(lab), list(i), list(o)) for lab, i, o in hook()]
    sop = getattr(op, "scalar_op", None)
    if sop is not None and hasattr(sop, "expand") and hasattr(sop, "input_dtypes"):
        from .types import TensorType
        ins = [TensorType(d, ())(f"i{k}") for k, d in enumerate(sop.input_dtypes)]
        return [("fused scalar graph", ins, [sop.expand(ins)])]
    found = []
    for attr, val in sorted(vars(op).items()):
        ins, outs = getattr(val, "inputs", None), getattr(val, "outputs", None)
        if isinstance(ins, (list, tuple)) and isinstance(outs, (list, tuple)) and outs and \
                all(isinstance(v, Variable) for v in list(ins) + list(outs)) and \
                not hasattr(val, "op"):
            found.append((attr, list(ins), list(outs)))
    return found


class GraphModel:
    """A graph as drawable items: ``items`` (dicts with id, kind 'input'|'constant'|'apply'|
    'output', label, type text, details) and ``edges`` (src id, dst id, label), plus
    ``inner`` ({item id: [(label, GraphModel)]}) for ops holding graphs."""

    def __init__(self):
        self.items, self.edges, self.inner = [], [], {}

    def add(self, kind, label, **info):
        item = dict(id=f"n{len(self.items)}", kind=kind, label=label, **info)
        self.items.append(item)
        return item["id"]


def _type_text(var):
    t = var.type
    if hasattr(t, "dtype") and hasattr(t, "shape"):
        dims = ", ".join("?" if d is None else str(d) for d in t.shape)
        return f"{t.dtype}[{dims}]"
    return str(t)


def _fn_roots(obj):
    """(output variables, their labels, input variables) of what the user passed."""
    from .compile.function import Function
    if isinstance(obj, Function):
        fg = obj.maker.fgraph
        n = fg.n_outputs
        targets = getattr(fg, "update_targets", [])
        labels = [f"output {k}" if k < n else f"update of {targets[k - n]!r}"
                  for k in range(len(fg.outputs))]
        return list(fg.outputs), labels, list(fg.inputs), getattr(fg, "placement", None)
    roots, _ = _roots(obj)
    return roots, [v.name or f"output {k}" for k, v in enumerate(roots)], None, None


def graph_model(obj, max_depth=3, _depth=0, _labels=None, _inputs=None) -> GraphModel:
    """The GraphModel of a variable, a list of them, an Apply or a compiled function."""
    if _labels is None:
        roots, labels, inputs, placement = _fn_roots(obj)
    else:
        roots, labels, inputs, placement = list(obj), _labels, _inputs, None
    from .errors import format_trace
    m = GraphModel()
    ids = {}

    def leaf(v):
        if v in ids:
            return ids[v]
        if isinstance(v, Constant):
            text = _abbrev_const(v)
            ids[v] = m.add("constant", text, type=_type_text(v))
        else:
            ids[v] = m.add("input", v.name or f"<{_type_text(v)}>", type=_type_text(v))
        return ids[v]

    for v in inputs or ():
        leaf(v)
    for node in toposort(roots):
        outs = node.outputs
        info = dict(type=", ".join(_type_text(o) for o in outs),
                    op=type(node.op).__name__, origin=format_trace(node.trace))
        reason = node.tag.get("reason")
        if reason:
            info["reason"] = reason
        if placement:
            info["where"] = placement.get(node, "py")
        names = [o.name for o in outs if o.name]
        if names:
            info["names"] = ", ".join(names)
        srcs = [ids[i] if i in ids else leaf(i) for i in node.inputs]   # leaves first
        nid = m.add("apply", str(node.op), **info)
        for k, (i, src) in enumerate(zip(node.inputs, srcs)):
            m.edges.append((src, nid, _type_text(i) if len(node.inputs) < 2 else
                            f"{k}: {_type_text(i)}"))
        for o in outs:
            ids[o] = nid
        if _depth < max_depth:
            subs = []
            for lab, ins, sub_outs in inner_graphs(node.op):
                subs.append((lab, graph_model(sub_outs, max_depth, _depth + 1,
                                              [f"inner output {k}" for k in
                                               range(len(sub_outs))], ins)))
            if subs:
                m.inner[nid] = subs
    for v, lab in zip(roots, labels):
        src = ids[v] if v in ids else leaf(v)
        oid = m.add("output", lab, type=_type_text(v))
        m.edges.append((src, oid, _type_text(v)))
    return m


def _abbrev_const(v):
    data = getattr(v, "data", None)
    try:
        import numpy as np
        arr = np.asarray(data)
        if arr.size <= 4:
            return np.array2string(arr, separator=",", threshold=4).replace("\n", "")
        return f"const {arr.dtype}{arr.shape}"
    except Exception:
        return "const"


# -- pydotprint ----------------------------------------------------------------------------

_DOT_STYLE = {
    "input": dict(shape="ellipse", style="filled", fillcolor="#b7e4c7"),
    "constant": dict(shape="box", style="rounded,filled", fillcolor="#e9ecef", fontsize="10"),
    "apply": dict(shape="box", style="filled", fillcolor="#fff3bf"),
    "output": dict(shape="ellipse", style="filled", fillcolor="#a5d8ff"),
}


def _dot_graph(model, graph, prefix=""):
    for item in model.items:
        style = dict(_DOT_STYLE[item["kind"]])
        if item.get("where") == "c":
            style["fillcolor"] = "#ffd8a8"
        tip = "\n".join(f"{k}: {item[k]}" for k in ("type", "origin", "reason", "where")
                         if item.get(k))
        graph.node(prefix + item["id"], item["label"], tooltip=tip, **style)
    for src, dst, lab in model.edges:
        graph.edge(prefix + src, prefix + dst, label=lab, fontsize="9")
    for nid, subs in model.inner.items():
        for k, (lab, sub) in enumerate(subs):
            sp = f"{prefix}{nid}_{k}_"
            with graph.subgraph(name=f"cluster_{sp}") as c:
                c.attr(label=f"{lab}", style="dashed", color="#868e96")
                _dot_graph(sub, c, sp)
            graph.edge(prefix + nid, sp + sub.items[-1]["id"], style="dotted", arrowhead="none",
                       constraint="false")


def pydotprint(fn_or_var, outfile=None, format=None, max_depth=3, return_source=False):
    """Draw the graph of a compiled function or variable(s) to `outfile` with graphviz.

    >>> symgraph.printing.pydotprint(f, "graph.svg")        # or format='png'

    Apply nodes are boxes (orange when they run as C kernels), inputs green, outputs blue,
    constants grey; edges carry the types; ops holding graphs (fused Composites, scan,
    ifelse) draw them in dashed clusters. Needs the ``graphviz`` Python package and
    graphviz's ``dot`` program; raises ImportError / RuntimeError naming the missing piece.
    Returns the path written (or the DOT source with ``return_source=True``).
    """
    import os
    import shutil
    if format is None:
        ext = os.path.splitext(outfile or "")[1].lstrip(".").lower()
        format = ext if ext in ("svg", "png", "pdf", "dot") else "svg"
    if format not in ("svg", "png", "pdf", "dot"):
        raise ValueError(f"pydotprint: format must be 'svg', 'png', 'pdf' or 'dot', "
                         f"got {format!r}")
    try:
        import graphviz
    except ImportError as e:
        raise ImportError("pydotprint needs the 'graphviz' Python package (pip install "
                          "graphviz) and graphviz's 'dot' program (e.g. apt-get install "
                          "graphviz)") from e
    model = graph_model(fn_or_var, max_depth=max_depth)
    g = graphviz.Digraph("symgraph", graph_attr=dict(rankdir="TB", fontname="Helvetica"),
                         node_attr=dict(fontname="Helvetica", fontsize="11"),
                         edge_attr=dict(fontname="Helvetica", color="#495057"))
    _dot_graph(model, g)
    if return_source or format == "dot":
        if outfile and format == "dot":
            with open(outfile, "w") as f:
                f.write(g.source)
        return g.source
    if shutil.which("dot") is None:
        raise RuntimeError("pydotprint: graphviz's 'dot' program is not on PATH; install "
                           "graphviz (e.g. apt-get install graphviz) or use "
                           "format='dot' to get the DOT source")
    outfile = outfile or f"symgraph.{format}"
    data = g.pipe(format=format)
    with open(outfile, "wb") as f:
        f.write(data)
    return outfile


def to_html(fn_or_var, path, title=None, max_depth=3):
    """Write one self-contained HTML page (inline CSS/JS, nothing fetched) showing the graph
    with per-node types, shapes and source lines, and collapsible sub-graphs."""
    from .printing_html import to_html as _to_html
    return _to_html(fn_or_var, path, title=title, max_depth=max_depth)
