"""A search of the data grid (``q``) that stays fast and says what it did, on tables of any size.

Three ways, chosen per request (``choose_mode``):

* **index** — an index serves every searched column (``databrowser.searchplan``): one plain
  query, complete, paged like any filtered grid. Its time is capped by the search budget; if the
  planner still picks a slow plan, the answer falls back to the scan below.
* **full** — a small table (estimate ≤ ``PGADMIN_SEARCH_SCAN_ABOVE``), or one that cannot be
  scanned in parts (a view; a sort on a column without an index, which needs every match before
  the first): one plain query under the statement timeout, and the page says why it is unbounded.
* **scan** — a big table without a serving index: rows are read in chunks in key order
  (``WHERE key > :after ORDER BY key LIMIT :chunk``, the sort's order when it is indexed), each
  chunk under its own statement timeout, until a page of matches is found or the time budget
  (``PGADMIN_SEARCH_BUDGET_MS``, 1.5 s) is spent. The answer holds the matches so far, how many
  rows were searched and up to which key, and a cursor (``cursors.encode_scan_cursor``) that
  continues exactly there: following it to the end yields every match once. A table without a
  primary key is scanned the same way in physical order (``ctid`` ranges, a TID range scan on
  PostgreSQL 14+), and the page says that rows updated meanwhile may move.

Chunks size themselves to the measured speed (about a quarter of the budget each, never more than
the time left), and the per-row work is one ``row_number()`` over the chunk's keys: the rows that
match, plus the chunk's last row (where to continue), are all that leave the server; the full
rows of the matches are read by key afterwards.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from django.conf import settings
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import BadRequest, QueryTimeout
from databrowser import catalog, query
from databrowser.cursors import ScanPosition, decode_scan_cursor, encode_scan_cursor, is_scan_cursor
from databrowser.formatting import as_text
from databrowser.query import ColumnInfo, Page, PageRequest, TableInfo
from databrowser.searchplan import SearchPlan

MIN_CHUNK = 100  # rows (blocks, in a physical scan) a chunk never goes below
MAX_CHUNK = 2_000_000
_TID = re.compile(r"^\((\d+),(\d+)\)$")


class TID(sa.types.UserDefinedType[str]):
    """PostgreSQL's ``tid`` (a row's physical address), for ``ctid`` ranges."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "tid"


@dataclass
class SearchOutcome:
    """What a search did, for the page and the API."""

    plan: SearchPlan
    mode: str  # index | full | scan
    elapsed_ms: float
    complete: bool  # every row was searched: these matches (with the pages after them) are all there are
    table_estimate: int | None
    scanned: int | None = None  # scan: rows searched so far, across continues
    matches: int | None = None  # scan: matches found so far, across continues, this page's included
    upto: str = ""  # scan: the last position searched, in words ("id 1200000", "block 812 of 4000")
    stopped: str = ""  # scan: page (a page of matches), budget, timeout (a chunk was cut), end
    physical: bool = False  # scan in physical order (no primary key)
    note: str = ""
    hints: list[str] = field(default_factory=list)  # statements creating the indexes that would serve it
    total: int | None = None  # index / full: the exact number of matches, when it was counted
    budget_ms: float = 0.0  # scan: the time budget it had

    @property
    def summary(self) -> str:
        """What was searched and found, in one sentence (the page and the API say the same)."""
        took = f"{self.elapsed_ms / 1000:.1f} s"
        if self.mode != "scan":
            how = "through indexes" if self.mode == "index" else "in one query"
            found = (f"{self.total:,} {_matches(self.total)}." if self.total is not None
                     else "more than one page of matches (not counted).")
            return f"Searched every row {how} in {took}: {found}"
        if self.complete:
            return f"Searched all {self.scanned or 0:,} rows in {took}: {self.matches or 0:,} {_matches(self.matches)}."
        of = f" of ≈ {self.table_estimate:,}" if self.table_estimate else ""
        if not self.scanned:
            budget = f"{self.budget_ms / 1000:g} s" if self.budget_ms >= 1000 else f"{self.budget_ms:g} ms"
            return (f"No rows searched yet: the first part of the table did not fit the {budget} time budget. "
                    "Continuing tries a smaller part.")
        where = f" (up to {self.upto})" if self.upto else ""
        head = f"{self.matches or 0:,} {_matches(self.matches)} in the first {self.scanned:,} rows{where}{of}"
        if self.stopped == "page":
            return f"{head}: a page of matches; the next page continues the search from there."
        return f"{head}, searched in {took}: continue to search the rest."

    @property
    def short(self) -> str:
        """For the row count next to the grid: never an estimate of the matches."""
        if self.mode == "scan":
            n = self.matches or 0
            return f"{n:,} {_matches(n)}" if self.complete else f"{n:,} {_matches(n)} so far"
        return f"{self.total:,} {_matches(self.total)}" if self.total is not None else ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.plan.as_dict(), "mode": self.mode, "summary": self.summary, "elapsed_ms": round(self.elapsed_ms, 1),
                "complete": self.complete, "table_estimate": self.table_estimate, "scanned_rows": self.scanned,
                "matches_so_far": self.matches, "searched_up_to": self.upto or None, "stopped": self.stopped or None,
                "physical_order": self.physical, "note": self.note, "index_hints": self.hints}


def _matches(n: int | None) -> str:
    return "match" if n == 1 else "matches"


def _big(info: TableInfo) -> bool:
    if info.estimate is None:
        return info.kind in ("r", "p", "m")  # never analysed: size unknown, so bound it
    return info.estimate > settings.SEARCH_SCAN_ABOVE


def scan_kind(conn: Connection, info: TableInfo, req: PageRequest, unique: bool) -> tuple[str | None, str]:
    """("keyset" | "physical" | None, why it cannot be scanned in parts)."""
    if req.sort and req.sort[0][0] not in info.indexed:
        return None, (f"it is sorted by {req.sort[0][0]}, which has no index, so the first page needs every "
                      "match first")
    if req.sort and not req.sort[0][1] and info.column(req.sort[0][0]).nullable:
        # after a value, the rest is "greater, or NULL" (NULLs sort last): two ranges no index scan
        # can resume in order, so every part would re-read the index from its start
        return None, (f"it is sorted ascending by {req.sort[0][0]}, which may be NULL, so a part cannot resume "
                      "through its index (sort descending, or by a NOT NULL column)")
    if unique:
        return "keyset", ""
    if info.kind in ("v", "f"):
        return None, f"a {info.kind_label} has no key to read it by parts"
    if req.sort:
        return None, "a table without a primary key can be read by parts only in its physical order, not sorted"
    if info.kind == "m" or info.kind == "r":
        version = conn.dialect.server_version_info or (0,)
        if version >= (14,):
            return "physical", ""
        return None, "a table without a primary key is read by parts through TID ranges, which need PostgreSQL 14"
    return None, f"a {info.kind_label} without a primary key has no order to read it by parts"


def search_page(conn: Connection, info: TableInfo, req: PageRequest, plan: SearchPlan, clauses: list[Any],
                keys: list[tuple[str, bool]], unique: bool, cut: list[ColumnInfo]) -> Page:
    """One page of a search, by index, plain query or bounded scan (see the module docstring)."""
    started = time.perf_counter()
    budget = settings.SEARCH_BUDGET_MS
    big = _big(info)
    hints = plan.index_statements() if big and info.kind in ("r", "p", "m") else []
    kind, why_not = scan_kind(conn, info, req, unique)
    resume = req.cursor if req.cursor and is_scan_cursor(req.cursor) else None
    note = ""
    if resume:
        if kind is None:
            raise BadRequest("This search cursor no longer fits the table (its key or order changed).",
                             hint="Start the search again (drop the cursor parameter).", code="invalid_cursor")
        mode = "scan"
    elif not plan.columns:
        mode = "full"  # nothing to match: WHERE false, answered at once
    elif plan.all_indexed:
        mode = "index"
    elif not big:
        mode = "full"
    elif kind is not None:
        mode = "scan"
    else:
        mode = "full"
        note = (f"This search is not bounded: {why_not}. It runs as one query, cut at the statement timeout "
                f"({settings.STATEMENT_TIMEOUT_MS / 1000:g} s).")
    page: Page | None = None
    if mode == "index":
        try:
            with query.statement_timeout(conn, budget), conn.begin_nested():
                page = query._fetch(conn, info, req, clauses, keys, unique, cut)
        except DBAPIError as exc:
            if not isinstance(target.translate_error(exc), QueryTimeout) or kind is None:
                raise
            mode, budget = "scan", max(budget // 2, 10)
            note = "The indexes did not answer within the time budget (the planner chose a slow plan); scanning instead."
    if mode == "full":
        page = query._fetch(conn, info, req, clauses, keys, unique, cut)
    if page is not None:
        page.search = SearchOutcome(plan, mode, (time.perf_counter() - started) * 1000, True, info.estimate,
                                    note=note, hints=hints if mode != "index" else [], total=page.total_exact)
        return page
    assert kind is not None
    if req.cursor and not resume:
        resume = req.cursor  # a page cursor, or garbage, where a scan cursor belongs: refused as invalid
    return _scan(conn, info, req, plan, clauses, keys, kind, cut, resume, budget, started, note, hints)


def _signature(req: PageRequest) -> str:
    """What a scan cursor is bound to besides the table and order: the term, the columns, the filters."""
    return json.dumps([req.q, req.q_in, sorted((f.column, f.op, f.value) for f in req.filters)])


def _ordered(cols: list[Any], keys: list[tuple[str, bool]]) -> list[Any]:
    return [c.desc() if desc else c.asc() for c, (_, desc) in zip(cols, keys, strict=True)]


def _chunk_statement(info: TableInfo, keys: list[tuple[str, bool]], hit: Any, after: list[Any] | None,
                     lo: tuple[int, int] | None, hi_block: int | None, chunk: int, need: int) -> Any:
    """The matches of one chunk (at most ``need + 1``) and its last row, numbered in scan order."""
    if lo is None:  # keyset: the next ``chunk`` rows after ``after`` in key order
        cols = [info.c(n).label(f"k{i}") for i, (n, _) in enumerate(keys)]
        where = [query.keyset_clause(info, keys, after)] if after is not None else []
        inner = sa.select(*cols, hit).where(*where).order_by(*query._order_by(info, keys)).limit(chunk).subquery("chunk")
        order_keys = keys
    else:  # physical: the rows of blocks [lo, hi_block) after the address lo
        ctid = sa.column("ctid", TID(), _selectable=info.table)
        low = sa.cast(sa.bindparam(None, f"({lo[0]},{lo[1]})", type_=sa.Text), TID())
        high = sa.cast(sa.bindparam(None, f"({hi_block},0)", type_=sa.Text), TID())
        inner = sa.select(ctid.label("k0"), hit).where(ctid > low, ctid < high).subquery("chunk")
        order_keys = [("ctid", False)]
    inner_order = _ordered([inner.c[f"k{i}"] for i in range(len(order_keys))], order_keys)
    numbered = sa.select(inner, sa.func.row_number().over(order_by=inner_order).label("__n"),
                         sa.func.count().over().label("__total")).subquery("numbered")
    outer_order = _ordered([numbered.c[f"k{i}"] for i in range(len(order_keys))], order_keys)
    return (sa.select(numbered).where(sa.or_(numbered.c["__hit"], numbered.c["__n"] == numbered.c["__total"]))
            .order_by(*outer_order).limit(need + 1))


def _describe(info: TableInfo, keys: list[tuple[str, bool]], values: list[Any]) -> str:
    kinds = {c.name: c.kind for c in info.columns}
    return ", ".join(f"{n} {as_text(v, kinds.get(n, 'text'))}" for (n, _), v in zip(keys, values, strict=True))


def _scan(conn: Connection, info: TableInfo, req: PageRequest, plan: SearchPlan, clauses: list[Any],
          keys: list[tuple[str, bool]], kind: str, cut: list[ColumnInfo], resume: str | None, budget: float,
          started: float, note: str, hints: list[str]) -> Page:
    physical = kind == "physical"
    sig = _signature(req)
    scan_keys = [("ctid", False)] if physical else keys
    if resume:
        pos = decode_scan_cursor(info, scan_keys, sig, resume)  # the signature tells keyset from physical
    else:
        pos = ScanPosition(None, (0, 0) if physical else None, 0, 0, settings.SEARCH_CHUNK_ROWS)
    nblocks = catalog.relation_blocks(conn, info.oid) if physical else 0
    if physical and pos.block is None:
        pos.block = (0, 0)
    chunk = pos.chunk
    if physical and not resume:  # the first chunk in blocks: rows wanted / rows per block
        per_block = max(1, (info.estimate or 0) // max(nblocks, 1)) if nblocks else 50
        chunk = max(1, settings.SEARCH_CHUNK_ROWS // per_block)
    hit = sa.func.coalesce(sa.and_(*clauses), sa.false()).label("__hit")
    size = req.page_size
    found: list[Any] = []  # the matching chunk rows (their keys / ctids)
    scanned, stopped = 0, ""
    target_ms = max(budget / 4, 5.0)
    first = True
    while True:
        spent = (time.perf_counter() - started) * 1000
        remaining = budget - spent
        if not first and remaining < 2:
            stopped = "budget"
            break
        need = size - len(found)
        hi_block = (pos.block[0] + chunk) if physical and pos.block else None
        stmt = _chunk_statement(info, keys, hit, pos.keys, pos.block if physical else None, hi_block, chunk, need)
        t0 = time.perf_counter()
        try:
            with query.statement_timeout(conn, max(remaining, 1) if not first else budget), conn.begin_nested():
                rows = conn.execute(stmt).all()
        except DBAPIError as exc:
            if not isinstance(target.translate_error(exc), QueryTimeout):
                raise query.db_error_to_app(exc) from exc
            chunk = max(1 if physical else MIN_CHUNK, chunk // 4)  # next time, a part that fits
            stopped = "timeout"
            break
        took = max((time.perf_counter() - t0) * 1000, 0.5)
        first = False
        page_full = False
        last = None
        for row in rows:
            last = row
            if row.__hit:
                found.append(row)
                if len(found) == size:
                    page_full = True
                    break
        nkeys = len(scan_keys)
        if page_full and last is not None:
            scanned += last.__n
            _advance(pos, last, nkeys, physical)
            stopped = "page"
            break
        total = last.__total if last is not None else 0
        scanned += total
        if last is not None:
            _advance(pos, last, nkeys, physical)
        if physical:
            assert hi_block is not None
            pos.block = (hi_block, 0)
            if hi_block >= nblocks:
                stopped = "end"
                break
        elif total < chunk:
            stopped = "end"
            break
        # size the next chunk to the speed just measured: about target_ms, never past the budget
        rate = (chunk if physical else total) / took
        left = budget - (time.perf_counter() - started) * 1000
        floor = 1 if physical else MIN_CHUNK
        fits = rate * left * 0.8
        if fits < floor:
            stopped = "budget"
            break
        chunk = int(max(floor, min(chunk * 2, rate * target_ms, fits, MAX_CHUNK)))
    pos.chunk = chunk
    rows_out = _full_rows(conn, info, keys, found, physical, cut)
    done = stopped == "end"
    matches = pos.matches + len(found)
    scanned_total = pos.scanned + scanned
    cursor = None
    if not done:
        cursor = encode_scan_cursor(info, scan_keys, sig, ScanPosition(pos.keys, pos.block if physical else None,
                                                                        scanned_total, matches, chunk))
    if physical:
        upto = f"block {min(pos.block[0] if pos.block else 0, nblocks):,} of {nblocks:,}"
        note = (note + " " if note else "") + ("This table has no primary key, so it is searched in its physical "
                                                "order (by block): rows updated while you continue may move, and "
                                                "be missed or shown twice.")
    else:
        upto = _describe(info, keys, pos.keys) if pos.keys is not None else ""
    outcome = SearchOutcome(plan, "scan", (time.perf_counter() - started) * 1000, done, info.estimate,
                            scanned=scanned_total, matches=matches, upto=upto, stopped=stopped, physical=physical,
                            note=note, hints=hints, total=matches if done else None, budget_ms=budget)
    total, count_note = (matches if done else None), ""
    if req.exact_count and not done:  # asked for: every match counted, one query under the statement timeout
        total = query.exact_count(conn, info, clauses)
        count_note = "" if total is not None else "Counting every match took longer than the statement timeout."
    return Page(info, req, rows_out, "scan", not done, bool(resume), cursor, None, None, None, total, count_note,
                "", keys, elapsed_ms=outcome.elapsed_ms, filtered=True, search=outcome)


def _advance(pos: ScanPosition, row: Any, nkeys: int, physical: bool) -> None:
    values = [row[i] for i in range(nkeys)]
    if physical:
        m = _TID.match(str(values[0]))
        if m:
            pos.block = (int(m.group(1)), int(m.group(2)))
    else:
        pos.keys = values


def _full_rows(conn: Connection, info: TableInfo, keys: list[tuple[str, bool]], found: list[Any], physical: bool,
               cut: list[ColumnInfo]) -> list[dict[str, Any]]:
    """The whole rows of the matches, read by key (or address) in scan order."""
    if not found:
        return []
    stmt = query.base_select(info, cut=cut)
    if physical:
        ctid = sa.column("ctid", TID(), _selectable=info.table)
        stmt = stmt.where(ctid.in_([sa.cast(sa.bindparam(None, str(r[0]), type_=sa.Text), TID()) for r in found]))
        stmt = stmt.order_by(ctid)
    else:
        at = {n: i for i, (n, _) in enumerate(keys)}
        pk_cols = [info.c(n) for n in info.pk]
        if len(pk_cols) == 1:
            stmt = stmt.where(pk_cols[0].in_([r[at[info.pk[0]]] for r in found]))
        else:
            stmt = stmt.where(sa.tuple_(*pk_cols).in_([tuple(r[at[n]] for n in info.pk) for r in found]))
        stmt = stmt.order_by(*query._order_by(info, keys))
    return query._rows(conn.execute(stmt), info, cut)
