"""User schemas and their relations: names, kinds, row estimates, sizes, column types.

Two rules live here and nowhere else:

* **user schemas** — every schema but ``pg_catalog``, ``information_schema`` and the ``pg_*``
  ones (toast, temp, and any other system schema: PostgreSQL refuses ``pg_`` names for users);
* **the row estimate** — the planner's ``reltuples``, or *unknown* (None) when the relation was
  never analysed nor vacuumed: ``reltuples = -1`` since PostgreSQL 14, before that ``0`` with
  ``relpages = 0`` and no analyze or vacuum recorded. A partitioned table sums its leaf partitions'
  known estimates (unknown when none is known); a view has none. Unknown is shown as "unknown",
  never as 0.

Both are constant SQL fragments composed into constant texts; inputs are bound parameters only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

KIND_LABELS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}
WRITABLE_KINDS = frozenset({"r", "p"})
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema"})

# The user-schema rule on a pg_namespace row aliased ``n`` (a constant SQL fragment).
USER_SCHEMA_SQL = r"n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'"

# The row-estimate rule of a pg_class row aliased ``c`` (see the module docstring); constant SQL.
_UNKNOWN_BEFORE_14 = """{r}.relpages = 0 AND current_setting('server_version_num')::int < 140000
          AND pg_stat_get_last_analyze_time({r}.oid) IS NULL AND pg_stat_get_last_autoanalyze_time({r}.oid) IS NULL
          AND pg_stat_get_last_vacuum_time({r}.oid) IS NULL AND pg_stat_get_last_autovacuum_time({r}.oid) IS NULL"""
ESTIMATE_SQL = f"""
CASE WHEN c.relkind = 'v' THEN NULL
     WHEN c.relkind = 'p' THEN
        (SELECT CASE WHEN count(*) = 0 THEN 0 ELSE sum(e.est)::bigint END
           FROM (SELECT CASE WHEN ch.reltuples > 0 THEN ch.reltuples
                             WHEN ch.reltuples < 0 THEN NULL
                             WHEN {_UNKNOWN_BEFORE_14.format(r="ch")} THEN NULL
                             ELSE 0 END AS est
                   FROM pg_partition_tree(c.oid) t JOIN pg_class ch ON ch.oid = t.relid WHERE t.isleaf) e
          HAVING count(*) = 0 OR count(e.est) > 0)
     WHEN c.reltuples > 0 THEN c.reltuples::bigint
     WHEN c.reltuples < 0 THEN NULL
     WHEN {_UNKNOWN_BEFORE_14.format(r="c")} THEN NULL
     ELSE 0 END"""

# Relations the tool shows (tables, partitioned tables, views, materialized and foreign tables);
# partitions are reached through their parent. Optionally one schema.
TABLES_SQL = text(f"""
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind, {ESTIMATE_SQL} AS estimate,
       CASE WHEN c.relkind IN ('r', 'm', 'p') THEN pg_total_relation_size(c.oid) END AS size,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND {USER_SCHEMA_SQL}
  AND (CAST(:schema AS text) IS NULL OR n.nspname = CAST(:schema AS text))
ORDER BY n.nspname, c.relname
""")  # every fragment is a constant of this module: no input reaches the text

_USER_SCHEMAS_SQL = text(f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMA_SQL} ORDER BY n.nspname")

_TABLE_COUNT_SQL = text(f"""
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMA_SQL}
""")

_RELATION_SQL = text(f"""
SELECT c.oid, c.relkind, {ESTIMATE_SQL} AS estimate, c.relpages
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname = :name AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
""")

# A name as SQL spells it (``orders``, ``public.orders``, ``"Odd"."T"``), resolved along the search path.
_ESTIMATE_BY_NAME_SQL = text(f"SELECT {ESTIMATE_SQL} FROM pg_class c WHERE c.oid = to_regclass(:name)")

_TYPES_SQL = text("""
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped
""")

_BLOCKS_SQL = text("SELECT pg_relation_size(CAST(:oid AS oid)) / current_setting('block_size')::int")

# Tables by bare name (as plans print them), along the search path first; the estimate is 0 when unknown.
_TABLE_FACTS_SQL = text(f"""
SELECT c.relname, n.nspname, coalesce({ESTIMATE_SQL}, 0)::float8 AS rows,
       array(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
       array(SELECT a.attname::text FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = c.oid) AS indexed
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname IN :names AND c.relkind IN ('r', 'm', 'p') AND {USER_SCHEMA_SQL}
ORDER BY array_position(current_schemas(false)::text[], n.nspname::text) NULLS LAST, n.nspname
""").bindparams(bindparam("names", expanding=True))

_BIGGEST_SQL = text(f"""
SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size, {ESTIMATE_SQL} AS estimated_rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND {USER_SCHEMA_SQL}
ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname LIMIT :limit
""")


def is_user_schema(name: str) -> bool:
    """The user-schema rule in Python (the same as ``USER_SCHEMA_SQL``)."""
    return name not in SYSTEM_SCHEMAS and not name.startswith("pg_")


def user_schemas(conn: Connection) -> list[str]:
    """The user schemas of the target, sorted by name."""
    return [str(s) for s in conn.execute(_USER_SCHEMAS_SQL).scalars()]


@dataclass(frozen=True)
class Relation:
    """A relation of a user schema as the table list shows it."""

    schema: str
    name: str
    kind: str  # pg_class.relkind: r, p, v, m, f
    estimate: int | None  # planner rows; None: unknown (never analysed), or a view
    size_bytes: int | None  # table + indexes + toast; None for views and foreign tables
    comment: str

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def writable(self) -> bool:
        return self.kind in WRITABLE_KINDS


def tables(conn: Connection, schema: str | None = None) -> list[Relation]:
    """Every relation of the user schemas (or of one schema), partitions left out, sorted by schema and name."""
    return [Relation(r["schema"], r["name"], r["kind"], None if r["estimate"] is None else int(r["estimate"]),
                     None if r["size"] is None else int(r["size"]), r["comment"] or "")
            for r in conn.execute(TABLES_SQL, {"schema": schema}).mappings()]


def table_count(conn: Connection) -> int:
    """How many tables (plain and partitioned, partitions not counted) the user schemas hold."""
    return int(conn.execute(_TABLE_COUNT_SQL).scalar_one())


def relation(conn: Connection, schema: str, name: str) -> dict[str, Any] | None:
    """``oid``, ``relkind``, ``estimate`` (None: unknown) and ``relpages`` of one relation, or None."""
    row = conn.execute(_RELATION_SQL, {"schema": schema, "name": name}).mappings().first()
    return dict(row) if row else None


def estimates(conn: Connection, names: list[str]) -> dict[str, int | None]:
    """The row estimate of each name as SQL spells it (search path applies); None: unknown or no such table."""
    out: dict[str, int | None] = {}
    for name in names:
        value = conn.execute(_ESTIMATE_BY_NAME_SQL, {"name": name}).scalar()
        out[name] = None if value is None else int(value)
    return out


def column_types(conn: Connection, oid: int) -> dict[str, str]:
    """Column name -> the type as PostgreSQL prints it (``numeric(8,2)``, ``"Odd".mood``, ``point``)."""
    return {name: label for name, label in conn.execute(_TYPES_SQL, {"oid": oid})}


def relation_blocks(conn: Connection, oid: int) -> int:
    """How many blocks (pages) the relation has now (a physical scan's end)."""
    return int(conn.execute(_BLOCKS_SQL, {"oid": oid}).scalar_one())


def table_facts(conn: Connection, names: list[str]) -> list[tuple[str, str, float, list[str], list[str]]]:
    """(name, schema, estimated rows or 0, columns, first columns of indexes) of user tables by bare name,
    the search path's schemas first."""
    if not names:
        return []
    return [(r[0], r[1], float(r[2]), list(r[3] or ()), list(r[4] or ()))
            for r in conn.execute(_TABLE_FACTS_SQL, {"names": sorted(names)})]


def biggest_tables(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The largest tables of the user schemas (total size with indexes and toast), with their estimates."""
    return [dict(r) for r in conn.execute(_BIGGEST_SQL, {"limit": limit}).mappings()]
