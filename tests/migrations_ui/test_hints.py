"""Hints chosen by the exception's type (issue 9, class 9), as the child computes them.

The child's helper module takes over stdout when imported, so each case runs in a fresh interpreter
(the same way the child does) and reports through the protocol stream.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

PRELUDE = """
import sys
sys.path.insert(0, {child!r})
import pgadmin_child_common as common

def report(exc):
    info = common.describe_import_error("alembic upgrade heads", exc, default_hint="DEFAULT")
    common.emit("result", error=info["error"], hint=info["hint"])
"""


def hint_of(raising: str) -> dict[str, str]:
    """Run ``raising`` (code that raises) in a child-like interpreter; the error and hint it gets."""
    code = PRELUDE.format(child=str(REPO / "core" / "child")) + (
        "try:\n" + "\n".join("    " + line for line in raising.strip().splitlines()) +
        "\nexcept BaseException as exc:\n    report(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_unknown_host_names_the_server_tried_not_the_models_setting():
    got = hint_of("""
import socket
common.CONNECT_ATTEMPTS.append("db:5432/app as app")
raise socket.gaierror(-2, "Name or service not known")
""")
    assert "db:5432/app" in got["error"] and "SQLALCHEMY_BASE" not in got["hint"]


def test_a_missing_ini_option_names_the_url_option_setting():
    got = hint_of("""
import configparser
raise configparser.NoOptionError("app_url", "alembic")
""")
    assert "PGADMIN_ALEMBIC_URL_OPTION=app_url" in got["hint"]


def test_a_missing_schema_says_to_create_it():
    pytest.importorskip("psycopg")
    got = hint_of("""
import psycopg.errors, sqlalchemy.exc
missing = psycopg.errors.InvalidSchemaName('schema "tenant_x" does not exist')
raise sqlalchemy.exc.ProgrammingError("CREATE TABLE tenant_x.t ()", {}, missing)
""")
    assert "CREATE SCHEMA" in got["hint"]


def test_an_async_env_py_without_an_event_loop_points_to_the_async_template():
    got = hint_of("""
import asyncio
asyncio.get_running_loop()
""")
    assert "async" in got["hint"] and "run_sync" in got["hint"]
