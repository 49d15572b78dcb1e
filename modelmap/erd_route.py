"""Edge routing of the ER diagram: ports on the key rows, orthogonal lines, labels beside them.

Every foreign key leaves its table at the row of its FK column(s) and enters the referenced table at
the row of the referenced (PK) column(s), on the sides that face each other. Several lines on one
row and side are spread a few pixels apart (ordered by where their other end is, so they do not
cross each other). The line runs horizontally out of the source, vertically in a channel, and
horizontally into the target, with rounded corners; the channel is chosen among the free vertical
strips between tables so that the line crosses as few tables as possible, preferring the strip next
to the target (the source side stays free for the labels).

The label ("N:1 · CASCADE") sits beside the first horizontal segment, on the side away from the
vertical run (or on the other side when that spot is taken and the vertical run is out of its
reach), so the text never lies on its own line; a background rect gives it a halo.

``static/modelmap/erd.js`` (``route()``) is a line-for-line mirror used after a drag; the browser
test checks that both produce the same ``d`` attributes. Coordinates are rounded to half pixels so
that Python's and JavaScript's number formatting agree.
"""

from __future__ import annotations

import math
from typing import Any

HEADER_H = 26
ROW_H = 18
LABEL_CHAR_W = 6.7  # 11 px monospace
LABEL_H = 13
PORT_SPREAD = 10.0  # total spread of the ports that share one row and side
RADIUS = 6.0
LANE = 6.0


def q(v: float) -> float:
    """Half-pixel rounding, identical to ``Math.round(v * 2) / 2`` in JS."""
    return math.floor(v * 2 + 0.5) / 2


def num(v: float) -> str:
    """How JS ``String(v)`` prints a half-pixel number ("13", "13.5", "-2")."""
    v = q(v)
    if v == 0:
        return "0"
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def label_text(edge: dict[str, Any]) -> str:
    return edge["cardinality"] + (f" · {edge['ondelete']}" if edge.get("ondelete") else "")


def _row_y(box: dict[str, float], node: dict[str, Any], cols: list[str], columns: bool) -> float:
    """Middle of the rows of ``cols`` (a composite key spans several rows), or of the header."""
    names = [c["name"] for c in node["columns"]]
    rows = [names.index(c) for c in cols if c in names]
    if not columns or not rows:
        return box["y"] + HEADER_H / 2
    return box["y"] + HEADER_H + (sum(rows) / len(rows)) * ROW_H + ROW_H / 2 + 3


def _sides(a: dict[str, float], b: dict[str, float], self_loop: bool) -> tuple[int, int]:
    """(source side, target side): +1 = right edge, -1 = left edge."""
    if self_loop:
        return 1, 1
    if a["x"] >= b["x"] + b["w"]:
        return -1, 1
    if a["x"] + a["w"] <= b["x"]:
        return 1, -1
    return 1, 1


def _side_x(box: dict[str, float], side: int) -> float:
    return box["x"] + box["w"] if side > 0 else box["x"]


def _crossings(segments: list[tuple[float, float, float, float]], boxes: list[tuple[float, float, float, float]]) -> int:
    """How many of ``boxes`` (x0, y0, x1, y1, already shrunk by 1 px) the polyline passes through."""
    spans = [(min(a, c), max(a, c), min(b, d), max(b, d)) for a, b, c, d in segments]
    hits = 0
    for x0, y0, x1, y1 in boxes:
        for lo_x, hi_x, lo_y, hi_y in spans:
            if lo_x < x1 and hi_x > x0 and lo_y < y1 and hi_y > y0:
                hits += 1
                break
    return hits


def _free_strips(spans: list[tuple[float, float]], lo: float, hi: float) -> list[float]:
    """Centres of the x ranges between ``lo`` and ``hi`` that no table covers (the layer gaps).

    ``spans``: every table's (left, right), sorted.
    """
    out: list[float] = []
    cursor = lo
    for s0, s1 in spans:
        if s1 <= cursor:
            continue
        if s0 >= hi:
            break
        if s0 - cursor > 24:
            out.append((cursor + s0) / 2)
        cursor = max(cursor, s1)
    if hi - cursor > 24:
        out.append((cursor + hi) / 2)
    return out


def _clash(placed: list[tuple[float, float, float, float]], bx: float, ly: float, w: float) -> bool:
    return any(bx < ox + ow and bx + w > ox and ly - 10 < oy + oh and ly + 3 > oy for ox, oy, ow, oh in placed)


def _path(x1: float, ay: float, cx: float, by: float, x2: float) -> str:
    if abs(ay - by) < 1:
        return f"M{num(x1)},{num(ay)} H{num(x2)}"
    d1 = 1 if cx >= x1 else -1
    d2 = 1 if x2 >= cx else -1
    sy = 1 if by > ay else -1
    r = min(RADIUS, abs(ay - by) / 2, abs(cx - x1), abs(x2 - cx))
    return (f"M{num(x1)},{num(ay)} H{num(cx - d1 * r)} Q{num(cx)},{num(ay)} {num(cx)},{num(ay + sy * r)} "
            f"V{num(by - sy * r)} Q{num(cx)},{num(by)} {num(cx + d2 * r)},{num(by)} H{num(x2)}")


def route(graph: dict[str, Any], pos: dict[str, dict[str, float]], columns: bool) -> dict[str, dict[str, Any]]:
    """{edge id: {d, lx, ly, anchor, bx, by, bw, bh}} for every relationship of ``graph``."""
    nodes = {t["id"]: t for t in graph["tables"]}
    boxes = [pos[t["id"]] for t in graph["tables"] if t["id"] in pos]
    spans = sorted((b["x"], b["x"] + b["w"]) for b in boxes)
    ends: list[dict[str, Any]] = []
    for i, e in enumerate(graph["relationships"]):
        a, b = pos[e["from"]], pos[e["to"]]
        self_loop = e["from"] == e["to"]
        s1, s2 = _sides(a, b, self_loop)
        ends.append({"i": i, "e": e, "a": a, "b": b, "self": self_loop, "s1": s1, "s2": s2,
                     "ay": _row_y(a, nodes[e["from"]], e["columns"], columns),
                     "by": _row_y(b, nodes[e["to"]], e["ref_columns"], columns)})
    # Spread the ports that share (table, side, row): sorted by the other end's y, then edge order.
    groups: dict[tuple[str, int, float], list[tuple[float, int, str]]] = {}
    for end in ends:
        groups.setdefault((end["e"]["from"], end["s1"], end["ay"]), []).append((end["by"], end["i"], "ay"))
        groups.setdefault((end["e"]["to"], end["s2"], end["by"]), []).append((end["ay"], end["i"], "by"))
    shifted: dict[tuple[int, str], float] = {}
    for members in groups.values():
        members.sort()
        n = len(members)
        for k, (_other, i, which) in enumerate(members):
            shifted[(i, which)] = (k - (n - 1) / 2) * (PORT_SPREAD / (n - 1)) if n > 1 else 0.0
    out: dict[str, dict[str, Any]] = {}
    placed: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    for end in ends:
        e, a, b, s1, s2 = end["e"], end["a"], end["b"], end["s1"], end["s2"]
        ay = q(end["ay"] + shifted[(end["i"], "ay")])
        by = q(end["by"] + shifted[(end["i"], "by")])
        x1, x2 = q(_side_x(a, s1)), q(_side_x(b, s2))
        lane = (end["i"] % 4) * LANE
        if s1 == s2:  # both on the right: a loop around the outside
            candidates = [max(x1, x2) + 16 + lane]
        else:
            candidates = [x2 + s2 * (16 + lane), x1 + s1 * (16 + lane)]
            candidates += [c + lane - 9 for c in _free_strips(spans, min(x1, x2), max(x1, x2))]
        # Only tables in the band the route can use matter (this keeps 300 edges × 200 tables fast).
        lo_x, hi_x = min(x1, x2) - 60, max(x1, x2) + 60
        lo_y, hi_y = min(ay, by), max(ay, by)
        others = [(o["x"] + 1, o["y"] + 1, o["x"] + o["w"] - 1, o["y"] + o["h"] - 1) for o in boxes
                  if o is not a and o is not b and o["x"] + o["w"] - 1 > lo_x and o["x"] + 1 < hi_x
                  and o["y"] + o["h"] - 1 > lo_y and o["y"] + 1 < hi_y]
        best: tuple[float, float] | None = None
        for c in candidates:
            c = q(c)
            hits = _crossings([(x1, ay, c, ay), (c, ay, c, by), (c, by, x2, by)], others)
            cost = hits * 10000 + abs(c - x1) + abs(x2 - c)
            if best is None or cost < best[0]:
                best = (cost, c)
            if hits == 0 and min(x1, x2) <= c <= max(x1, x2):
                break  # no shorter route exists, and ties keep the first candidate anyway
        assert best is not None
        cx = best[1]
        text = label_text(e)
        w = q(len(text) * LABEL_CHAR_W + 6)
        if end["self"]:
            anchor, lx, ly = "start", cx + 5, (ay + by) / 2 + 4
        else:
            going = 1 if cx >= x1 else -1
            anchor = "start" if going > 0 else "end"
            lx = x1 + going * 6
            # Beside the first segment, on the side away from the vertical run.
            ly = ay + 14 if by < ay - 0.5 else ay - 5
        bx = lx - 3 if anchor == "start" else lx - w + 3
        # Labels of one table side must not cover each other: take the other side of the line when
        # the vertical run is clear of the label, else slide the label outwards.
        key = (e["from"], s1)
        if not end["self"] and _clash(placed.get(key, []), bx, ly, w) and not bx - RADIUS <= cx <= bx + w + RADIUS:
            flipped = ay - 5 if ly > ay else ay + 14
            if not _clash(placed.get(key, []), bx, flipped, w):
                ly = flipped
        for (ox, oy, ow, oh) in placed.get(key, []):
            if bx < ox + ow and bx + w > ox and ly - 10 < oy + oh and ly + 3 > oy:
                step = (ox + ow + 4 - bx) if anchor == "start" else -(bx + w + 4 - ox)
                lx, bx = lx + step, bx + step
        placed.setdefault(key, []).append((bx, ly - 10, w, LABEL_H))
        out[e["id"]] = {"d": _path(x1, ay, cx, by, x2), "lx": num(lx), "ly": num(ly), "anchor": anchor,
                        "bx": num(bx), "by": num(ly - 10), "bw": num(w), "bh": num(LABEL_H)}
    return out
