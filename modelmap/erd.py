"""The ER diagram: a graph of tables and foreign keys, and the picture the server draws of it.

``build_graph()`` turns the model map (or the live database) into the JSON ``/api/erd`` returns:
``{tables: [...], relationships: [...]}``. The page lays it out in the browser with ELK (``elkjs``
from npm, bundled into ``static/build/`` by ``scripts/build_assets.mjs``; see
``static/modelmap/erd_layout.js``): layered placement, orthogonal edges from port to port on the key
rows, labels placed beside the lines by ELK, and the user's dragged positions laid over it.

What this module draws — ``layout()`` and ``render_svg()`` — is the picture without JavaScript: the
page's first paint (before ELK has run, or when the bundle is not built) and ``/api/erd?format=svg``
for CI and docs. It is deliberately simple: longest-path layering (a table sits right of every
table it references), a few barycentric sweeps, tall layers wrapped, one block per schema, and
straight lines between the key rows. No edge routing is written here, so the geometry exists once.
"""

from __future__ import annotations

from collections import deque
from html import escape
from typing import Any
from urllib.parse import quote

HEADER_H = 26
ROW_H = 18
LABEL_CHAR_W = 6.7  # 11 px monospace
LABEL_H = 15
CHAR_W = 7.4
MIN_W = 150
LAYER_GAP = 150
NODE_GAP = 28
SCHEMA_GAP = 70
MARGIN = 30


def data_id(table: dict[str, Any]) -> str:
    """``schema.table`` as the data browser addresses it (public for the default schema)."""
    return f"{table.get('schema') or 'public'}.{table['name']}"


def key_mark(table: dict[str, Any], column: dict[str, Any]) -> str:
    """"PK", "FK", "PK FK", or with a composite key the column's place in it: "PK 1/2 FK 2/2"."""
    name = column["name"]
    constraints = table.get("constraints") or []
    pk_cols = next((list(c["columns"]) for c in constraints if c["kind"] == "primary_key"), None)
    if pk_cols is None:
        pk_cols = [c["name"] for c in table["columns"] if c.get("primary_key")]
    marks = []
    if name in pk_cols:
        marks.append("PK" if len(pk_cols) == 1 else f"PK {pk_cols.index(name) + 1}/{len(pk_cols)}")
    fk = next((list(c["columns"]) for c in constraints if c["kind"] == "foreign_key" and name in c["columns"]), None)
    if fk is not None:
        marks.append("FK" if len(fk) == 1 else f"FK {fk.index(name) + 1}/{len(fk)}")
    elif column.get("foreign_keys"):
        marks.append("FK")
    return " ".join(marks)


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
                         "nullable": bool(c.get("nullable", True)), "key": key_mark(t, c)} for c in t["columns"]],
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
                                             "nullable": False, "key": "PK"} for r in refs]}
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

KEY_CHAR_W = 6.2  # the 10 px key marks


def key_width(node: dict[str, Any]) -> float:
    """Width of the key-mark gutter left of the column names (wider for "PK 1/2 FK 2/2")."""
    return max([22.0] + [len(c.get("key") or "") * KEY_CHAR_W + 10 for c in node["columns"]])


def node_size(node: dict[str, Any], columns: bool = True) -> tuple[float, float]:
    header = len(node["name"]) + (len(node["schema"]) + 1 if node["schema"] != "public" else 0) + \
        (len(", ".join(node["models"])) + 4 if node["models"] else 0)
    longest = max([(header + 4) * CHAR_W + 22] + [key_width(node) + (len(c["name"]) + len(c["type"]) + 4) * CHAR_W
                                             for c in node["columns"]])
    width = max(MIN_W, round(longest + 16))
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
.erd .node .key { fill: var(--warn, #9a6700); font-weight: 700; font-size: 10px; }
.erd .edge path { fill: none; stroke: var(--muted, #6e7781); stroke-width: 1.4; }
.erd .edge .hit { stroke: transparent; stroke-width: 10; }
.erd .edge text { fill: var(--muted, #59636e); font-size: 11px; }
.erd .edge rect.label-bg { fill: var(--bg, #ffffff); fill-opacity: .88; stroke: var(--border, #d0d7de); stroke-width: .6; }
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
    href = f"/data/{escape(quote(node['data_id'], safe=''))}"
    parts = [f'<g class="{" ".join(classes)}" id="node-{escape(node["id"])}" data-table="{escape(node["id"])}" '
             f'data-href="{href}" transform="translate({box["x"]:g},{box["y"]:g})">',
             f'<a href="{href}"><title>{escape(label)} — {escape(subtitle)}</title>',
             f'<rect class="box" width="{box["w"]}" height="{box["h"]}"/>',
             f'<rect class="head" x="1" y="1" width="{box["w"] - 2}" height="{HEADER_H - 2}" rx="5"/>',
             f'<text class="title" x="8" y="17">{escape(label)}</text>']
    # The class name(s), so the picture maps tables back to the code; the page puts its focus button right of it.
    if node["models"]:
        parts.append(f'<text class="type model" x="{box["w"] - 28}" y="17" text-anchor="end">'
                     f'{escape(", ".join(node["models"]))}</text>')
    name_x = round(key_width(node) + 2)
    for i, col in enumerate(node["columns"] if columns else []):
        y = HEADER_H + i * ROW_H + 15
        parts.append(f'<g class="col" data-column="{escape(col["name"])}"><text class="key" x="6" y="{y}">'
                     f'{escape(col.get("key") or "")}</text>'
                     f'<text class="name" x="{name_x}" y="{y}">{escape(col["name"])}'
                     f'{"" if col["nullable"] or col["pk"] else " *"}</text>'
                     f'<text class="type" x="{box["w"] - 6}" y="{y}" text-anchor="end">{escape(col["type"][:28])}</text></g>')
    parts.append("</a></g>")
    return "".join(parts)


def label_text(edge: dict[str, Any]) -> str:
    """The edge's label: cardinality and ON DELETE rule ("N:1 · RESTRICT")."""
    return edge["cardinality"] + (f" · {edge['ondelete']}" if edge.get("ondelete") else "")


def key_row_y(box: dict[str, float], node: dict[str, Any], cols: list[str], columns: bool) -> float:
    """Middle of the rows of ``cols`` (a composite key spans several rows), or of the header."""
    names = [c["name"] for c in node["columns"]]
    rows = [names.index(c) for c in cols if c in names]
    if not columns or not rows:
        return box["y"] + HEADER_H / 2
    return box["y"] + HEADER_H + (sum(rows) / len(rows)) * ROW_H + ROW_H / 2 + 3


def straight_edge(edge: dict[str, Any], a_node: dict[str, Any], b_node: dict[str, Any], a: dict[str, float],
                  b: dict[str, float], columns: bool) -> dict[str, Any]:
    """A straight line from the FK rows of ``a`` to the key rows of ``b`` on the sides facing each
    other, and a label box above its first stretch (the first paint; ELK draws the real routes)."""
    ay = key_row_y(a, a_node, edge["columns"], columns)
    by = key_row_y(b, b_node, edge["ref_columns"], columns)
    if a["x"] >= b["x"] + b["w"]:
        x1, x2 = a["x"], b["x"] + b["w"]
    elif a["x"] + a["w"] <= b["x"]:
        x1, x2 = a["x"] + a["w"], b["x"]
    else:  # overlapping columns (or a self-reference): out of the right sides, round a short loop
        x1 = x2 = max(a["x"] + a["w"], b["x"] + b["w"])
    text = label_text(edge)
    w = round(len(text) * LABEL_CHAR_W + 6, 1)
    going = 1 if x2 >= x1 else -1
    bx = x1 + 4 if going > 0 else x1 - 4 - w
    above = by >= ay  # the line leaves downwards: the label sits above it, away from the line
    box_y = ay - LABEL_H - 6 if above else ay + 6
    if x1 == x2:
        d = f"M{x1:g},{ay:g} H{x1 + 24:g} V{by:g} H{x2:g}"
    else:
        d = f"M{x1:g},{ay:g} L{x2:g},{by:g}"
    return {"d": d, "bx": round(bx, 1), "by": round(box_y, 1), "bw": w, "bh": LABEL_H,
            "lx": round(bx + 3, 1), "ly": round(box_y + LABEL_H - 4, 1), "text": text}


def place(graph: dict[str, Any], columns: bool = True) -> dict[str, Any]:
    """The computed layout and the bounds of the whole."""
    placed = layout(graph, columns)
    pos = placed["positions"]
    x0 = min([0.0] + [b["x"] - MARGIN for b in pos.values()])
    y0 = min([0.0] + [b["y"] - MARGIN for b in pos.values()])
    x1 = max([float(placed["width"])] + [b["x"] + b["w"] + 90 for b in pos.values()])
    y1 = max([float(placed["height"])] + [b["y"] + b["h"] + MARGIN for b in pos.values()])
    placed["bounds"] = [round(x0), round(y0), round(x1 - x0), round(y1 - y0)]
    return placed


def render_svg(graph: dict[str, Any], columns: bool = True, placed: dict[str, Any] | None = None,
               role: str = "img") -> str:
    """The whole diagram as a standalone SVG document (theme colours with light fallbacks).

    ``role``: "img" for the file; the page passes "group", since its tables are links to focus and
    open (an image's children are hidden from assistive technology).
    """
    placed = placed or place(graph, columns)
    pos = placed["positions"]
    x0, y0, w, h = placed["bounds"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="erd{"" if columns else " no-columns"}" '
           f'width="{w}" height="{h}" viewBox="{x0} {y0} {w} {h}" role="{role}" aria-label="ER diagram">',
           f"<style>{STYLE}</style>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6e7781"/></marker></defs>',
           '<g class="viewport">']
    if len(placed["blocks"]) > 1 or (placed["blocks"] and placed["blocks"][0]["schema"] != "public"):
        for b in placed["blocks"]:
            out.append(f'<rect class="schema-block" x="{b["x"]}" y="{b["y"]}" width="{b["w"]:.0f}" '
                       f'height="{b["h"]:.0f}" rx="10"/>'
                       f'<text class="schema-label" x="{b["x"] + 10}" y="{b["y"] + 17}">schema {escape(b["schema"])}</text>')
    nodes = {t["id"]: t for t in graph["tables"]}
    out.append('<g class="edges">')
    for e in graph["relationships"]:
        r = straight_edge(e, nodes[e["from"]], nodes[e["to"]], pos[e["from"]], pos[e["to"]], columns)
        cascade = (e.get("ondelete") or "").upper() == "CASCADE"
        title = f"{e['from']}({', '.join(e['columns'])}) → {e['to']}({', '.join(e['ref_columns'])})"
        out.append(f'<g class="edge{" cascade" if cascade else ""}" data-edge="{e["id"]}" data-from="{escape(e["from"])}" '
                   f'data-to="{escape(e["to"])}">'
                   f"<title>{escape(title)}</title>"
                   f'<path class="hit" d="{r["d"]}"/><path class="line" d="{r["d"]}" marker-end="url(#arrow)"/>'
                   f'<rect class="label-bg" x="{r["bx"]}" y="{r["by"]}" width="{r["bw"]}" height="{r["bh"]}" rx="3"/>'
                   f'<text x="{r["lx"]}" y="{r["ly"]}">{escape(r["text"])}</text></g>')
    out.append('</g><g class="nodes">')
    for t in graph["tables"]:
        out.append(_node_svg(t, pos[t["id"]], t["id"] == graph.get("focus"), columns))
    out.append("</g></g></svg>")
    return "\n".join(out)
