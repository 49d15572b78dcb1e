"""The database side of a CSV import: COPY into staging, typed check, set-wise checks, one INSERT.

Everything runs in **one transaction** on a target connection of ``core.target``:

1. The CSV (parsed by the stdlib ``csv`` module in ``databrowser.importer``) is streamed in chunks
   of ``CHUNK_ROWS`` rows through psycopg's ``COPY … FROM STDIN`` into a TEMP staging table of
   text columns (``pg_temp``, ``ON COMMIT DROP``).
2. Each chunk is cast set-wise into a TEMP "typed" table made ``LIKE`` the target (same types,
   NOT NULL and CHECK constraints; NOT NULL dropped on the columns the file does not fill, which
   the database defaults fill later) with one ``INSERT … SELECT CAST(…)`` in a savepoint. When
   that fails (a bad value, a NULL in a required column, a CHECK), the chunk is bisected by row
   number, in savepoints, down to the failing rows — so this works on PostgreSQL 14 and 15 too,
   where ``pg_input_is_valid`` does not exist, and costs nothing when the file is clean.
3. On the typed rows, set-wise SQL finds duplicate keys within the file (primary key, unique
   constraints and unique indexes), keys that already exist in the table (insert mode) and
   foreign keys with no referenced row.
4. With no failing row and ``write=True``, ``INSERT INTO target … SELECT … FROM typed`` (or
   ``ON CONFLICT (pk) DO UPDATE`` for an upsert) in the same transaction, then COMMIT. Any
   refusal at that point rolls everything back: all or nothing.

Statements built with SQLAlchemy Core (identifiers quoted, values bound); the DDL that SQLAlchemy
has no construct for (``CREATE TEMP TABLE … (LIKE …)``, ``COPY``) is composed with
``psycopg.sql.Identifier``, as the SQL console and the reader role do. The long statements run on
the driver connection under ``core.target.deadline`` with the import's own longer timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import AppError
from databrowser import catalog
from databrowser.actions import _PgType
from databrowser.query import ColumnInfo, TableInfo

CHUNK_ROWS = 20_000
MAX_ERRORS = 100  # failing rows reported; validation stops past this many
IMPORT_TIMEOUT_S = 900  # statement_timeout of the import's transaction (a 1 M-row INSERT can take a while)
STAGING, TYPED, ROW = "pgadmin_import_staging", "pgadmin_import_typed", "__pgadmin_row"


@dataclass
class RowError:
    row: int | None  # the row's line in the file (the header is line 1); None: the whole file
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Plan:
    """What to load: the target, which CSV cell feeds which column, how NULL is written."""

    info: TableInfo
    columns: list[ColumnInfo]  # mapped target columns, in staging order
    cells: list[int]  # CSV index of each mapped column
    null_marker: str  # a cell equal to this is NULL
    empty_is_null: bool  # an empty cell is NULL in text columns too (other kinds: always)
    upsert: bool


@dataclass
class Outcome:
    rows: int = 0  # data rows read
    errors: list[RowError] = field(default_factory=list)
    truncated: bool = False  # stopped at MAX_ERRORS
    would_update: int = 0  # upsert: rows whose key already exists
    written: int = 0  # rows inserted or updated (write mode)

    def add(self, error: RowError) -> bool:
        """Record a failing row; False once the report is full (the caller stops)."""
        if len(self.errors) >= MAX_ERRORS:
            self.truncated = True
            return False
        self.errors.append(error)
        return True

    @property
    def full(self) -> bool:
        return len(self.errors) >= MAX_ERRORS


class ImportAborted(Exception):
    """Raised inside the transaction to roll it back (a dry run, or failing rows)."""


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _exec(conn: Connection, stmt: Any, params: dict[str, Any] | None = None) -> Any:
    """Run a SQLAlchemy statement (or a psycopg ``sql.Composed``) on the driver connection under
    the import's deadline; returns the psycopg cursor."""
    raw = _raw(conn)
    cur = raw.cursor()
    if isinstance(stmt, pgsql.Composable | str):
        text, args = stmt, params
    else:
        compiled = stmt.compile(dialect=conn.dialect)
        text, args = str(compiled), compiled.params
    with target.deadline(raw, IMPORT_TIMEOUT_S + target.DEADLINE_MARGIN_S):
        cur.execute(text, args or None)
    return cur


class _Savepoint:
    """``SAVEPOINT`` on the driver connection; rolled back on error, released otherwise."""

    def __init__(self, conn: Connection) -> None:
        self.raw = _raw(conn)

    def __enter__(self) -> None:
        self.raw.execute("SAVEPOINT pgadmin_import")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.raw.execute("RELEASE SAVEPOINT pgadmin_import")
        else:
            self.raw.execute("ROLLBACK TO SAVEPOINT pgadmin_import")
            self.raw.execute("RELEASE SAVEPOINT pgadmin_import")


def _staging(n: int) -> sa.Table:
    return sa.Table(STAGING, sa.MetaData(), sa.Column(ROW, sa.BigInteger),
                    *[sa.Column(f"s{i}", sa.Text) for i in range(n)], schema="pg_temp",
                    prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def _typed(plan: Plan) -> sa.Table:
    cols = [sa.Column(c.name, plan.info.table.c[c.name].type) for c in plan.columns]
    return sa.Table(TYPED, sa.MetaData(), *cols, sa.Column(ROW, sa.BigInteger), schema="pg_temp")


def _cast(col: ColumnInfo, value: Any) -> Any:
    """Text to the column's type. String columns take the text as is: the assignment to
    varchar(n) then refuses a value too long, where an explicit CAST would cut it silently."""
    if col.kind == "text":
        return value
    return sa.cast(value, _PgType(col.type_label))


def _create_tables(conn: Connection, plan: Plan) -> tuple[sa.Table, sa.Table]:
    staging = _staging(len(plan.columns))
    staging.create(conn)
    ref = plan.info.ref
    _exec(conn, pgsql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING CONSTRAINTS, {} bigint) ON COMMIT DROP").format(
        pgsql.Identifier("pg_temp", TYPED), pgsql.Identifier(ref.schema, ref.name), pgsql.Identifier(ROW)))
    mapped = {c.name for c in plan.columns}
    typed = pgsql.Identifier("pg_temp", TYPED)
    for col in plan.info.columns:
        if col.name not in mapped and not col.nullable:
            _exec(conn, pgsql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(typed, pgsql.Identifier(col.name)))
    # a CHECK on a column the file leaves to its default would see NULL here, not the default:
    # left to the INSERT, which sees the real value
    checks = _exec(conn, _CHECKS_SQL, {"rel": f"pg_temp.{TYPED}"}).fetchall()
    for name, columns in checks:
        if set(columns) - mapped:
            _exec(conn, pgsql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(typed, pgsql.Identifier(name)))
    return staging, _typed(plan)


_CHECKS_SQL = """
SELECT c.conname, array_agg(a.attname::text)
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.conrelid = %(rel)s::regclass AND c.contype = 'c'
GROUP BY c.conname
"""


def _copy_chunk(conn: Connection, rows: Iterator[list[Any]], width: int) -> tuple[int, int, int]:
    """COPY up to CHUNK_ROWS rows into staging; (first row number, last, count)."""
    raw = _raw(conn)
    stmt = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier("pg_temp", STAGING),
        pgsql.SQL(", ").join([pgsql.Identifier(ROW), *[pgsql.Identifier(f"s{i}") for i in range(width)]]))
    first = last = count = 0
    with target.deadline(raw, IMPORT_TIMEOUT_S + target.DEADLINE_MARGIN_S), raw.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            first = first or row[0]
            last = row[0]
            count += 1
            if count >= CHUNK_ROWS:
                break
    return first, last, count


def _insert_typed(conn: Connection, plan: Plan, staging: sa.Table, typed: sa.Table, lo: int, hi: int) -> None:
    sel = sa.select(*[_cast(c, staging.c[f"s{i}"]) for i, c in enumerate(plan.columns)], staging.c[ROW]) \
        .where(staging.c[ROW].between(lo, hi))
    _exec(conn, typed.insert().from_select([*[c.name for c in plan.columns], ROW], sel))


def _guilty(conn: Connection, plan: Plan, staging: sa.Table, n: int) -> tuple[str, str]:
    """Which cell of row ``n`` PostgreSQL cannot read as its column's type, and its message."""
    for i, col in enumerate(plan.columns):
        cell = staging.c[f"s{i}"]
        if col.kind == "text":
            if col.max_length:
                length = _exec(conn, sa.select(sa.func.char_length(cell)).where(staging.c[ROW] == n)).fetchone()
                if length and length[0] and length[0] > col.max_length:
                    return col.name, f"value too long for {col.type_label} ({length[0]} characters)"
            continue
        try:
            with _Savepoint(conn):
                _exec(conn, sa.select(sa.cast(cell, _PgType(col.type_label))).where(staging.c[ROW] == n))
        except psycopg.Error as exc:
            return col.name, _primary(exc)
    return "", ""


def _primary(exc: psycopg.Error) -> str:
    diag = getattr(exc, "diag", None)
    text = (getattr(diag, "message_primary", None) or str(exc).splitlines()[0] or "refused").strip()
    text = text.rstrip(".")
    return text if len(text) <= 300 else text[:300] + "…"  # a message quotes the value: keep it short


def _row_error(conn: Connection, plan: Plan, staging: sa.Table, n: int, exc: psycopg.Error) -> RowError:
    """A failing row in plain words, on the column it concerns."""
    state = exc.sqlstate or ""
    diag = exc.diag
    if state == "23502" and diag.column_name:
        return RowError(n, diag.column_name, "is required (NOT NULL) but the cell is empty")
    if state == "23514" and diag.constraint_name and diag.table_name == TYPED:
        cons = catalog.constraint(conn, plan.info.ref, diag.constraint_name) or {}
        columns = list(cons.get("columns") or [])
        definition = cons.get("definition") or ""
        return RowError(n, ", ".join(columns), f"breaks the check {diag.constraint_name}"
                                               + (f": {definition}" if definition else ""))
    column, message = _guilty(conn, plan, staging, n)
    return RowError(n, column, message or _primary(exc))


def _bisect(conn: Connection, plan: Plan, staging: sa.Table, typed: sa.Table, lo: int, hi: int, out: Outcome) -> None:
    """Type rows ``lo``…``hi``; where the set fails, halve it until the failing rows are found."""
    if out.full:
        out.truncated = True
        return
    try:
        with _Savepoint(conn):
            _insert_typed(conn, plan, staging, typed, lo, hi)
        return
    except psycopg.Error as exc:
        if not (exc.sqlstate or "").startswith(("22", "23")):
            raise
        if lo == hi:
            out.add(_row_error(conn, plan, staging, lo, exc))
            return
    mid = (lo + hi) // 2
    _bisect(conn, plan, staging, typed, lo, mid, out)
    _bisect(conn, plan, staging, typed, mid + 1, hi, out)


# --- set-wise checks on the typed rows ------------------------------------------------------

def unique_keys(info: TableInfo) -> list[tuple[str, ...]]:
    """The primary key, the unique constraints and the full (non-partial) unique indexes."""
    keys: list[tuple[str, ...]] = []
    if info.pk:
        keys.append(tuple(info.pk))
    for cons in info.table.constraints:
        if isinstance(cons, sa.UniqueConstraint) and not isinstance(cons, sa.PrimaryKeyConstraint):
            keys.append(tuple(c.name for c in cons.columns))
    for idx in info.table.indexes:
        plain = len(idx.expressions) == len(idx.columns)  # no expression keys
        if idx.unique and plain and not idx.dialect_options["postgresql"].get("where"):
            keys.append(tuple(c.name for c in idx.columns))
    seen: list[tuple[str, ...]] = []
    for k in keys:
        if k and k not in seen:
            seen.append(k)
    return seen


def _values(row: Any) -> str:
    return ", ".join("NULL" if v is None else str(v) for v in row)


def _checked(conn: Connection, stmt: Any) -> list[Any]:
    """A check that the role may not run (no SELECT on a referenced table) is skipped: the
    INSERT itself still enforces the constraint."""
    try:
        with _Savepoint(conn):
            rows = list(_exec(conn, stmt).fetchall())
    except psycopg.errors.InsufficientPrivilege:
        return []
    return rows


def _duplicates_in_file(conn: Connection, typed: sa.Table, key: tuple[str, ...], limit: int) -> list[RowError]:
    cols = [typed.c[k] for k in key]
    first = sa.func.min(typed.c[ROW]).over(partition_by=cols).label("first")
    rn = sa.func.row_number().over(partition_by=cols, order_by=typed.c[ROW]).label("rn")
    sub = sa.select(typed.c[ROW].label("n"), first, rn, *cols).where(*[c.is_not(None) for c in cols]).subquery()
    stmt = sa.select(sub.c.n, sub.c.first, *[sub.c[k] for k in key]).where(sub.c.rn > 1).order_by(sub.c.n).limit(limit)
    return [RowError(r[0], ", ".join(key), f"duplicate key ({', '.join(key)}) = ({_values(r[2:])}): the same as row {r[1]}")
            for r in _checked(conn, stmt)]


def _existing(conn: Connection, plan: Plan, typed: sa.Table, key: tuple[str, ...], limit: int) -> list[RowError]:
    table = plan.info.table
    cond = [typed.c[k] == table.c[k] for k in key]
    if plan.upsert and plan.info.pk and set(plan.info.pk) <= {c.name for c in plan.columns}:
        # the row this one updates keeps its own value
        cond.append(sa.not_(sa.and_(*[typed.c[k] == table.c[k] for k in plan.info.pk])))
    stmt = sa.select(typed.c[ROW], *[typed.c[k] for k in key]).select_from(typed.join(table, sa.and_(*cond))) \
        .order_by(typed.c[ROW]).limit(limit)
    where = plan.info.ref.name
    return [RowError(r[0], ", ".join(key), f"a row with ({', '.join(key)}) = ({_values(r[1:])}) already exists in {where}")
            for r in _checked(conn, stmt)]


def _missing_references(conn: Connection, plan: Plan, typed: sa.Table, limit: int) -> list[RowError]:
    mapped = {c.name for c in plan.columns}
    found: list[RowError] = []
    for fkc in plan.info.table.foreign_key_constraints:
        cols = list(fkc.column_keys)
        if not set(cols) <= mapped:
            continue  # the database default fills a column of it: the INSERT checks
        referred = fkc.referred_table
        ref_cols = [e.column.name for e in fkc.elements]
        mine = [typed.c[c] for c in cols]
        missing = ~sa.exists().where(*[referred.c[r] == m for r, m in zip(ref_cols, mine, strict=True)])
        conds = [*[m.is_not(None) for m in mine], missing]  # MATCH SIMPLE: a NULL in the key is not checked
        if referred is plan.info.table and set(ref_cols) <= mapped:  # a tree: the parent may come in the same file
            other = typed.alias("parent_row")
            conds.append(~sa.exists().where(*[other.c[r] == m for r, m in zip(ref_cols, mine, strict=True)]))
        stmt = sa.select(typed.c[ROW], *mine).where(*conds).order_by(typed.c[ROW]).limit(limit)
        where = referred.name if (referred.schema or "public") == "public" else f"{referred.schema}.{referred.name}"
        found += [RowError(r[0], ", ".join(cols),
                           f"({', '.join(cols)}) = ({_values(r[1:])}): no such row in {where} ({', '.join(ref_cols)})")
                  for r in _checked(conn, stmt)]
    return found


def _set_checks(conn: Connection, plan: Plan, typed: sa.Table, out: Outcome) -> None:
    _exec(conn, pgsql.SQL("ANALYZE {}").format(pgsql.Identifier("pg_temp", TYPED)))
    mapped = {c.name for c in plan.columns}
    found: list[RowError] = []
    for key in unique_keys(plan.info):
        if set(key) <= mapped:
            found += _duplicates_in_file(conn, typed, key, MAX_ERRORS)
            if not (plan.upsert and key == tuple(plan.info.pk)):
                found += _existing(conn, plan, typed, key, MAX_ERRORS)
    found += _missing_references(conn, plan, typed, MAX_ERRORS)
    reported = {e.row for e in out.errors}
    for err in sorted(found, key=lambda e: (e.row or 0, e.column)):
        if err.row not in reported:  # one reason per row is enough to fix it
            reported.add(err.row)
            if not out.add(err):
                break
    if plan.upsert and not out.errors:
        table = plan.info.table
        stmt = sa.select(sa.func.count()).select_from(
            typed.join(table, sa.and_(*[typed.c[k] == table.c[k] for k in plan.info.pk])))
        out.would_update = int(_exec(conn, stmt).fetchone()[0])


def _write(conn: Connection, plan: Plan, typed: sa.Table) -> int:
    names = [c.name for c in plan.columns]
    sel = sa.select(*[typed.c[n] for n in names]).order_by(typed.c[ROW])
    stmt = pg.insert(plan.info.table).from_select(names, sel)
    if plan.upsert:
        updates = {n: stmt.excluded[n] for n in names if n not in plan.info.pk}
        stmt = stmt.on_conflict_do_update(index_elements=list(plan.info.pk), set_=updates) if updates \
            else stmt.on_conflict_do_nothing(index_elements=list(plan.info.pk))
    return int(_exec(conn, stmt).rowcount)


def _final_error(exc: psycopg.Error) -> RowError:
    diag = exc.diag
    detail = (diag.message_detail or "").strip()
    return RowError(None, diag.column_name or "", _primary(exc) + (f" ({detail.rstrip('.')})" if detail else ""))


def run(plan: Plan, records: Iterator[tuple[int, list[str] | None]], *, write: bool, out: Outcome,
        progress: Callable[[str, int], None],
        before_commit: Callable[[Connection], None] | None = None) -> Outcome:
    """Validate (and with ``write`` import) the records; rolls back unless every row is good and
    ``write`` is set. ``records`` yields (line number, CSV cells) per data row, the line number
    being the row's number in every report; shape errors (a wrong number of cells, a NUL) are
    recorded on ``out`` by that iterator, which yields ``None`` cells for them. ``before_commit``
    runs once the rows are written, inside the transaction (the audit entry): raising rolls back."""
    width = len(plan.columns)
    nullable_empty = [plan.empty_is_null or c.kind != "text" for c in plan.columns]
    marker = plan.null_marker

    def rows() -> Iterator[list[Any]]:
        for line, rec in records:
            out.rows += 1
            if rec is None:  # a blank line, or a shape error the reader already recorded
                continue
            row: list[Any] = [line]
            for j, idx in enumerate(plan.cells):
                v = rec[idx]
                row.append(None if v == marker or (v == "" and nullable_empty[j]) else v)
            yield row

    stream = rows()
    try:
        with target.connect(read_only=False, target=plan.info.on) as conn:
            conn.execute(sa.select(sa.func.set_config("statement_timeout", f"{IMPORT_TIMEOUT_S * 1000}", True)))
            staging, typed = _create_tables(conn, plan)
            while not out.full:
                first, last, count = _copy_chunk(conn, stream, width)
                if not count:
                    break
                _bisect(conn, plan, staging, typed, first, last, out)
                _exec(conn, pgsql.SQL("TRUNCATE {}").format(pgsql.Identifier("pg_temp", STAGING)))
                progress("reading", out.rows)
            if out.full:
                out.truncated = True
            if not out.full:  # also with failing rows: every reason in one report
                progress("checking keys and references", out.rows)
                _set_checks(conn, plan, typed, out)
            if out.errors or not write:
                raise ImportAborted
            progress("writing", out.rows)
            try:
                with _Savepoint(conn):
                    out.written = _write(conn, plan, typed)
            except psycopg.Error as exc:
                if not (exc.sqlstate or "").startswith(("22", "23", "P0", "42")):
                    raise
                out.add(_final_error(exc))
                raise ImportAborted from exc
            if before_commit is not None:
                before_commit(conn)
    except ImportAborted:
        pass
    except psycopg.Error as exc:  # a driver error raised outside SQLAlchemy (COPY, raw statements)
        wrapped = DBAPIError.instance(None, None, exc, psycopg.Error)
        translated = target.translate_error(wrapped)
        if isinstance(translated, AppError):
            raise translated from exc
        raise AppError(f"PostgreSQL refused the import: {_primary(exc)}.", code="import_failed", status=400,
                       hint="Nothing was written. Check the message, fix the file or the mapping, and try again.") from exc
    return out
