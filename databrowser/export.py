"""Streamed CSV / JSON export of a grid's rows (same filters and sort), flat in memory.

The rows come from a server-side cursor (``stream_results`` with ``yield_per``) in a read-only
transaction held open by the generator until the last chunk is sent; nothing accumulates.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any

import sqlalchemy as sa
from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import BadRequest
from databrowser import query
from databrowser.formatting import as_text, jsonable
from databrowser.query import PageRequest, TableInfo

YIELD_PER = 2000
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _statement(info: TableInfo, req: PageRequest, fmt: str = "json") -> Any:
    keys, _unique = query.order_keys(info, req.sort)
    if fmt == "csv":  # JSON columns as PostgreSQL's own text: no parse + dump per row in Python
        cols = [sa.cast(info.table.c[c.name], sa.Text).label(c.name) if c.kind == "json" else info.table.c[c.name]
                for c in info.columns]
        stmt = sa.select(*cols).where(*query.where_clauses(info, req))
    else:
        stmt = query.base_select(info, with_xmin=False).where(*query.where_clauses(info, req))
    return stmt.order_by(*[info.c(n).desc() if d else info.c(n).asc() for n, d in keys]) if keys else stmt


def _rows(info: TableInfo, stmt: Any) -> Iterator[Any]:
    try:
        with target.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=YIELD_PER).execute(stmt)
            for partition in result.partitions():
                yield from partition
    except DBAPIError as exc:
        raise query.db_error_to_app(exc) from exc


def _csv_converter(kind: str) -> Callable[[Any], Any] | None:
    """None where csv.writer's own str() is already right (numbers, text; None becomes "")."""
    if kind in ("int", "numeric", "float", "text", "enum", "uuid", "json"):
        return None
    if kind == "datetime":
        return lambda v: None if v is None else v.isoformat(sep=" ")
    return lambda v: as_text(v, kind)


def _csv(info: TableInfo, stmt: Any) -> Generator[str, None, None]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    converters = [_csv_converter(c.kind) for c in info.columns]
    plain = all(conv is None for conv in converters)
    writer.writerow([c.name for c in info.columns])
    n = 0
    for row in _rows(info, stmt):
        if plain:
            writer.writerow(row)
        else:
            writer.writerow([v if conv is None else conv(v) for v, conv in zip(row, converters, strict=True)])
        n += 1
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def _json(info: TableInfo, stmt: Any) -> Generator[str, None, None]:
    names = [c.name for c in info.columns]
    yield "["
    first = True
    chunk: list[str] = []
    for row in _rows(info, stmt):
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


def export_response(info: TableInfo, params: Any, asgi: bool = False) -> StreamingHttpResponse:
    fmt = (params.get("format") or "csv").lower()
    if fmt not in FORMATS:
        raise BadRequest(f"format={fmt!r} is not offered.", hint="Use format=csv or format=json.")
    req = query.parse_request(info, params)
    stmt = _statement(info, req, fmt)
    try:  # a filter value PostgreSQL cannot read must be a 400 now, not a broken download later
        with target.connect() as conn:
            conn.execute(stmt.limit(0))
    except DBAPIError as exc:
        raise query.db_error_to_app(exc) from exc
    gen = _csv(info, stmt) if fmt == "csv" else _json(info, stmt)
    content: Any = _async_chunks(gen) if asgi else gen
    response = StreamingHttpResponse(content, content_type=FORMATS[fmt])
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{info.ref.schema}.{info.ref.name}")
    response["Content-Disposition"] = f'attachment; filename="{safe}.{fmt}"'
    response["X-Accel-Buffering"] = "no"
    return response
