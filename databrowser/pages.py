"""One page of a table's rows for the pages and the API: the plain page (``databrowser.query``) or a
search (``databrowser.search``: index, plain query or bounded scan), with the hint of a slow sort.

A module of its own because it needs both: ``search`` builds on ``query``'s pages, so ``query`` must
not import ``search`` back.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from core import target
from core.exceptions import QueryTimeout
from databrowser import query, search
from databrowser.query import Page, PageRequest, TableInfo


def _sort_hint(info: TableInfo, column: str, elapsed_ms: float) -> str:
    return (f"Sorting ≈ {info.estimate or 0:,} rows by {column} took {elapsed_ms / 1000:.1f} s: {column} has no index, "
            "so PostgreSQL reads and sorts the whole table for every page (and the statement timeout cuts it "
            "when it takes longer). An index on the column makes it instant.")


def fetch_page(info: TableInfo, req: PageRequest, cut: bool = False) -> Page:
    """One page of rows; with ``cut`` (the HTML grid) long text/JSON/bytea cells hold only their head.
    A search goes through ``databrowser.search`` (index, plain query or bounded scan)."""
    plan = query.search_plan(info, req)
    clauses = query.where_clauses(info, req, plan)
    keys, unique = query.order_keys(info, req.sort)
    slow_sort = bool(req.sort) and (info.estimate or 0) > query.BIG_TABLE and req.sort[0][0] not in info.indexed
    cut_cols = query.cut_columns(info, keys) if cut else []
    try:
        with target.connect(target=info.on) as conn:
            if plan is not None:
                page = search.search_page(conn, info, req, plan, clauses, keys, unique, cut_cols)
            else:
                page = query._fetch(conn, info, req, clauses, keys, unique, cut_cols)
    except DBAPIError as exc:
        mapped = query.db_error_to_app(exc)
        if isinstance(mapped, QueryTimeout) and req.sort:
            sql = query.index_statement(info, req.sort[0][0]) if slow_sort else ""
            raise QueryTimeout("Sorting or filtering this table took longer than the statement timeout.",
                               hint="Sort by an indexed column (the key), add a filter, or raise "
                                    "PGADMIN_STATEMENT_TIMEOUT." + (f" An index makes this sort fast: {sql}" if sql else ""),
                               ) from exc
        raise mapped from exc
    if slow_sort:
        page.sort_hint = _sort_hint(info, req.sort[0][0], page.elapsed_ms)
        page.sort_sql = query.index_statement(info, req.sort[0][0])
    return page
