"""debugprint shows the rewrite behind each node and inner graphs; pydotprint draws an SVG
naming the ops (graphviz); to_html writes one self-contained page that headless Chromium
renders with the graph's nodes."""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from xml.etree import ElementTree

import numpy as np
import pytest

import symgraph
import symgraph.tensor as T
from symgraph.graph import Apply, Op
from symgraph.printing import debugprint, graph_model, inner_graphs, pydotprint, to_html
from symgraph.types import TensorType

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)


def _model_fn():
    x = T.dmatrix("x")
    w = symgraph.shared(np.linspace(0, 1, 9).reshape(3, 3), "w")
    cost = T.tanh(T.dot(x, w)).sum() * 2 + T.exp(x).mean()
    return symgraph.function([x], cost, updates=[(w, w * 0.5)], name="model"), x


def test_debugprint_of_function_names_the_rewrite_of_each_node():
    x = T.dvector("x")
    f = symgraph.function([x], T.exp(x) * 2 + 1, mode="FAST_RUN")
    text = debugprint(f, file="str")
    node = f.maker.fgraph.outputs[0].owner
    reason = node.tag.get("reason")
    assert reason, "the fused node records the rewrite that made it"
    assert text.splitlines()[0].startswith(f"{node.op} [id A] <- {reason}")
    plain = debugprint(symgraph.function([x], T.exp(x) * 2 + 1, mode="py"), file="str")
    assert "<-" not in plain                      # nothing rewritten in py mode


class _Twice(Op):
    """f(f(x)) for an inner graph f (a test op holding a graph)."""
    __props__ = ()

    def __init__(self):
        self.h = T.dvector("h")
        self.body = T.sin(self.h) + 1

    def inner_graphs(self):
        return [("body", [self.h], [self.body])]

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [TensorType("float64", (None,))()])

    def perform(self, node, inputs, out):
        v = inputs[0]
        out[0][0] = np.sin(np.sin(v) + 1) + 1


def test_inner_graphs_hook_composite_and_debugprint_section():
    x = T.dvector("x")
    y = _Twice()(x) * 3
    subs = inner_graphs(y.owner.inputs[0].owner.op)
    assert [s[0] for s in subs] == ["body"]
    text = debugprint(y, file="str")
    assert "Inner graphs:" in text and "# body" in text
    assert re.search(r"\n  \|sin \[id [A-Z]+\]", text)
    assert "Inner graphs:" not in debugprint(y, file="str", print_inner=False)
    f = symgraph.function([x], T.exp(x) * 2 + 1)
    comp = f.maker.fgraph.outputs[0].owner
    if getattr(comp.op, "scalar_op", None) is not None and \
            type(comp.op.scalar_op).__name__ == "Composite":
        (lab, ins, outs), = inner_graphs(comp.op)
        assert len(ins) == 1 and outs[0].ndim == 0
        m = graph_model(f)
        assert len(m.inner) == 1
        (sub_label, sub), = next(iter(m.inner.values()))
        ops = {it["label"] for it in sub.items if it["kind"] == "apply"}
        assert {"Exp", "Mul", "Add"} <= ops, ops


def test_graph_model_items_edges_and_details():
    f, x = _model_fn()
    m = graph_model(f)
    kinds = [it["kind"] for it in m.items]
    assert kinds.count("input") == 2 and kinds.count("output") == 2
    assert kinds.count("apply") == len(f.maker.fgraph.toposort())
    ids = {it["id"] for it in m.items}
    assert all(s in ids and d in ids for s, d, _ in m.edges)
    dot = next(it for it in m.items if it["label"] == "Dot")
    assert dot["type"] == "float64[?, ?]"
    assert "test_graph_pictures.py:" in dot["origin"]
    assert {it["label"] for it in m.items if it["kind"] == "output"} == \
        {"output 0", "update of w"}


def test_ifelse_branches_are_sub_graphs():
    ifelse = pytest.importorskip("symgraph.ifelse").ifelse
    c, x = T.dscalar("c"), T.dvector("x")
    f = symgraph.function([c, x], ifelse(c > 0, T.exp(x).sum(), x.sum()), mode="py")
    m = graph_model(f)
    (subs,) = m.inner.values()
    assert len(subs) == 2
    labels = [{it["label"] for it in s.items} for _, s in subs]
    assert any("exp" in ls for ls in labels)
    assert "Inner graphs:" in debugprint(f, file="str")


def test_pydotprint_names_the_missing_pieces(monkeypatch, tmp_path):
    f, _ = _model_fn()
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="'graphviz' Python package.*'dot' program"):
        pydotprint(f, str(tmp_path / "g.svg"))
    monkeypatch.delitem(sys.modules, "graphviz")
    pytest.importorskip("graphviz")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="'dot' program is not on PATH"):
        pydotprint(f, str(tmp_path / "g.svg"))
    with pytest.raises(ValueError, match="format"):
        pydotprint(f, str(tmp_path / "g.gif"), format="gif")


def test_pydotprint_dot_source_names_ops():
    pytest.importorskip("graphviz")
    f, _ = _model_fn()
    src = pydotprint(f, return_source=True)
    assert src.startswith("digraph") and "Dot" in src and "tanh" in src
    assert "update of w" in src


def test_pydotprint_svg_parses_and_names_ops(tmp_path):
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot program is not installed")
    f, _ = _model_fn()
    out = pydotprint(f, str(tmp_path / "g.svg"))
    tree = ElementTree.parse(out)
    texts = {t.text for t in tree.iter("{http://www.w3.org/2000/svg}text") if t.text}
    assert {"x", "w", "update of w"} <= texts
    for op in ("Dot", "tanh", "exp"):          # ops may carry rewrite marks: tanh{inplace..}
        assert any(t.startswith(op) for t in texts), (op, texts)
    png = pydotprint(f, str(tmp_path / "g.png"))
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_to_html_is_self_contained(tmp_path):
    f, _ = _model_fn()
    path = to_html(f, str(tmp_path / "g.html"))
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched: no external scripts, styles, images or imports
    assert not re.search(r"<(script|img|link|iframe)[^>]*(src|href)=", page)
    assert "@import" not in page and "url(http" not in page
    urls = set(re.findall(r"https?://[^\"' )]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}          # the SVG namespace only
    for op in ("Dot", "tanh", "exp"):
        assert re.search(rf'class="label"[^>]*>{op}(\{{[^<]*)?</text>', page), op
    assert "float64[?, ?]" in page and "test_graph_pictures.py:" in page
    assert 'class="sub"' in page or not any(
        type(getattr(n.op, "scalar_op", None)).__name__ == "Composite"
        for n in f.maker.fgraph.toposort())


def _png_pixels(path):
    """(width, height, rows of RGB(A) bytes as an array) of an 8-bit non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth == 8 and interlace == 0 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), dtype=np.int32)
    prev = np.zeros(w * bpp, dtype=np.int32)
    for r in range(h):
        ft, line = raw[r, 0], raw[r, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        elif ft == 1:
            cur = line.reshape(w, bpp).copy()
            cur = (np.cumsum(cur, axis=0) & 255).reshape(-1)
        else:
            cur = np.zeros_like(line)
            for i in range(w * bpp):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if ft == 3:
                    cur[i] = (line[i] + ((a + b) >> 1)) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (line[i] + pred) & 255
        out[r], prev = cur, cur
    return w, h, out.reshape(h, w, bpp)[:, :, :3]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_html_renders_nodes_in_headless_chromium(tmp_path):
    f, _ = _model_fn()
    path = os.path.abspath(to_html(f, str(tmp_path / "g.html")))
    shot = tmp_path / "shot.png"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}"]
    run = subprocess.run(base + [f"--screenshot={shot}", "--window-size=900,700",
                                 "file://" + path], capture_output=True, timeout=90)
    assert shot.exists(), run.stderr.decode()[-2000:]
    w, h, rgb = _png_pixels(str(shot))
    assert (w, h) == (900, 700)
    colours = {"apply (C)": (0xff, 0xd8, 0xa8), "apply": (0xff, 0xf3, 0xbf),
               "input": (0xb7, 0xe4, 0xc7), "output": (0xa5, 0xd8, 0xff)}
    counts = {k: int((np.abs(rgb - np.array(c)).sum(axis=2) <= 6).sum())
              for k, c in colours.items()}
    assert counts["input"] > 500 and counts["output"] > 500, counts
    assert counts["apply"] + counts["apply (C)"] > 2000, counts
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20      # not a blank page
    dom = subprocess.run(base + ["--dump-dom", "file://" + path], capture_output=True,
                         timeout=90).stdout.decode()
    n_nodes = re.search(r'<body[^>]*data-nodes="(\d+)"', dom)
    assert n_nodes and int(n_nodes.group(1)) >= len(f.maker.fgraph.toposort()) + 4
    for op in ("Dot", "tanh", "exp"):
        assert re.search(rf'class="label"[^>]*>{op}(\{{[^<]*)?</text>', dom), op
