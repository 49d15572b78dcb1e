"""Rows around a row: how many rows of other tables reference it, and the FK pickers' lookups.

Both read through reflected tables (``databrowser.query``), values bound, keys checked.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import AppError
from databrowser import catalog
from databrowser.cursors import decode_cursor, encode_cursor
from databrowser.formatting import as_text
from databrowser.query import TableInfo, db_error_to_app, get_table, keyset_clause


def related_counts(info: TableInfo, row: dict[str, Any]) -> list[dict[str, Any]]:
    """For each FK of another table pointing at this row: that table, its columns, how many rows."""
    out = []
    with target.connect(target=info.on) as conn:
        for fk in catalog.referencing(conn, info.ref):
            try:
                child = get_table(fk.ref, conn, on=info.on)
                cond = sa.and_(*[child.c(c) == sa.bindparam(None, row[r], type_=child.c(c).type)
                                 for c, r in zip(fk.columns, fk.ref_columns, strict=True)])
                with conn.begin_nested():
                    n = conn.execute(sa.select(sa.func.count()).select_from(child.table).where(cond)).scalar_one()
            except (DBAPIError, AppError):
                n = None
            out.append({"table": fk.ref, "columns": fk.columns, "ref_columns": fk.ref_columns, "count": n,
                        "on_delete": fk.on_delete, "filters": [(c, row[r]) for c, r in zip(fk.columns, fk.ref_columns,
                                                                                         strict=True)]})
    return out


def row_labels(info: TableInfo, pks: list[list[str]]) -> list[str]:
    """Each row's label (its label column: the first unique text column, else the first text one),
    in the order of ``pks``; the key where the table has no label or the row is gone."""
    label = info.label_column
    keys = [", ".join(p) for p in pks]
    if not label or not info.pk or not pks:
        return keys
    cols = [info.c(n) for n in info.pk]
    wanted = [sa.and_(*[c == sa.cast(sa.bindparam(None, v, type_=sa.Text), c.type) for c, v in zip(cols, pk, strict=True)])
              for pk in pks]
    stmt = sa.select(*cols, info.c(label)).where(sa.or_(*wanted)).limit(len(pks))
    try:
        with target.connect(target=info.on) as conn:
            found = {tuple(as_text(v) for v in r[:-1]): r[-1] for r in conn.execute(stmt)}
    except DBAPIError:
        return keys
    out = []
    for pk, key in zip(pks, keys, strict=True):
        value = found.get(tuple(pk))
        out.append(f"{as_text(value)} ({key})" if value not in (None, "") else key)
    return out


def fk_labels(info: TableInfo, row: dict[str, Any]) -> dict[str, str]:
    """{column name: the label of the row its FK value points at}, for every FK column of ``row``
    that references a key of a table with a label column; one query per referenced table, and a
    column is left out when its row is gone or its table unreadable (the id alone then shows)."""
    out: dict[str, str] = {}
    for c in info.columns:
        fk = c.fk
        if fk is None or not fk.to_pk or any(row.get(n) is None for n in fk.columns) or c.name in out:
            continue
        done = next((out[n] for n in fk.columns if n in out), None)
        if done is not None:  # a composite key's other column: the same row, read once
            out[c.name] = done
            continue
        try:
            ref_info = get_table(fk.ref, on=info.on)
        except AppError:
            continue
        if not ref_info.label_column:
            continue
        key = [as_text(row.get(n)) for n in fk.columns]
        text = row_labels(ref_info, [key])[0]
        if text != ", ".join(key):
            out[c.name] = text.rsplit(" (", 1)[0]
    return out


LOOKUP_PAGE = 20


def lookup(info: TableInfo, column: str, q: str, cursor: str | None) -> dict[str, Any]:
    """Rows of a referenced table for an FK picker: ``{items: [{value, label}], next_cursor}``.

    Ordered by the picked column (unique for an FK target), searched in it and the label column.
    """
    col = info.column(column)
    key_col = info.c(col.name)
    label = info.label_column
    keys = [(col.name, False)]
    clauses: list[Any] = []
    if q:
        searched = [sa.cast(key_col, sa.Text) == q]
        if label:
            searched.append(sa.cast(info.c(label), sa.Text).icontains(q, autoescape=True))
        clauses.append(sa.or_(*searched))
    if cursor:
        _d, values = decode_cursor(info, keys, cursor)
        clauses.append(keyset_clause(info, keys, values))
    cols = [key_col] + ([info.c(label)] if label and label != col.name else [])
    stmt = sa.select(*cols).where(*clauses).order_by(key_col).limit(LOOKUP_PAGE + 1)
    try:
        with target.connect(target=info.on) as conn:
            rows = conn.execute(stmt).all()
    except DBAPIError as exc:
        raise db_error_to_app(exc) from exc
    more = len(rows) > LOOKUP_PAGE
    rows = rows[:LOOKUP_PAGE]
    items = [{"value": as_text(r[0]), "label": as_text(r[1]) if len(r) > 1 and r[1] is not None else as_text(r[0])}
             for r in rows]
    next_cursor = encode_cursor(info, keys, [rows[-1][0]], "a") if more and rows else None
    return {"items": items, "next_cursor": next_cursor, "label_column": label, "column": col.name}
