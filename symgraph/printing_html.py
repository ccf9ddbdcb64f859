"""``to_html(fn, path)``: one self-contained HTML page showing a graph.

Everything is inline (CSS, JavaScript, the SVG drawings); the page fetches nothing, so it
opens offline and can be mailed or attached to a bug report. The layout is computed here
(layers by longest path from the inputs, each node then moved down to just above its first
reader, ordered within a layer by the mean position of its inputs), so no layout library is
needed in the browser.

The page shows the graph as boxes (apply nodes: orange when they run as C kernels), green
inputs, grey constants and blue outputs, with edges labelled by type. Clicking a node shows
its op, output types and static shapes, where it runs, the rewrite that made it and the
user's source line. Ops holding graphs of their own (fused Composites, scan steps, ifelse
branches; see `symgraph.printing.inner_graphs`) get a collapsible section below the graph,
opened by clicking the node's ▸ marker; sub-graphs nest.
"""
from __future__ import annotations

import html
import json

from .printing import graph_model

__all__ = ["to_html", "layout"]

_H = 34          # node height
_VGAP = 70       # between layers
_HGAP = 28       # between nodes of a layer
_MAXW = 340
_FILL = {"input": "#b7e4c7", "constant": "#e9ecef", "apply": "#fff3bf", "output": "#a5d8ff"}
_C_FILL = "#ffd8a8"


def _width(label):
    return min(_MAXW, max(56, 7 * len(label) + 22))


def _short(label):
    room = (_MAXW - 22) // 7
    return label if len(label) <= room else label[:room - 1] + "…"


def layout(model):
    """{item id: (x, y, w, h)} and the drawing's (width, height)."""
    items = model.items
    index = {it["id"]: k for k, it in enumerate(items)}
    preds = {it["id"]: [] for it in items}
    succs = {it["id"]: [] for it in items}
    for s, d, _ in model.edges:
        preds[d].append(s)
        succs[s].append(d)
    layer = {}
    for it in items:                        # items come in topological order
        p = preds[it["id"]]
        layer[it["id"]] = 1 + max(layer[q] for q in p) if p else 0
    for it in reversed(items):              # each item sits just above its first reader
        if it["kind"] != "output" and succs[it["id"]]:
            layer[it["id"]] = max(0, min(layer[d] for d in succs[it["id"]]) - 1)
    n_layers = 1 + max(layer.values(), default=0)
    rows = [[] for _ in range(n_layers)]
    for it in items:
        rows[layer[it["id"]]].append(it["id"])
    pos = {}
    for r, row in enumerate(rows):
        if r:
            def bary(i, row=row):
                p = [pos[q] for q in preds[i] if q in pos]
                return (sum(p) / len(p) if p else index[i] * 1e-6, index[i])
            row.sort(key=bary)
        for k, i in enumerate(row):
            pos[i] = k
    widths = {it["id"]: _width(it["label"]) for it in items}
    row_w = [sum(widths[i] for i in row) + _HGAP * max(0, len(row) - 1) for row in rows]
    total_w = max(row_w, default=0) + 40
    boxes = {}
    for r, row in enumerate(rows):
        x = 20 + (total_w - 40 - row_w[r]) / 2
        for i in row:
            boxes[i] = (x, 20 + r * (_H + _VGAP), widths[i], _H)
            x += widths[i] + _HGAP
    return boxes, (total_w, 40 + n_layers * (_H + _VGAP) - _VGAP)


def _svg(model, prefix):
    boxes, (W, H) = layout(model)
    out = [f'<svg class="graph" width="{W:.0f}" height="{H:.0f}" '
           f'viewBox="0 0 {W:.0f} {H:.0f}" xmlns="http://www.w3.org/2000/svg">']
    for s, d, lab in model.edges:
        x1, y1, w1, h1 = boxes[s]
        x2, y2, w2, _ = boxes[d]
        ax, ay, bx, by = x1 + w1 / 2, y1 + h1, x2 + w2 / 2, y2
        mid = (ay + by) / 2
        out.append(f'<g class="edge" data-src="{prefix}{s}" data-dst="{prefix}{d}">'
                   f'<path d="M{ax:.1f},{ay:.1f} C{ax:.1f},{mid:.1f} {bx:.1f},{mid:.1f} '
                   f'{bx:.1f},{by - 4:.1f}" marker-end="url(#arrow)"/>'
                   f'<text x="{ax + (bx - ax) * 0.3 + 4:.1f}" y="{ay + (by - ay) * 0.3 + 4:.1f}">'
                   f'{html.escape(lab)}</text>'
                   f'</g>')
    for it in model.items:
        x, y, w, h = boxes[it["id"]]
        fill = _C_FILL if it.get("where") == "c" else _FILL[it["kind"]]
        nid = prefix + it["id"]
        shape = (f'<ellipse cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" rx="{w / 2:.1f}" '
                 f'ry="{h / 2:.1f}" fill="{fill}"/>' if it["kind"] in ("input", "output")
                 else f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                      f'rx="{8 if it["kind"] == "constant" else 2}" fill="{fill}"/>')
        marker = ""
        if it["id"] in model.inner:
            marker = (f'<text class="expander" x="{x + w - 12:.1f}" y="{y + 13:.1f}" '
                      f'data-sub="{nid}">▸</text>')
        tip = "\n".join(f"{k}: {it[k]}" for k in ("type", "origin", "where", "reason")
                        if it.get(k))
        out.append(f'<g class="node kind-{it["kind"]}" id="{nid}" data-id="{nid}">'
                   f'<title>{html.escape(it["label"])}\n{html.escape(tip)}</title>{shape}'
                   f'<text class="label" x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}">'
                   f'{html.escape(_short(it["label"]))}</text>{marker}</g>')
    out.append("</svg>")
    return "".join(out)


def _sections(model, prefix, details, depth=0):
    """The SVG of `model` followed by one <details> per inner graph (recursively); fills
    `details` with each item's information for the side panel."""
    for it in model.items:
        details[prefix + it["id"]] = {k: v for k, v in it.items() if k != "id"}
    parts = [f'<div class="svgwrap">{_svg(model, prefix)}</div>']
    for nid, subs in model.inner.items():
        owner = next(it for it in model.items if it["id"] == nid)
        for k, (lab, sub) in enumerate(subs):
            sp = f"{prefix}{nid}_{k}_"
            parts.append(
                f'<details class="sub" id="sub-{prefix}{nid}" data-owner="{prefix}{nid}">'
                f'<summary><b>{html.escape(owner["label"])}</b> — {html.escape(lab)} '
                f'({sum(1 for i in sub.items if i["kind"] == "apply")} nodes)</summary>'
                f'{_sections(sub, sp, details, depth + 1)}</details>')
    return "".join(parts)


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0;display:flex;height:100vh;color:#212529}
#main{flex:1;overflow:auto;padding:12px}
#side{width:330px;border-left:1px solid #ced4da;padding:12px;overflow:auto;background:#f8f9fa;
font-size:13px}
h1{font-size:18px;margin:0 0 4px}
.meta{color:#495057;font-size:13px;margin-bottom:8px}
.graph .node{cursor:pointer}
.graph .node rect,.graph .node ellipse{stroke:#495057;stroke-width:1}
.graph .node.sel rect,.graph .node.sel ellipse{stroke:#e8590c;stroke-width:3}
.graph .node.dim{opacity:.25}
.graph text{font-size:11px}
.graph .label{text-anchor:middle;pointer-events:none}
.graph .expander{font-size:14px;fill:#1971c2;cursor:pointer}
.graph .edge path{fill:none;stroke:#868e96;stroke-width:1.2}
.graph .edge text{font-size:9px;fill:#868e96}
.graph .edge.hot path{stroke:#e8590c;stroke-width:2}
details.sub{margin:10px 0 10px 14px;border-left:3px solid #a5d8ff;padding-left:8px}
details.sub summary{cursor:pointer;font-size:13px;padding:4px 0}
table{border-collapse:collapse;width:100%}
td{border-bottom:1px solid #dee2e6;padding:3px 4px;vertical-align:top;word-break:break-word}
td.k{color:#868e96;width:70px}
#search{width:100%;box-sizing:border-box;margin-bottom:8px;padding:4px}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid #adb5bd;
font-size:11px}
"""

_JS = """
(function(){
  var info = JSON.parse(document.getElementById('graph-data').textContent);
  var panel = document.getElementById('details');
  function show(id){
    document.querySelectorAll('.node.sel').forEach(function(n){n.classList.remove('sel');});
    document.querySelectorAll('.edge.hot').forEach(function(e){e.classList.remove('hot');});
    var g = document.getElementById(id); if(g) g.classList.add('sel');
    document.querySelectorAll('.edge').forEach(function(e){
      if(e.dataset.src===id||e.dataset.dst===id) e.classList.add('hot');});
    var d = info[id], rows = '';
    var keys = ['label','kind','op','type','names','where','reason','origin'];
    keys.forEach(function(k){ if(d && d[k]!==undefined){
      var t = document.createElement('div'); t.textContent = d[k];
      rows += '<tr><td class="k">'+k+'</td><td>'+t.innerHTML+'</td></tr>'; }});
    panel.innerHTML = '<table>'+rows+'</table>';
  }
  document.querySelectorAll('.node').forEach(function(n){
    n.addEventListener('click', function(ev){ show(n.dataset.id); ev.stopPropagation(); });
  });
  document.querySelectorAll('.expander').forEach(function(x){
    x.addEventListener('click', function(ev){
      var s = document.getElementById('sub-'+x.dataset.sub);
      if(s){ s.open = !s.open; x.textContent = s.open ? '\\u25be' : '\\u25b8';
             if(s.open) s.scrollIntoView({behavior:'smooth', block:'nearest'}); }
      ev.stopPropagation(); });
  });
  document.getElementById('search').addEventListener('input', function(ev){
    var q = ev.target.value.toLowerCase();
    document.querySelectorAll('.node').forEach(function(n){
      var d = info[n.dataset.id];
      var hit = !q || (d.label+' '+(d.op||'')+' '+(d.type||'')).toLowerCase().indexOf(q)>=0;
      n.classList.toggle('dim', !hit); });
  });
  document.getElementById('expand-all').addEventListener('click', function(){
    document.querySelectorAll('details.sub').forEach(function(s){ s.open = true; });
  });
  document.body.setAttribute('data-nodes', document.querySelectorAll('.node').length);
})();
"""


def to_html(fn_or_var, path, title=None, max_depth=3):
    """Write the page for a compiled function or variable(s) to `path`; returns `path`.

    >>> symgraph.printing.to_html(f, "graph.html")
    """
    model = graph_model(fn_or_var, max_depth=max_depth)
    details = {}
    body = _sections(model, "", details)
    n_apply = sum(1 for it in model.items if it["kind"] == "apply")
    name = getattr(fn_or_var, "name", None)
    title = title or f"symgraph graph{' ' + repr(name) if isinstance(name, str) else ''}"
    mode = getattr(getattr(fn_or_var, "maker", None), "mode", None)
    where = ""
    if any(it.get("where") for it in model.items):
        n_c = sum(1 for it in model.items if it.get("where") == "c")
        where = f", {n_c} as C kernels"
    meta = (f"{n_apply} apply nodes{where}, {len(model.inner)} with sub-graphs"
            + (f" · mode {html.escape(mode.name)}" if mode is not None else ""))
    data = json.dumps(details).replace("</", "<\\/")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head>
<body><svg width="0" height="0" style="position:absolute"><defs><marker id="arrow"
viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
<path d="M0,0 L10,5 L0,10 z" fill="#868e96"/></marker></defs></svg><div id="main"><h1>{html.escape(title)}</h1><div class="meta">{meta}</div>
<div class="legend"><span style="background:{_FILL['input']}">input</span><span
style="background:{_FILL['constant']}">constant</span><span
style="background:{_FILL['apply']}">op (Python)</span><span
style="background:{_C_FILL}">op (C kernel)</span><span
style="background:{_FILL['output']}">output</span>
<button id="expand-all">expand all sub-graphs</button></div>
{body}</div>
<div id="side"><input id="search" placeholder="filter nodes (op, type)…">
<div id="details">Click a node to see its op, types, static shapes and source line.</div>
</div>
<script type="application/json" id="graph-data">{data}</script>
<script>{_JS}</script></body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
