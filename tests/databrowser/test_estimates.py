"""Issue 9, class 12: a never-analysed table's row estimate is "unknown", never 0.

PostgreSQL 14+ keeps ``pg_class.reltuples = -1`` until a table is analysed or vacuumed (before 14:
0 with relpages = 0); a partitioned table has no estimate of its own. The API keeps the field null
when unknown; the pages say "unknown". Autovacuum is off on these tables so that nothing analyses
them behind the test's back.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_tables(target: str) -> Iterator[str]:
    from databrowser import query

    sql(target, "CREATE TABLE never_analysed (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
                "INSERT INTO never_analysed SELECT generate_series(1, 500);"
                "CREATE TABLE readings (id int, at int) PARTITION BY RANGE (at);"
                "CREATE TABLE readings_1 PARTITION OF readings FOR VALUES FROM (0) TO (1000)"
                " WITH (autovacuum_enabled = false);"
                "INSERT INTO readings SELECT g, g FROM generate_series(1, 300) g")
    query.invalidate()
    yield target
    query.invalidate()
    sql(target, "DROP TABLE never_analysed; DROP TABLE readings")


def test_a_never_analysed_table_has_an_unknown_estimate_not_zero(fresh_tables, api_as, carol, client_as):
    api = api_as(carol)
    tables = {t["name"]: t for t in api.get("/api/tables").json()["tables"]}
    assert tables["never_analysed"]["estimated_rows"] is None  # 500 rows, but the planner does not know yet
    assert tables["readings"]["estimated_rows"] is None
    assert api.get("/api/tables/public.never_analysed/schema").json()["estimated_rows"] is None
    page = client_as(carol).get("/data").content.decode()
    row = page.split('data-name="public.never_analysed"')[1].split("</tr>")[0]
    assert 'data-estimate="unknown">unknown<' in row
    grid = client_as(carol).get("/data/public.never_analysed").content.decode()
    assert '<span data-n="500">500</span> rows' in grid  # counted exactly rather than shown as "≈ 0"


def test_after_analyze_the_planner_estimate_is_shown(fresh_tables, api_as, carol):
    from databrowser import query

    sql(fresh_tables, "ANALYZE never_analysed; ANALYZE readings")
    query.invalidate()
    api = api_as(carol)
    tables = {t["name"]: t for t in api.get("/api/tables").json()["tables"]}
    assert tables["never_analysed"]["estimated_rows"] == 500 and tables["readings"]["estimated_rows"] == 300
    assert api.get("/api/tables/public.never_analysed/schema").json()["estimated_rows"] == 500
