"""Seeing graphs: debugprint (a tree with ids and types) and pp (infix formulas)."""
from __future__ import annotations

import sys

from .graph import Constant, Variable, toposort

__all__ = ["debugprint", "pp"]


def _ident(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def debugprint(obj, file=None, print_type=True, depth=-1, ids="id", print_origin=False):
    """Print the graph below `obj` (a variable, a list of them, an Apply or a compiled
    function) as an indented tree; shared subtrees are printed once and then referred to by
    id. ``file='str'`` returns the text instead of printing it.
    """
    roots, header = _roots(obj)
    ident = {}
    lines = list(header)
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
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return obj


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
