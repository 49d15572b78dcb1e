"""Which filter of a grid request is wrong, so the grid marks that one and keeps the others.

A filter value PostgreSQL cannot read ("lots" for a numeric amount) fails the whole query with one
error that does not say which filter it came from. On that failure only — never on the happy path —
each filter is checked on its own: its clause is built (shape errors: ``f.null`` takes 1 or 0…) and a
typed value is cast by PostgreSQL itself (``SELECT CAST(:value AS <column type>)``), the same oracle
the grid's query uses, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import AppError
from databrowser.query import Filter, PageRequest, TableInfo, diagnostics, filter_clause

# ops whose value is bound with the column's type (the others compare text or take fixed words)
_TYPED_OPS = ("eq", "gte", "lte")


def bad_filters(info: TableInfo, req: PageRequest) -> dict[int, str]:
    """``{index in req.filters: message}`` for every filter PostgreSQL (or the grid) refuses."""
    bad: dict[int, str] = {}
    typed: list[tuple[int, Filter]] = []
    for index, flt in enumerate(req.filters):
        try:
            filter_clause(info, flt)
        except AppError as refused:
            bad[index] = refused.message
            continue
        col = info.c(flt.column)
        if flt.op in _TYPED_OPS and info.column(flt.column).kind not in ("text", "json") \
                and not isinstance(col.type, sa.types.NullType):
            typed.append((index, flt))
    if typed:
        with target.connect(target=info.on) as conn:
            for index, flt in typed:
                message = _cast_error(conn, info, flt)
                if message:
                    bad[index] = message
    return bad


def _cast_error(conn: Any, info: TableInfo, flt: Filter) -> str | None:
    col = info.c(flt.column)
    probe = sa.select(sa.cast(sa.bindparam("value", flt.value, type_=sa.Text), col.type))
    savepoint = conn.begin_nested()
    try:
        conn.execute(probe)
    except DBAPIError as exc:
        savepoint.rollback()
        _state, _diag, primary = diagnostics(exc)
        return f"{primary[:1].upper()}{primary[1:]}".rstrip(".") + "."
    savepoint.commit()
    return None
