"""Lay out the revision graph in lanes (newest on top), like ``git log --graph``, for SVG.

Pure functions over plain dicts: ``layout(revisions)`` takes revisions newest-first with their
``down_revisions`` and returns each row's lane, the edges as SVG path data, and the width. The
page draws the SVG next to an HTML list with the same row height, so text stays selectable and
the page needs no JavaScript.
"""

from __future__ import annotations

from typing import Any

ROW_H = 44  # px per revision row; the CSS of the list uses the same value
LANE_W = 22
PAD = 14


def topo_newest_first(revisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Children before parents, keeping the given order where the graph allows it."""
    by_id = {r["revision"]: r for r in revisions}
    children: dict[str, int] = {r["revision"]: 0 for r in revisions}
    for r in revisions:
        for parent in r["down_revisions"]:
            if parent in children:
                children[parent] += 1
    position = {r["revision"]: i for i, r in enumerate(revisions)}
    ready = [r["revision"] for r in revisions if children[r["revision"]] == 0]
    out: list[dict[str, Any]] = []
    while ready:
        ready.sort(key=lambda rev: position[rev])
        rev = ready.pop(0)
        out.append(by_id[rev])
        for parent in by_id[rev]["down_revisions"]:
            if parent in children:
                children[parent] -= 1
                if children[parent] == 0:
                    ready.append(parent)
    seen = {r["revision"] for r in out}
    out.extend(r for r in revisions if r["revision"] not in seen)  # a cycle cannot happen; be safe
    return out


def _x(lane: int) -> float:
    return PAD + lane * LANE_W


def _y(row: int) -> float:
    return ROW_H / 2 + row * ROW_H


def layout(revisions: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"rows": [{revision, lane, x, y}], "edges": [{from, to, d}], "width", "height"}``."""
    ordered = topo_newest_first(revisions)
    row_of = {r["revision"]: i for i, r in enumerate(ordered)}
    lanes: list[str | None] = []  # lane i waits for this revision (None = free)
    rows: list[dict[str, Any]] = []
    pending_edges: list[tuple[str, str, int, int]] = []  # (child, parent, child row, lane carrying it)
    for i, rev in enumerate(ordered):
        rid = rev["revision"]
        waiting = [k for k, want in enumerate(lanes) if want == rid]
        if waiting:
            lane = waiting[0]
            for k in waiting:
                lanes[k] = None
        else:
            lane = lanes.index(None) if None in lanes else len(lanes)
            if lane == len(lanes):
                lanes.append(None)
        rows.append({"revision": rid, "lane": lane, "x": _x(lane), "y": _y(i)})
        parents = [p for p in rev["down_revisions"] if p in row_of]
        for n, parent in enumerate(parents):
            if n == 0 and lanes[lane] is None:
                carry = lane
            elif parent in lanes:
                carry = lanes.index(parent)
            else:
                carry = lanes.index(None) if None in lanes else len(lanes)
                if carry == len(lanes):
                    lanes.append(None)
            lanes[carry] = parent
            pending_edges.append((rid, parent, i, carry))
        while lanes and lanes[-1] is None:
            lanes.pop()
    lane_of = {r["revision"]: r["lane"] for r in rows}
    edges = []
    half = ROW_H / 2
    for child, parent, crow, carry in pending_edges:
        x0, y0 = _x(lane_of[child]), _y(crow)
        x1, y1 = _x(lane_of[parent]), _y(row_of[parent])
        xc = _x(carry)
        # leave the child towards the carrying lane, run down it, join the parent's lane at the end
        d = (f"M{x0:.0f},{y0:.0f} C{x0:.0f},{y0 + half:.0f} {xc:.0f},{y0 + half / 2:.0f} {xc:.0f},{y0 + half:.0f} "
             f"L{xc:.0f},{y1 - half:.0f} C{xc:.0f},{y1 - half / 2:.0f} {x1:.0f},{y1 - half:.0f} {x1:.0f},{y1:.0f}")
        edges.append({"from": child, "to": parent, "d": d})
    width = int(PAD * 2 + max([r["lane"] for r in rows] + [0]) * LANE_W)
    return {"rows": rows, "edges": edges, "width": width, "height": int(ROW_H * len(rows)),
            "row_height": ROW_H, "order": [r["revision"] for r in ordered]}
