"""What a grid search (``q``) looks at, how, and which index serves it.

A search term is matched against every column where it means something, each in its own way:

* text: contains the term (``ILIKE '%term%'``); through a pg_trgm index (GIN/GiST ``*_trgm_ops``) on
  the column when one exists and the term has at least 3 characters (shorter terms give a trigram
  index nothing to look up), else through a full-text index (``to_tsvector(config, col)``) as a
  whole-word match;
* JSON (keys and values) and UUIDs as their text, through a trigram index on ``(col::text)``; a
  whole UUID as an equality;
* enums: the labels that contain the term (``col IN (…)``), so a btree index on the column serves it;
* numbers: equality, when the term is a number that fits the column's type;
* tsvector columns: a full-text match; arrays and other types (inet, ranges, money…) as text.

Booleans, dates and times, intervals and binary data are skipped, each with the reason (a column
filter fits them). ``SearchPlan`` lists what was searched and what was skipped, says whether an
index serves every searched column (then a plain query is complete and fast), and, for columns no
index serves, the exact statement that would create one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from databrowser.reflection import ColumnInfo, TableInfo

TRGM_OPCLASSES = ("gin_trgm_ops", "gist_trgm_ops")
TRGM_MIN_TERM = 3  # pg_trgm extracts nothing from a shorter term: its index would read every entry
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$")
_HEXISH = re.compile(r"^[0-9a-fA-F-]+$")
_CAST_EXPR = re.compile(r"^\((.+)::text\)$")
_FTS_EXPR = re.compile(r"^to_tsvector\('((?:[^']|'')+)'::regconfig, (.+)\)$")
_INT_LIMITS = ((sa.SmallInteger, 2**15), (sa.BigInteger, 2**63), (sa.Integer, 2**31))
_PREPARER = pg.dialect().identifier_preparer
SKIP_REASONS = {
    "bool": "true/false: use a column filter",
    "date": "a date: use a ≥ / ≤ column filter",
    "datetime": "a timestamp: use a ≥ / ≤ column filter",
    "time": "a time: use a ≥ / ≤ column filter",
    "interval": "an interval: use a ≥ / ≤ column filter",
    "bytea": "binary data",
}


@dataclass(frozen=True)
class TextIndex:
    """An index that can serve a text search on one column."""

    kind: str  # trgm (on the column) | trgm_cast (on (col::text)) | fts (to_tsvector(config, col) or a tsvector)
    name: str
    config: str | None = None  # the text-search configuration of an fts index on an expression


@dataclass
class SearchColumn:
    name: str
    how: str  # in words: "contains", "JSON as text, through the trigram index …", "= 12"
    clause: sa.ColumnElement[bool]
    indexed: bool  # an index serves this column's part of the search
    index_sql: str | None = None  # what would create such an index (None: none can, or one exists)
    needs_trgm: bool = False  # index_sql needs the pg_trgm extension


@dataclass
class Skipped:
    name: str
    reason: str


@dataclass
class SearchPlan:
    term: str
    columns: list[SearchColumn]
    skipped: list[Skipped]
    notes: list[str] = field(default_factory=list)
    trigram: str = "missing"  # the pg_trgm extension: installed | available | missing

    @property
    def all_indexed(self) -> bool:
        return bool(self.columns) and all(c.indexed for c in self.columns)

    def clause(self) -> sa.ColumnElement[bool]:
        return sa.or_(*[c.clause for c in self.columns]) if self.columns else sa.false()

    def index_statements(self) -> list[str]:
        """The statements that would let an index serve every searched column that has none."""
        wanted = [c for c in self.columns if not c.indexed and c.index_sql
                  and not (c.needs_trgm and self.trigram == "missing")]
        out = [c.index_sql for c in wanted if c.index_sql]
        if any(c.needs_trgm for c in wanted) and self.trigram == "available":
            out.insert(0, "CREATE EXTENSION IF NOT EXISTS pg_trgm;")
        return out

    def unindexed(self) -> list[str]:
        return [c.name for c in self.columns if not c.indexed]

    def as_dict(self) -> dict[str, Any]:
        return {"term": self.term,
                "columns": [{"name": c.name, "how": c.how, "indexed": c.indexed} for c in self.columns],
                "skipped": [{"name": s.name, "reason": s.reason} for s in self.skipped], "notes": list(self.notes)}


def quote(name: str) -> str:
    return str(_PREPARER.quote(name))


def qualified(info: TableInfo) -> str:
    return str(_PREPARER.format_table(info.table))


def text_indexes(info: TableInfo) -> dict[str, TextIndex]:
    """Column -> the index that serves a text search on it (a trigram index preferred)."""
    found: dict[str, TextIndex] = {}
    kinds = {c.name: c for c in info.columns}
    for key in info.index_keys:
        if key.opclass in TRGM_OPCLASSES:
            if key.column and key.column in kinds and kinds[key.column].kind == "text":
                found[key.column] = TextIndex("trgm", key.index)
            elif key.expr and (m := _CAST_EXPR.match(key.expr)) and (col := info.idents.get(m.group(1))):
                found[col] = TextIndex("trgm_cast", key.index)
        elif key.opclass == "tsvector_ops" and key.method in ("gin", "gist"):
            if key.column:
                found.setdefault(key.column, TextIndex("fts", key.index))
            elif key.expr and (m := _FTS_EXPR.match(key.expr)) and (col := info.idents.get(m.group(2))):
                found.setdefault(col, TextIndex("fts", key.index, m.group(1).replace("''", "'")))
    return found


def like_pattern(term: str) -> str:
    """``%term%`` with the term's own %, _ and \\ taken literally (backslash is LIKE's escape)."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _int_limit(col_type: Any) -> int:
    for cls, limit in _INT_LIMITS:
        if isinstance(col_type, cls):
            return limit
    return 2**63


def _number_clause(cinfo: ColumnInfo, col: sa.ColumnElement[Any], term: str) -> sa.ColumnElement[bool] | None:
    """``col = number`` when the term is a number this column can hold; None otherwise."""
    if not _NUMBER.match(term):
        return None
    try:
        value = Decimal(term)
    except InvalidOperation:
        return None
    if cinfo.kind == "int":
        if value != value.to_integral_value() or abs(value) >= _int_limit(col.type):
            return None
        return col == sa.bindparam(None, int(value), type_=col.type)
    if cinfo.kind == "float":
        # real/double: compare in the column's own type (1.1::real = the stored 1.1); out-of-range
        # values would be an error, not a non-match
        if value != 0 and not Decimal("1e-37") < abs(value) < Decimal("1e37"):
            return None
        return col == sa.cast(sa.bindparam(None, term, type_=sa.Text), col.type)
    # numeric(p, s): compared as an unconstrained numeric, so 10^12 is no match rather than an overflow
    return col == sa.cast(sa.bindparam(None, term, type_=sa.Text), sa.Numeric())


def _fts(col: sa.ColumnElement[Any], term: str, config: str | None) -> sa.ColumnElement[bool]:
    if config is None:
        return col.op("@@")(sa.func.plainto_tsquery(term))
    # the configuration is inlined as a literal (not a parameter), so the expression is the very
    # one the index was built on and the planner can match it
    cfg = sa.cast(sa.literal(config, literal_execute=True), pg.REGCONFIG)
    return sa.func.to_tsvector(cfg, col).op("@@")(sa.func.plainto_tsquery(cfg, term))


def _column(info: TableInfo, cinfo: ColumnInfo, term: str, pattern: str,
            indexes: dict[str, TextIndex]) -> SearchColumn | Skipped:
    col = info.c(cinfo.name)
    name = cinfo.name
    table, q = qualified(info), quote(name)
    partitioned = " " if info.kind == "p" else " CONCURRENTLY "  # a partitioned table cannot build concurrently
    btree_sql = f"CREATE INDEX{partitioned}ON {table} ({q});"
    trgm_sql = f"CREATE INDEX{partitioned}ON {table} USING gin ({q} gin_trgm_ops);"
    cast_sql = f"CREATE INDEX{partitioned}ON {table} USING gin (({q}::text) gin_trgm_ops);"
    idx = indexes.get(name)
    long_enough = len(term) >= TRGM_MIN_TERM
    if idx is not None and idx.kind in ("trgm", "trgm_cast"):  # there is one; the term is too short for it
        trgm_sql = cast_sql = ""
    kind = cinfo.kind
    if kind in SKIP_REASONS:
        return Skipped(name, SKIP_REASONS[kind])
    if kind in ("int", "float", "numeric"):
        clause = _number_clause(cinfo, col, term)
        if clause is None:
            return Skipped(name, "a number column, and the term is not a number it can hold")
        indexed = name in info.indexed
        return SearchColumn(name, f"= {term}" + (" (indexed)" if indexed else ""), clause, indexed, btree_sql)
    if kind == "enum":
        labels = [v for v in cinfo.enum_values if term.casefold() in v.casefold()]
        if not labels:
            return Skipped(name, "no value of this enum contains the term")
        indexed = name in info.indexed
        shown = ", ".join(labels[:5]) + (", …" if len(labels) > 5 else "")
        return SearchColumn(name, f"is one of {shown}" + (" (indexed)" if indexed else ""),
                            col.in_([sa.bindparam(None, v, type_=col.type) for v in labels]), indexed, btree_sql)
    if kind == "uuid":
        try:
            whole = uuid.UUID(term)
        except ValueError:
            whole = None
        if whole is not None:
            indexed = name in info.indexed
            return SearchColumn(name, "= this UUID" + (" (indexed)" if indexed else ""),
                                col == sa.bindparam(None, whole, type_=col.type), indexed, btree_sql)
        if not _HEXISH.match(term):
            return Skipped(name, "a UUID, and the term is not part of one (hex digits and dashes)")
        served = idx is not None and idx.kind == "trgm_cast" and long_enough
        return SearchColumn(name, "contains, as text" + (f" (trigram index {idx.name})" if served and idx else ""),
                            sa.cast(col, sa.Text).ilike(pattern), served, cast_sql or None, needs_trgm=True)
    if kind == "json":
        served = idx is not None and idx.kind == "trgm_cast" and long_enough
        how = "JSON as text (keys and values) contains" + (f", through the trigram index {idx.name}"
                                                            if served and idx else "")
        return SearchColumn(name, how, sa.cast(col, sa.Text).ilike(pattern), served, cast_sql or None, needs_trgm=True)
    if kind == "text":
        if idx is not None and idx.kind == "trgm" and long_enough:
            return SearchColumn(name, f"contains, through the trigram index {idx.name}", col.ilike(pattern), True)
        if idx is not None and idx.kind == "fts":
            return SearchColumn(name, f"whole words, through the full-text index {idx.name}",
                                _fts(col, term, idx.config), True)
        return SearchColumn(name, "contains", col.ilike(pattern), False, trgm_sql or None, needs_trgm=True)
    if cinfo.type_label == "tsvector":
        served = idx is not None and idx.kind == "fts"
        return SearchColumn(name, "whole words (full-text)" + (f", through the index {idx.name}" if served and idx else ""),
                            _fts(col, term, None), served, f"CREATE INDEX{partitioned}ON {table} USING gin ({q});")
    # arrays and the rest (inet, ranges, money, geometry…): their text form contains the term; their
    # text cast is not immutable for arrays, so no index can serve it — the scan does
    return SearchColumn(name, "contains, as text", sa.cast(col, sa.Text).ilike(pattern), False, None)


def plan_search(info: TableInfo, term: str, only: list[str] | None = None) -> SearchPlan:
    """Which columns a search for ``term`` covers and how (``only``: the columns the user chose)."""
    pattern = like_pattern(term)
    indexes = text_indexes(info)
    columns: list[SearchColumn] = []
    skipped: list[Skipped] = []
    for cinfo in info.columns:
        if only and cinfo.name not in only:
            skipped.append(Skipped(cinfo.name, "not chosen"))
            continue
        got = _column(info, cinfo, term, pattern, indexes)
        (columns if isinstance(got, SearchColumn) else skipped).append(got)  # type: ignore[arg-type]
    plan = SearchPlan(term, columns, skipped, trigram=info.trigram)
    if len(term) < TRGM_MIN_TERM and any(i.kind in ("trgm", "trgm_cast") for i in indexes.values()):
        plan.notes.append(f"Terms shorter than {TRGM_MIN_TERM} characters cannot use a trigram index.")
    if plan.trigram == "missing" and any(c.needs_trgm and not c.indexed for c in columns):
        plan.notes.append("The pg_trgm extension is not available on this server (it ships with PostgreSQL's "
                          "contrib package): without it no index can serve a 'contains' search.")
    return plan
