"""A restore cut off mid-way (its server killed) commits nothing: the COMMIT comes only after pg_restore ended well.

psql's ``--single-transaction`` commits at the end of its input, whatever ended it; a server killed
mid-restore closes psql's input and would have committed half a restore. Played as the limited
application role and as a superuser.
"""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core import target
from migrations_ui.backups import _pump, client_program


def restored(url: str) -> bool:
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        return conn.execute("SELECT to_regclass('restored_t')").fetchone()[0] is not None


@pytest.mark.parametrize("pg_restore_exit", [1, -9])
def test_a_restore_whose_pg_restore_did_not_end_well_commits_nothing(role_target, security_roles, pg_restore_exit):
    url = target.target_url()
    env = {"PATH": "/usr/bin:/bin", **target.libpq_env(url), "PGAPPNAME": "pgadmin-run:777"}
    psql = subprocess.Popen([client_program("psql"), "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "--no-password",
                             "-d", url.database or ""], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    restore = subprocess.Popen(["sh", "-c", "kill -9 $$" if pg_restore_exit == -9 else "exit 1"])
    _pump(iter(["CREATE TABLE restored_t (id integer);\n", "INSERT INTO restored_t VALUES (1);\n"]), psql.stdin,
          target.server_info().version_num, restore)
    out = psql.stdout.read() if psql.stdout else ""
    psql.wait(timeout=30)
    assert psql.returncode == 0, out
    assert not restored(security_roles[role_target])


def test_a_restore_whose_pg_restore_ended_well_commits(role_target, security_roles):
    url = target.target_url()
    env = {"PATH": "/usr/bin:/bin", **target.libpq_env(url)}
    psql = subprocess.Popen([client_program("psql"), "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "--no-password",
                             "-d", url.database or ""], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    _pump(iter(["CREATE TABLE restored_t (id integer);\n"]), psql.stdin, target.server_info().version_num,
          subprocess.Popen(["true"]))
    out = psql.stdout.read() if psql.stdout else ""
    psql.wait(timeout=30)
    assert psql.returncode == 0, out
    try:
        assert restored(security_roles[role_target])
    finally:
        with psycopg.connect(make_url(security_roles[role_target]).set(drivername="postgresql")
                             .render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS restored_t")
