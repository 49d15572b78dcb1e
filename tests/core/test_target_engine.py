"""The one target engine: timeout, application name, read-only transactions, errors in plain words."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import core.target as core_target
from core.exceptions import QueryTimeout, TargetUnavailable


def test_every_connection_carries_the_statement_timeout_and_application_name(target, settings):
    with core_target.connect() as conn:
        timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
        app = conn.execute(text("SELECT current_setting('application_name')")).scalar_one()
    assert timeout == f"{settings.STATEMENT_TIMEOUT_MS}ms" or timeout == f"{settings.STATEMENT_TIMEOUT_MS // 1000}s"
    assert app == core_target.APPLICATION_NAME


def test_read_only_connection_refuses_writes(target):
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="read-only transaction"):
        with core_target.connect() as conn:
            conn.execute(text("CREATE TABLE should_not_exist (id int)"))
    with core_target.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('should_not_exist')")).scalar_one() is None


def test_slow_query_is_cut_by_the_statement_timeout_with_a_plain_message(target, settings):
    settings.STATEMENT_TIMEOUT_MS = 200
    core_target.dispose()
    with pytest.raises(QueryTimeout) as caught:
        with core_target.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    assert caught.value.status == 408 and "PGADMIN_STATEMENT_TIMEOUT" in caught.value.hint


def test_unreachable_server_becomes_target_unavailable_naming_host_and_port(settings, db):
    from tests.serving import free_port

    port = free_port()
    settings.TARGET_DATABASE_URL = f"postgresql://u:secretpw@127.0.0.1:{port}/nowhere"
    core_target.set_target_url(None)
    with pytest.raises(TargetUnavailable) as caught:
        with core_target.connect():
            pass
    assert f"127.0.0.1:{port}/nowhere" in caught.value.message
    assert "secretpw" not in caught.value.message
    core_target.dispose()


def test_server_info_reports_version_database_and_user(target):
    info = core_target.server_info()
    assert info.version_num >= 100000 and info.user == "postgres"
    assert info.database == core_target.target_url().database


def test_libpq_env_keeps_the_password_off_the_command_line():
    env = core_target.libpq_env(core_target.normalise_url("postgresql://app:pw@db:6432/shop?sslmode=require"))
    assert env == {"PGHOST": "db", "PGPORT": "6432", "PGDATABASE": "shop", "PGUSER": "app", "PGPASSWORD": "pw",
                   "PGAPPNAME": "pgadmin-tool", "PGSSLMODE": "require"}
