"""Real projects' shapes (issue 9): each class of project the tool must read as the Alembic CLI does.

Every test starts from a folder that is not the project's (``monkeypatch.chdir(tmp_path)``): nothing the
server does may depend on its own working directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.conftest import FIXTURES, libpq
from tests.migrations_ui.conftest import api_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def use_real(settings, fresh_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """``use_real("merge")`` points the tool at tests/fixtures/real_merge (alembic.ini found, not named)."""
    from core import target

    monkeypatch.chdir(tmp_path)  # the server's cwd is not the project's

    def use(name: str) -> str:
        settings.PROJECT_DIR = FIXTURES / f"real_{name}"
        settings.ALEMBIC_CONFIG = ""
        settings.TARGET_DATABASE_URL = fresh_url
        target.set_target_url(None)
        return fresh_url

    yield use
    target.dispose()


def sql(url: str, statement: str) -> list[tuple]:  # type: ignore[type-arg]
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


# --- class 1: relative paths in alembic.ini ---------------------------------------------------

def test_a_relative_script_location_opens_revision_detail_and_preview_from_another_folder(use_real, alice, api_as):
    use_real("relative_paths")
    api = api_as(alice)
    body = api.get("/api/alembic/migrations").json()
    paths = [r["module_path"] for r in body["revisions"]]
    assert paths and all(Path(p).is_absolute() for p in paths)  # the child returns absolute paths
    detail = api.get("/api/alembic/revisions/rp2_total")
    assert detail.status_code == 200, detail.content
    data = detail.json()
    assert 'down_revision = \'rp1_orders\'' in data["source"]
    assert data["upgrade_sql"]["ok"] is True
    assert "ALTER TABLE orders ADD COLUMN total INTEGER" in data["upgrade_sql"]["sql"]


def test_an_ini_inside_the_package_with_a_script_location_from_the_project_root(use_real, settings, alice, api_as):
    # mlflow's shape: shop/db/alembic.ini says `script_location = shop/db/migrations`, and the project
    # runs Alembic from its root; the ini's own folder would not find the scripts
    use_real("package_ini")
    settings.ALEMBIC_CONFIG = str(FIXTURES / "real_package_ini" / "shop" / "db" / "alembic.ini")
    api = api_as(alice)
    body = api.get("/api/alembic/migrations")
    assert body.status_code == 200, body.content
    assert sorted(r["revision"] for r in body.json()["revisions"]) == ["rp1_orders", "rp2_total"]
    detail = api.get("/api/alembic/revisions/rp2_total").json()
    assert "ALTER TABLE orders ADD COLUMN total INTEGER" in detail["upgrade_sql"]["sql"]


def test_the_revision_page_renders_with_its_sql_from_another_folder(use_real, alice, client_as):
    use_real("relative_paths")
    page = client_as(alice).get("/alembic/revisions/rp1_orders")
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", "", page.content.decode())  # the SQL is highlighted token by token
    assert "CREATE TABLE orders" in text and "data-offline-failed" not in page.content.decode()


# --- class 2: the import path is the CLI's ----------------------------------------------------

def test_modules_named_like_the_standard_library_next_to_the_ini_do_not_shadow_it(use_real, alice, api_as):
    url = use_real("stdlib_names")
    api = api_as(alice)
    body = api.get("/api/alembic/migrations").json()
    assert [r["revision"] for r in body["revisions"]] == ["sn1_paints"], body
    detail = api.get("/api/alembic/revisions/sn1_paints").json()
    assert detail["upgrade_sql"]["ok"] is True, detail["upgrade_sql"]
    assert "CREATE TABLE paints" in detail["upgrade_sql"]["sql"]
    run = api_run(api, "upgrade", "heads", backup=False)  # env.py imports app.models → the project's enums.py
    assert run["status"] == "succeeded", run
    assert sql(url, "SELECT version_num FROM alembic_version") == [("sn1_paints",)]


# --- class 3: the version table env.py configures; one per tenant schema ----------------------

def test_each_tenant_schemas_version_table_is_read_and_shown(use_real, alice, api_as, client_as):
    url = use_real("tenants")
    api = api_as(alice)
    run = api_run(api, "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded", run
    assert sql(url, "SELECT version_num FROM tenant_a.schema_version") == [("t2_email",)]
    assert sql(url, "SELECT version_num FROM tenant_b.schema_version") == [("t2_email",)]
    sql(url, "UPDATE tenant_b.schema_version SET version_num = 't1_accounts'")  # tenant_b is one behind
    body = api.get("/api/alembic/migrations").json()
    assert body["current"] == ["t2_email"] and body["pending_count"] == 0
    by_schema = {s["schema"]: s for s in body["schemas"]}
    assert by_schema["tenant_a"]["current"] == ["t2_email"] and by_schema["tenant_a"]["pending_count"] == 0
    assert by_schema["tenant_b"]["current"] == ["t1_accounts"] and by_schema["tenant_b"]["pending_count"] == 1
    assert by_schema["tenant_b"]["version_table"] == "tenant_b.schema_version"
    page = client_as(alice).get("/alembic").content.decode()
    assert "tenant_b.schema_version" in page and "t1_accounts" in page
    health = api.get("/api/health").json()["alembic"]["migration"]
    assert {s["schema"]: s["pending"] for s in health["schemas"]} == {"tenant_a": 0, "tenant_b": 1}
    dashboard = client_as(alice).get("/").content.decode()
    assert 'data-schema="tenant_b"' in dashboard


# --- class 6: a revision's preview is its own SQL ---------------------------------------------

def test_a_merge_revision_with_pass_says_it_has_nothing_to_run(use_real, alice, api_as):
    use_real("merge")
    api = api_as(alice)
    detail = api.get("/api/alembic/revisions/m3_merge").json()
    up = detail["upgrade_sql"]
    assert up["ok"] is True and up["nothing_to_run"] is True, up
    assert "CREATE TABLE" not in up["sql"]  # neither branch's tables leak into the merge's preview
    assert "Nothing to run" in up["note"] and up["range"] == "m2a_apples:m3_merge"
    assert detail["downgrade_sql"]["nothing_to_run"] is True


def test_a_branch_revision_shows_only_its_own_statements_and_findings(use_real, alice, api_as):
    use_real("merge")
    detail = api_as(alice).get("/api/alembic/revisions/m2b_pears").json()
    up = detail["upgrade_sql"]
    assert "CREATE TABLE pears" in up["sql"] and "base_things" not in up["sql"] and "apples" not in up["sql"]
    # the index is built on the table this same revision creates: nobody can be blocked
    assert [f["rule"] for f in up["findings"]] == []
    assert up["statement_count"] == 2


# --- class 7: env.py that cannot run offline ----------------------------------------------------

def test_env_py_that_skips_offline_mode_is_not_an_empty_successful_preview(use_real, alice, api_as, client_as):
    use_real("no_offline")
    detail = api_as(alice).get("/api/alembic/revisions/no1_jobs").json()
    up = detail["upgrade_sql"]
    assert up["ok"] is False and up["offline_unavailable"] is True
    assert "Offline SQL is not available for this project" in up["error"]
    assert "dry run" in up["hint"]
    page = client_as(alice).get("/alembic/revisions/no1_jobs").content.decode()
    assert "Offline SQL is not available for this project" in page and "dry run" in page.lower()


def test_env_py_that_raises_in_offline_mode_says_offline_sql_is_not_available(use_real, alice, api_as, monkeypatch):
    use_real("no_offline")
    monkeypatch.setenv("REAL_NO_OFFLINE_MODE", "raise")
    up = api_as(alice).get("/api/alembic/revisions/no1_jobs").json()["upgrade_sql"]
    assert up["ok"] is False and up["offline_unavailable"] is True
    assert up["error"].startswith("Offline SQL is not available for this project: env.py failed in offline mode")
    assert "This project cannot generate offline SQL" in up["error"] and "dry run" in up["hint"]
    assert "env.py:" in up["hint"]  # where env.py raised


# --- class 9: hints that fit the error ----------------------------------------------------------

def test_a_refused_connection_names_the_host_env_py_tried_and_the_variables_it_reads(use_real, alice, api_as):
    use_real("hints")
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "failed"
    assert "127.0.0.1:1/app" in run["error"], run["error"]
    assert "APP_DB_HOST" in run["hint"] and "APP_DB_PORT" in run["hint"]
    assert "SQLALCHEMY_BASE" not in run["hint"]


def test_a_missing_ini_option_points_to_the_url_option_setting(use_real, alice, api_as, monkeypatch):
    use_real("hints")
    monkeypatch.setenv("REAL_HINTS_MODE", "ini_option")
    up = api_as(alice).get("/api/alembic/revisions/h1_widgets").json()["upgrade_sql"]
    assert up["ok"] is False
    assert "app_database_url" in up["error"]
    assert "PGADMIN_ALEMBIC_URL_OPTION=app_database_url" in up["hint"]


def test_a_revisions_own_error_names_its_file_and_line(use_real, alice, api_as):
    use_real("hints")
    up = api_as(alice).get("/api/alembic/revisions/h2_unnamed").json()["upgrade_sql"]
    assert up["ok"] is False
    assert "h2_unnamed.py:" in up["hint"] and "SQLALCHEMY_BASE" not in up["hint"]


# --- class 11: revisions in folders the ini does not name --------------------------------------

def test_revisions_below_the_script_directory_are_not_an_empty_healthy_graph(use_real, alice, api_as, monkeypatch):
    use_real("version_dirs")
    api = api_as(alice)
    body = api.get("/api/alembic/migrations").json()
    assert body["revisions"] == [] and body["stray"]["count"] == 2
    assert "PGADMIN_ALEMBIC_VERSION_LOCATIONS=" in body["stray"]["hint"]
    assert "versions/postgresql" in body["stray"]["hint"]
    monkeypatch.setenv("PGADMIN_ALEMBIC_VERSION_LOCATIONS", "migrations/versions/postgresql")  # relative to the ini
    body = api.get("/api/alembic/migrations").json()
    assert sorted(r["revision"] for r in body["revisions"]) == ["vd1_events", "vd2_at"]
    assert body["stray"] is None and body["pending_count"] == 2


def test_the_pages_say_which_setting_fixes_an_empty_script_directory(use_real, alice, client_as):
    use_real("version_dirs")
    page = client_as(alice).get("/alembic").content.decode()
    assert "PGADMIN_ALEMBIC_VERSION_LOCATIONS" in page
    dashboard = client_as(alice).get("/?refresh=1").content.decode()
    assert "data-alembic-problem" in dashboard and "PGADMIN_ALEMBIC_VERSION_LOCATIONS" in dashboard
    assert 'data-pending="0"' not in dashboard  # never "0 pending" for a graph that could not be read


# --- the child processes are capped, requests queue ----------------------------------------------

def test_parallel_requests_never_start_more_children_than_the_cap(use_real, settings, tmp_path, monkeypatch):
    import threading
    import time

    from core.project import resolve_alembic
    from core.runner import run_task

    use_real("slow_env")
    settings.RUNNER_CONCURRENCY = 2
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("REAL_SLOW_ENV_TRACE", str(trace))
    payload = {**resolve_alembic().payload(), "target_url": "postgresql://offline/offline"}
    errors: list[BaseException] = []

    def one() -> None:
        try:
            assert run_task("alembic.history", payload)["ok"]
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    from core.runner import queue_state

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    waited = 0
    while any(t.is_alive() for t in threads):
        waited = max(waited, queue_state()["pages"])
        time.sleep(0.05)
    for t in threads:
        t.join(120)
    assert waited >= 3  # the requests beyond the cap queued
    assert not errors, errors
    events = sorted((float(line.split()[1]), line.split()[0]) for line in trace.read_text().splitlines())
    running = peak = 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert sum(1 for _, k in events if k == "start") == 6  # every request was served (queued, not refused)
    assert peak == 2


# --- class 12: a run is final only once its lock is free ----------------------------------------

# (class 12's "a run's status reported final before its lock is released" is told by
# tests/security/test_runs_lock.py::test_a_runs_final_status_is_written_only_after_its_lock_is_released)


def test_the_version_table_setting_overrides_what_env_py_configures(use_real, alice, api_as, monkeypatch):
    url = use_real("tenants")
    sql(url, "CREATE SCHEMA tenant_b")
    sql(url, "CREATE TABLE tenant_b.schema_version (version_num varchar(32) PRIMARY KEY)")
    sql(url, "INSERT INTO tenant_b.schema_version VALUES ('t1_accounts')")
    monkeypatch.setenv("PGADMIN_ALEMBIC_VERSION_TABLE", "tenant_b.schema_version")
    body = api_as(alice).get("/api/alembic/migrations").json()
    assert body["current"] == ["t1_accounts"] and body["pending_count"] == 1
    assert body["version_table"] == "tenant_b.schema_version" and body["schemas"] == []
