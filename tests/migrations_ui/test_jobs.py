"""The job engine (``migrations_ui.jobs``): its handler table, a cancel that reaches the run from
another process through the internal database, and the signals other apps react to."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from core.models import AuditEntry
from core.signals import job_starting, schema_changed
from migrations_ui import jobs
from migrations_ui.models import Run
from tests.migrations_ui.conftest import api_run, wait_for_run
from tests.migrations_ui.test_cancel import start_slow_run
from tests.migrations_ui.test_runs import lock_is_free, version_table

pytestmark = pytest.mark.django_db(transaction=True)


def write_cancel_from_another_process(run_id: int, by: str) -> None:
    """Store a cancel request the way another instance would: its own process, its own DB connection."""
    db = connection.settings_dict
    table = Run._meta.db_table
    at = timezone.now().isoformat(sep=" ")
    if connection.vendor == "sqlite":
        code = ("import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], timeout=30)\n"
                f"c.execute('UPDATE {table} SET cancel_requested_by = ?, cancel_requested_at = ? WHERE id = ?', "
                "(sys.argv[2], sys.argv[3], int(sys.argv[4])))\n"
                "c.commit()\n")
        args = [str(db["NAME"]), by, at, str(run_id)]
    else:
        code = ("import psycopg, sys\n"
                "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
                f"    c.execute('UPDATE {table} SET cancel_requested_by = %s, cancel_requested_at = %s WHERE id = %s', "
                "(sys.argv[2], sys.argv[3], int(sys.argv[4])))\n")
        conninfo = " ".join(f"{k}={v}" for k, v in (("dbname", db["NAME"]), ("user", db.get("USER")),
                                                    ("host", db.get("HOST")), ("port", db.get("PORT"))) if v)
        args = [conninfo, by, at, str(run_id)]
    subprocess.run([sys.executable, "-c", code, *args], check=True, timeout=60)


def test_every_kind_of_job_has_a_handler_registered_by_the_app_config() -> None:
    assert jobs.registered() == {*Run.Kind.values, jobs.BACKUP, jobs.DRY_RUN}
    assert jobs.handler(jobs.BACKUP).check is not None  # a missing pg_dump refuses the run before it starts
    with pytest.raises(ValueError, match="unknown job kind"):
        jobs.register("vacuum", jobs.Handler(lambda job: {"ok": True}))


def test_a_cancel_stored_by_another_process_stops_the_run(use_project, alice, api_as):
    url = use_project("slow")
    run_id = start_slow_run(api_as(alice))  # env.py connected, into s1_slow's pg_sleep(30)
    assert not lock_is_free(url)
    started = time.monotonic()
    write_cancel_from_another_process(run_id, "dave on instance B")  # not this process's memory: the DB only
    wait_for_run(run_id, timeout=20)  # long before the migration's 30 s sleep ends
    assert time.monotonic() - started < 15
    run = Run.objects.get(pk=run_id)
    assert run.status == "failed" and run.error == "cancelled by dave on instance B"
    assert run.cancel_requested_by == "dave on instance B" and run.cancel_requested_at is not None
    assert run.to_revisions == [] == version_table(url)  # the half-done migration rolled back
    texts = list(run.lines.values_list("text", flat=True))
    assert "Cancel requested by dave on instance B." in texts
    assert "Cancelled by dave on instance B: child process killed." in texts
    assert lock_is_free(url) and jobs.executing() == []
    assert AuditEntry.objects.get(action="alembic.upgrade").message == "cancelled by dave on instance B"


def test_a_cancel_of_a_run_executed_elsewhere_is_stored_for_the_instance_executing_it(use_project, alice, api_as):
    use_project("linear")
    run = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads", status="running")
    response = api_as(alice).post(f"/api/alembic/runs/{run.pk}/cancel")
    assert response.status_code == 202 and response.json()["run_id"] == run.pk
    run.refresh_from_db()
    assert run.cancel_requested_by == "alice" and run.cancel_requested_at is not None
    assert run.status == "running"  # nothing here executes it: its own instance acts on the request
    entry = AuditEntry.objects.get(action="alembic.cancel")
    assert entry.username == "alice" and entry.before == {"status": "running", "child_pid": None}


def test_other_apps_hear_of_a_run_through_signals(use_project, alice, api_as, monkeypatch):
    from databrowser import reflection

    use_project("linear")
    heard: list[tuple[str, int, str]] = []
    forgotten: list[Any] = []
    monkeypatch.setattr(reflection, "invalidate", lambda ref=None: forgotten.append(ref))  # the data browser's receiver

    def starting(sender: Any, run: Run, **kwargs: Any) -> str:
        heard.append(("job_starting", run.pk, run.status))
        return "A receiver of job_starting speaks in the run's log."

    def changed(sender: Any, run: Run, **kwargs: Any) -> None:
        heard.append(("schema_changed", run.pk, run.status))

    def broken(sender: Any, run: Run, **kwargs: Any) -> None:
        raise RuntimeError("a receiver that fails")

    job_starting.connect(starting, dispatch_uid="test.starting")
    job_starting.connect(broken, dispatch_uid="test.broken")
    schema_changed.connect(changed, dispatch_uid="test.changed")
    try:
        run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    finally:
        job_starting.disconnect(dispatch_uid="test.starting")
        job_starting.disconnect(dispatch_uid="test.broken")
        schema_changed.disconnect(dispatch_uid="test.changed")
    assert run["status"] == "succeeded", run  # a failing receiver never stops a run
    # job_starting before the work (the run recorded, not yet running); schema_changed after it, before its status
    assert heard == [("job_starting", run["id"], "queued"), ("schema_changed", run["id"], "running")]
    assert run["lines"][0]["text"] == "A receiver of job_starting speaks in the run's log."
    assert forgotten == [None]  # the data browser forgot every reflected table


def test_a_handler_swapped_in_the_table_is_what_the_engine_runs(use_project, alice, api_as, monkeypatch):
    url = use_project("linear")
    seen: list[tuple[str, int]] = []

    def fake_upgrade(job: jobs.Job) -> dict[str, Any]:
        assert job.run is not None and job.out is not None
        seen.append((job.run.kind, job.run.pk))
        job.out.line("info", "fake upgrade")
        return {"ok": True, "steps": []}

    monkeypatch.setitem(jobs._HANDLERS, Run.Kind.UPGRADE, jobs.Handler(fake_upgrade))
    run = api_run(api_as(alice), "upgrade", "heads", backup=False)
    assert run["status"] == "succeeded" and seen == [("upgrade", run["id"])]
    assert "fake upgrade" in [line["text"] for line in run["lines"]]
    assert version_table(url) == [] and lock_is_free(url)  # the engine did the rest: lock, re-read, unlock
