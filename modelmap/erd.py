"""The ER diagram: a graph of tables and foreign keys, a layered layout, and its SVG picture.

``build_graph()`` turns the model map (or the live database) into the JSON ``/api/erd`` returns:
``{tables: [...], relationships: [...]}``. ``layout()`` places the tables in Python — longest-path
layering over the FK graph (a table sits right of every table it references), a few barycentric
sweeps to untangle each layer, tall layers wrapped into sub-columns, one block per schema — so the
page needs no layout library and the picture is the same in the browser, the SVG export and the
API. ``render_svg()`` draws it; ``static/modelmap/erd.js`` only adds comfort (pan/zoom, drag,
details) and recomputes edges with the same geometry as ``edge_path()`` here.
"""

from __future__ import annotations

from collections import deque
from html import escape
from typing import Any
from urllib.parse import quote

HEADER_H = 26
ROW_H = 18
CHAR_W = 7.4
MIN_W = 150
LAYER_GAP = 150
NODE_GAP = 28
SCHEMA_GAP = 70
MARGIN = 30


def data_id(table: dict[str, Any]) -> str:
    """``schema.table`` as the data browser addresses it (public for the default schema)."""
    return f"{table.get('schema') or 'public'}.{table['name']}"


def build_graph(tables: list[dict[str, Any]], models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Nodes and FK edges from table descriptions; edges carry the ORM relationships over them."""
    nodes: dict[str, dict[str, Any]] = {}
    for t in tables:
        nodes[t["id"]] = {
            "id": t["id"], "schema": t.get("schema") or "public", "name": t["name"], "data_id": data_id(t),
            "models": list(t.get("models") or []), "mapped": bool(t.get("mapped")),
            "association": bool(t.get("association")), "external": False,
            "columns": [{"name": c["name"], "type": c.get("sql_type") or c.get("type") or "",
                         "pk": bool(c.get("primary_key")), "fk": bool(c.get("foreign_keys")),
                         "nullable": bool(c.get("nullable", True))} for c in t["columns"]],
        }
    edges: list[dict[str, Any]] = []
    for t in tables:
        unique_sets = [set(c["columns"]) for c in t.get("constraints", []) if c["kind"] in ("unique", "primary_key")]
        unique_sets += [{c["name"]} for c in t["columns"] if c.get("unique")]
        for fk in (c for c in t.get("constraints", []) if c["kind"] == "foreign_key"):
            refs = fk.get("references") or []
            if not refs:
                continue
            to_id = refs[0].rsplit(".", 1)[0]
            if to_id not in nodes:
                schema, _, name = to_id.rpartition(".")
                nodes[to_id] = {"id": to_id, "schema": schema or "public", "name": name,
                                "data_id": f"{schema or 'public'}.{name}",
                                "models": [], "mapped": False, "association": False, "external": True,
                                "columns": [{"name": r.rsplit(".", 1)[1], "type": "", "pk": True, "fk": False,
                                             "nullable": False} for r in refs]}
            cols = list(fk["columns"])
            one_to_one = any(s and s == set(cols) for s in unique_sets)
            edges.append({
                "id": f"e{len(edges)}", "from": t["id"], "to": to_id, "columns": cols,
                "ref_columns": [r.rsplit(".", 1)[1] for r in refs], "constraint": fk.get("name"),
                "ondelete": fk.get("ondelete"), "onupdate": fk.get("onupdate"),
                "cardinality": "1:1" if one_to_one else "N:1", "relationships": [],
            })
    for model in models or []:
        for rel in model.get("relationships", []):
            pairs = {tuple(p) for p in rel.get("local_remote_pairs", [])}
            flat = {c for p in pairs for c in p}
            for edge in edges:
                keys = {f"{edge['from']}.{c}" for c in edge["columns"]}
                if keys & flat:
                    edge["relationships"].append({"model": model["name"], "name": rel["name"], "target": rel["target"],
                                                  "direction": rel["direction"], "secondary": rel.get("secondary"),
                                                  "cascade": rel.get("cascade_label"),
                                                  "passive_deletes": rel.get("passive_deletes")})
    return {"tables": sorted(nodes.values(), key=lambda n: (n["schema"], n["name"])), "relationships": edges}


def focus(graph: dict[str, Any], table_id: str, hops: int) -> dict[str, Any]:
    """The part of the graph within ``hops`` FK steps of ``table_id`` (either direction).

    ``hops`` 0 keeps every table and only marks the focused one (the page centres on it).
    """
    ids = {t["id"] for t in graph["tables"]}
    if table_id not in ids:
        # Accept the data browser's ``public.x`` spelling and a bare table name too.
        match = [t["id"] for t in graph["tables"] if table_id in (t["data_id"], t["name"])]
        if not match:
            return graph
        table_id = match[0]
    if hops <= 0:
        return {**graph, "focus": table_id, "hops": 0}
    neighbours: dict[str, set[str]] = {i: set() for i in ids}
    for e in graph["relationships"]:
        neighbours[e["from"]].add(e["to"])
        neighbours[e["to"]].add(e["from"])
    keep, frontier = {table_id}, deque([(table_id, 0)])
    while frontier:
        node, depth = frontier.popleft()
        if depth >= hops:
            continue
        for n in neighbours[node]:
            if n not in keep:
                keep.add(n)
                frontier.append((n, depth + 1))
    return {"tables": [t for t in graph["tables"] if t["id"] in keep],
            "relationships": [e for e in graph["relationships"] if e["from"] in keep and e["to"] in keep],
            "focus": table_id, "hops": hops}


# --- layout -------------------------------------------------------------------------------

def node_size(node: dict[str, Any], columns: bool = True) -> tuple[float, float]:
    header = len(node["name"]) + (len(node["schema"]) + 1 if node["schema"] != "public" else 0) + \
        (len(", ".join(node["models"])) + 4 if node["models"] else 0)
    longest = max([header + 4] + [len(c["name"]) + len(c["type"]) + 9 for c in node["columns"]])
    width = max(MIN_W, round(longest * CHAR_W + 16))
    height = HEADER_H + (len(node["columns"]) * ROW_H + 6 if columns else 0)
    return width, height


def _layers(ids: list[str], parents: dict[str, set[str]]) -> dict[str, int]:
    """Longest-path layering: a table's layer is one more than its deepest referenced table."""
    layer: dict[str, int] = {}
    state: dict[str, int] = {}  # 1 = on the stack (a cycle back-edge is ignored), 2 = done

    def visit(start: str) -> None:
        stack: list[tuple[str, list[str]]] = [(start, sorted(parents[start]))]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if todo:
                nxt = todo.pop()
                if state.get(nxt) is None:
                    state[nxt] = 1
                    stack.append((nxt, sorted(parents[nxt])))
                continue
            done = [layer[p] for p in parents[node] if state.get(p) == 2 and p in layer]
            layer[node] = 1 + max(done) if done else 0
            state[node] = 2
            stack.pop()

    for node in ids:
        if state.get(node) is None:
            visit(node)
    return layer


def layout(graph: dict[str, Any], columns: bool = True) -> dict[str, Any]:
    """Positions {id: {x, y, w, h}} and the canvas size; schemas are laid out as stacked blocks."""
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for t in graph["tables"]:
        by_schema.setdefault(t["schema"], []).append(t)
    parents: dict[str, set[str]] = {t["id"]: set() for t in graph["tables"]}
    children: dict[str, set[str]] = {t["id"]: set() for t in graph["tables"]}
    for e in graph["relationships"]:
        if e["from"] != e["to"]:
            parents[e["from"]].add(e["to"])
            children[e["to"]].add(e["from"])
    positions: dict[str, dict[str, float]] = {}
    blocks: list[dict[str, Any]] = []
    top: float = MARGIN
    width = 0.0
    for schema in sorted(by_schema, key=lambda s: (s != "public", s)):
        nodes = sorted(by_schema[schema], key=lambda n: n["name"])
        ids = [n["id"] for n in nodes]
        local_parents = {i: {p for p in parents[i] if p in set(ids)} for i in ids}
        layer_of = _layers(ids, local_parents)
        layers: dict[int, list[str]] = {}
        for i in ids:
            layers.setdefault(layer_of[i], []).append(i)
        order = [layers[k] for k in sorted(layers)]
        sizes = {n["id"]: node_size(n, columns) for n in nodes}
        _untangle(order, parents, children)
        # Tall layers wrap into sub-columns; a long chain of layers wraps into bands below each other,
        # so neither dimension runs away on a big schema.
        cap = max(6, int(len(ids) ** 0.5 * 1.6))
        columns_per_band = max(6, int(len(ids) ** 0.5))
        block_top: float = top + 24
        bottom: float = block_top
        x = MARGIN + 10.0
        band_right = x
        used = 0
        for layer in order:
            for start in range(0, len(layer), cap):
                if used == columns_per_band:
                    band_right, x, used = max(band_right, x), MARGIN + 10.0, 0
                    block_top = bottom + SCHEMA_GAP / 2
                chunk = layer[start:start + cap]
                col_w = max(sizes[i][0] for i in chunk)
                y = block_top
                for i in chunk:
                    w, h = sizes[i]
                    positions[i] = {"x": x, "y": y, "w": w, "h": h}
                    y += h + NODE_GAP
                bottom = max(bottom, y)
                x += col_w + LAYER_GAP
                used += 1
        x = max(band_right, x)
        blocks.append({"schema": schema, "x": MARGIN, "y": top, "w": x - LAYER_GAP + 10 - MARGIN + 10,
                       "h": bottom - top})
        width = max(width, x - LAYER_GAP + 20 + MARGIN)
        top = bottom + SCHEMA_GAP
    return {"positions": positions, "blocks": blocks, "width": round(width + MARGIN),
            "height": round(top - SCHEMA_GAP + MARGIN + 20)}


def _untangle(order: list[list[str]], parents: dict[str, set[str]], children: dict[str, set[str]]) -> None:
    """Barycentric ordering: each layer sorted by the mean position of its neighbours, both ways."""
    for _sweep in range(4):
        for k in range(1, len(order)):
            _sort_layer(order[k], parents, {n: i for i, n in enumerate(order[k - 1])})
        for k in range(len(order) - 2, -1, -1):
            _sort_layer(order[k], children, {n: i for i, n in enumerate(order[k + 1])})


def _sort_layer(layer: list[str], links: dict[str, set[str]], pos: dict[str, int]) -> None:
    current = {n: i for i, n in enumerate(layer)}
    layer.sort(key=lambda n: _bary(n, links, pos, current[n]))


def _bary(node: str, links: dict[str, set[str]], pos: dict[str, int], current: int) -> float:
    hits = [pos[n] for n in links[node] if n in pos]
    # Scale the neighbours' mean to this layer's length so unlinked nodes keep their place.
    return sum(hits) / len(hits) if hits else float(current)


# --- SVG ----------------------------------------------------------------------------------

def anchor_y(box: dict[str, float], node: dict[str, Any], column: str | None, columns: bool) -> float:
    names = [c["name"] for c in node["columns"]]
    if not columns or column not in names:
        return box["y"] + HEADER_H / 2
    return box["y"] + HEADER_H + names.index(column) * ROW_H + ROW_H / 2 + 3


def edge_path(a: dict[str, float], ay: float, b: dict[str, float], by: float, self_loop: bool) -> tuple[str, float, float]:
    """SVG path from the referencing table ``a`` to the referenced ``b``; returns (d, label x, label y).

    Mirrored in erd.js (edgePath) so dragged nodes keep the same curves.
    """
    if self_loop:
        x = a["x"] + a["w"]
        d = f"M{x:.1f},{ay:.1f} C{x + 50:.1f},{ay:.1f} {x + 50:.1f},{by - 30:.1f} {x:.1f},{by - 8:.1f}"
        return d, x + 40, (ay + by) / 2 - 10
    if a["x"] > b["x"] + b["w"]:
        x1, x2, s1, s2 = a["x"], b["x"] + b["w"], -1, 1
    elif a["x"] + a["w"] < b["x"]:
        x1, x2, s1, s2 = a["x"] + a["w"], b["x"], 1, -1
    else:
        x1, x2, s1, s2 = a["x"] + a["w"], b["x"] + b["w"], 1, 1
    bend = max(40.0, abs(x2 - x1) / 2)
    c1x, c2x = x1 + s1 * bend, x2 + s2 * bend
    d = f"M{x1:.1f},{ay:.1f} C{c1x:.1f},{ay:.1f} {c2x:.1f},{by:.1f} {x2:.1f},{by:.1f}"
    # The label sits halfway along the curve (t = 0.5), in the gap between the layers; labels of
    # several FKs into one table stay apart because their source rows differ.
    t = 0.5
    k0, k1, k2, k3 = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
    return d, k0 * x1 + k1 * c1x + k2 * c2x + k3 * x2, k0 * ay + k1 * ay + k2 * by + k3 * by


STYLE = """
.erd { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.erd .schema-block { fill: none; stroke: var(--border, #c9d1d9); stroke-dasharray: 6 4; }
.erd .schema-label { fill: var(--muted, #59636e); font-weight: 700; font-size: 13px; }
.erd .node rect.box { fill: var(--panel, #ffffff); stroke: var(--border, #8c959f); rx: 6; }
.erd .node rect.head { fill: var(--panel-2, #dbe7f5); }
.erd .node.unmapped rect.head { fill: var(--panel-2, #eeeeee); }
.erd .node.association rect.box { stroke-dasharray: 4 3; }
.erd .node.focus rect.box { stroke: var(--accent, #0969da); stroke-width: 3; }
.erd .node text { fill: var(--text, #1f2328); }
.erd .node .title { font-weight: 700; }
.erd .node .type { fill: var(--muted, #59636e); }
.erd .node .model { font-style: italic; }
.erd .node .key { fill: var(--warn, #9a6700); font-weight: 700; }
.erd .edge path { fill: none; stroke: var(--muted, #6e7781); stroke-width: 1.4; }
.erd .edge .hit { stroke: transparent; stroke-width: 10; }
.erd .edge text { fill: var(--muted, #59636e); font-size: 11px; paint-order: stroke; stroke: var(--bg, #ffffff);
  stroke-width: 3px; stroke-linejoin: round; }
.erd .edge.cascade path.line { stroke: var(--bad, #cf222e); stroke-width: 2; }
.erd .edge.cascade text { fill: var(--bad, #cf222e); font-weight: 700; }
.erd.no-columns .col { display: none; }
"""


def _node_svg(node: dict[str, Any], box: dict[str, float], focused: bool, columns: bool) -> str:
    classes = ["node"]
    if not node["mapped"] and not node["external"]:
        classes.append("unmapped")
    if node["association"]:
        classes.append("association")
    if focused:
        classes.append("focus")
    subtitle = ", ".join(node["models"]) if node["models"] else ("association table" if node["association"]
                                                                  else "no model")
    label = node["name"] if node["schema"] == "public" else f"{node['schema']}.{node['name']}"
    parts = [f'<g class="{" ".join(classes)}" id="node-{escape(node["id"])}" data-table="{escape(node["id"])}" '
             f'data-href="/data/{escape(quote(node["data_id"], safe=""))}" transform="translate({box["x"]:.1f},{box["y"]:.1f})">',
             f'<a href="/data/{escape(quote(node["data_id"], safe=""))}"><title>{escape(label)} — {escape(subtitle)}</title>',
             f'<rect class="box" width="{box["w"]}" height="{box["h"]}"/>',
             f'<rect class="head" x="1" y="1" width="{box["w"] - 2}" height="{HEADER_H - 2}" rx="5"/>',
             f'<text class="title" x="8" y="17">{escape(label)}</text>']
    if node["models"]:  # the class name(s), so the picture maps tables back to the code
        parts.append(f'<text class="type model" x="{box["w"] - 8}" y="17" text-anchor="end">'
                     f'{escape(", ".join(node["models"]))}</text>')
    for i, col in enumerate(node["columns"] if columns else []):
        y = HEADER_H + i * ROW_H + 15
        key = "PK" if col["pk"] else ("FK" if col["fk"] else "")
        parts.append(f'<g class="col"><text class="key" x="6" y="{y}">{key}</text>'
                     f'<text x="28" y="{y}">{escape(col["name"])}{"" if col["nullable"] or col["pk"] else " *"}</text>'
                     f'<text class="type" x="{box["w"] - 6}" y="{y}" text-anchor="end">{escape(col["type"][:28])}</text></g>')
    parts.append("</a></g>")
    return "".join(parts)


def render_svg(graph: dict[str, Any], columns: bool = True) -> str:
    """The whole diagram as a standalone SVG document (theme colours with light fallbacks)."""
    placed = layout(graph, columns)
    pos = placed["positions"]
    nodes = {t["id"]: t for t in graph["tables"]}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="erd{"" if columns else " no-columns"}" '
           f'width="{placed["width"]}" height="{placed["height"]}" viewBox="0 0 {placed["width"]} {placed["height"]}" '
           f'role="img" aria-label="ER diagram">',
           f"<style>{STYLE}</style>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6e7781"/></marker></defs>',
           '<g class="viewport">']
    if len(placed["blocks"]) > 1 or (placed["blocks"] and placed["blocks"][0]["schema"] != "public"):
        for b in placed["blocks"]:
            out.append(f'<rect class="schema-block" x="{b["x"]}" y="{b["y"]}" width="{b["w"]:.0f}" '
                       f'height="{b["h"]:.0f}" rx="10"/>'
                       f'<text class="schema-label" x="{b["x"] + 10}" y="{b["y"] + 17}">schema {escape(b["schema"])}</text>')
    out.append('<g class="edges">')
    for e in graph["relationships"]:
        a, b = pos[e["from"]], pos[e["to"]]
        ay = anchor_y(a, nodes[e["from"]], e["columns"][0] if e["columns"] else None, columns)
        by = anchor_y(b, nodes[e["to"]], e["ref_columns"][0] if e["ref_columns"] else None, columns)
        d, lx, ly = edge_path(a, ay, b, by, e["from"] == e["to"])
        cascade = (e.get("ondelete") or "").upper() == "CASCADE"
        label = e["cardinality"] + (f" · {e['ondelete']}" if e.get("ondelete") else "")
        title = f"{e['from']}({', '.join(e['columns'])}) → {e['to']}({', '.join(e['ref_columns'])})"
        out.append(f'<g class="edge{" cascade" if cascade else ""}" data-edge="{e["id"]}" data-from="{escape(e["from"])}" '
                   f'data-to="{escape(e["to"])}" data-from-col="{escape(e["columns"][0] if e["columns"] else "")}" '
                   f'data-to-col="{escape(e["ref_columns"][0] if e["ref_columns"] else "")}">'
                   f"<title>{escape(title)}</title>"
                   f'<path class="hit" d="{d}"/><path class="line" d="{d}" marker-end="url(#arrow)"/>'
                   f'<text x="{lx:.1f}" y="{ly - 4:.1f}" text-anchor="middle">{escape(label)}</text></g>')
    out.append('</g><g class="nodes">')
    for t in graph["tables"]:
        out.append(_node_svg(t, pos[t["id"]], t["id"] == graph.get("focus"), columns))
    out.append("</g></g></svg>")
    return "\n".join(out)
