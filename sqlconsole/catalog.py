"""Read-only catalog queries for the console: autocompletion names, table facts for hints, stats.

The catalogue queries are ``core.catalog``'s, through ``core.target.connect(target=on)`` (read-only,
with the statement timeout) on the target the caller names (the request's, or the run's); this module
shapes their answers for the editor, the hints and the stats page. Nothing here runs user SQL.
"""

from __future__ import annotations

from typing import Any

from core import catalog, target
from sqlconsole.hints import TableInfo

COMPLETION_TABLE_LIMIT = 3000
COMPLETION_FUNCTION_LIMIT = 1000


def _data_url(schema: str, name: str) -> str:
    """The relation's page in the data browser (its own addressing rules: ``databrowser.services``)."""
    from databrowser.services import table_url

    return table_url(schema, name)


def completion_schema(on: target.Target | None = None) -> dict[str, Any]:
    """What the editor completes and the schema tree shows, read from target ``on``'s live catalogue
    (default ``current()``).

    ``schema``: ``{schema: {table: [columns]}}`` (CodeMirror's SQL namespace shape, kept for API
    clients); ``tables``: each relation with its kind, estimated rows, data-browser URL and
    columns (type, not null, primary key, foreign-key target); ``functions``: the project's own
    functions; ``default_schema`` and ``search_path``: where unqualified names resolve.
    """
    namespace: dict[str, dict[str, list[str]]] = {}
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    with target.connect(target=on) as conn:
        for schema, table, kind, rows, column, type_, not_null, pk, fk in catalog.columns(conn, COMPLETION_TABLE_LIMIT):
            columns = namespace.setdefault(schema, {}).setdefault(table, [])
            entry = tables.get((schema, table))
            if entry is None:
                entry = tables[(schema, table)] = {
                    "schema": schema, "name": table, "kind": catalog.KIND_LABELS.get(kind, "table"),
                    "rows": rows,  # None: unknown (never analysed; core.catalog's one rule)
                    "data_url": _data_url(schema, table), "columns": []}
            if column is not None:
                columns.append(column)
                entry["columns"].append({"name": column, "type": type_, "not_null": bool(not_null),
                                         "pk": bool(pk), "fk": fk})
        functions = catalog.functions(conn, COMPLETION_FUNCTION_LIMIT)
        search_path = catalog.search_path(conn)
    default = next((s for s in search_path if s in namespace), "public")
    return {"schema": namespace, "default_schema": default, "search_path": search_path,
            "tables": list(tables.values()), "functions": functions}


def table_info(relations: set[str], on: target.Target | None = None) -> dict[str, TableInfo]:
    """Facts about the tables a plan on target ``on`` (default ``current()``) names (plans give bare
    names: resolved along the search path)."""
    if not relations:
        return {}
    found: dict[str, TableInfo] = {}
    with target.connect(target=on) as conn:
        for name, schema, rows, columns, indexed in catalog.table_facts(conn, sorted(relations)):
            found.setdefault(name, TableInfo(schema=schema, name=name, rows=rows,
                                             columns=tuple(columns), indexed=frozenset(indexed)))
    return found


def database_stats(*, show_queries: bool = False, on: target.Target | None = None) -> dict[str, Any]:
    """Size, connections, cache hit ratio, biggest tables and longest-running queries of target ``on``
    (default ``current()``).

    Read as the target role (a reader role sees no other role's sessions, and these are counts and
    states, not data), but the text of other sessions' queries — which may carry literals such as
    passwords or personal data — only with ``show_queries`` (admins: trusted with the target role).
    """
    with target.connect(reader=False, target=on) as conn:
        overview = catalog.database(conn)
        biggest = catalog.biggest_tables(conn, 10)
        queries = catalog.longest_queries(conn, 10)
    if not show_queries:
        for row in queries:
            row["query"] = None  # shown to admins only (see the docstring)
    return {**overview, "biggest_tables": biggest, "longest_queries": queries,
            "query_text_shown": show_queries}
