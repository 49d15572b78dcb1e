"""Whole-database views of the target: every column at once, the project's functions, the search
path, and the database's size, connections, cache hit ratio and longest-running statements.

One round trip each (the console's editor loads them on every page), constant SQL, bound values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from core.catalog.relations import ESTIMATE_SQL, USER_SCHEMA_SQL

# One row per column of each relation (tables, views, materialized views, partitioned and foreign
# tables; partitions through their parent), with the type as PostgreSQL prints it, NOT NULL,
# primary-key membership and the first table a foreign key on it points to. A relation without
# columns has one row with NULL column fields.
_COLUMNS_SQL = text(f"""
    WITH rel AS (
        SELECT c.oid, n.nspname, c.relname, c.relkind, {ESTIMATE_SQL} AS estimate
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition AND {USER_SCHEMA_SQL}
        ORDER BY n.nspname, c.relname LIMIT :limit)
    SELECT rel.nspname, rel.relname, rel.relkind, rel.estimate, a.attname,
           format_type(a.atttypid, a.atttypmod), a.attnotnull,
           EXISTS (SELECT 1 FROM pg_constraint k
                   WHERE k.conrelid = rel.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey)) AS pk,
           (SELECT format('%I.%I', fn.nspname, fc.relname)
            FROM pg_constraint k JOIN pg_class fc ON fc.oid = k.confrelid
            JOIN pg_namespace fn ON fn.oid = fc.relnamespace
            WHERE k.conrelid = rel.oid AND k.contype = 'f' AND a.attnum = ANY (k.conkey)
            ORDER BY k.conname LIMIT 1) AS fk
    FROM rel
    LEFT JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY rel.nspname, rel.relname, a.attnum
""")

# The project's own functions (not PostgreSQL's catalogue).
_FUNCTIONS_SQL = text(f"""
    SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE {USER_SCHEMA_SQL} AND p.prokind IN ('f', 'a', 'w')
    ORDER BY n.nspname, p.proname LIMIT :limit
""")

_DATABASE_SQL = text("""
    SELECT current_database() AS database, pg_database_size(current_database()) AS size_bytes,
           pg_size_pretty(pg_database_size(current_database())) AS size,
           current_setting('max_connections')::int AS max_connections,
           (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS connections,
           (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active')
               AS active,
           (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                AND state LIKE 'idle in transaction%') AS idle_in_transaction,
           (SELECT CASE WHEN blks_hit + blks_read = 0 THEN NULL
                        ELSE round(blks_hit::numeric / (blks_hit + blks_read), 4)::float8 END
            FROM pg_stat_database WHERE datname = current_database()) AS cache_hit_ratio
""")

_LONGEST_SQL = text("""
    SELECT pid, usename AS user, application_name, state,
           round(extract(epoch FROM clock_timestamp() - query_start)::numeric * 1000)::bigint AS running_ms,
           left(query, 500) AS query, wait_event_type, wait_event
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'
      AND backend_type = 'client backend' AND query_start IS NOT NULL
    ORDER BY query_start LIMIT :limit
""")


def columns(conn: Connection, limit: int) -> list[tuple[Any, ...]]:
    """(schema, relation, relkind, estimate or None, column, type, not null, in the primary key, first FK
    target as ``schema.table``) for the first ``limit`` relations of the user schemas, in column order."""
    return [tuple(r) for r in conn.execute(_COLUMNS_SQL, {"limit": limit})]


def functions(conn: Connection, limit: int) -> list[dict[str, str]]:
    """The functions, aggregates and window functions of the user schemas: schema, name, identity arguments."""
    return [{"schema": s, "name": n, "args": a} for s, n, a in conn.execute(_FUNCTIONS_SQL, {"limit": limit})]


def search_path(conn: Connection) -> list[str]:
    """The schemas unqualified names resolve in (existing ones, implicit system schemas left out)."""
    return [str(s) for s in conn.execute(text("SELECT current_schemas(false)")).scalar() or []]


def database(conn: Connection) -> dict[str, Any]:
    """Size, connection counts and cache hit ratio of the current database."""
    return dict(conn.execute(_DATABASE_SQL).mappings().one())


def longest_queries(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The client sessions of this database running (or idle in a transaction) longest, oldest first."""
    return [dict(r) for r in conn.execute(_LONGEST_SQL, {"limit": limit}).mappings()]
