"""Reflected tables of the target, cached per target and table for a short time.

``get_table`` reflects a relation with SQLAlchemy (``Table(..., autoload_with=conn)``) and adds
what the browser needs: column kinds, the key, FK links, which columns lead an index, a label
column for FK pickers, the planner's row estimate. Entries live ``REFLECT_TTL_S`` seconds and
``invalidate()`` drops them at once (after a migration, say).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql as pg

from core import target
from core.exceptions import BadRequest, NotFound
from databrowser import catalog
from databrowser.refs import TableRef

REFLECT_TTL_S = 30.0

# --- reflection ---------------------------------------------------------------------------


@dataclass
class ColumnInfo:
    name: str
    position: int
    kind: str  # int, float, numeric, bool, text, enum, date, datetime, time, interval, uuid, json, array, bytea, other
    type_label: str
    nullable: bool
    has_default: bool  # server default, identity or serial: the database fills it
    identity_always: bool
    is_pk: bool
    enum_values: list[str] = field(default_factory=list)
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    fk: FkLink | None = None


@dataclass(frozen=True)
class FkLink:
    """A column of ours that references another table (first column of the FK)."""

    ref: TableRef
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    to_pk: bool  # the referenced columns are that table's primary key (so a row page exists)


@dataclass
class TableInfo:
    ref: TableRef
    table: sa.Table
    kind: str  # relkind
    columns: list[ColumnInfo]
    pk: tuple[str, ...]
    estimate: int | None
    indexed: set[str]  # columns that lead some index (a sort on them is cheap)
    label_column: str | None
    loaded_at: float
    oid: int = 0
    # every key of every valid non-partial index and the columns by their quoted spelling
    # (what the search reads to know which columns a trigram or full-text index serves)
    index_keys: list[catalog.IndexKey] = field(default_factory=list)
    idents: dict[str, str] = field(default_factory=dict)
    trigram: str = "missing"  # pg_trgm: installed | available | missing
    on: target.Target | None = None  # the target it was reflected from: queries on it connect there

    @property
    def writable(self) -> bool:
        return self.kind in catalog.WRITABLE_KINDS and bool(self.pk)

    @property
    def read_only_reason(self) -> str:
        if self.kind not in catalog.WRITABLE_KINDS:
            return f"This is a {catalog.KIND_LABELS[self.kind]}: it is shown read-only."
        if not self.pk:
            return ("This table has no primary key, so a row cannot be addressed safely: browse only. "
                    "Add a primary key (a migration) to edit rows here.")
        return ""

    @property
    def kind_label(self) -> str:
        return catalog.KIND_LABELS[self.kind]

    @property
    def has_xmin(self) -> bool:
        return self.kind in catalog.WRITABLE_KINDS

    def column(self, name: str) -> ColumnInfo:
        for col in self.columns:
            if col.name == name:
                return col
        raise BadRequest(f"{self.ref} has no column {name!r}.",
                         hint="Columns: " + ", ".join(c.name for c in self.columns[:30]))

    def c(self, name: str) -> sa.ColumnElement[Any]:
        return self.table.c[self.column(name).name]


_cache_lock = threading.Lock()
_cache: dict[tuple[str, TableRef], TableInfo] = {}


def _target_key(on: target.Target | None = None) -> str:
    """The cache key part of target ``on`` (default ``current()``): its key and a digest of its full
    URL (``Target.cache_part``), so that a target reached with other credentials reflects again."""
    return (on or target.current()).cache_part


def invalidate(ref: TableRef | None = None, *, on: target.Target | None = None) -> None:
    """Forget reflected tables (all, or one; of every target, or of target ``on`` only) so the next
    request reflects again."""
    prefix = on.key + "#" if on is not None else ""
    with _cache_lock:
        for key in [k for k in _cache if (ref is None or k[1] == ref) and k[0].startswith(prefix)]:
            del _cache[key]


def _kind_of(col_type: Any) -> str:
    checks: list[tuple[Any, str]] = [
        (sa.Enum, "enum"), (pg.ARRAY, "array"), (sa.JSON, "json"), (sa.Boolean, "bool"), (sa.Float, "float"),
        (sa.Integer, "int"), (sa.Numeric, "numeric"), (sa.DateTime, "datetime"), (sa.Date, "date"),
        (sa.Time, "time"), (sa.Interval, "interval"), (pg.INTERVAL, "interval"), (sa.Uuid, "uuid"), (sa.LargeBinary, "bytea"),
        (sa.String, "text"),
    ]
    if isinstance(col_type, pg.DOMAIN):
        return _kind_of(col_type.data_type)
    for cls, kind in checks:
        if isinstance(col_type, cls):
            return kind
    return "other"


def _reflect(conn: Connection, ref: TableRef) -> TableInfo:
    rel = catalog.relation(conn, ref)
    if rel is None:
        raise NotFound(f"No table or view {ref} in the database.",
                       hint="Open /data to see every table; names are case-sensitive.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not recognize type 'point'": shown as text, fine
        table = sa.Table(ref.name, sa.MetaData(), schema=ref.schema, autoload_with=conn)
    pk = tuple(c.name for c in table.primary_key.columns)
    labels = catalog.column_types(conn, rel["oid"])
    fk_of: dict[str, FkLink] = {}
    for fkc in table.foreign_key_constraints:
        ref_table = fkc.referred_table
        ref_cols = tuple(e.column.name for e in fkc.elements)
        link = FkLink(TableRef(ref_table.schema or "public", ref_table.name), tuple(fkc.column_keys), ref_cols,
                      to_pk=ref_cols == tuple(c.name for c in ref_table.primary_key.columns))
        fk_of.setdefault(fkc.column_keys[0], link)
    columns = []
    for i, col in enumerate(table.columns):
        kind = _kind_of(col.type)
        identity = col.identity
        serial = col.server_default is not None and "nextval(" in str(getattr(col.server_default, "arg", ""))
        info = ColumnInfo(
            name=col.name, position=i, kind=kind, type_label=labels.get(col.name, "unknown"),
            nullable=bool(col.nullable), has_default=col.server_default is not None or identity is not None or serial,
            identity_always=bool(identity is not None and identity.always), is_pk=col.name in pk,
            enum_values=list(getattr(col.type, "enums", []) or []) if kind == "enum" else [],
            max_length=getattr(col.type, "length", None) if kind == "text" else None,
            precision=getattr(col.type, "precision", None) if kind == "numeric" else None,
            scale=getattr(col.type, "scale", None) if kind == "numeric" else None,
            fk=fk_of.get(col.name),
        )
        columns.append(info)
    indexed = {pk[0]} if pk else set()
    unique_single: list[str] = []
    for idx in table.indexes:
        names = [c.name for c in idx.columns]
        # only a btree (or hash) index on the leading column makes a sort or an equality cheap; a
        # GIN trigram index does neither (an expression index has no plain leading column)
        using = idx.dialect_options["postgresql"].get("using")  # falsy for the default, btree
        if names and (not using or using in ("btree", "hash")) \
                and (not idx.expressions or idx.expressions[0] is idx.columns[0]):
            indexed.add(names[0])
        if idx.unique and len(names) == 1:
            unique_single.append(names[0])
    for cons in table.constraints:
        if not isinstance(cons, sa.UniqueConstraint):
            continue
        names = [c.name for c in cons.columns]
        if len(names) == 1:
            unique_single.append(names[0])
            indexed.add(names[0])
    texts = [c.name for c in columns if c.kind == "text" and not c.is_pk]
    label = next((n for n in unique_single if n in texts), None) or (texts[0] if texts else None)
    estimate = None if rel["estimate"] is None else int(rel["estimate"])  # None: never analysed, unknown
    keys, idents = catalog.index_keys(conn, rel["oid"])
    return TableInfo(ref, table, rel["relkind"], columns, pk, estimate, indexed, label, time.monotonic(),
                     oid=rel["oid"], index_keys=keys, idents=idents, trigram=catalog.trigram_extension(conn))


def get_table(ref: TableRef, conn: Connection | None = None, *, on: target.Target | None = None) -> TableInfo:
    """The reflected table of target ``on`` (default ``current()``; ``conn``, when given, must be a
    connection to it), cached for REFLECT_TTL_S seconds per target and table."""
    on = on or target.current()
    key = (_target_key(on), ref)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit.loaded_at < REFLECT_TTL_S:
        return hit
    if conn is None:
        with target.connect(target=on) as own:
            info = _reflect(own, ref)
    else:
        info = _reflect(conn, ref)
    info.on = on
    with _cache_lock:
        _cache[key] = info
    return info


def list_tables(on: target.Target | None = None) -> list[dict[str, Any]]:
    with target.connect(target=on) as conn:
        return catalog.list_relations(conn)

