"""Fixed read-only queries on pg_catalog: the table list, sizes, estimates, the FK graph.

These are constant SQL texts whose only inputs are bound parameters (schema and table names
are compared as values, never spliced into SQL). Everything that reads or writes user tables
goes through reflected ``Table`` objects in ``databrowser.query`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from databrowser.refs import TableRef

KIND_LABELS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}
WRITABLE_KINDS = {"r", "p"}

# The planner's row estimate of one relation ``c``, NULL when it is unknown: never analysed nor
# vacuumed (reltuples = -1 since PostgreSQL 14; before, 0 with relpages = 0 and no analyze/vacuum
# recorded). A partitioned table sums its leaf partitions' known estimates (NULL when none is
# known); a view has no estimate. Shown as "unknown", never as 0. A constant SQL fragment.
_ESTIMATE = """
CASE WHEN c.relkind = 'v' THEN NULL
     WHEN c.relkind = 'p' THEN
        (SELECT CASE WHEN count(*) = 0 THEN 0 ELSE sum(e.est)::bigint END
           FROM (SELECT CASE WHEN ch.reltuples > 0 THEN ch.reltuples
                             WHEN ch.reltuples < 0 THEN NULL
                             WHEN ch.relpages = 0 AND current_setting('server_version_num')::int < 140000
                                  AND pg_stat_get_last_analyze_time(ch.oid) IS NULL
                                  AND pg_stat_get_last_autoanalyze_time(ch.oid) IS NULL
                                  AND pg_stat_get_last_vacuum_time(ch.oid) IS NULL
                                  AND pg_stat_get_last_autovacuum_time(ch.oid) IS NULL THEN NULL
                             ELSE 0 END AS est
                   FROM pg_partition_tree(c.oid) t JOIN pg_class ch ON ch.oid = t.relid WHERE t.isleaf) e
          HAVING count(*) = 0 OR count(e.est) > 0)
     WHEN c.reltuples > 0 THEN c.reltuples::bigint
     WHEN c.reltuples < 0 THEN NULL
     WHEN c.relpages = 0 AND current_setting('server_version_num')::int < 140000
          AND pg_stat_get_last_analyze_time(c.oid) IS NULL AND pg_stat_get_last_autoanalyze_time(c.oid) IS NULL
          AND pg_stat_get_last_vacuum_time(c.oid) IS NULL AND pg_stat_get_last_autovacuum_time(c.oid) IS NULL THEN NULL
     ELSE 0 END"""

_LIST_SQL = text(f"""
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, {_ESTIMATE} AS estimate,
       CASE WHEN c.relkind IN ('r', 'm', 'p') THEN pg_total_relation_size(c.oid) END AS size,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY n.nspname, c.relname
""")  # _ESTIMATE is a constant of this module: no input reaches the text

_REL_SQL = text(f"""
SELECT c.oid, c.relkind, {_ESTIMATE} AS estimate, c.relpages
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname = :name AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
""")

# Foreign keys pointing AT a table (reverse FKs) with their ON DELETE action, column lists in order.
_REFERENCING_SQL = text("""
SELECT con.conname AS name, n.nspname AS schema, c.relname AS table, con.confdeltype AS on_delete,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord) AS ref_columns
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND NOT c.relispartition
  AND con.confrelid = (SELECT rc.oid FROM pg_class rc JOIN pg_namespace rn ON rn.oid = rc.relnamespace
                       WHERE rn.nspname = :schema AND rc.relname = :name)
ORDER BY n.nspname, c.relname, con.conname
""")

_CONSTRAINT_SQL = text("""
SELECT con.contype,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord) AS columns,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname = :name AND con.conname = :constraint
""")

_INDEX_COLS_SQL = text("""
SELECT array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.num ORDER BY k.ord)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE n.nspname = :schema AND ic.relname = :constraint
""")

_TYPES_SQL = text("""
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped
""")

# The key columns of every valid, non-partial index of a table, with the access method, the operator
# class and the column (attnum > 0) or the expression as PostgreSQL prints it: what the search needs
# to know which columns a trigram or full-text index serves (databrowser.searchplan).
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

_BLOCKS_SQL = text("SELECT pg_relation_size(CAST(:oid AS oid)) / current_setting('block_size')::int")

# Whether pg_trgm is installed in this database, only available on the server, or neither.
_TRGM_SQL = text("""
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'),
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')
""")

ON_DELETE = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}


@dataclass(frozen=True)
class ReverseFk:
    """A foreign key of another table that references ours."""

    name: str
    ref: TableRef  # the referencing table
    columns: tuple[str, ...]  # its columns
    ref_columns: tuple[str, ...]  # our columns they point at
    on_delete: str  # cascade / set null / set default / restrict / no action


def list_relations(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(_LIST_SQL).mappings().all()
    return [{"schema": r["schema"], "name": r["name"], "kind": KIND_LABELS[r["kind"]],
             "read_only": r["kind"] not in WRITABLE_KINDS,
             "estimated_rows": None if r["estimate"] is None else int(r["estimate"]),  # None: unknown
             "size_bytes": r["size"], "comment": r["comment"] or ""} for r in rows]


def relation(conn: Connection, ref: TableRef) -> dict[str, Any] | None:
    row = conn.execute(_REL_SQL, {"schema": ref.schema, "name": ref.name}).mappings().first()
    return dict(row) if row else None


def referencing(conn: Connection, ref: TableRef) -> list[ReverseFk]:
    rows = conn.execute(_REFERENCING_SQL, {"schema": ref.schema, "name": ref.name}).mappings().all()
    return [ReverseFk(r["name"], TableRef(r["schema"], r["table"]), tuple(r["columns"]), tuple(r["ref_columns"]),
                      ON_DELETE.get(r["on_delete"], "no action")) for r in rows]


def constraint(conn: Connection, ref: TableRef, name: str) -> dict[str, Any] | None:
    """Type, columns and definition of a constraint (or a unique index) of a table, by name."""
    row = conn.execute(_CONSTRAINT_SQL, {"schema": ref.schema, "name": ref.name, "constraint": name}).mappings().first()
    if row:
        return dict(row)
    cols = conn.execute(_INDEX_COLS_SQL, {"schema": ref.schema, "constraint": name}).scalar()
    return {"contype": "u", "columns": list(cols), "definition": ""} if cols else None


def column_types(conn: Connection, oid: int) -> dict[str, str]:
    """Column name -> the type as PostgreSQL prints it (``numeric(8,2)``, ``"Odd".mood``, ``point``)."""
    return {name: label for name, label in conn.execute(_TYPES_SQL, {"oid": oid})}


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


def relation_blocks(conn: Connection, oid: int) -> int:
    """How many blocks (pages) the relation has now (a physical scan's end)."""
    return int(conn.execute(_BLOCKS_SQL, {"oid": oid}).scalar_one())
