"""Runs executed by `manage.py worker` (``PGADMIN_JOBS=worker``): issue 14's "a worker option runs them in a
separate process for those who want it, using the same job engine".

One real ``manage.py serve`` in worker mode and real ``manage.py worker`` processes share an internal
database on PostgreSQL, a Redis channel layer and a target; the project is ``tests/fixtures/alembic_sleepy``
(``z1_sleepy`` sleeps ``SLEEPY_SECONDS`` inside its transaction, read from the environment of the
process that executes the run: here the workers', 8 s). The web process checks and gates; a worker
claims the run, takes the lock, executes it and streams its log to the web process's page.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import FIXTURES, REPO, create_database, drop_database
from tests.core.test_two_instances import WebSocket, browser_session, cookie_header
from tests.serving import Served, api_call, api_token, libpq, shared_env, sleeping, wait_run_final, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "worker-mode-Secret-42"
SLEEPY = FIXTURES / "alembic_sleepy"


class Setup:
    def __init__(self, web: Served, env: dict[str, str], target: str) -> None:
        self.web, self.env, self.target = web, env, target
        self.token = api_token(web, "root", PASSWORD)
        self.workers: list[Served] = []

    def start_worker(self) -> Served:
        worker = Served({**self.env, "SLEEPY_SECONDS": "8"}, data_dir=self.web.data_dir, command="worker")
        self.workers.append(worker)
        worker.wait_for(r"Job worker ready: worker pid \d+", 60)
        return worker


@pytest.fixture(scope="module")
def setup(pg_server_url: str) -> Iterator[Setup]:
    internal = create_database(pg_server_url, "worker_internal")
    target = create_database(pg_server_url, "worker_target")
    env = {**shared_env(internal, target, SLEEPY, PASSWORD), "PGADMIN_JOBS": "worker"}
    web = Served({**env, "SLEEPY_SECONDS": "600"})  # were a run executed here, it would never end in time
    made: Setup | None = None
    try:
        web.wait_ready()
        made = Setup(web, env, target)
        yield made
    finally:
        for served in [*(made.workers if made else []), web]:
            served.stop()
        drop_database(pg_server_url, target)
        drop_database(pg_server_url, internal)


def versions(target: str) -> list[str]:
    with psycopg.connect(libpq(target), autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]:  # type: ignore[index]
            return []
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()]


def lock_free(target: str) -> bool:
    with psycopg.connect(libpq(target), autocommit=True) as conn:
        return not conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())").fetchone()[0]  # type: ignore[index]


def texts(run: dict[str, Any]) -> list[str]:
    return [line["text"] for line in run["lines"]]


def test_a_run_queued_with_no_worker_says_so_and_keeps_the_gate_closed(setup: Setup) -> None:
    status, body = api_call(setup.web, "POST", "/api/alembic/upgrade", setup.token, {"target": "heads", "backup": False})
    assert status == 202 and body["status"] == "queued", body
    run_id = body["run_id"]
    time.sleep(12)  # longer than a heartbeat's life: a queued run has none, and is not reaped for it
    status, run = api_call(setup.web, "GET", f"/api/alembic/runs/{run_id}", setup.token)
    assert run["status"] == "queued" and run["executor"] is None, run
    assert run["waiting"].startswith("Waiting for a worker: no worker is running (none was ever seen)"), run
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(browser_session(setup.web, "root", PASSWORD)))
    page = opener.open(f"{setup.web.base_url}/alembic/runs/{run_id}", timeout=30).read().decode()
    assert 'id="run-waiting"' in page and "Waiting for a worker: no worker is running" in page
    status, again = api_call(setup.web, "POST", "/api/alembic/upgrade", setup.token, {"target": "heads", "backup": False})
    assert status == 409 and f"Run {run_id}" in again["error"]["message"] and "waiting for a worker" in \
        again["error"]["message"], again
    # nobody will ever take it: its cancel ends it at once, and nothing was done on the database
    status, body = api_call(setup.web, "POST", f"/api/alembic/runs/{run_id}/cancel", setup.token)
    assert status == 202, body
    run = wait_run_final(setup.web, setup.token, run_id, timeout=10)
    assert run["status"] == "failed" and run["error"] == "cancelled by root" and run["waiting"] is None, run
    assert versions(setup.target) == [] and lock_free(setup.target)


def test_a_worker_executes_the_run_streams_its_log_and_is_cancelled_through_the_web(setup: Setup) -> None:
    first, second = setup.start_worker(), setup.start_worker()
    pids = {first.proc.pid, second.proc.pid}
    status, body = api_call(setup.web, "POST", "/api/alembic/upgrade", setup.token, {"target": "heads", "backup": False})
    assert status == 202, body
    run_id = body["run_id"]
    jar = browser_session(setup.web, "root", PASSWORD)
    ws = WebSocket(setup.web, f"/ws/alembic/runs/{run_id}/", cookie_header(jar))
    try:
        wait_until(lambda: sleeping(setup.target), 30, "z1_sleepy's sleep, in a worker's child")
        status, run = api_call(setup.web, "GET", f"/api/alembic/runs/{run_id}", setup.token)
        assert run["status"] == "running" and run["executor_pid"] in pids and run["waiting"] is None, run
        assert run["executor"].startswith(f"worker pid {run['executor_pid']} on "), run
        status, body = api_call(setup.web, "POST", f"/api/alembic/runs/{run_id}/cancel", setup.token)
        assert status == 202, body
        streamed: list[str] = []
        final: dict[str, Any] | None = None
        deadline = time.monotonic() + 20
        while final is None:
            assert time.monotonic() < deadline, f"no final status on the web's socket; lines so far: {streamed}"
            message = ws.receive(20)
            if message["type"] == "line":
                streamed.append(message["line"]["text"])
            elif message["type"] == "status" and message["run"]["status"] in ("failed", "succeeded"):
                final = message["run"]
    finally:
        ws.close()
    # written by the worker, broadcast through Redis to the web process's socket
    assert "Cancel requested by root." in streamed and "Cancelled by root: child process killed." in streamed, streamed
    assert final["status"] == "failed" and final["error"] == "cancelled by root", final
    assert versions(setup.target) == [] and lock_free(setup.target)
    run = wait_run_final(setup.web, setup.token, run_id)
    assert texts(run).count(f"Taken by {run['executor']}.") == 1 and any(t.startswith("child process ") for t in texts(run))

    # the next run: claimed by exactly one of the two workers, and executed to the end
    status, body = api_call(setup.web, "POST", "/api/alembic/upgrade", setup.token, {"target": "heads", "backup": False})
    assert status == 202, body
    done = wait_run_final(setup.web, setup.token, body["run_id"], timeout=90)
    assert done["status"] == "succeeded" and done["executor_pid"] in pids, done
    assert versions(setup.target) == ["z2_after"] and lock_free(setup.target)
    for rid in (run_id, body["run_id"]):
        claimed = [w.proc.pid for w in (first, second) if f"run {rid} (" in w.output]
        assert len(claimed) == 1, (rid, first.output, second.output)
        assert sum(t.startswith("Taken by ") for t in texts(api_call(
            setup.web, "GET", f"/api/alembic/runs/{rid}", setup.token)[1])) == 1
    status, body = api_call(setup.web, "GET", "/api/audit?action=alembic.upgrade", setup.token)
    outcomes = [(e["after"] or {}).get("run_id") for e in body["entries"] if e["outcome"] == "ok"]
    assert done["id"] in outcomes  # audited by the worker, like an inline run


RACER = """
import os, sys, time
import django
django.setup()
from migrations_ui.worker import claim
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.005)
got = []
while (run := claim(sys.argv[1])) is not None:
    got.append(run.pk)
print(" ".join(map(str, got)), flush=True)
"""


def test_claimers_racing_on_the_shared_postgresql_take_each_queued_run_once(setup: Setup, tmp_path: Any) -> None:
    for worker in setup.workers:
        worker.stop()  # only the racers below claim (the runs they take are never executed)
    internal = setup.env["PGADMIN_INTERNAL_DATABASE_URL"]
    with psycopg.connect(internal, autocommit=True) as conn:
        queued = {conn.execute(
            "INSERT INTO migrations_ui_run (created_at, username, kind, target, database, status, from_revisions, "
            "backup_requested, backup_path, steps, error, hint, traceback, cancel_requested_by, executor, target_name, "
            "payload) VALUES (now(), 'root', 'upgrade', 'heads', '', 'queued', '[]', false, '', '[]', '', '', '', '', '', '', "
            "'{\"target\": \"heads\"}') RETURNING id").fetchone()[0] for _ in range(16)}  # type: ignore[index]
    go = tmp_path / "go"
    env = {**os.environ, **setup.env, "DJANGO_SETTINGS_MODULE": "pgadmin_site.settings",
           "PGADMIN_DATA_DIR": str(setup.web.data_dir)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, f"racer {n}", str(go)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, text=True) for n in range(4)]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    go.touch()  # all four at once
    got = [[int(pk) for pk in racer.communicate(timeout=60)[0].split()] for racer in racers]
    claimed = [pk for one in got for pk in one]
    assert sorted(claimed) == sorted(queued), got  # every run claimed, none twice
    with psycopg.connect(internal, autocommit=True) as conn:
        executors = dict(conn.execute("SELECT id, executor FROM migrations_ui_run WHERE id = ANY(%s)",
                                      [sorted(queued)]).fetchall())
    assert executors == {pk: f"racer {n}" for n, one in enumerate(got) for pk in one}

@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_queued_runs_each_claim_a_different_one(alice: Any) -> None:
    from django.db import connection

    from migrations_ui.models import Run
    from migrations_ui.worker import claim

    queued = {Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads",
                                 payload={"target": "heads"}).pk for _ in range(12)}
    inline = Run.objects.create(user=alice, username="alice", kind="upgrade", target="heads")  # no payload: not queued
    claimed: list[tuple[int, str]] = []
    start = threading.Barrier(4)

    def work(name: str) -> None:
        try:
            start.wait()
            while (run := claim(name)) is not None:
                claimed.append((run.pk, name))
        finally:
            connection.close()

    racers = [threading.Thread(target=work, args=(f"worker {n}",)) for n in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    assert sorted(pk for pk, _ in claimed) == sorted(queued)  # each queued run once, none twice, the other never
    stored = dict(Run.objects.filter(pk__in=queued).values_list("pk", "executor"))
    assert stored == dict(claimed)
    inline.refresh_from_db()
    assert inline.executor == ""
