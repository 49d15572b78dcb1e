"""Row writes: create, update (optimistic concurrency on ``xmin``), delete with a cascade preview.

Each action is the one function both the HTML view and the API view call: it checks the role
(``require(user, "write_rows")`` — viewers and PGADMIN_READ_ONLY=1 are refused), writes through the
reflected table with bound values, maps database errors to messages on the right field, and
records the audit entry with before/after values (also for refusals and failures); the entry of
a write is written inside the target's transaction (``core.audit.audited_write``), so a refused
entry rolls the write back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core import audit, target
from core.exceptions import AppError, BadRequest, Conflict, NotFound
from core.roles import require
from databrowser import catalog, query
from databrowser.formatting import jsonable
from databrowser.query import TableInfo
from databrowser.refs import TableRef

MAX_CASCADE_DEPTH = 8
MAX_BULK = 1000


class RowInvalid(AppError):
    """A write the database refused because of one field (unique, check, FK, not-null, bad value)."""

    code, status = "invalid_row", 400

    def __init__(self, message: str, *, field_errors: dict[str, str], hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint=hint or "Fix the highlighted field and save again.", status=status,
                         detail={"fields": field_errors})
        self.field_errors = field_errors


def _target(info: TableInfo, pk: list[Any] | None = None) -> str:
    if pk is None:
        return info.ref.slug
    return f"{info.ref.slug} ({', '.join(map(str, pk))})"


def require_writer(request: Any, action: str, info: TableInfo, pk: list[Any] | None = None) -> None:
    """The role and relation checks of a write, on their own (audited when refused)."""
    _require_write(request, action, info, pk)


def require_version(request: Any, action: str, info: TableInfo, pk: list[Any], version: str | None,
                    force: bool, how: str) -> None:
    """A write must say which version of the row it changes (``how`` names the missing piece for the
    message); ``force`` skips the check and the write is audited as forced."""
    if version or force:
        return
    audit.record(request, action, _target(info, pk), outcome="denied", message=f"refused: no {how}")
    raise AppError(f"This write does not say which version of the row it changes (no {how}); nothing was written.",
                   code="precondition_required", status=428,
                   hint="GET the row first and send its ETag back as If-Match (or add ?force=true to overwrite "
                        "whatever is there now; the audit log records it as forced).")


def _require_write(request: Any, action: str, info: TableInfo, pk: list[Any] | None = None) -> None:
    try:
        require(request.user, "write_rows")
    except AppError as exc:
        audit.record(request, action, _target(info, pk), outcome="denied", message=exc.message)
        raise
    if not info.writable:
        audit.record(request, action, _target(info, pk), outcome="denied", message=info.read_only_reason)
        raise BadRequest(info.read_only_reason, hint="Use the SQL console or a migration for this relation.",
                         code="read_only_relation", status=405)


class _PgType(sa.types.UserDefinedType):  # type: ignore[type-arg]
    """A column type known only by its catalog name (``format_type`` output, already quoted)."""

    cache_ok = True

    def __init__(self, label: str) -> None:
        self.label = label

    def get_col_spec(self, **kw: Any) -> str:
        return self.label


def _guilty_column(info: TableInfo, values: dict[str, Any]) -> str | None:
    """Which value PostgreSQL cannot read as its column's type (tried one by one, read-only)."""
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        col = info.column(name)
        try:
            with target.connect(target=info.on) as conn:
                conn.execute(sa.select(sa.cast(sa.bindparam(None, value, type_=sa.Text), _PgType(col.type_label))))
        except DBAPIError:
            return name
    return None


def db_error(conn: Connection | None, info: TableInfo, exc: DBAPIError, values: dict[str, Any] | None = None) -> Exception:
    """A database refusal in plain words, on the field it concerns."""
    translated = target.translate_error(exc)
    if translated is not exc:
        return translated
    state, diag, primary = query.diagnostics(exc)
    if state == "42501":
        return query.privilege_error(primary)
    if not state and "NUL (0x00)" in primary:
        return RowInvalid("PostgreSQL text cannot contain NUL (0x00) characters.",
                          field_errors={"__all__": "A value contains a NUL (0x00) character."},
                          hint="Remove the NUL byte from the value.")
    detail = getattr(diag, "message_detail", None) or ""
    column = getattr(diag, "column_name", None)
    cname = getattr(diag, "constraint_name", None)
    columns: list[str] = [column] if column else []
    definition = ""
    if state.startswith("22") and not columns and values:
        guilty = _guilty_column(info, values)
        columns = [guilty] if guilty else []
    if cname and not columns:
        try:
            with target.connect(target=info.on) as c2:
                cons = catalog.constraint(c2, info.ref, cname)
        except (AppError, DBAPIError):
            cons = None
        if cons:
            columns, definition = list(cons["columns"]), cons["definition"]
    hint = ""
    if state == "23505":
        msg = f"Another row already has this value: {_clause(detail or cname or primary)}."
        hint = "Choose a different value, or open the row that has it."
        status = 409
    elif state == "23503":
        msg = f"The referenced row does not exist: {_clause(detail or primary)}."
        hint = "Pick an existing row with the search box of the field, or create that row first."
        status = 400
    elif state == "23502":
        msg = "This field is required (the column is NOT NULL)."
        hint = "Enter a value."
        status = 400
    elif state == "23514":
        msg = f"The value breaks the check {cname}: {_clause(definition or primary)}."
        hint = "Enter a value the check allows."
        status = 400
    elif state.startswith("22") or state.startswith("42"):
        msg = f"PostgreSQL cannot accept this value: {_clause(primary)}."
        hint = "Check the value against the column's type."
        status = 400
    else:
        return exc
    field_errors = {c: msg for c in columns} if columns else {"__all__": msg}
    return RowInvalid(msg, field_errors=field_errors, status=status, hint=hint)


def _clause(text: str) -> str:
    """PostgreSQL's detail as part of our sentence: no closing period of its own (no "…".." or ".).")."""
    return text.strip().rstrip(".")


def _returning(info: TableInfo) -> list[Any]:
    return [*info.table.columns, sa.cast(sa.column("xmin"), sa.Text).label("__xmin")]


def _as_dict(info: TableInfo, row: Any) -> dict[str, Any]:
    names = [c.name for c in info.columns]
    out = dict(zip(names, row[: len(names)], strict=True))
    if len(row) > len(names):
        out["__xmin"] = str(row[len(names)])
    return out


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON for audit entries and API answers (no version marker)."""
    return {k: jsonable(v) for k, v in row.items() if k != "__xmin"}


def pk_of(info: TableInfo, row: dict[str, Any]) -> list[Any]:
    return [row[n] for n in info.pk]


def do_create_row(request: Any, info: TableInfo, values: dict[str, Any]) -> dict[str, Any]:
    """Insert one row; the database fills defaults and identity columns."""
    _require_write(request, "data.create", info)
    stmt = info.table.insert().values(values) if values else info.table.insert()
    try:
        with audit.audited_write(request, "data.create") as audited, target.connect(read_only=False, target=info.on) as conn:
            row = _as_dict(info, conn.execute(stmt.returning(*_returning(info))).one())
            audited.record(conn, _target(info, pk_of(info, row)), before=None, after=public(row))
    except DBAPIError as exc:
        err = db_error(None, info, exc, values)
        if audited.entry is None:  # else its COMMIT failed and the entry already says "not applied"
            audit.record(request, "data.create", _target(info), after=jsonable(values), outcome="failed",
                         message=str(getattr(err, "message", err)))
        raise err from exc
    return row


def do_update_row(request: Any, info: TableInfo, pk: list[str], values: dict[str, Any], xmin: str | None,
                  forced: bool = False) -> dict[str, Any]:
    """Change the given columns of one row. With ``xmin`` (the version the form was loaded
    with) the write is refused with a 409 if someone else changed the row since; ``forced``
    (an API write with ?force=true and no version) is written and audited as forced."""
    _require_write(request, "data.update", info, pk)
    try:
        with audit.audited_write(request, "data.update", _target(info, pk)) as audited, \
                target.connect(read_only=False, target=info.on) as conn:
            locked = conn.execute(query.base_select(info).where(query.pk_where(info, pk)).with_for_update()).first()
            if locked is None:
                raise NotFound(f"No row with key ({', '.join(pk)}) in {info.ref}.", hint="It may have been deleted.")
            before = _as_dict(info, locked)
            if xmin is not None and before["__xmin"] != str(xmin):
                audit.record(request, "data.update", _target(info, pk), before=public(before), after=jsonable(values),
                             outcome="failed", message="conflict: the row was changed by someone else")
                raise Conflict("This row was changed by someone else since you opened it; nothing was saved.",
                               hint="Compare both versions, then edit the current one again.",
                               detail={"current": public(before), "current_version": before["__xmin"],
                                       "yours": jsonable(values)})
            if not values:
                return before
            stmt = info.table.update().where(query.pk_where(info, pk)).values(values).returning(*_returning(info))
            with conn.begin_nested():
                after = _as_dict(info, conn.execute(stmt).one())
            changed = {k for k in values if before.get(k) != after.get(k)}
            audited.record(conn, before={k: jsonable(before[k]) for k in changed} or public(before),
                           after={k: jsonable(after[k]) for k in changed} or public(after),
                           message="forced: written without a version (If-Match)" if forced else "")
    except DBAPIError as exc:
        err = db_error(None, info, exc, values)
        if audited.entry is None:  # else its COMMIT failed and the entry already says "not applied"
            audit.record(request, "data.update", _target(info, pk), after=jsonable(values), outcome="failed",
                         message=str(getattr(err, "message", err)))
        raise err from exc
    return after


# --- delete and its cascade preview --------------------------------------------------------

@dataclass
class CascadeStep:
    table: TableRef
    action: str  # delete | set null | set default | blocked
    count: int | None  # None: not counted within the statement timeout
    via: str  # the foreign key's name and columns
    depth: int


@dataclass
class CascadePreview:
    rows: int
    steps: list[CascadeStep] = field(default_factory=list)

    @property
    def blockers(self) -> list[CascadeStep]:
        return [s for s in self.steps if s.action == "blocked" and (s.count or 0) > 0]

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "blocked": bool(self.blockers),
                "steps": [{"table": s.table.slug, "schema": s.table.schema, "name": s.table.name, "action": s.action,
                           "count": s.count, "via": s.via, "depth": s.depth} for s in self.steps]}


def _rows_where(info: TableInfo, pks: list[list[str]]) -> sa.ColumnElement[bool]:
    if not pks:
        raise BadRequest("No rows selected.", hint="Tick the rows to delete.")
    if len(pks) > MAX_BULK:
        raise BadRequest(f"At most {MAX_BULK} rows can be deleted at once.", hint="Filter, then delete in batches.")
    return sa.or_(*[query.pk_where(info, pk) for pk in pks])


def _count(conn: Connection, stmt: sa.Select[Any]) -> int | None:
    try:
        with conn.begin_nested():
            return int(conn.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one())
    except DBAPIError as exc:
        err = target.translate_error(exc)
        if isinstance(err, AppError) and err.code == "statement_timeout":
            return None
        raise


def _walk(conn: Connection, info: TableInfo, selector: sa.Select[Any], depth: int, path: tuple[TableRef, ...],
          steps: list[CascadeStep]) -> None:
    sub = selector.subquery()
    for fk in catalog.referencing(conn, info.ref):
        child = query.get_table(fk.ref, conn, on=info.on)
        parent_keys = sa.select(*[sub.c[r] for r in fk.ref_columns])
        child_cols = [child.c(c) for c in fk.columns]
        cond = child_cols[0].in_(parent_keys) if len(child_cols) == 1 else sa.tuple_(*child_cols).in_(parent_keys)
        rows = sa.select(*child.table.columns).where(cond)
        if fk.on_delete in ("restrict", "no action"):
            # Rows the cascade itself removes do not block; others do.
            action = "blocked"
        elif fk.on_delete == "cascade":
            action = "delete"
        else:
            action = fk.on_delete
        count = _count(conn, rows)
        via = f"{fk.name} ({', '.join(fk.columns)})"
        steps.append(CascadeStep(fk.ref, action, count, via, depth))
        # No "already visited" stop: a self-referencing table (a tree) cascades level by level;
        # the depth limit and an empty level end the walk.
        if action == "delete" and count and depth < MAX_CASCADE_DEPTH:
            _walk(conn, child, rows, depth + 1, (*path, fk.ref), steps)
        elif action == "delete" and count and depth >= MAX_CASCADE_DEPTH:
            steps.append(CascadeStep(fk.ref, "deeper levels not counted", None, via, depth + 1))


def cascade_preview(info: TableInfo, pks: list[list[str]]) -> CascadePreview:
    """What deleting these rows would do, table by table, through the FK graph (read-only)."""
    where = _rows_where(info, pks)
    try:
        with target.connect(target=info.on) as conn:
            selector = sa.select(*info.table.columns).where(where)
            total = _count(conn, selector) or 0
            steps: list[CascadeStep] = []
            _walk(conn, info, selector, 1, (info.ref,), steps)
    except DBAPIError as exc:
        raise query.db_error_to_app(exc) from exc
    return CascadePreview(total, steps)


def do_delete_rows(request: Any, info: TableInfo, pks: list[list[str]], version: str | None = None,
                   forced: bool = False) -> list[dict[str, Any]]:
    """Delete rows by key (one or many); a RESTRICT/NO ACTION reference is a 409 naming the table.
    With ``version`` (one row: its ETag) a row changed since is a 409 and nothing is deleted."""
    action = "data.delete" if len(pks) == 1 else "data.bulk_delete"
    _require_write(request, action, info, pks[0] if len(pks) == 1 else None)
    where = _rows_where(info, pks)
    try:
        with audit.audited_write(request, action) as audited, target.connect(read_only=False, target=info.on) as conn:
            if version is not None and len(pks) == 1:
                locked = conn.execute(query.base_select(info).where(where).with_for_update()).first()
                if locked is not None and _as_dict(info, locked)["__xmin"] != str(version):
                    current = _as_dict(info, locked)
                    audit.record(request, action, _target(info, pks[0]), before=public(current), outcome="failed",
                                 message="conflict: the row was changed by someone else")
                    raise Conflict("This row was changed by someone else since you read it; nothing was deleted.",
                                   hint="GET the row again, check it, and send its new ETag as If-Match.",
                                   detail={"current": public(current), "current_version": current["__xmin"]})
            deleted = [_as_dict(info, r) for r in conn.execute(info.table.delete().where(where).returning(*_returning(info)))]
            if not deleted:
                raise NotFound("Nothing was deleted: no row has this key (any more).", hint="Reload the grid.")
            audited.record(conn, _target(info, pk_of(info, deleted[0]) if len(deleted) == 1 else None),
                           before=[public(r) for r in deleted] if len(deleted) > 1 else public(deleted[0]), after=None,
                           message=f"{len(deleted)} row(s) deleted" + (" (forced: no If-Match)" if forced else ""))
    except DBAPIError as exc:
        state, diag, _primary = query.diagnostics(exc)
        # 23001 restrict_violation: PostgreSQL 18 reports ON DELETE RESTRICT with its own code (was 23503).
        if state in ("23503", "23001"):
            detail = getattr(diag, "message_detail", "") or ""
            err: Exception = Conflict(f"Cannot delete: other rows still reference it. {detail}".strip(),
                                      hint="Delete or re-point the referencing rows first (the preview lists them).",
                                      code="referenced")
        else:
            err = db_error(None, info, exc)
        if audited.entry is None:  # else its COMMIT failed and the entry already says "not applied"
            audit.record(request, action, _target(info, pks[0] if len(pks) == 1 else None), outcome="failed",
                         message=str(getattr(err, "message", err)))
        raise err from exc
    return deleted
