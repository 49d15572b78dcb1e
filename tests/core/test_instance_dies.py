"""An instance dies mid-run while another lives: issue 14's "if an instance dies, a run it was executing is
marked failed, and the rules of the trust issue hold", played end to end.

Two ``manage.py serve`` processes share one internal database on PostgreSQL, one Redis channel layer,
one target and one project (``tests/fixtures/alembic_sleepy``: ``z1_sleepy`` creates a table, then
sleeps ``SLEEPY_SECONDS`` inside its transaction; ``z2_after`` follows). A's runs sleep a minute, B's
not at all. A starts an upgrade and is killed with SIGKILL in the middle of the sleep; B is never
restarted and nobody asks B for a page: its housekeeping thread alone must notice. The same thread
forgets the console queries a dead instance had registered (``RunningQuery`` rows).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import FIXTURES
from tests.serving import InstancePair, api_call, instance_pair, libpq, sleeping, wait_run_final, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "instance-dies-Secret-42"
SLEEPY = FIXTURES / "alembic_sleepy"
REAPED_WITHIN_S = 45  # the heartbeat goes stale after 10 s, the housekeeping pass runs every 3 s


Instances = InstancePair


@pytest.fixture(scope="module")
def instances(pg_server_url: str) -> Iterator[Instances]:
    with instance_pair(pg_server_url, "dies", SLEEPY, PASSWORD, env_a={"SLEEPY_SECONDS": "60"},
                       env_b={"SLEEPY_SECONDS": "0"}, admin_on_b=True) as both:
        yield both


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc: the run's child is its own session leader)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; only its exit status waits for a parent


def run_row(instances: Instances, run_id: int) -> dict[str, Any]:
    """The run as the internal database has it (not through a page: a GET must not be what fails it)."""
    with psycopg.connect(instances.env["PGADMIN_INTERNAL_DATABASE_URL"], autocommit=True) as conn:
        row = conn.execute("SELECT status, error, finished_at, to_revisions FROM migrations_ui_run WHERE id = %s",
                           [run_id]).fetchone()
    assert row is not None
    return {"status": row[0], "error": row[1], "finished_at": row[2], "to_revisions": row[3]}


def target_state(target: str) -> dict[str, Any]:
    with psycopg.connect(libpq(target), autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()] \
            if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] else []  # type: ignore[index]
        return {
            "versions": versions,
            "tables": sorted(r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'sleepy%'").fetchall()),
            "advisory_locks": conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0],
            "run_sessions": [r[0] for r in conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name LIKE 'pgadmin-run:%'").fetchall()],
        }


def test_the_running_queries_a_dead_instance_left_are_forgotten_by_a_live_one(instances):
    target, internal = libpq(instances.target), instances.env["PGADMIN_INTERNAL_DATABASE_URL"]
    with psycopg.connect(target, autocommit=True) as gone:
        gone_pid = gone.info.backend_pid
    with psycopg.connect(target, autocommit=True) as reused, psycopg.connect(target, autocommit=True) as still, \
            psycopg.connect(internal, autocommit=True) as conn:
        root = conn.execute("SELECT id FROM auth_user WHERE username = 'root'").fetchone()[0]  # type: ignore[index]
        rows = {"gone": (gone_pid, "now()"),  # its backend ended with the instance
                "reused": (reused.info.backend_pid, "now() - interval '1 hour'"),  # pid now a newer session's
                "still": (still.info.backend_pid, "now()")}  # its statement still runs: cancellable, kept
        for query_id, (pid, at) in rows.items():
            conn.execute("INSERT INTO sqlconsole_runningquery (query_id, user_id, pid, reader, instance, started_at, "
                         f"cancelled_by) VALUES (%s, %s, %s, false, 'dead', {at}, '')", [query_id, root, pid])

        def left() -> list[str]:
            return sorted(r[0] for r in conn.execute("SELECT query_id FROM sqlconsole_runningquery").fetchall())

        wait_until(lambda: left() == ["still"], 20, "B forgetting the dead instance's rows")
        time.sleep(4)  # another pass: the live one stays
        assert left() == ["still"]
        conn.execute("DELETE FROM sqlconsole_runningquery")


def test_a_run_whose_instance_is_killed_is_failed_by_the_other_instance_and_the_next_run_succeeds(instances):
    a, b, token = instances.a, instances.b, instances.token
    status, body = api_call(a, "POST", "/api/alembic/upgrade", token, {"target": "heads", "backup": False})
    assert status == 202, body
    run_id = int(body["run_id"])
    wait_until(lambda: sleeping(instances.target), 60, "z1_sleepy's sleep on A")
    status, run = api_call(b, "GET", f"/api/alembic/runs/{run_id}", token)  # B sees A's run, executed by A
    assert run["status"] == "running" and run["executor"] == f"web pid {a.proc.pid} on {os.uname().nodename}", run
    found = [m for line in run["lines"] if (m := re.match(r"Child process (\d+) takes the run lock", line["text"]))]
    assert found, run["lines"]
    child = int(found[0].group(1))
    assert child in descendants(a.proc.pid) and alive(child)

    os.kill(a.proc.pid, signal.SIGKILL)  # the server only: its child is a session leader of its own
    killed = time.monotonic()
    a.proc.wait(10)
    # the child watches its pipe to the server: it ends its work (rolled back), lets the lock go and exits
    wait_until(lambda: not alive(child), 30, "the run's child exiting after its server")
    wait_until(lambda: not sleeping(instances.target), 30, "the migration's session ending")

    # nobody asks B for anything: its housekeeping thread marks the run failed, within a bound
    wait_until(lambda: run_row(instances, run_id)["status"] == "failed", REAPED_WITHIN_S, "the run marked failed by B")
    assert time.monotonic() - killed < REAPED_WITHIN_S
    row = run_row(instances, run_id)
    assert "server stopped during this run" in row["error"] and row["finished_at"] is not None
    assert row["to_revisions"] == []
    assert b.proc.poll() is None and "Serving on" in b.output  # B was never restarted

    # the trust rules: the database is where it was before the run, nothing of z1_sleepy left, the lock free
    assert target_state(instances.target) == {"versions": [], "tables": [], "advisory_locks": 0, "run_sessions": []}

    status, run = api_call(b, "GET", f"/api/alembic/runs/{run_id}", token)
    assert run["status"] == "failed" and run["lines"][-1]["text"].startswith("Marked failed: The server stopped"), run
    status, audit = api_call(b, "GET", "/api/audit?action=alembic.upgrade", token)
    assert status == 200, audit
    entries = [e for e in audit["entries"] if (e.get("after") or {}).get("run_id") == run_id]
    assert len(entries) == 1 and entries[0]["outcome"] == "failed", audit
    assert "server stopped during this run" in entries[0]["message"]

    status, body = api_call(b, "POST", "/api/alembic/upgrade", token, {"target": "heads", "backup": False})
    assert status == 202, body  # the lock is free and no run is open: B's own run goes through
    again = wait_run_final(b, token, int(body["run_id"]))
    assert again["status"] == "succeeded", again
    assert again["executor"] == f"web pid {b.proc.pid} on {os.uname().nodename}"
    assert target_state(instances.target)["versions"] == ["z2_after"]
