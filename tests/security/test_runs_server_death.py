"""``kill -9`` of the real server mid-run: no orphan keeps migrating, no run starts beside it, the run ends failed.

Issue 10, item 8. Two real servers (``manage.py serve``) on one target as the limited application
role (one role only: each start of the server costs seconds): the first runs a migration that
sleeps inside its transaction and is killed with SIGKILL, process group and all; the second keeps
asking for a run of its own. Then the first is started again on its data dir.
"""

from __future__ import annotations

import os
import re
import signal
import time

import psycopg
import pytest

from tests.conftest import FIXTURES, libpq
from tests.security.test_runs_lock import lock_holder, sessions, version_table
from tests.serving import Served, api_call, api_token, wait_run_final

PASSWORD = "kill-nine-Secret-42"


def process_alive(pid: int) -> bool:
    """A live process (a zombie waiting for a parent that does not reap counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


@pytest.mark.timeout(400)
def test_kill_9_of_the_server_mid_run_leaves_no_orphan_no_run_beside_it_and_a_failed_run(security_roles, target_url):
    admin = libpq(target_url)
    env = {"DATABASE_URL": security_roles["app"], "PGADMIN_PROJECT_DIR": str(FIXTURES / "alembic_sleepy"),
           "PGADMIN_ALEMBIC_CONFIG": str(FIXTURES / "alembic_sleepy" / "alembic.ini"),
           "PGADMIN_ADMIN_USERNAME": "root", "PGADMIN_ADMIN_PASSWORD": PASSWORD, "SLEEPY_SECONDS": "120"}
    first = Served(env)
    second = Served({**env, "SLEEPY_SECONDS": "0"})  # the other instance's runs are quick
    restarted: Served | None = None
    try:
        first.wait_ready()
        second.wait_ready()
        token, other_token = api_token(first, 'root', PASSWORD), api_token(second, 'root', PASSWORD)
        status, body = api_call(first, "POST", "/api/alembic/upgrade", token, {"target": "heads", "backup": False})
        assert status == 202, body
        run_id = body["run_id"]
        deadline = time.monotonic() + 60
        while not re.fullmatch(rf"pgadmin-run:[0-9a-f]{{6}}:{run_id}:lock", lock_holder(admin) or ""):
            assert time.monotonic() < deadline, "the child never took the run lock"
            time.sleep(0.1)
        name = str(lock_holder(admin))[:-len(":lock")]  # held by the child doing the work
        while "pg_sleep" not in (sessions(admin, name).get(name) or {}).get("query", ""):
            assert time.monotonic() < deadline, "the migration never reached its sleep"
            time.sleep(0.1)
        _, run = api_call(first, "GET", f"/api/alembic/runs/{run_id}", token)
        child = int(next(m.group(1) for line in run["lines"]
                         if (m := re.search(r"[Cc]hild process (\d+)", line["text"]))))
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            assert b"pgadmin_runner.py" in fh.read()
        status, body = api_call(second, "POST", "/api/alembic/upgrade", other_token, {"target": "heads", "backup": False})
        assert status == 409 and f"run {run_id}" in body["error"]["message"], body

        os.killpg(first.proc.pid, signal.SIGKILL)  # the server and everything in its process group
        first.proc.wait()
        killed = time.monotonic()
        other_run, refused = None, 0
        while process_alive(child) or sessions(admin, name):
            assert time.monotonic() - killed < 10, f"orphan still there: {sessions(admin, name)}"
            status, body = api_call(second, "POST", "/api/alembic/upgrade", other_token,
                                {"target": "heads", "backup": False})
            if status == 202:  # only once the first run's sessions are gone
                assert sessions(admin, name) == {}, "a second run was accepted beside the orphan's live session"
                other_run = body["run_id"]
                break
            assert status == 409, body
            refused += 1
        stopped_after = time.monotonic() - killed
        deadline = time.monotonic() + 3
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(child), "the child outlived its server"
        assert stopped_after < 5, f"the work took {stopped_after:.1f}s to stop ({refused} run(s) refused meanwhile)"
        if other_run is None:
            # the orphan's transaction was rolled back and the lock freed, only now that the work stopped
            assert version_table(admin) == [] and lock_holder(admin) is None
            with psycopg.connect(admin) as conn:
                assert conn.execute("SELECT to_regclass('sleepy_marker')").fetchone()[0] is None
            status, body = api_call(second, "POST", "/api/alembic/upgrade", other_token,
                                {"target": "heads", "backup": False})
            assert status == 202, body
            other_run = body["run_id"]
        assert wait_run_final(second, other_token, other_run)["status"] == "succeeded"
        assert version_table(admin) == ["z2_after"]

        restarted = Served(env, data_dir=first.data_dir)
        restarted.wait_ready()
        token = api_token(restarted, 'root', PASSWORD)
        run = wait_run_final(restarted, token, run_id, timeout=30)  # reaped at startup, not by this page
        assert run["status"] == "failed" and "server stopped" in run["error"], run
        assert run["finished_at"] and run["lines"][-1]["text"].startswith("Marked failed")
        status, body = api_call(restarted, "POST", "/api/alembic/downgrade", token, {"target": "base", "backup": False})
        assert status == 202, body
        assert wait_run_final(restarted, token, body["run_id"])["status"] == "succeeded"
        assert version_table(admin) == [] and sessions(admin) == {} and lock_holder(admin) is None
    finally:
        for served in (first, second, restarted):
            if served is not None:
                served.stop()
