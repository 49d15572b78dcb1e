"""Bulk edit: set one column to one value on the selected rows or on every row a filter matches.

The scope is either the ticked rows (their keys, at most ``actions.MAX_BULK``) or the grid's
filters and search as they stand in the URL (``f.<op>.<column>``, ``q``, ``qin``); its WHERE
clause comes from ``query`` (keys and filter columns checked against the reflected columns).
The value is cleaned by the row form's own field for that column (``forms.row_form``: the same
types, limits, enum choices and NULL box as the row form), so a bad value is refused before
the database sees it.

``bulk_preview`` counts the rows and reads a sample (old → new, read-only). ``do_bulk_update``
is the write, shared by the HTML view and the API: the role check (viewers and
PGADMIN_READ_ONLY=1 refused, audited), then ONE ``UPDATE … SET col = :value WHERE <scope>`` in one
transaction under the statement timeout. The caller sends the count the preview showed: if the
UPDATE touches a different number of rows (rows were added, removed or changed in between), the
transaction is rolled back and the user asked to preview again. One audit entry with the count,
written inside that transaction (``core.audit.audited_write``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from django import forms as djforms
from django.http import QueryDict
from sqlalchemy.exc import DBAPIError

from core import audit, target
from core.exceptions import AppError, AuditUnavailable, BadRequest, Conflict, QueryTimeout
from databrowser import actions, forms, models_info, query
from databrowser.formatting import as_text, jsonable
from databrowser.query import ColumnInfo, PageRequest, TableInfo
from databrowser.refs import decode_pk, encode_pk

ACTION = "data.bulk_update"
SAMPLE_ROWS = 10
FILTER_KEYS = ("q", "qin")  # besides f.<op>.<column>: what of the grid's URL narrows the rows


@dataclass
class Scope:
    """Which rows a bulk edit changes: ``pks`` (the ticked rows) or the grid's filters (``request``)."""

    pks: list[list[str]] | None = None
    request: PageRequest | None = None
    params: list[tuple[str, str]] = field(default_factory=list)  # to carry the scope on (hidden fields, links)

    @property
    def is_selection(self) -> bool:
        return self.pks is not None

    def as_dict(self) -> dict[str, Any]:
        """For the audit entry and API answers."""
        if self.pks is not None:
            return {"rows": self.pks}
        return {"where": dict(self.params)}


def selection_scope(info: TableInfo, encoded: list[str] | list[list[Any]]) -> Scope:
    """The ticked rows: keys as the grid encodes them (``pk`` values) or as lists (the API)."""
    if not info.pk:
        raise BadRequest(info.read_only_reason, code="no_primary_key",
                         hint="Rows without a key cannot be picked one by one; edit them through a filter.")
    pks: list[list[str]] = []
    for item in encoded:
        if isinstance(item, list):
            if len(item) != len(info.pk):
                raise BadRequest(f"A row key has {len(item)} value(s); {info.ref} has {len(info.pk)} key column(s).",
                                 hint="Send each row as the list of its key values, in key order.")
            pks.append([str(v) for v in item])
        else:
            pks.append(decode_pk(str(item), len(info.pk)))
    if not pks:
        raise BadRequest("No rows selected.", hint="Tick the rows to edit in the grid, or edit every row the filter "
                                                  "matches with “Edit all matching…”.", code="no_rows_selected")
    if len(pks) > actions.MAX_BULK:
        raise BadRequest(f"At most {actions.MAX_BULK} rows can be ticked for one bulk edit.",
                         hint="Filter the grid instead and edit all matching rows.")
    return Scope(pks=pks, params=[("pk", encode_pk(p)) for p in pks])


def filter_scope(info: TableInfo, items: list[tuple[str, str]]) -> Scope:
    """The grid's filters and search (other parameters are ignored); unknown columns are a 400."""
    kept = [(k, v) for k, v in items if (k.startswith("f.") or k in FILTER_KEYS) and v != ""]
    qd = QueryDict(mutable=True)
    for k, v in kept:
        qd.appendlist(k, v)
    return Scope(request=query.parse_request(info, qd), params=kept)


def scope_from_params(info: TableInfo, params: Any) -> Scope:
    """A page's scope: ``pk=…`` (repeated) for ticked rows, else ``scope=filter`` with the grid's filters."""
    if params.get("scope") == "filter":
        return filter_scope(info, [(k, v) for k in params for v in params.getlist(k)])
    return selection_scope(info, params.getlist("pk"))


def where(info: TableInfo, scope: Scope) -> list[sa.ColumnElement[bool]]:
    if scope.pks is not None:
        return [sa.or_(*[query.pk_where(info, pk) for pk in scope.pks])]
    assert scope.request is not None
    return query.where_clauses(info, scope.request)


# --- the value -----------------------------------------------------------------------------

def editable(info: TableInfo) -> list[ColumnInfo]:
    """The columns a bulk edit may set: those of the edit form (not the key, not identity ALWAYS)."""
    return forms.editable_columns(info, creating=False)


def pick_column(info: TableInfo, name: str | None) -> ColumnInfo:
    """The column to set, checked against the reflected columns (default: the first editable one)."""
    cols = editable(info)
    if not cols:
        raise BadRequest(f"{info.ref} has no column a bulk edit can set.", hint="Only key columns are left.")
    if not name:
        return cols[0]
    col = info.column(name)  # an unknown name is a 400 naming the columns
    if col not in cols:
        raise BadRequest(f"{col.name} cannot be set by a bulk edit (a key or identity column).",
                         hint="Pick another column.", code="invalid_column")
    return col


def value_form(info: TableInfo, col: ColumnInfo, data: Any = None) -> djforms.Form:
    """The row form's field for ``col`` alone (same widget, validation and NULL box as the row form)."""
    form = forms.row_form(info, creating=False, data=data, model=models_info.form_model(info.ref))
    key = f"c{col.position}"
    for name in list(form.fields):
        if name.removesuffix("__null") != key:
            del form.fields[name]
    form.columns = {key: col}  # type: ignore[attr-defined]
    form.initial = {}
    if col.kind == "text" and col.nullable:
        form.initial[key + "__null"] = False
    return form


def clean_value(info: TableInfo, col: ColumnInfo, form: djforms.Form) -> Any:
    """The value of a valid ``value_form`` (None for NULL)."""
    return forms.cleaned_values(info, form, creating=False, only_changed=False)[col.name]


def value_from_json(info: TableInfo, col: ColumnInfo, value: Any) -> Any:
    """An API value (JSON) cleaned by the same field; a bad one is a 400 naming the column."""
    values, errors = forms.values_from_json(info, {col.name: value}, creating=False,
                                            model=models_info.form_model(info.ref))
    if errors:
        msgs = [m for ms in errors.values() for m in ms]
        raise BadRequest(f"{col.name}: {msgs[0]}", code="invalid",
                         hint=f"Send a value of type {col.type_label} (null for NULL).", detail={"fields": errors})
    return values[col.name]


def shown(value: Any, col: ColumnInfo) -> str:
    """A value as the preview shows it (NULL spelled out)."""
    return "NULL" if value is None else as_text(value, col.kind)


# --- preview and write ---------------------------------------------------------------------

@dataclass
class Preview:
    column: ColumnInfo
    value: Any
    count: int
    sample: list[dict[str, Any]]  # {"key": [...], "old": …, "new": …}

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column.name, "value": jsonable(self.value), "count": self.count,
                "sample": [{"key": [jsonable(v) for v in s["key"]], "old": jsonable(s["old"]),
                            "new": jsonable(self.value)} for s in self.sample]}


def bulk_preview(info: TableInfo, scope: Scope, col: ColumnInfo, value: Any) -> Preview:
    """How many rows the edit changes and the first ``SAMPLE_ROWS`` of them with their current value."""
    clauses = where(info, scope)
    order = [info.c(n) for n in info.pk]
    sample_stmt = sa.select(*order, info.c(col.name)).where(*clauses).order_by(*order).limit(SAMPLE_ROWS)
    try:
        with target.connect(target=info.on) as conn:
            count = query.exact_count(conn, info, clauses)
            if count is None:
                raise QueryTimeout("Counting the rows this edit would change took longer than the statement timeout.",
                                   hint="Narrow the filter (or tick the rows) and preview again.")
            rows = conn.execute(sample_stmt).all()
    except DBAPIError as exc:
        raise query.db_error_to_app(exc) from exc
    sample = [{"key": list(r[: len(order)]), "old": r[len(order)], "old_text": shown(r[len(order)], col)} for r in rows]
    return Preview(col, value, count, sample)


def require_bulk_writer(request: Any, info: TableInfo) -> None:
    """The role and relation checks of a bulk edit (audited when refused)."""
    actions.require_writer(request, ACTION, info)


def do_bulk_update(request: Any, info: TableInfo, scope: Scope, col: ColumnInfo, value: Any,
                   expected: int | None) -> int:
    """Set ``col`` to ``value`` on every row of ``scope`` in one transaction; returns the count.

    ``expected`` is the count the preview showed: a different number of rows at write time is a
    409 (``count_changed``) and nothing is written. Viewers and READ_ONLY are refused (403)."""
    require_bulk_writer(request, info)
    if col not in editable(info):
        raise BadRequest(f"{col.name} cannot be set by a bulk edit.", hint="Pick another column.", code="invalid_column")
    if expected is None or expected < 0:
        raise BadRequest("A bulk edit must say how many rows its preview showed; nothing was written.",
                         code="count_required", hint="Preview the edit first and send its count as expected_count.")
    scope_audit = scope.as_dict()
    stmt = info.table.update().where(*where(info, scope)).values({col.name: value})
    try:
        with audit.audited_write(request, ACTION, info.ref.slug) as audited, \
                target.connect(read_only=False, target=info.on) as conn:
            changed = conn.execute(stmt).rowcount
            if changed != expected:
                # leaving the block with the exception rolls the whole transaction back
                raise Conflict(f"The rows changed since the preview: {changed} row(s) match now, the preview showed "
                               f"{expected}. Nothing was written.", code="count_changed",
                               hint="Preview the edit again, check the new count and sample, then apply.",
                               detail={"expected": expected, "now": changed})
            audited.record(conn, before=scope_audit, after={col.name: jsonable(value)},
                           message=f"{changed} row(s) updated: {col.name} set to {shown(value, col)[:200]}")
    except AuditUnavailable:
        raise  # the internal database refused the entry: nothing to record a failure in
    except Conflict as exc:
        audit.record(request, ACTION, info.ref.slug, before=scope_audit, after={col.name: jsonable(value)},
                     outcome="failed", message=exc.message)
        raise
    except DBAPIError as exc:
        err = actions.db_error(None, info, exc, {col.name: value})
        if audited.entry is None:  # else its COMMIT failed and the entry already says "not applied"
            audit.record(request, ACTION, info.ref.slug, before=scope_audit, after={col.name: jsonable(value)},
                         outcome="failed", message=str(getattr(err, "message", err)))
        raise err from exc
    except AppError as exc:  # a statement timeout, the server gone…
        if audited.entry is None:
            audit.record(request, ACTION, info.ref.slug, before=scope_audit, after={col.name: jsonable(value)},
                         outcome="failed", message=exc.message)
        raise
    return changed
