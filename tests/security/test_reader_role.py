"""Least privilege: `manage.py create_reader_role` makes a reader role the console's read mode and
viewers then use; the startup report names each mode's role and flags a dangerous one."""

from __future__ import annotations

import io
import stat
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import CommandError, call_command
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.conftest import libpq


@pytest.fixture
def reader_name(security_roles: dict[str, str], settings, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from core import reader_role, target

    settings.DATA_DIR = tmp_path / "data"
    reader_role.forget()
    name = f"sec_reader_{uuid.uuid4().hex[:8]}"
    yield name
    target.dispose()
    reader_role.forget()
    su = libpq(security_roles["superuser"])
    with psycopg.connect(su, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        if exists:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                sql.Identifier(str(make_url(su).database)), sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def create(name: str, *extra: str) -> str:
    out = io.StringIO()
    call_command("create_reader_role", "--name", name, *extra, stdout=out)
    return out.getvalue()


def test_a_superuser_target_creates_the_reader_role_and_viewers_then_get_a_console(
        role_target, reader_name, security_roles, carol, api_as, settings):
    from core import reader_role, target

    if role_target != "superuser":
        pytest.skip("the limited role may not create roles (next test)")
    before = reader_role.startup_report()
    assert any("✗" in line and "SUPERUSER" in line and "no reader role" in line for line in before)
    assert any("Viewers and editors get no SQL console" in line for line in before)

    printed = create(reader_name)
    assert f'GRANT pg_read_all_data TO "{reader_name}"' in printed or f"GRANT pg_read_all_data TO {reader_name}" in printed
    assert "PASSWORD '***'" in printed and "default_transaction_read_only" in printed
    stored = reader_role.store_path()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    password = target.reader_url().password  # type: ignore[union-attr]
    assert password and password not in printed

    reader_role.forget()
    after = reader_role.startup_report()
    assert any(line.startswith("✓") and reader_name in line and "data dir" in line for line in after)
    response = api_as(carol).post("/api/database/query", {"sql": "SELECT current_user"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["rows"] == [[reader_name]]

    # In depth: even past the console, the reader role itself cannot write nor read server files.
    reader = libpq(target.reader_url().render_as_string(hide_password=False))  # type: ignore[union-attr]
    with psycopg.connect(reader, autocommit=True) as conn:
        for attack in ("CREATE TABLE pwned ()", "SELECT pg_read_file('PG_VERSION')"):
            with pytest.raises(psycopg.Error):
                conn.execute(attack)


def test_the_limited_role_cannot_create_roles_and_the_command_says_how_to_fix(
        role_target, reader_name, security_roles, db):
    if role_target != "app":
        pytest.skip("a superuser may create roles")
    with pytest.raises(CommandError) as raised:
        create(reader_name)
    assert "superuser" in str(raised.value) and "PGADMIN_READER_DATABASE_URL" in str(raised.value)
    # …and with a role that may, given on the command line, it works for the app's database.
    printed = create(reader_name, "--admin-url", security_roles["superuser"], "--no-save")
    assert "PGADMIN_READER_DATABASE_URL=postgresql+psycopg://" + reader_name in printed


def test_the_hyphenated_spelling_of_the_command_works_too(role_target, reader_name, db):
    if role_target != "superuser":
        pytest.skip("once is enough")
    out = io.StringIO()
    call_command("create-reader-role", "--name", reader_name, "--no-save", stdout=out)
    assert "PGADMIN_READER_DATABASE_URL=" in out.getvalue()


def test_the_embedded_server_gives_itself_a_reader_role(role_target, reader_name, security_roles, monkeypatch):
    from core import embedded, reader_role, target

    if role_target != "superuser":
        pytest.skip("the embedded server's role is a superuser")
    monkeypatch.setattr(reader_role, "DEFAULT_NAME", reader_name)
    embedded.ensure_reader_role(libpq(security_roles["superuser"]))
    reader_role.forget()
    assert target.reader_url().username == reader_name  # type: ignore[union-attr]
    summary = reader_role.summary(force=True)
    assert summary.reader is not None and not summary.reader.risky and summary.viewers_get_console


def test_the_dashboard_names_each_modes_role_and_flags_a_superuser_in_red(role_target, reader_name, alice,
                                                                         client_as):
    page = client_as(alice).get("/").content.decode()
    assert "Database roles" in page
    if role_target == "superuser":
        assert "alert-error" in page and "(SUPERUSER)" in page and "create_reader_role" in page
    else:
        assert "(SUPERUSER)" not in page and "Viewers and editors get no SQL console" not in page


def test_the_compose_example_connects_as_a_plain_role_and_a_reader_not_the_images_superuser():
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    compose = (examples / "docker-compose.yml").read_text()
    init = (examples / "initdb" / "01-roles.sh").read_text()
    assert "POSTGRES_USER: app" not in compose  # the image makes POSTGRES_USER a superuser
    assert "DATABASE_URL: postgresql://app:" in compose
    assert "PGADMIN_READER_DATABASE_URL: postgresql://app_reader:" in compose
    assert "./initdb:/docker-entrypoint-initdb.d" in compose
    assert "CREATE ROLE app LOGIN NOSUPERUSER" in init and "CREATE DATABASE app OWNER app" in init
    assert "GRANT pg_read_all_data TO app_reader" in init


def test_a_reader_role_that_cannot_connect_is_reported_in_red(role_target, reader_name, security_roles, settings):
    from core import reader_role

    settings.READER_DATABASE_URL = make_url(security_roles["app"]).set(username=reader_name).render_as_string(
        hide_password=False)  # a role that does not exist
    reader_role.forget()
    lines = reader_role.startup_report()
    assert any(line.startswith("✗ The reader role (from PGADMIN_READER_DATABASE_URL) cannot connect") for line in lines)


def test_a_plain_role_holding_pg_signal_backend_is_dangerous_too(role_target, reader_name, security_roles,
                                                                carol, api_as):
    from core import reader_role

    if role_target != "app":
        pytest.skip("about the limited role")
    app = make_url(security_roles["app"]).username
    su = libpq(security_roles["superuser"])
    with psycopg.connect(su, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(str(app))))
    try:
        reader_role.forget()
        lines = reader_role.startup_report()
        assert any(line.startswith("✗") and "holds pg_signal_backend" in line for line in lines)
        refused = api_as(carol).post("/api/database/query", {"sql": "SELECT 1"}, format="json")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "console_unsafe_role"
    finally:
        with psycopg.connect(su, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE pg_signal_backend FROM {}").format(sql.Identifier(str(app))))
        reader_role.forget()
