"""Plain-language hints for the common reasons a query is slow, read from a plan tree.

Rules (each names the node it is about and, where there is one, the SQL that would help):

* a sequential scan of a big table that keeps only a small share of its rows → an index on the
  filtered columns (columns read from the Filter expression and checked against the table);
* a sort that spilled to disk, a hash that needed several batches → ``work_mem``;
* a nested loop whose inner side runs many times → an index on the join column;
* row estimates off by 10× or more → ``ANALYZE`` the table so the planner sees real numbers.

The suggested SQL quotes identifiers through SQLAlchemy's PostgreSQL dialect; it is shown, never
executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql

from sqlconsole.plan import MISESTIMATE_FACTOR, Plan, PlanNode

BIG_TABLE_ROWS = 100_000
SELECTIVE_SHARE = 0.05
HUGE_INNER_LOOPS = 1_000

_quote = postgresql.dialect().identifier_preparer.quote


@dataclass(frozen=True)
class TableInfo:
    """What the hints need to know about a table (from the catalog, see ``catalog.table_info``)."""

    schema: str
    name: str
    rows: float
    columns: tuple[str, ...]
    indexed: frozenset[str] = field(default_factory=frozenset)  # leading columns of its indexes

    @property
    def qualified(self) -> str:
        return f"{_quote(self.schema)}.{_quote(self.name)}"


@dataclass
class Hint:
    kind: str
    node: int
    severity: str  # warning | info
    title: str
    message: str
    sql: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "severity": self.severity, "title": self.title,
                "message": self.message, "sql": self.sql}


_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
# A column reference as PostgreSQL prints it in a plan: optionally alias-qualified, optionally inside
# a cast — ``(kind)::text`` — then the operator that compares it.
_COMPARISON = re.compile(
    r'(?<![\w$."])(?:' + _IDENT + r'\.)?(?P<col>' + _IDENT + r')\)*(?:::[\w ."\[\]]+?\)*)*\s*'
    r'(?P<op>IS\s+NOT\s+NULL|IS\s+NULL|=\s*ANY\b|<>\s*ALL\b|<>|!=|<=|>=|=|<|>|~~\*|!~~\*|~~|!~~)',
    re.IGNORECASE)
# The same comparison written the other way round: ``('2024-01-01'::date < created_at)``.
_REVERSED = re.compile(
    r"(?P<op><=|>=|<>|!=|=|<|>)\s*\(*(?:" + _IDENT + r"\.)?(?P<col>" + _IDENT + r")(?![\w$.(\"])", re.IGNORECASE)
_EQUALITY = ("=", "= ANY", "IS NULL")
_RANGE = ("<", ">", "<=", ">=", "~~")  # LIKE 'prefix%' is a range scan on a btree (with text_pattern_ops/C)
_RANK = {"eq": 0, "range": 1, "other": 2}


def _ident(text: str) -> str:
    return text[1:-1].replace('""', '"') if text.startswith('"') else text


def _kind(op: str) -> str:
    op = re.sub(r"\s+", " ", op.strip().upper())
    if op in _EQUALITY:
        return "eq"
    if op in _RANGE:
        return "range"
    return "other"


def filter_columns(expression: str, columns: tuple[str, ...]) -> list[str]:
    """The table's columns named in a Filter/Join expression, ordered for a B-tree index on them:
    columns compared with equality (``=``, ``IN``/``= ANY``, ``IS NULL``) first, then columns
    compared with a range (``<``, ``>``, ``BETWEEN``, ``LIKE 'prefix%'``), then the rest — each
    group in order of appearance. An index on ``(kind, amount)`` serves ``kind = 'buy' AND amount
    > 100`` with one contiguous range of entries; ``(amount, kind)`` reads every entry above 100
    and checks ``kind`` on each."""
    stripped = _strip_literals(expression)
    best: dict[str, str] = {}
    for pattern in (_COMPARISON, _REVERSED):
        for match in pattern.finditer(stripped):
            name = _ident(match.group("col"))
            if name in columns:
                # ``lower(email) = …`` compares an expression: a plain index on the column does not serve it
                inside_call = re.search(r"[A-Za-z0-9_]\(\s*$", stripped[:match.start("col")]) is not None
                kind = "other" if inside_call else _kind(match.group("op"))
                if name not in best or _RANK[kind] < _RANK[best[name]]:
                    best[name] = kind
    found: list[str] = []
    # Identifiers as PostgreSQL prints them: bare words or "quoted", optionally alias-qualified.
    for match in re.finditer(r'"((?:[^"]|"")+)"|\b([A-Za-z_][A-Za-z0-9_$]*)\b', stripped):
        name = match.group(1).replace('""', '"') if match.group(1) else match.group(2)
        if name in columns and name not in found:
            found.append(name)
    return sorted(found, key=lambda name: _RANK[best.get(name, "other")])  # stable: appearance within a group


def _strip_literals(expression: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", expression)


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def _scanned_rows(node: PlanNode, info: TableInfo | None) -> tuple[float, float, float]:
    """(rows read, rows kept) per scan and the number of scans: measured with ANALYZE, else estimated.

    For a parallel scan the per-process figures are added up (the workers share one table).
    """
    if node.actual_rows is not None and node.loops:
        kept = node.actual_rows
        removed = float(node.details.get("Rows Removed by Filter", 0))
        if node.label.startswith("Parallel"):
            return (kept + removed) * node.loops, kept * node.loops, 1.0
        return kept + removed, kept, node.loops
    return (info.rows if info else 0.0), node.est_rows, 1.0


def _seq_scan(node: PlanNode, info: TableInfo | None) -> Hint | None:
    if node.node_type != "Seq Scan" or "Filter" not in node.details:
        return None
    read, kept, loops = _scanned_rows(node, info)
    table_rows = max(read, info.rows if info else 0.0)
    if table_rows < BIG_TABLE_ROWS or read <= 0 or kept / read > SELECTIVE_SHARE:
        return None
    name = info.qualified if info else _quote(node.relation or "?")
    cols = filter_columns(str(node.details["Filter"]), info.columns) if info else []
    share = kept / read * 100
    times = f", {_fmt(loops)} times over" if loops > 1 else ""
    message = (f"PostgreSQL reads all {_fmt(read)} rows of {name}{times} and keeps {_fmt(kept)} ({share:.2g}%) "
               f"with the filter {node.details['Filter']}.")
    sql = ""
    if cols:
        already = [c for c in cols if c in (info.indexed if info else ())]
        if already and len(already) == len(cols):
            message += (f" An index on {', '.join(already)} exists but is not used: refresh the statistics "
                        "(ANALYZE) or check that the filter matches the index (types, functions).")
            sql = f"ANALYZE {name};"
        else:
            message += f" An index on {', '.join(cols)} would let it read only the matching rows."
            sql = f"CREATE INDEX ON {name} ({', '.join(_quote(c) for c in cols)});"
    else:
        message += " An index on the filtered columns would let it read only the matching rows."
    return Hint("seq_scan_selective", node.id, "warning",
                f"Sequential scan on a big table: {node.relation}", message, sql)


def _sort_spill(node: PlanNode) -> Hint | None:
    method = str(node.details.get("Sort Method", ""))
    if node.node_type not in ("Sort", "Incremental Sort") or not (
            node.details.get("Sort Space Type") == "Disk" or "external" in method):
        return None
    used = node.details.get("Sort Space Used")
    size = f"{used} kB" if used is not None else "its rows"
    keys = ", ".join(map(str, node.details.get("Sort Key", [])))
    return Hint("sort_spill", node.id, "warning", "Sort spilled to disk",
                f"The sort on {keys or 'its key'} did not fit in work_mem and wrote {size} to temporary files "
                f"({method}). Raise work_mem for this session, or add an index matching the sort order so "
                "no sort is needed.", "SET work_mem = '64MB';")


def _hash_batches(node: PlanNode) -> Hint | None:
    batches = int(node.details.get("Hash Batches", 1) or 1)
    if node.node_type != "Hash" or batches <= 1:
        return None
    return Hint("hash_batches", node.id, "info", "Hash split into batches",
                f"The hash table needed {batches} batches (it did not fit in work_mem), so rows went "
                "through temporary files. More work_mem keeps it in memory.", "SET work_mem = '64MB';")


def _nested_loop(node: PlanNode, plan: Plan, tables: dict[str, TableInfo]) -> Hint | None:
    if node.node_type != "Nested Loop" or len(node.children) < 2:
        return None
    inner = node.children[1]
    loops = inner.loops if inner.loops is not None else node.children[0].est_rows
    if loops < HUGE_INNER_LOOPS:
        return None
    scan = inner
    while scan.children and scan.node_type not in ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"):
        scan = scan.children[0]
    detail = f"Its inner side ({inner.label}{' on ' + inner.relation if inner.relation else ''}) runs {_fmt(loops)} times."
    sql = ""
    if scan.node_type == "Seq Scan" and scan.relation:
        info = tables.get(scan.relation)
        cond = str(scan.details.get("Filter") or node.details.get("Join Filter") or "")
        cols = filter_columns(cond, info.columns) if info else []
        detail += " Each run scans the whole table: an index on the join column turns that into a lookup."
        if info and cols:
            sql = f"CREATE INDEX ON {info.qualified} ({', '.join(_quote(c) for c in cols)});"
    else:
        detail += (" If the outer side returns far more rows than estimated, refresh statistics (ANALYZE) so the "
                   "planner can choose a hash or merge join.")
    return Hint("nested_loop_inner", node.id, "warning", "Nested loop with a huge inner loop count", detail, sql)


def _misestimate(node: PlanNode, tables: dict[str, TableInfo]) -> Hint | None:
    if not node.flagged or node.misestimate is None:
        return None
    way = "more" if node.misestimate_direction == "under" else "fewer"
    relation = node.relation
    info = tables.get(relation) if relation else None
    sql = f"ANALYZE {info.qualified};" if info else ""
    return Hint("misestimate", node.id, "info", f"Row estimate off by {node.misestimate:,.0f}×: {node.label}",
                f"The planner expected {_fmt(node.est_rows)} rows per loop and got {_fmt(node.actual_rows or 0)} "
                f"({way} than estimated). Plans built on wrong estimates pick the wrong joins and scans: "
                f"refresh statistics with ANALYZE{' on ' + relation if relation else ''}, or add extended "
                "statistics for correlated columns.", sql)


def hints_for(plan: Plan, tables: dict[str, TableInfo] | None = None) -> list[Hint]:
    """Every hint for the plan, the most useful first (warnings, then by the node's share)."""
    tables = tables or {}
    found: list[Hint] = []
    misestimates = 0
    for node in plan.nodes:
        info = tables.get(node.relation) if node.relation else None
        for hint in (_seq_scan(node, info), _sort_spill(node), _hash_batches(node), _nested_loop(node, plan, tables)):
            if hint is not None:
                found.append(hint)
        if misestimates < 3 and (hint := _misestimate(node, tables)) is not None:
            misestimates += 1  # the deepest misestimate explains the rest; a few are enough
            found.append(hint)
    share = {n.id: n.share for n in plan.nodes}
    found.sort(key=lambda h: (h.severity != "warning", -share.get(h.node, 0.0)))
    return found


__all__ = ["MISESTIMATE_FACTOR", "TableInfo", "Hint", "hints_for", "filter_columns", "BIG_TABLE_ROWS"]
