"""Keys of the target's tables: primary and unique keys, foreign keys both ways, index keys, columns.

Constant SQL on ``pg_constraint`` / ``pg_index`` with bound parameters only; column lists keep the
key's own order. Foreign keys of partitions are reported once, on their partitioned parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from core.catalog.relations import USER_SCHEMA_SQL

ON_DELETE = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}

# The columns of a constraint's key ``conkey`` (or ``confkey``) in key order (constant SQL).
_KEY_COLUMNS = """array(SELECT a.attname FROM unnest(con.{key}) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.{rel} AND a.attnum = k.num ORDER BY k.ord)"""
_COLUMNS = _KEY_COLUMNS.format(key="conkey", rel="conrelid")
_REF_COLUMNS = _KEY_COLUMNS.format(key="confkey", rel="confrelid")

# Primary and unique keys of the tables of one schema (NULL: every user schema).
_KEYS_SQL = text(f"""
SELECT n.nspname AS schema, c.relname AS table, con.conname AS name, con.contype AS type, {_COLUMNS} AS columns
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('p', 'u') AND {USER_SCHEMA_SQL}
  AND (CAST(:schema AS text) IS NULL OR n.nspname = CAST(:schema AS text))
ORDER BY n.nspname, c.relname, con.contype, con.conname
""")

# Foreign keys of the tables of one schema (NULL: every user schema), the referenced table and columns.
_FKS_SQL = text(f"""
SELECT con.conname AS name, n.nspname AS schema, c.relname AS table, rn.nspname AS ref_schema,
       rc.relname AS ref_table, con.confdeltype AS on_delete, {_COLUMNS} AS columns, {_REF_COLUMNS} AS ref_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND NOT c.relispartition AND {USER_SCHEMA_SQL}
  AND (CAST(:schema AS text) IS NULL OR n.nspname = CAST(:schema AS text))
ORDER BY n.nspname, c.relname, con.conname
""")

# Foreign keys pointing AT a table (reverse FKs).
_REFERENCING_SQL = text(f"""
SELECT con.conname AS name, n.nspname AS schema, c.relname AS table, rn.nspname AS ref_schema,
       rc.relname AS ref_table, con.confdeltype AS on_delete, {_COLUMNS} AS columns, {_REF_COLUMNS} AS ref_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND NOT c.relispartition
  AND rn.nspname = :schema AND rc.relname = :name
ORDER BY n.nspname, c.relname, con.conname
""")

_CONSTRAINT_SQL = text(f"""
SELECT con.contype, {_COLUMNS} AS columns, pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname = :name AND con.conname = :constraint
""")

_INDEX_COLS_SQL = text("""
SELECT array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname = :schema AND ic.relname = :constraint
""")

# The key columns of every valid, non-partial index of a table, with the access method, the operator
# class and the column (attnum > 0) or the expression as PostgreSQL prints it: what the data browser's
# search needs to know which columns a trigram or full-text index serves.
_INDEX_KEYS_SQL = text("""
SELECT ic.relname AS index, am.amname AS method, opc.opcname AS opclass,
       a.attname AS column, CASE WHEN a.attname IS NULL THEN pg_get_indexdef(i.indexrelid, k.ord::int, true) END AS expr
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL unnest(i.indclass::oid[]) WITH ORDINALITY k(opc, ord)
JOIN pg_opclass opc ON opc.oid = k.opc
LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.ord - 1] AND a.attnum > 0
WHERE i.indrelid = :oid AND i.indisvalid AND i.indisready AND i.indpred IS NULL AND k.ord <= i.indnkeyatts
ORDER BY ic.relname, k.ord
""")

# Column names as PostgreSQL quotes them in an index expression (quote_ident), to map back.
_IDENTS_SQL = text("""
SELECT attname, quote_ident(attname) FROM pg_attribute WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped
""")

# Whether pg_trgm is installed in this database, only available on the server, or neither.
_TRGM_SQL = text("""
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
""")


@dataclass(frozen=True)
class Key:
    """A primary (``type="p"``) or unique (``"u"``) key of a table."""

    schema: str
    table: str
    name: str
    type: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key of ``schema.table`` (its ``columns``) to ``ref_schema.ref_table`` (``ref_columns``)."""

    name: str
    schema: str
    table: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str  # cascade / set null / set default / restrict / no action


def _keys(conn: Connection, schema: str | None, kind: str) -> dict[tuple[str, str], list[Key]]:
    out: dict[tuple[str, str], list[Key]] = {}
    for r in conn.execute(_KEYS_SQL, {"schema": schema}).mappings():
        if r["type"] == kind:
            out.setdefault((r["schema"], r["table"]), []).append(
                Key(r["schema"], r["table"], r["name"], r["type"], tuple(r["columns"])))
    return out


def primary_keys(conn: Connection, schema: str | None = None) -> dict[tuple[str, str], Key]:
    """(schema, table) -> its primary key, for the tables of one schema (None: every user schema)."""
    return {k: v[0] for k, v in _keys(conn, schema, "p").items()}


def unique_keys(conn: Connection, schema: str | None = None) -> dict[tuple[str, str], list[Key]]:
    """(schema, table) -> its unique constraints (not unique indexes), by name."""
    return _keys(conn, schema, "u")


def _fk(r: Any) -> ForeignKey:
    return ForeignKey(r["name"], r["schema"], r["table"], tuple(r["columns"]), r["ref_schema"], r["ref_table"],
                      tuple(r["ref_columns"]), ON_DELETE.get(r["on_delete"], "no action"))


def foreign_keys(conn: Connection, schema: str | None = None) -> list[ForeignKey]:
    """The foreign keys of the tables of one schema (None: every user schema), by table and name."""
    return [_fk(r) for r in conn.execute(_FKS_SQL, {"schema": schema}).mappings()]


def referencing(conn: Connection, schema: str, name: str) -> list[ForeignKey]:
    """The foreign keys of other tables (or the same one) that reference ``schema.name``."""
    return [_fk(r) for r in conn.execute(_REFERENCING_SQL, {"schema": schema, "name": name}).mappings()]


def constraint(conn: Connection, schema: str, table: str, name: str) -> dict[str, Any] | None:
    """Type, columns and definition of a constraint (or a unique index) of a table, by name."""
    row = conn.execute(_CONSTRAINT_SQL, {"schema": schema, "name": table, "constraint": name}).mappings().first()
    if row:
        return dict(row)
    cols = conn.execute(_INDEX_COLS_SQL, {"schema": schema, "constraint": name}).scalar()
    return {"contype": "u", "columns": list(cols), "definition": ""} if cols else None


@dataclass(frozen=True)
class IndexKey:
    """One key column of an index: a plain column (``column``) or an expression (``expr``)."""

    index: str
    method: str  # btree, gin, gist, hash, brin…
    opclass: str
    column: str | None
    expr: str | None


def index_keys(conn: Connection, oid: int) -> tuple[list[IndexKey], dict[str, str]]:
    """The index keys of a relation, and its column names by their quoted spelling."""
    keys = [IndexKey(r["index"], r["method"], r["opclass"], r["column"], r["expr"])
            for r in conn.execute(_INDEX_KEYS_SQL, {"oid": oid}).mappings()]
    idents = {quoted: name for name, quoted in conn.execute(_IDENTS_SQL, {"oid": oid})} if keys else {}
    return keys, idents


def trigram_extension(conn: Connection) -> str:
    """``installed``, ``available`` (CREATE EXTENSION pg_trgm would work) or ``missing``."""
    installed, available = conn.execute(_TRGM_SQL).one()
    return "installed" if installed else "available" if available else "missing"
