"""Upgrade and downgrade runs through the API: same result as the CLI, backups, lock, failures."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.models import AuditEntry
from migrations_ui.jobs import child_pid
from migrations_ui.models import Run
from migrations_ui.runlock import LOCK_KEY
from tests.conftest import create_database, drop_database, libpq
from tests.migrations_ui.conftest import alembic_cli, api_run, schema_of, wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


def version_table(url: str) -> list[str]:
    with psycopg.connect(libpq(url)) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version")) if exists else []


def lock_is_free(url: str) -> bool:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
        if got:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        return bool(got)


@pytest.fixture
def twin_url(pg_server_url: str):  # type: ignore[no-untyped-def]
    url = create_database(pg_server_url, "twin")
    yield url
    drop_database(pg_server_url, url)


def test_upgrade_and_downgrade_leave_the_same_schema_as_the_cli(use_project, twin_url, alice, api_as, tmp_path):
    url = use_project("linear")
    api = api_as(alice)
    run = api_run(api, "upgrade", "heads")
    assert run["status"] == "succeeded", run
    assert alembic_cli("linear", twin_url, "upgrade", "heads", tmp_path=tmp_path).returncode == 0
    assert schema_of(url) == schema_of(twin_url)
    assert run["to_revisions"] == version_table(url) == ["l3_name_index"]
    assert [s["revision"] for s in run["steps"]] == ["l1_items", "l2_price", "l3_name_index"]
    assert all(s["status"] == "done" and s["duration_ms"] >= 0 for s in run["steps"])
    # the backup came first and is a real pg_dump archive
    backup = Path(run["backup"]["path"])
    assert backup.exists() and backup.read_bytes()[:5] == b"PGDMP"
    texts = [line["text"] for line in run["lines"]]
    assert texts.index(next(t for t in texts if t.startswith("Backup done"))) < texts.index(
        next(t for t in texts if t.startswith("Running upgrade")))
    assert any(line["kind"] == "sql" and "CREATE TABLE items" in line["text"] for line in run["lines"])
    # the library's own catalogue reads (Alembic's has_table, the dialect's first-connect probes) are
    # counted, not printed: no raw "%(table_name)s" query of pg_catalog in the log
    sql_lines = [line["text"] for line in run["lines"] if line["kind"] == "sql"]
    assert not any("pg_catalog" in t or "%(table_name)s" in t or t.lower().startswith("show ") for t in sql_lines), sql_lines
    assert any("catalogue quer" in line["text"] and "not shown" in line["text"] for line in run["lines"])
    assert run["check"]["ok"] is True

    down = api_run(api, "downgrade", "-1")
    assert down["status"] == "succeeded", down
    assert alembic_cli("linear", twin_url, "downgrade", "-1", tmp_path=tmp_path).returncode == 0
    assert schema_of(url) == schema_of(twin_url)
    assert version_table(url) == ["l2_price"]
    assert lock_is_free(url)
    entries = list(AuditEntry.objects.filter(action__startswith="alembic.").order_by("id"))
    assert [(e.action, e.outcome, e.username) for e in entries] == [("alembic.upgrade", "ok", "alice"),
                                                                   ("alembic.downgrade", "ok", "alice")]
    assert entries[0].after["backup"] == run["backup"]["path"]
    assert entries[1].before == {"revisions": ["l3_name_index"]}


def test_async_env_py_on_asyncpg_upgrades(use_project, twin_url, alice, api_as, tmp_path):
    url = use_project("async")
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded", run
    assert version_table(url) == ["as2_events_at"]
    assert alembic_cli("async", twin_url, "upgrade", "heads", tmp_path=tmp_path).returncode == 0
    assert schema_of(url) == schema_of(twin_url)
    assert any("connected to" in line["text"] for line in run["lines"])


def test_a_failing_migration_ends_failed_at_the_last_good_revision(use_project, alice, api_as):
    url = use_project("failing")
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "failed"
    assert "no_such_column" in run["error"]
    assert "Traceback" in run["traceback"]
    # env.py runs one transaction per migration: f1 stays, f2 is rolled back entirely
    assert version_table(url) == ["f1_orders"] == run["to_revisions"]
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT to_regclass('order_lines')").fetchone()[0] is None
    assert [s["status"] for s in run["steps"]] == ["done", "failed"]
    assert lock_is_free(url)
    assert AuditEntry.objects.get(action="alembic.upgrade").outcome == "failed"
    # and the graph says so truthfully
    body = api_as(alice).get("/api/alembic/migrations").json()
    assert body["current"] == ["f1_orders"] and body["pending_count"] == 1


def test_a_second_run_while_one_holds_the_lock_gets_409(use_project, alice, api_as):
    url = use_project("linear")
    with psycopg.connect(libpq(url), autocommit=True) as other:
        other.execute("SELECT set_config('application_name', 'pgadmin-tool run 99 by dave', false)")
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads"}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert "run 99 by dave" in error["message"] and error["detail"]["since"]
    assert Run.objects.count() == 0 and version_table(url) == []


def test_concurrent_upgrade_requests_one_runs_the_other_gets_409(use_project, alice, api_as):
    use_project("linear")
    api = api_as(alice)
    first = api.post("/api/alembic/upgrade", {"target": "heads", "backup": True}, format="json")
    second = api.post("/api/alembic/upgrade", {"target": "heads", "backup": True}, format="json")
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    wait_for_run(first.json()["run_id"])
    assert Run.objects.get().status == "succeeded"


def test_env_py_connecting_elsewhere_is_stopped_before_the_first_migration(use_project, twin_url, alice, api_as,
                                                                           monkeypatch):
    url = use_project("envurl")
    monkeypatch.setenv("APP_DATABASE_URL", twin_url)  # the child inherits the server's environment
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "failed"
    twin_db, target_db = make_url(twin_url).database, make_url(url).database
    assert twin_db in run["error"] and target_db in run["error"]
    assert version_table(twin_url) == [] and version_table(url) == []
    assert run["steps"] == []


def test_killing_the_child_mid_run_fails_the_run_and_frees_the_lock(use_project, alice, api_as):
    url = use_project("slow")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    run_id = response.json()["run_id"]
    deadline = time.monotonic() + 30
    while not child_pid(run_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = child_pid(run_id)
    assert pid
    time.sleep(0.5)  # let it reach the sleeping migration
    os.killpg(pid, signal.SIGKILL)
    wait_for_run(run_id)
    run = Run.objects.get(pk=run_id)
    assert run.status == "failed"
    assert lock_is_free(url)


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_editors_and_viewers_cannot_start_runs(who, use_project, request, api_as, client_as):
    use_project("linear")
    user = request.getfixturevalue(who)
    for kind in ("upgrade", "downgrade"):
        assert api_as(user).post(f"/api/alembic/{kind}", {"target": "heads" if kind == "upgrade" else "-1"},
                                 format="json").status_code == 403
    assert client_as(user).get("/alembic/run?kind=upgrade&target=heads").status_code == 403
    assert client_as(user).post("/alembic/run", {"kind": "upgrade", "target": "heads"}).status_code == 403
    assert Run.objects.count() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("alembic-run-")]


def test_a_named_ini_section_and_x_arguments_are_passed_to_alembic(use_project, alice, api_as, monkeypatch):
    url = use_project("sections")
    api = api_as(alice)
    assert [r["revision"] for r in api.get("/api/alembic/migrations").json()["revisions"]] == ["main1"]
    monkeypatch.setenv("PGADMIN_ALEMBIC_SECTION", "reporting")  # `alembic -n reporting`
    assert [r["revision"] for r in api.get("/api/alembic/migrations").json()["revisions"]] == ["rep1"]
    refused = api_run(api, "upgrade", "heads", backup=False)
    assert refused["status"] == "failed" and "-x tenant" in refused["error"]
    monkeypatch.setenv("PGADMIN_ALEMBIC_X_ARGS", "tenant=acme")  # `-x tenant=acme`
    assert api_run(api, "upgrade", "heads", backup=False)["status"] == "succeeded"
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT obj_description('reports'::regclass)").fetchone()[0] == "tenant acme"


def test_a_project_without_alembic_ini_uses_alembic_script_location(use_project, settings, tmp_path, alice, api_as,
                                                                     monkeypatch):
    from tests.migrations_ui.conftest import project_dir

    url = use_project("linear")
    settings.PROJECT_DIR = tmp_path  # no alembic.ini anywhere
    settings.ALEMBIC_CONFIG = ""
    monkeypatch.setenv("PGADMIN_ALEMBIC_SCRIPT_LOCATION", str(project_dir("linear") / "migrations"))
    api = api_as(alice)
    assert len(api.get("/api/alembic/migrations").json()["revisions"]) == 3
    assert api_run(api, "upgrade", "l1_items", backup=False)["status"] == "succeeded"
    assert version_table(url) == ["l1_items"]


def test_a_custom_version_table_is_read_for_the_state(use_project, alice, api_as):
    url = use_project("versiontable")
    api = api_as(alice)
    run = api_run(api, "upgrade", "l1_items", backup=False)
    assert run["status"] == "succeeded" and run["to_revisions"] == ["l1_items"]
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT version_num FROM meta.schema_history").fetchall() == [("l1_items",)]
    body = api.get("/api/alembic/migrations").json()
    assert body["current"] == ["l1_items"] and body["pending_count"] == 1


def test_an_env_py_with_its_own_advisory_lock_does_not_deadlock_with_ours(use_project, alice, api_as):
    url = use_project("ownlock")
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded", run["error"]
    assert version_table(url) == ["l1_items"] and lock_is_free(url)


def test_env_py_building_its_url_from_postgres_variables_gets_them_from_the_server(use_project, alice, api_as,
                                                                                    monkeypatch):
    url = use_project("pgvars")
    parts = make_url(url)
    api = api_as(alice)
    run = api_run(api, "upgrade", "heads", backup=False)
    assert run["status"] == "failed" and "POSTGRES_USER" in run["error"]  # not set: said plainly
    assert "set POSTGRES_USER in the tool's environment" in run["hint"]
    for key, value in {"POSTGRES_USER": parts.username, "POSTGRES_HOST": parts.host,
                       "POSTGRES_PORT": str(parts.port or 5432), "POSTGRES_DB": parts.database}.items():
        monkeypatch.setenv(key, value)  # the sidecar's environment carries the app's variables
    assert api_run(api, "upgrade", "heads", backup=False)["status"] == "succeeded"
    assert version_table(url) == ["e1_notes"]


def test_read_only_mode_refuses_runs_even_for_admins(use_project, alice, api_as, settings):
    use_project("linear")
    settings.READ_ONLY = True
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "read_only"
    assert Run.objects.count() == 0


@pytest.mark.parametrize("name, down_to", [("branchmerge", "m1_base"), ("twoheads", "base")])
def test_branchy_histories_match_the_cli_up_and_down(name, down_to, use_project, twin_url, alice, api_as, tmp_path):
    url = use_project(name)
    api = api_as(alice)
    assert api_run(api, "upgrade", "heads", backup=False)["status"] == "succeeded"
    assert alembic_cli(name, twin_url, "upgrade", "heads", tmp_path=tmp_path).returncode == 0
    assert schema_of(url) == schema_of(twin_url)
    assert version_table(url) == version_table(twin_url)
    down = api_run(api, "downgrade", down_to, backup=False)
    assert down["status"] == "succeeded", down["error"]
    assert alembic_cli(name, twin_url, "downgrade", down_to, tmp_path=tmp_path).returncode == 0
    assert schema_of(url) == schema_of(twin_url)
    assert version_table(url) == version_table(twin_url)


def test_a_data_migration_is_previewed_with_its_risks_and_keeps_the_data(use_project, alice, api_as):
    url = use_project("datamig")
    api = api_as(alice)
    assert api_run(api, "upgrade", "d1_prices", backup=False)["status"] == "succeeded"
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("ANALYZE prices")
    detail = api.get("/api/alembic/revisions/d2_cents").json()
    findings = {f["rule"]: f for f in detail["upgrade_sql"]["findings"]}
    assert {"whole_table_dml", "set_not_null", "drop_column"} <= set(findings)
    assert findings["drop_column"]["column"] == "euros" and findings["drop_column"]["estimated_rows"] == 100
    run = api_run(api, "upgrade", "heads")
    assert run["status"] == "succeeded"
    assert any(line["kind"] == "sql" and "UPDATE prices SET cents" in line["text"] for line in run["lines"])
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT sum(cents) FROM prices").fetchone()[0] == sum(i * 300 for i in range(1, 101))
    assert api_run(api, "downgrade", "-1", backup=False)["status"] == "succeeded"
    with psycopg.connect(libpq(url)) as conn:
        assert conn.execute("SELECT sum(euros) FROM prices").fetchone()[0] == sum(i * 3 for i in range(1, 101))


def test_env_py_reading_a_custom_ini_option_gets_the_target_through_alembic_url_option(
        use_project, settings, pg_server_url, alice, api_as, monkeypatch, tmp_path):
    import shutil

    from tests.migrations_ui.conftest import project_dir

    url = use_project("inioption")
    elsewhere = create_database(pg_server_url, "appdb")  # what the project's ini points at
    try:
        copy = tmp_path / "inioption"
        shutil.copytree(project_dir("inioption"), copy)
        ini = copy / "alembic.ini"
        lines = [f"app_db_url = {elsewhere}" if line.startswith("app_db_url =") else line
                 for line in ini.read_text().splitlines()]
        ini.write_text("\n".join(lines) + "\n")
        settings.PROJECT_DIR, settings.ALEMBIC_CONFIG = copy, str(ini)
        monkeypatch.delenv("PGADMIN_ALEMBIC_URL_OPTION", raising=False)
        api = api_as(alice)
        refused = api_run(api, "upgrade", "heads", backup=False)
        assert refused["status"] == "failed" and refused["steps"] == []
        assert make_url(elsewhere).database in refused["error"] and make_url(url).database in refused["error"]
        assert version_table(elsewhere) == [] == version_table(url)

        monkeypatch.setenv("PGADMIN_ALEMBIC_URL_OPTION", "app_db_url")  # the child sets [alembic] app_db_url = target
        run = api_run(api, "upgrade", "heads", backup=False)
        assert run["status"] == "succeeded", run["error"]
        assert version_table(url) == ["io1_accounts"] == run["to_revisions"]
        assert version_table(elsewhere) == []
        with psycopg.connect(libpq(url)) as conn:
            assert conn.execute("SELECT to_regclass('accounts')").fetchone()[0] == "accounts"
    finally:
        from core import target

        target.dispose()
        drop_database(pg_server_url, elsewhere)


def test_open_console_results_do_not_make_a_migration_wait(use_project, alice, api_as):
    """A SELECT left open in the SQL console (held for "fetch more") must not block the DDL."""
    from sqlconsole import services as console

    url = use_project("linear")
    api = api_as(alice)
    assert api_run(api, "upgrade", "l1_items")["status"] == "succeeded"
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        conn.execute("INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 10050) AS g")
    held = console.run_script("SELECT * FROM items", user_id=alice.pk)  # more than the cap: kept open
    assert held.results[0].outcome == "ok" and console.held_count() == 1
    run = api_run(api, "upgrade", "heads")  # l2 alters the items table the console was reading
    assert run["status"] == "succeeded", run
    assert console.held_count() == 0
    assert any("Closed 1 open SQL console result" in line["text"] for line in run["lines"])


def test_a_run_open_on_another_instance_closes_this_instances_held_results_at_its_next_pass(use_project, alice):
    """job_starting reaches only the process that starts a run: the others close theirs on their own."""
    from django.utils import timezone

    from core import housekeeping
    from sqlconsole import services as console

    url = use_project("linear")
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 10050) AS g")
    console.run_script("SELECT * FROM items", user_id=alice.pk)  # more than the cap: kept open
    housekeeping.run_once()
    assert console.held_count() == 1  # no run anywhere: the result stays for "fetch more"
    elsewhere = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads",
                                   status=Run.Status.RUNNING, executor="web:other-instance:1", executor_pid=1,
                                   heartbeat_at=timezone.now())  # alive: the reaper leaves it be
    try:
        housekeeping.run_once()
        assert console.held_count() == 0
    finally:
        Run.objects.filter(pk=elsewhere.pk).update(status=Run.Status.FAILED)
