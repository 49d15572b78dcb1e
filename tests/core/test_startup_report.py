"""The startup report of `manage.py serve`: every check independent, each failure with a hint.

These run the real entry command (the one the Dockerfile and `make run` use) as a child process.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import FIXTURES, REPO
from tests.serving import Served, free_port
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def check(env: dict[str, str], *args: str, cwd: str | None = None) -> str:
    """Run `manage.py serve --check` (from ``cwd``, the repository by default) and return what it printed."""
    full_env = {**__import__("os").environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(prefix="pgadmin-check-"), **env}
    full_env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run([sys.executable, str(REPO / "manage.py"), "serve", "--check", *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout


def test_everything_present_gives_a_green_report(demo_url):
    out = check({"DATABASE_URL": demo_url, "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot")})
    url = make_url(demo_url)
    assert f"Connecting to PostgreSQL: {url.host}:{url.port}/{url.database}" in out
    assert re.search(r"✓ Database connected \(PostgreSQL \d+\.\d+", out)
    assert f"✓ Alembic config found: {REPO / 'examples' / 'brokerbot' / 'alembic.ini'}" in out
    assert "✓ SQLAlchemy models loaded: 4 models (brokerbot.models:Base, found by env.py target_metadata)" in out
    assert re.search(r"✓ Current migration: 0007\w* \(.+\), 2 pending", out)
    assert re.search(r"→ Open http://localhost:\d+/login\?token=[\w-]{20,}", out)
    # The test server's role is a superuser: the only red lines are the roles report saying so.
    red = [line for line in out.splitlines() if "✗" in line]
    assert red and all("SUPERUSER" in line or "get no SQL console" in line for line in red), red


def test_missing_alembic_ini_is_a_warning_and_models_still_load(target_url):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "core_no_alembic")})
    assert "! Alembic config not found" in out
    assert "set PGADMIN_PROJECT_DIR to your project root or PGADMIN_ALEMBIC_CONFIG" in out
    assert "✓ SQLAlchemy models loaded: 3 models (shop.models:Base, found by scan)" in out
    assert "✓ Database connected" in out


def test_models_that_fail_to_import_are_named_with_a_hint_and_the_rest_still_loads(target_url):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "core_broken_models")})
    assert "✗ SQLAlchemy models: 1 loaded; app.billing failed: module 'pydantic_settings_not_installed' not found" in out
    assert "install your project's requirements into PGADMIN_PROJECT_PYTHON" in out
    assert "app.settings: missing environment variable 'BROKEN_APP_SECRET_KEY'" in out
    assert "✓ Database connected" in out


def test_sqlalchemy_base_variable_wins_over_discovery(target_url):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "core_broken_models"),
                 "PGADMIN_SQLALCHEMY_BASE": "app.models:Base"})
    assert "✓ SQLAlchemy models loaded: 1 models (app.models:Base, found by PGADMIN_SQLALCHEMY_BASE)" in out


def test_bad_settings_stop_the_start_with_a_hint_not_a_traceback():
    env = {**__import__("os").environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(), "PGADMIN_STATEMENT_TIMEOUT": "forever"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run([sys.executable, "manage.py", "serve", "--check"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "PGADMIN_STATEMENT_TIMEOUT='forever' is not a duration. Hint: write it like 30s" in proc.stderr


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _get(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_database_that_refuses_connections_is_reported_served_and_recovers_without_restart(pg_server_url, target_url):
    port = free_port()
    db = make_url(target_url).database
    served = Served({"DATABASE_URL": f"postgresql://postgres:pw-not-shown@127.0.0.1:{port}/{db}",
                     "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot"), "PGADMIN_CONNECT_TIMEOUT": "2"})
    proxy = None
    try:
        served.wait_ready()
        assert re.search(rf"✗ Cannot connect to PostgreSQL at 127.0.0.1:{port}/{db}: .*refused", served.output), served.output
        assert "Check DATABASE_URL and that the server is running" in served.output
        browser = _opener()
        status, body = _get(browser, served.base_url + "/api/health")
        assert status == 200 and json.loads(body)["status"] == "degraded"
        status, body = _get(browser, served.base_url + served.login_path())
        assert status == 200 and "Unavailable" in body and "Traceback" not in body

        upstream = make_url(pg_server_url)
        proxy = TcpProxy(port, (upstream.host or "127.0.0.1", upstream.port or 5432))
        deadline = time.monotonic() + 30
        while True:
            status, body = _get(browser, served.base_url + "/api/health")
            if json.loads(body)["status"] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert json.loads(body)["status"] == "ok", body
        status, page = _get(browser, served.base_url + "/")
        assert status == 200 and "Connected" in page
        assert served.proc.poll() is None  # same process, no restart
    finally:
        served.stop()
        if proxy:
            proxy.close()
    assert "pw-not-shown" not in served.output


# --- real projects' shapes (issue 9): the report resolves the project as the pages do --------------

def report_lines(out: str) -> list[str]:
    """The check lines of the report (✓ / ! / ✗), in order."""
    return [line for line in out.splitlines() if line[:1] in ("✓", "!", "✗")]


def test_the_report_uses_the_script_location_setting_like_the_pages(target_url, tmp_path):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_no_ini"),
                 "PGADMIN_ALEMBIC_SCRIPT_LOCATION": "db/migrations"}, cwd=str(tmp_path))
    assert f"✓ Alembic config found: script_location {FIXTURES / 'real_no_ini' / 'db' / 'migrations'}" in out
    assert "! No migration applied yet (empty version table), 2 pending" in out


def test_scripts_that_cannot_be_read_never_end_the_report_on_a_check_mark(target_url, tmp_path):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_broken_scripts")},
                cwd=str(tmp_path))
    assert "✗ Alembic config found:" in out and "but its scripts failed to load: SyntaxError" in out
    assert report_lines(out)[-1].startswith("✗ Current migration unknown"), out
    assert "0 pending" not in out


def test_the_report_names_the_setting_for_revisions_in_subfolders(target_url, tmp_path):
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_version_dirs")},
                cwd=str(tmp_path))
    assert "yields no revisions while 2 revision file(s) lie below it" in out
    assert f"PGADMIN_ALEMBIC_VERSION_LOCATIONS={FIXTURES / 'real_version_dirs' / 'migrations' / 'versions' / 'postgresql'}" in out
    assert not report_lines(out)[-1].startswith("✓")
    fixed = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_version_dirs"),
                   "PGADMIN_ALEMBIC_VERSION_LOCATIONS": "migrations/versions/postgresql"}, cwd=str(tmp_path))
    assert "! No migration applied yet (empty version table), 2 pending" in fixed


def test_the_report_reads_each_tenant_schemas_version_table(target_url, tmp_path):
    import psycopg

    with psycopg.connect(make_url(target_url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        for schema, rev in (("tenant_a", "t2_email"), ("tenant_b", "t1_accounts")):
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {schema}.schema_version (version_num varchar(32) PRIMARY KEY)")
            conn.execute(f"INSERT INTO {schema}.schema_version VALUES (%s)", (rev,))
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_tenants")}, cwd=str(tmp_path))
    assert ("! Current migration per schema (2 version tables): tenant_a: t2_email (0 pending); "
            "tenant_b: t1_accounts (1 pending)") in out


def test_the_report_uses_the_ini_section_the_pages_use(target_url, tmp_path):
    import psycopg

    with psycopg.connect(make_url(target_url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('rep1')")  # the database is at the reporting section's head
    out = check({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "alembic_sections"),
                 "PGADMIN_ALEMBIC_SECTION": "reporting"}, cwd=str(tmp_path))
    assert f"✓ Alembic config found: {FIXTURES / 'alembic_sections' / 'alembic.ini'} [reporting]" in out
    assert "✓ Current migration: rep1 (reporting: create reports, tagged with the -x tenant), 0 pending" in out
