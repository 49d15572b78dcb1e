"""Read-only catalog queries for the console: autocompletion names, table facts for hints, stats.

Fixed SQL with bound parameters only, through ``core.target.connect()`` (read-only, with the
statement timeout). Nothing here runs user SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from sqlalchemy import Connection, bindparam, text

from core import target
from core.exceptions import TargetUnavailable
from sqlconsole.hints import TableInfo

COMPLETION_TABLE_LIMIT = 3000


@contextmanager
def _connect(reader: bool | None = None) -> Iterator[Connection]:
    """``core.target.connect()``, with a missing/bad DATABASE_URL reported as unavailable (503)."""
    try:
        with target.connect(reader=reader) as conn:
            yield conn
    except ImproperlyConfigured as exc:
        raise TargetUnavailable(str(exc)) from exc


_COMPLETION_SQL = text("""
    SELECT n.nspname, c.relname, a.attname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND c.oid IN (
        SELECT c2.oid FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
        WHERE c2.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND n2.nspname NOT IN ('pg_catalog', 'information_schema') AND n2.nspname NOT LIKE 'pg\\_%'
        ORDER BY n2.nspname, c2.relname LIMIT :limit)
    ORDER BY n.nspname, c.relname, a.attnum
""")


def completion_schema() -> dict[str, Any]:
    """``{schema: {table: [columns]}}`` for the editor's autocompletion (CodeMirror's SQL namespace)."""
    namespace: dict[str, dict[str, list[str]]] = {}
    with _connect() as conn:
        for schema, table, column in conn.execute(_COMPLETION_SQL, {"limit": COMPLETION_TABLE_LIMIT}):
            columns = namespace.setdefault(schema, {}).setdefault(table, [])
            if column is not None:
                columns.append(column)
        search_path = conn.execute(text("SELECT current_schemas(false)")).scalar() or []
    default = next((s for s in search_path if s in namespace), "public")
    return {"schema": namespace, "default_schema": default}


_TABLE_INFO_SQL = text("""
    SELECT c.relname, n.nspname, greatest(c.reltuples, 0)::float8 AS rows,
           array(SELECT a.attname::text FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
           array(SELECT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                 WHERE i.indrelid = c.oid) AS indexed
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relname IN :names AND c.relkind IN ('r', 'm', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    ORDER BY array_position(current_schemas(false)::text[], n.nspname::text) NULLS LAST, n.nspname
""").bindparams(bindparam("names", expanding=True))


def table_info(relations: set[str]) -> dict[str, TableInfo]:
    """Facts about the tables a plan names (plans give bare names: resolved along the search path)."""
    if not relations:
        return {}
    found: dict[str, TableInfo] = {}
    with _connect() as conn:
        for name, schema, rows, columns, indexed in conn.execute(_TABLE_INFO_SQL, {"names": sorted(relations)}):
            found.setdefault(name, TableInfo(schema=schema, name=name, rows=float(rows),
                                             columns=tuple(columns or ()), indexed=frozenset(indexed or ())))
    return found


def database_stats(*, show_queries: bool = False) -> dict[str, Any]:
    """Size, connections, cache hit ratio, biggest tables and longest-running queries of the target.

    Read as the target role (a reader role sees no other role's sessions, and these are counts and
    states, not data), but the text of other sessions' queries — which may carry literals such as
    passwords or personal data — only with ``show_queries`` (admins: trusted with the target role).
    """
    with _connect(reader=False) as conn:
        overview = conn.execute(text("""
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
        """)).mappings().one()
        biggest = conn.execute(text("""
            SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS total_bytes,
                   pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size,
                   CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS estimated_rows
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg\\_%'
            ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname LIMIT :limit
        """), {"limit": 10}).mappings().all()
        longest = conn.execute(text("""
            SELECT pid, usename AS user, application_name, state,
                   round(extract(epoch FROM clock_timestamp() - query_start)::numeric * 1000)::bigint AS running_ms,
                   left(query, 500) AS query, wait_event_type, wait_event
            FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'
              AND backend_type = 'client backend' AND query_start IS NOT NULL
            ORDER BY query_start LIMIT :limit
        """), {"limit": 10}).mappings().all()
    queries = [dict(r) for r in longest]
    if not show_queries:
        for row in queries:
            row["query"] = None  # shown to admins only (see the docstring)
    return {**dict(overview), "biggest_tables": [dict(r) for r in biggest], "longest_queries": queries,
            "query_text_shown": show_queries}
