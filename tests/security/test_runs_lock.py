"""The run lock is held by the process doing the work, and no run starts beside another's live session.

Issue 10, item 2 and 8: a viewer's ``pg_terminate_backend`` killed the run's lock session mid-run and
a second concurrent run was accepted; a killed server left its child migrating with the lock
released. Each story plays as the limited application role and as a superuser (``role_target``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from core.models import AuditEntry
from migrations_ui import reaper
from migrations_ui.models import Run, RunLine
from migrations_ui.runlock import LOCK_KEY
from tests.conftest import FIXTURES, libpq
from tests.migrations_ui.conftest import wait_for_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sleepy(role_target: str, settings, target_url: str, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The tool on the sleepy fixture project (its first revision sleeps $SLEEPY_SECONDS); yields a superuser URL."""
    settings.PROJECT_DIR = FIXTURES / "alembic_sleepy"
    settings.ALEMBIC_CONFIG = str(FIXTURES / "alembic_sleepy" / "alembic.ini")
    monkeypatch.setenv("SLEEPY_SECONDS", "60")
    admin = libpq(target_url)  # the test server's superuser: plays "someone else" on the database
    yield admin
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE "
                     "'pgadmin-run:%' AND datname = current_database()")
        conn.execute("DROP TABLE IF EXISTS sleepy_marker, sleepy_after, alembic_version")


def name(run_id: int, role: str = "") -> str:
    """The application_name of run ``run_id``'s sessions in this (test) instance of the tool."""
    from migrations_ui.runlock import run_app_name

    return run_app_name(run_id, role)


def sessions(admin: str, base: str | None = None) -> dict[str, dict[str, Any]]:
    """The run sessions alive on the target, by application_name (of the run named ``base``, or all)."""
    where, params = ("application_name = %s OR application_name LIKE %s", (base, base + ":%")) if base else \
        ("application_name LIKE %s", ("pgadmin-run:%",))
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(f"SELECT application_name, pid, state, query FROM pg_stat_activity "  # noqa: S608
                            f"WHERE ({where}) AND datname = current_database()", params).fetchall()
    return {r[0]: {"pid": r[1], "state": r[2], "query": r[3]} for r in rows}


def lock_holder(admin: str) -> str | None:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            ((LOCK_KEY >> 32) & 0xFFFFFFFF, LOCK_KEY & 0xFFFFFFFF)).fetchone()
    return row[0] if row else None


def until(check, timeout: float = 30, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout}s")


def start_sleeping_run(api, admin: str) -> tuple[int, dict[str, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    response = api.post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert response.status_code == 202, response.content
    run_id = response.json()["run_id"]

    def sleeping() -> dict[str, dict[str, Any]] | None:
        alive = sessions(admin, name(run_id))
        work = alive.get(name(run_id))
        return alive if work and "pg_sleep" in (work["query"] or "") and work["state"] == "active" else None

    return run_id, until(sleeping, what="sleeping migration")


def version_table(admin: str) -> list[str]:
    with psycopg.connect(admin) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0] is None:
            return []
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


def test_the_child_doing_the_work_holds_the_run_lock_on_its_own_session(sleepy, alice, api_as):
    api = api_as(alice)
    run_id, alive = start_sleeping_run(api, sleepy)
    # the lock is held by the child's session, not by the server's; env.py's session carries the run's name
    assert lock_holder(sleepy) == name(run_id, "lock")
    assert set(alive) == {name(run_id), name(run_id, "lock")}
    # the log reaches the database in batches: wait for the hand-over line rather than racing it
    until(lambda: any("the child's session holds it now" in line.text
                      for line in RunLine.objects.filter(run_id=run_id)) or None, what="hand-over line")
    assert api.post(f"/api/alembic/runs/{run_id}/cancel").status_code == 202
    wait_for_run(run_id, timeout=30)
    assert Run.objects.get(pk=run_id).status == "failed"
    assert sessions(sleepy) == {} and lock_holder(sleepy) is None


def test_terminating_the_run_lock_session_stops_the_run_and_no_second_run_starts_beside_it(
        sleepy, alice, api_as, monkeypatch):
    api = api_as(alice)
    run_id, alive = start_sleeping_run(api, sleepy)
    lock_pid, work_pid = alive[name(run_id, "lock")]["pid"], alive[name(run_id)]["pid"]
    with psycopg.connect(sleepy, autocommit=True) as conn:  # what a viewer did through the console
        assert conn.execute("SELECT pg_terminate_backend(%s)", (lock_pid,)).fetchone()[0] is True
    work_alive_before = name(run_id) in sessions(sleepy, name(run_id))
    second = api.post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert second.status_code == 409, second.content  # the lock is free now, but the first run's work is not over
    assert work_alive_before or "still running or finishing" in second.json()["error"]["message"]

    wait_for_run(run_id, timeout=30)  # long before the migration's 60 s sleep ends
    run = api.get(f"/api/alembic/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert f"backend {lock_pid}" in run["error"] and "terminated" in run["error"] and "stopped" in run["error"]
    assert run["to_revisions"] == [] == version_table(sleepy)
    with psycopg.connect(sleepy) as conn:  # the half-done migration was rolled back
        assert conn.execute("SELECT to_regclass('sleepy_marker')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (work_pid,)).fetchone()[0] == 0
    assert sessions(sleepy) == {} and lock_holder(sleepy) is None
    refused = AuditEntry.objects.filter(action="alembic.upgrade", outcome="failed").order_by("id")
    assert refused.count() == 2  # the refused second run, then the stopped first one

    monkeypatch.setenv("SLEEPY_SECONDS", "0")
    third = api.post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert third.status_code == 202, third.content
    wait_for_run(third.json()["run_id"])
    assert Run.objects.get(pk=third.json()["run_id"]).status == "succeeded"
    assert version_table(sleepy) == ["z2_after"]


def test_a_new_run_is_refused_while_an_earlier_runs_session_is_still_alive(sleepy, alice, api_as, security_roles,
                                                                           role_target):
    # An orphan of a killed server: a session named after run 4242, in its transaction, no lock held.
    orphan = psycopg.connect(libpq(security_roles[role_target]), application_name=name(4242))
    try:
        orphan.execute("CREATE TABLE orphan_work (id integer)")  # open transaction, like a migration mid-way
        pid = orphan.info.backend_pid
        api = api_as(alice)
        for kind, rev in (("upgrade", "heads"), ("downgrade", "base")):
            response = api.post(f"/api/alembic/{kind}", {"target": rev, "backup": False}, format="json")
            assert response.status_code == 409, response.content
            error = response.json()["error"]
            assert "still alive" in error["message"] and f"backend {pid}" in error["message"]
            assert f"pg_terminate_backend({pid})" in error["hint"]
        dry = api.post("/api/alembic/dryrun", {"kind": "upgrade", "target": "heads"}, format="json")
        assert dry.status_code == 409  # a dry run takes the migrations' locks too: refused as well
        assert Run.objects.count() == 0
        assert AuditEntry.objects.filter(action__startswith="alembic.", outcome="failed").count() >= 2
    finally:
        orphan.close()
    until(lambda: not sessions(sleepy), what="orphan gone")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert response.status_code == 202
    api_as(alice).post(f"/api/alembic/runs/{response.json()['run_id']}/cancel")
    wait_for_run(response.json()["run_id"], timeout=30)


def test_a_runs_final_status_is_written_only_after_its_lock_is_released(sleepy, alice, api_as, monkeypatch):
    monkeypatch.setenv("SLEEPY_SECONDS", "0.5")
    api = api_as(alice)
    response = api.post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    run_id = response.json()["run_id"]
    seen: list[tuple[str, str | None, int]] = []

    def final() -> bool:
        status = api.get(f"/api/alembic/runs/{run_id}").json()["status"]
        if status in ("succeeded", "failed"):
            seen.append((status, lock_holder(sleepy), len(sessions(sleepy))))
            return True
        return False

    until(final, what="final status")
    assert seen == [("succeeded", None, 0)]  # the moment a client sees it final, the lock and sessions are gone
    # ... so CI may start the next run at once
    again = api.post("/api/alembic/downgrade", {"target": "base", "backup": False}, format="json")
    assert again.status_code == 202, again.content
    wait_for_run(again.json()["run_id"])


def test_a_run_left_running_by_a_stopped_server_is_failed_once_its_sessions_are_gone(sleepy, alice, security_roles,
                                                                                    role_target):
    run = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads", status="running",
                             database="elsewhere")
    RunLine.objects.create(run=run, seq=1, kind="info", text="child process 1 started")
    orphan = psycopg.connect(libpq(security_roles[role_target]), application_name=name(run.pk, "lock"))
    try:
        assert reaper.reap_stale(wait_s=0) == 0  # its session lives: its work may not have stopped
        assert Run.objects.get(pk=run.pk).status == "running"
    finally:
        orphan.close()
    assert reaper.reap_stale(wait_s=10) == 1  # as soon as its session has ended
    run.refresh_from_db()
    assert run.status == "failed" and "server stopped" in run.error
    assert run.to_revisions == [] and run.finished_at is not None
    assert run.lines.last().text.startswith("Marked failed")


def test_a_dry_run_is_held_by_its_child_too_and_stops_when_its_lock_session_is_ended(sleepy, alice, api_as):
    import threading

    answers: list[Any] = []
    worker = threading.Thread(target=lambda: answers.append(api_as(alice).post(
        "/api/alembic/dryrun", {"kind": "upgrade", "target": "heads"}, format="json")), daemon=True)
    worker.start()
    until(lambda: lock_holder(sleepy) == name(0, "lock"), what="dry run's child holding the lock")
    refused = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
    assert refused.status_code == 409 and "a dry run" in refused.json()["error"]["message"]
    lock_pid = sessions(sleepy)[name(0, "lock")]["pid"]
    with psycopg.connect(sleepy, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (lock_pid,))
    worker.join(30)
    assert not worker.is_alive(), "the dry run went on without its lock"
    body = answers[0].json()
    assert body["ok"] is False and f"backend {lock_pid}" in body["error"], body
    assert body["version_table_unchanged"] is True
    until(lambda: not sessions(sleepy), what="dry run sessions gone")
    assert lock_holder(sleepy) is None


def test_a_run_whose_lock_session_is_ended_during_the_backup_does_not_migrate(sleepy, alice, api_as, monkeypatch):
    from migrations_ui import jobs

    def backup_meanwhile_ended(job):  # type: ignore[no-untyped-def]
        server = sessions(sleepy, name(job.run.pk))[name(job.run.pk, "server")]["pid"]
        with psycopg.connect(sleepy, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (server,))
        return {"ok": True}

    monkeypatch.setitem(jobs._HANDLERS, jobs.BACKUP, jobs.Handler(backup_meanwhile_ended))
    monkeypatch.setenv("SLEEPY_SECONDS", "0")
    response = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": True}, format="json")
    wait_for_run(response.json()["run_id"])
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.status == "failed" and "terminated" in run.error and run.steps == []
    assert version_table(sleepy) == [] and lock_holder(sleepy) is None and sessions(sleepy) == {}


def test_another_tool_instances_run_with_the_same_id_is_respected_but_not_taken_for_ours(sleepy, alice, api_as,
                                                                                        security_roles, role_target):
    from migrations_ui.runlock import instance_id

    other = "0" * 6 if instance_id() != "0" * 6 else "1" * 6
    run = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads", status="running")
    foreign = psycopg.connect(libpq(security_roles[role_target]), application_name=f"pgadmin-run:{other}:{run.pk}")
    try:
        refused = api_as(alice).post("/api/alembic/upgrade", {"target": "heads", "backup": False}, format="json")
        assert refused.status_code == 409  # another sidecar (own internal DB) on this database is migrating
        assert f"run {run.pk} of another instance of the tool" in refused.json()["error"]["message"]
        assert reaper.reap_stale(wait_s=0) == 1  # our run {pk} has no session: stale; theirs is not ours
        assert foreign.execute("SELECT 1").fetchone() == (1,)  # and nobody ended their session
    finally:
        foreign.close()
