"""Streamed CSV / JSON export of a grid's rows (same filters and sort), flat in memory.

The rows come from a server-side cursor (``stream_results`` with ``yield_per``) in a read-only
transaction held open by the generator until the last chunk is sent; nothing accumulates.

Columns: the grid's export links write the user's layout (their saved column order, hidden columns
left out); ``?columns=all`` writes every column in the table's order, as the API does by default.

Safety (docs/security.md):

* **CSV cells that a spreadsheet would run** — text starting with ``=``, ``+``, ``-``, ``@``, a tab
  or a CR — are prefixed with ``'`` (``PGADMIN_CSV_FORMULA_GUARD=0`` turns it off). Only text-like
  columns: a negative number stays a number.
* **NULL is not the empty string**: NULL is written ``\\N`` (PostgreSQL's own marker), an empty
  string as ``""``; ``?null=`` chooses another marker (``null=`` empty gives COPY's CSV style:
  NULL bare, empty string quoted). A text cell equal to the marker is quoted.
* **Exports are limited** per user (``PGADMIN_EXPORT_CONCURRENCY``, 2) and in total
  (``PGADMIN_EXPORT_TOTAL``): each holds a target connection while it streams, and a slow reader
  must not take the connections the pages need (429 with a hint beyond the limit). The export's
  transaction carries ``idle_in_transaction_session_timeout`` (``PGADMIN_EXPORT_IDLE_TIMEOUT``), so a
  client that stops reading cannot hold a snapshot and a connection for ever.
"""

from __future__ import annotations

import json
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core import durations, target
from core.exceptions import BadRequest, Throttled
from databrowser import query
from databrowser.formatting import as_text, jsonable
from databrowser.query import ColumnInfo, PageRequest, TableInfo

YIELD_PER = 2000
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


COLUMN_CHOICES = ("layout", "all")


def export_columns(info: TableInfo, params: Any, user: Any, default: str = "layout") -> list[ColumnInfo]:
    """The columns an export writes, in order: ``?columns=layout`` the user's grid (their saved order,
    hidden columns left out, ``databrowser.columns``), ``?columns=all`` every column in the table's order."""
    which = (params.get("columns") or default).lower()
    if which not in COLUMN_CHOICES:
        raise BadRequest(f"columns={which[:20]!r} is not offered.", code="invalid_columns",
                         hint="Use columns=layout (the shown columns, in your order) or columns=all (every column).")
    if which == "all":
        return list(info.columns)
    from databrowser import columns

    return columns.load(user, info).visible


def _statement(info: TableInfo, req: PageRequest, fmt: str = "json", columns: list[ColumnInfo] | None = None) -> Any:
    keys, _unique = query.order_keys(info, req.sort)
    chosen = info.columns if columns is None else columns
    if fmt == "csv":  # JSON columns as PostgreSQL's own text: no parse + dump per row in Python
        cols = [sa.cast(info.table.c[c.name], sa.Text).label(c.name) if c.kind == "json" else info.table.c[c.name]
                for c in chosen]
    else:
        cols = [info.table.c[c.name] for c in chosen]
    # the sort may name a column left out (hidden): PostgreSQL orders by it all the same
    stmt = sa.select(*cols).where(*query.where_clauses(info, req))
    return stmt.order_by(*[info.c(n).desc() if d else info.c(n).asc() for n, d in keys]) if keys else stmt


def _export_connection(on: target.Target | None = None) -> AbstractContextManager[Connection]:
    """A read-only connection to target ``on`` from the export pool: long downloads never starve the
    pages' pool."""
    return target.connect(purpose="export", target=on)


def _rows(info: TableInfo, stmt: Any, tally: dict[str, int] | None = None) -> Iterator[Any]:
    try:
        with _export_connection(info.on) as conn:
            # SET LOCAL through set_config (value bound): a stalled reader ends the transaction
            conn.execute(sa.select(sa.func.set_config("idle_in_transaction_session_timeout",
                                                      f"{settings.EXPORT_IDLE_TIMEOUT_MS}ms", True)))
            result = conn.execution_options(stream_results=True, yield_per=YIELD_PER).execute(stmt)
            for partition in result.partitions():
                if tally is not None:
                    tally["rows"] += len(partition)
                yield from partition
    except DBAPIError as exc:
        raise query.db_error_to_app(exc) from exc


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
GUARDED_KINDS = {"text", "enum", "other"}  # text-like: a leading '-' there is not a negative number
_NEEDS_QUOTES = re.compile(r'[",\r\n]')
DEFAULT_NULL = "\\N"


def _csv_converter(kind: str) -> Callable[[Any], str]:
    """A non-NULL value as CSV text (before quoting)."""
    if kind in ("int", "numeric", "float", "text", "enum", "uuid", "json"):
        return str
    if kind == "datetime":
        return lambda v: v.isoformat(sep=" ")
    return lambda v: as_text(v, kind)


def csv_cell(kind: str, null: str, guard: bool) -> Callable[[Any], str]:
    """The encoder of one column's cells: NULL marker, formula guard, quoting (RFC 4180)."""
    convert = _csv_converter(kind)
    guarded = guard and kind in GUARDED_KINDS

    def cell(value: Any) -> str:
        if value is None:
            return null
        text = convert(value)
        if guarded and text.startswith(FORMULA_START):
            text = "'" + text
        if text == null or not text or _NEEDS_QUOTES.search(text):
            return '"' + text.replace('"', '""') + '"'
        return text

    return cell


def null_marker(params: Any) -> str:
    """``?null=`` (absent: ``\\N``); refused when it could not be told apart from data."""
    if "null" not in params:
        return DEFAULT_NULL
    marker = params.get("null") or ""
    if len(marker) > 16 or any(ch in marker for ch in '",\r\n\x00'):
        raise BadRequest(f"null={marker[:20]!r} cannot be a NULL marker.", code="invalid_null_marker",
                         hint="Use at most 16 characters without quotes, commas or line breaks (default \\N).")
    return marker


def _csv(info: TableInfo, stmt: Any, null: str = DEFAULT_NULL, guard: bool = True,
         tally: dict[str, int] | None = None, columns: list[ColumnInfo] | None = None) -> Generator[str, None, None]:
    chosen = info.columns if columns is None else columns
    header = csv_cell("text", "", guard)  # column names are data too (a column may be called "=cmd")
    cells = [csv_cell(c.kind, null, guard) for c in chosen]
    lines = [",".join(header(c.name) for c in chosen)]
    for row in _rows(info, stmt, tally):
        lines.append(",".join([cell(v) for cell, v in zip(cells, row, strict=True)]))
        if len(lines) >= 500:
            yield "\r\n".join(lines) + "\r\n"
            lines = []
    yield "\r\n".join(lines) + "\r\n" if lines else ""


def _json(info: TableInfo, stmt: Any, tally: dict[str, int] | None = None,
          columns: list[ColumnInfo] | None = None) -> Generator[str, None, None]:
    names = [c.name for c in (info.columns if columns is None else columns)]
    yield "["
    first = True
    chunk: list[str] = []
    for row in _rows(info, stmt, tally):
        chunk.append(("" if first else ",") + "\n" + json.dumps(
            {n: jsonable(v) for n, v in zip(names, row, strict=True)}, ensure_ascii=False))
        first = False
        if len(chunk) >= 500:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk) + "\n]\n"


_END = object()


def _next_chunk(gen: Iterator[str]) -> Any:
    return next(gen, _END)


async def _async_chunks(gen: Generator[str, None, None]) -> AsyncIterator[str]:
    """Under ASGI Django would buffer a sync iterator whole (sync_to_async(list)); pull chunk by chunk."""
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    try:
        while (chunk := await step(gen)) is not _END:
            yield chunk
    finally:
        await sync_to_async(gen.close, thread_sensitive=True)()


# --- how many exports run at once -----------------------------------------------------------

_slots_lock = threading.RLock()  # re-entrant: a GC finalizer may release while acquire holds it
_active: dict[str, int] = {}


class ExportSlot:
    """One running export of one user; released once, when the response is closed or the stream ends."""

    def __init__(self, who: str) -> None:
        self.who = who
        self._released = False

    def release(self) -> None:
        with _slots_lock:
            if self._released:
                return
            self._released = True
            _active[self.who] -= 1
            if _active[self.who] <= 0:
                del _active[self.who]


def acquire_slot(user: Any) -> ExportSlot:
    """A slot for ``user``'s export, or a 429 when the user (or everyone) already has the maximum."""
    who = str(getattr(user, "pk", None) or "anonymous")
    with _slots_lock:
        mine, total = _active.get(who, 0), sum(_active.values())
        if mine >= settings.EXPORT_CONCURRENCY:
            raise Throttled(f"You already have {mine} export(s) running (at most {settings.EXPORT_CONCURRENCY}).",
                            code="too_many_exports",
                            hint="Wait for a download to finish (or cancel it), then start this one again.")
        if total >= settings.EXPORT_TOTAL:
            raise Throttled(f"{total} exports are running on this server (at most {settings.EXPORT_TOTAL}).",
                            code="too_many_exports",
                            hint="Try again in a minute; an admin can raise PGADMIN_EXPORT_TOTAL.")
        _active[who] = mine + 1
    return ExportSlot(who)


def running_exports() -> dict[str, int]:
    """Exports running now, by user id (for tests and the dashboard)."""
    with _slots_lock:
        return dict(_active)


# --- how long an export takes: the pace of the last ones, for the estimate shown before the next ---

RATE_MIN_ROWS = 5000  # below that, the fixed costs (connection, first query) say nothing about the pace


def remember_pace(fmt: str, rows: int, seconds: float, table: str = "") -> None:
    """Keep the seconds per row of a finished export (``core.durations``), per format and per table."""
    if rows >= RATE_MIN_ROWS and seconds > 0:
        durations.remember("export.s_per_row", fmt, seconds / rows)
        if table:
            durations.remember("export.s_per_row", (fmt, table), seconds / rows)


def estimate_seconds(fmt: str, rows: int | None, table: str = "") -> float | None:
    """How long exporting ``rows`` rows takes at the pace of the last exports of that table, else of any
    table (a wide table's rows are slower than a narrow one's); None: nothing to go by."""
    pace = (durations.typical("export.s_per_row", (fmt, table)) if table else None) \
        or durations.typical("export.s_per_row", fmt)
    return rows * pace if rows and pace else None


def _released_when_done(gen: Generator[str, None, None], slot: ExportSlot,
                        on_done: Callable[[], None] | None = None) -> Generator[str, None, None]:
    try:
        yield from gen
        if on_done is not None:  # read to the end (not a client gone half way)
            on_done()
    finally:
        gen.close()
        slot.release()


def export_response(info: TableInfo, params: Any, asgi: bool = False, user: Any = None,
                    request: Any = None, columns: str = "layout") -> StreamingHttpResponse:
    """``columns``: which columns when ``?columns=`` is absent (the grid's links: the user's layout;
    the API: every column, so a script's file does not change when its user hides a column in the grid)."""
    fmt = (params.get("format") or "csv").lower()
    if fmt not in FORMATS:
        raise BadRequest(f"format={fmt!r} is not offered.", hint="Use format=csv or format=json.")
    req = query.parse_request(info, params)
    null = null_marker(params)
    chosen = export_columns(info, params, user, columns)
    stmt = _statement(info, req, fmt, chosen)
    try:
        slot = acquire_slot(user)
    except Throttled as exc:  # someone holding many exports is worth a line in the audit log
        from core import audit

        audit.record(request, "data.export", info.ref.slug, outcome="denied", message=exc.message, user=user)
        raise
    try:
        try:  # a filter value PostgreSQL cannot read must be a 400 now, not a broken download later
            with target.connect(target=info.on) as conn:
                conn.execute(stmt.limit(0))
        except DBAPIError as exc:
            raise query.db_error_to_app(exc) from exc
        tally = {"rows": 0}
        gen = (_csv(info, stmt, null, settings.CSV_FORMULA_GUARD, tally, chosen) if fmt == "csv"
               else _json(info, stmt, tally, chosen))
        started = time.monotonic()
        gen = _released_when_done(gen, slot, lambda: remember_pace(fmt, tally["rows"], time.monotonic() - started,
                                                                info.ref.slug))
        content: Any = _async_chunks(gen) if asgi else gen
        response = StreamingHttpResponse(content, content_type=FORMATS[fmt])
    except BaseException:
        slot.release()
        raise
    # a response never iterated (HEAD, a client gone before the first byte) still frees its slot:
    # Django calls the closers in close(); a request cancelled by a disconnect is never closed, so
    # the slot is also freed when the response is dropped
    response._resource_closers.append(slot.release)  # type: ignore[attr-defined]
    weakref.finalize(response, slot.release)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{info.ref.schema}.{info.ref.name}")
    response["Content-Disposition"] = f'attachment; filename="{safe}.{fmt}"'
    response["X-Accel-Buffering"] = "no"
    return response
