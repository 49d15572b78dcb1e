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
COMPLETION_FUNCTION_LIMIT = 1000


@contextmanager
def _connect(reader: bool | None = None) -> Iterator[Connection]:
    """``core.target.connect()``, with a missing/bad DATABASE_URL reported as unavailable (503)."""
    try:
        with target.connect(reader=reader) as conn:
            yield conn
    except ImproperlyConfigured as exc:
        raise TargetUnavailable(str(exc)) from exc


# One row per column of each relation the editor knows (tables, views, materialized views,
# partitioned and foreign tables), with what the schema tree shows: the type as PostgreSQL prints
# it, NOT NULL, primary-key membership and the first table a foreign key on it points to.
_COMPLETION_SQL = text("""
    WITH rel AS (
        SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY n.nspname, c.relname LIMIT :limit)
    SELECT rel.nspname, rel.relname, rel.relkind, rel.reltuples::float8, a.attname,
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

# The project's own functions (not PostgreSQL's catalogue: the editor knows the common built-ins).
_FUNCTIONS_SQL = text("""
    SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) AS args
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      AND p.prokind IN ('f', 'a', 'w')
    ORDER BY n.nspname, p.proname LIMIT :limit
""")

_KINDS = {"r": "table", "v": "view", "m": "materialized view", "p": "partitioned table", "f": "foreign table"}


def _data_url(schema: str, name: str) -> str:
    """The relation's page in the data browser (its own addressing rules, see ``databrowser.refs``)."""
    from databrowser.refs import TableRef

    return f"/data/{TableRef(schema, name).segment}"


def completion_schema() -> dict[str, Any]:
    """What the editor completes and the schema tree shows, read from the live catalogue.

    ``schema``: ``{schema: {table: [columns]}}`` (CodeMirror's SQL namespace shape, kept for API
    clients); ``tables``: each relation with its kind, estimated rows, data-browser URL and
    columns (type, not null, primary key, foreign-key target); ``functions``: the project's own
    functions; ``default_schema`` and ``search_path``: where unqualified names resolve.
    """
    namespace: dict[str, dict[str, list[str]]] = {}
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    with _connect() as conn:
        for schema, table, kind, rows, column, type_, not_null, pk, fk in conn.execute(
                _COMPLETION_SQL, {"limit": COMPLETION_TABLE_LIMIT}):
            columns = namespace.setdefault(schema, {}).setdefault(table, [])
            entry = tables.get((schema, table))
            if entry is None:
                entry = tables[(schema, table)] = {
                    "schema": schema, "name": table, "kind": _KINDS.get(kind, "table"),
                    "rows": None if rows is None or rows < 0 else int(rows),
                    "data_url": _data_url(schema, table), "columns": []}
            if column is not None:
                columns.append(column)
                entry["columns"].append({"name": column, "type": type_, "not_null": bool(not_null),
                                         "pk": bool(pk), "fk": fk})
        functions = [{"schema": s, "name": n, "args": a}
                     for s, n, a in conn.execute(_FUNCTIONS_SQL, {"limit": COMPLETION_FUNCTION_LIMIT})]
        search_path = list(conn.execute(text("SELECT current_schemas(false)")).scalar() or [])
    default = next((s for s in search_path if s in namespace), "public")
    return {"schema": namespace, "default_schema": default, "search_path": search_path,
            "tables": list(tables.values()), "functions": functions}


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
