"""The warm project worker: imports the project once, answers like a fresh child, and keeps the runner's promises.

Every story runs the real worker (the project's interpreter, real Alembic and SQLAlchemy) on a copy of
``tests/fixtures/worker_project``, whose models and env.py have switches set through the environment
(noise at import, memory ballast, a hang at import, a slow env.py). Results are compared with the
one-shot runner's (``PGADMIN_WORKER_PROCESSES=0``), never with hand-written copies.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import worker, worker_watch
from core.runner import RunnerBusy, RunnerError, queue_state, run_task
from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.slow
OFFLINE = "postgresql://offline/offline"


@pytest.fixture
def project(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """A private copy of the fixture project, the tool pointed at it, and no worker left behind."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "worker_project", root)
    settings.PROJECT_DIR = root
    settings.SQLALCHEMY_BASE = ""
    settings.WORKER_PROCESSES = 2
    settings.RUNNER_CONCURRENCY = 4
    settings.WORKER_MAX_MB = 1536
    worker.pool().shutdown()
    yield root
    worker.pool().shutdown()


def models_payload(root: Path) -> dict[str, Any]:
    return {"alembic_ini": str(root / "alembic.ini"), "sqlalchemy_base": "", "extra_paths": [str(root)]}


def alembic_payload(root: Path, url: str = OFFLINE) -> dict[str, Any]:
    return {"alembic_ini": str(root / "alembic.ini"), "alembic_section": "alembic", "cwd": str(root), "target_url": url}


def one_shot(settings: Any, task: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The same task in a fresh child, as before the worker existed."""
    before = settings.WORKER_PROCESSES
    settings.WORKER_PROCESSES = 0
    try:
        return run_task(task, payload, **kwargs)
    finally:
        settings.WORKER_PROCESSES = before


def pids() -> list[int]:
    return [p["pid"] for p in queue_state()["workers"]["processes"]]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def order_columns(result: dict[str, Any]) -> list[str]:
    return [c["name"] for t in result["tables"] if t["name"] == "orders" for c in t["columns"]]


# --- one import, many answers ---------------------------------------------------------------

def test_the_second_request_reuses_the_worker_and_answers_like_a_fresh_child(project, settings):
    fresh = one_shot(settings, "models.inspect", models_payload(project))
    first = run_task("models.inspect", models_payload(project))
    [pid] = pids()
    second = run_task("models.inspect", models_payload(project))
    assert pids() == [pid]
    assert queue_state()["workers"]["processes"][0]["requests"] == 2
    assert first == fresh and second == fresh
    assert sorted(m["name"] for m in second["models"]) == ["Customer", "Order"]


def test_different_tasks_interleaved_in_one_worker_answer_as_fresh_children(project, settings):
    steps = [("alembic.sql", {**alembic_payload(project), "start": None, "end": "heads"}),
             ("alembic.history", alembic_payload(project)),
             ("alembic.sql", {**alembic_payload(project), "start": "w1_customers", "end": "w2_orders",
                              "revision": "w2_orders"}),
             ("models.inspect", models_payload(project)),
             ("probe", {**alembic_payload(project), "probe_alembic": True, "sqlalchemy_base": ""}),
             ("alembic.sql", {**alembic_payload(project), "direction": "downgrade", "start": "heads",
                              "end": "base"})]
    expected = [one_shot(settings, task, payload) for task, payload in steps]
    pristine = run_task("worker.state", alembic_payload(project))
    for _ in range(2):  # twice through: the patches of one task never leak into the next
        for (task, payload), answer in zip(steps, expected, strict=True):
            assert run_task(task, payload) == answer
            # what the task changed in the process (Alembic's patched classes, sys.path, cwd, logging…) is back
            assert run_task("worker.state", alembic_payload(project)) == pristine
    assert len(pids()) == 1
    assert pristine["patched"] == [] and pristine["stdout_is_stderr"]
    own = expected[2]
    assert own["ok"] and own["ran_revision"] and "CREATE TABLE orders" in own["own_sql"]
    assert "CREATE TABLE customers" not in own["own_sql"]  # only that revision's own SQL, not recorded twice


def test_env_py_listeners_do_not_pile_up_across_drift_requests(project, settings, target_url):
    payload = alembic_payload(project, target_url)

    def drift() -> tuple[dict[str, Any], int]:
        lines: list[str] = []
        result = run_task("drift.compare", payload, target_url=target_url,
                          on_event=lambda e: lines.append(str(e.get("line"))))
        return result, sum("connect listener ran" in line for line in lines)

    settings.WORKER_PROCESSES = 0
    fresh, fresh_count = drift()
    settings.WORKER_PROCESSES = 2
    answers = [drift() for _ in range(3)]
    assert fresh["ok"] and fresh_count >= 1
    assert {d["table"] for d in fresh["differences"] if d["kind"] == "add_table"} == {"customers", "orders"}
    assert all(answer == (fresh, fresh_count) for answer in answers)  # one listener per request, as in a fresh child
    assert len(pids()) == 1


def test_a_broken_project_answers_the_same_on_every_request(settings):
    settings.PROJECT_DIR = FIXTURES / "core_broken_models"
    settings.WORKER_PROCESSES = 2
    payload = {"sqlalchemy_base": "", "extra_paths": []}
    fresh = one_shot(settings, "models.inspect", payload)
    try:
        answers = [run_task("models.inspect", payload) for _ in range(2)]
    finally:
        worker.pool().shutdown()
    assert {e["module"] for e in fresh["errors"]} >= {"app.billing", "app.settings"}
    assert answers == [fresh, fresh]  # a half-imported module is never imported again in the same process


# --- restart on file change -----------------------------------------------------------------

def test_editing_a_model_file_restarts_the_worker_and_the_new_column_appears(project, monkeypatch):
    monkeypatch.setattr(worker_watch, "FINGERPRINT_MAX_INTERVAL_S", 0.0)
    before = run_task("models.inspect", models_payload(project))
    [old] = pids()
    models = project / "wshop" / "models.py"
    models.write_text(models.read_text().replace(
        "    customer: Mapped[Customer]",
        "    note: Mapped[str] = mapped_column(String(80), nullable=True)\n    customer: Mapped[Customer]"))
    after = run_task("models.inspect", models_payload(project))
    assert "note" not in order_columns(before) and "note" in order_columns(after)
    [new] = pids()
    assert new != old
    wait_for(lambda: not alive(old))


def test_a_request_in_flight_finishes_on_the_old_worker_when_a_file_changes(project, monkeypatch):
    monkeypatch.setattr(worker_watch, "FINGERPRINT_MAX_INTERVAL_S", 0.0)
    monkeypatch.setenv("WORKER_FIXTURE_ENV_SLEEP", "1.5")
    run_task("alembic.history", alembic_payload(project))  # the worker is warm
    [old] = pids()
    answers: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: answers.append(run_task("alembic.history", alembic_payload(project))))
    thread.start()
    wait_for(lambda: any(p["busy"] for p in queue_state()["workers"]["processes"]))
    (project / "migrations" / "script.py.mako").write_text("${message}\n")
    thread.join(30)
    assert answers and answers[0]["ok"] and len(answers[0]["revisions"]) == 2  # not killed by the change
    assert pids() == [old] and alive(old)
    run_task("alembic.history", alembic_payload(project))
    [new] = pids()
    assert new != old
    wait_for(lambda: not alive(old))


# --- timeouts, memory, output ---------------------------------------------------------------

def test_a_request_over_its_timeout_kills_the_worker_and_the_next_one_gets_a_fresh_worker(project, monkeypatch):
    marker = project / "hang-once"
    marker.write_text("")
    monkeypatch.setenv("WORKER_FIXTURE_SLEEP_ONCE", str(marker))
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.update(pids())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with pytest.raises(RunnerError) as caught:
            run_task("models.inspect", models_payload(project), timeout=3)
    finally:
        stop.set()
        watcher.join()
    assert "did not finish within 3 s" in caught.value.message and "PGADMIN_RUNNER_TIMEOUT" in caught.value.hint
    [hung] = seen
    assert not alive(hung)  # its process group was killed, not left to finish its sleep
    result = run_task("models.inspect", models_payload(project))
    assert "Order" in [m["name"] for m in result["models"]]
    assert pids() != [hung]


def test_a_worker_over_the_memory_limit_is_stopped_with_the_setting_named(project, settings, monkeypatch):
    monkeypatch.setenv("WORKER_FIXTURE_ALLOC_MB", "300")
    settings.WORKER_MAX_MB = 150
    with pytest.raises(RunnerError) as caught:
        run_task("models.inspect", models_payload(project))
    assert "PGADMIN_WORKER_MAX_MB=150" in caught.value.message
    assert "PGADMIN_WORKER_MAX_MB" in caught.value.hint
    assert pids() == []
    settings.WORKER_MAX_MB = 1024
    result = run_task("models.inspect", models_payload(project))
    assert "Customer" in [m["name"] for m in result["models"]]
    assert queue_state()["workers"]["processes"][0]["rss_mb"] > 300


@pytest.mark.parametrize("processes", [2, 0], ids=["warm worker", "one-shot runner"])
def test_what_the_project_writes_to_stdout_at_import_never_reaches_the_protocol(project, settings, monkeypatch,
                                                                                 processes):
    monkeypatch.setenv("WORKER_FIXTURE_NOISE", "1")
    settings.WORKER_PROCESSES = processes
    expected = one_shot(settings, "models.inspect", models_payload(project))
    stderr: list[str] = []
    result = run_task("models.inspect", models_payload(project),
                      on_event=lambda e: stderr.append(str(e.get("line"))) if e.get("event") == "stderr" else None)
    assert result == expected and sorted(m["name"] for m in result["models"]) == ["Customer", "Order"]
    for noise in ("print() at import", "os.write(1) at import", "a subprocess's stdout at import"):
        assert any(noise in line for line in stderr), noise
    assert sum("noise: stderr line" in line for line in stderr) == 5000  # drained, none lost, no deadlock


# --- concurrency ----------------------------------------------------------------------------

def test_more_parallel_requests_than_workers_all_answer_within_the_cap(project, settings, monkeypatch):
    settings.WORKER_PROCESSES = 2
    monkeypatch.setenv("WORKER_FIXTURE_ENV_SLEEP", "1")
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            answers.append(run_task("alembic.history", alembic_payload(project)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    peak = waited = 0
    while any(t.is_alive() for t in threads):
        state = queue_state()
        peak, waited = max(peak, state["workers"]["running"]), max(waited, state["pages"])
        time.sleep(0.02)
    assert not errors, errors
    assert len(answers) == 4 and all(a["ok"] for a in answers)
    assert peak == 2 and waited >= 1


def test_a_request_that_gets_no_worker_in_time_answers_busy(project, settings, monkeypatch):
    settings.WORKER_PROCESSES = 1
    monkeypatch.setenv("WORKER_FIXTURE_ENV_SLEEP", "2")
    run_task("alembic.history", alembic_payload(project))  # warm
    thread = threading.Thread(target=lambda: run_task("alembic.history", alembic_payload(project)))
    thread.start()
    wait_for(lambda: any(p["busy"] for p in queue_state()["workers"]["processes"]))
    with pytest.raises(RunnerBusy) as caught:
        run_task("alembic.history", alembic_payload(project), timeout=1)
    thread.join(30)
    assert caught.value.status == 503 and "PGADMIN_WORKER_PROCESSES" in caught.value.hint


def test_an_idle_extra_worker_exits_and_the_most_recently_used_one_stays(project, settings, monkeypatch):
    monkeypatch.setenv("WORKER_FIXTURE_ENV_SLEEP", "1")
    threads = [threading.Thread(target=run_task, args=("alembic.history", alembic_payload(project))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(pids()) == 2  # grown for the queue
    run_task("alembic.history", alembic_payload(project))
    last = max(worker.pool().workers(), key=lambda w: w.last_used).pid
    settings.WORKER_IDLE_S = 1
    time.sleep(1.2)
    worker.pool().reap()
    assert pids() == [last]


# --- the server's end is the workers' end ---------------------------------------------------

_SERVER = textwrap.dedent("""
    import os, sys, time
    import django
    django.setup()
    from core.runner import run_task, queue_state
    root = os.environ["PGADMIN_PROJECT_DIR"]
    run_task("models.inspect", {"alembic_ini": root + "/alembic.ini", "extra_paths": [root]})
    print(queue_state()["workers"]["processes"][0]["pid"], flush=True)
    if sys.argv[1] == "wait":
        time.sleep(600)
""")


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_the_workers_end_with_the_server(project, tmp_path, how):
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "pgadmin_site.settings",
           "PGADMIN_DATA_DIR": str(tmp_path / "data"), "PGADMIN_PROJECT_DIR": str(project)}
    server = subprocess.Popen([sys.executable, "-c", _SERVER, "exit" if how == "exits" else "wait"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert server.stdout is not None
        pid = int(server.stdout.readline())
        assert alive(pid)
        if how == "is killed":
            os.killpg(server.pid, signal.SIGKILL)  # no atexit: the worker sees its stdin close
        server.wait(30)
        wait_for(lambda: not alive(pid), 10)
    finally:
        if server.poll() is None:
            server.kill()


def test_health_shows_the_workers(project, client, db, target):
    run_task("models.inspect", models_payload(project))
    body = client.get("/api/health").json()
    workers = body["workers"]
    assert workers["running"] >= 1 and workers["max"] == 2 and workers["protocol"] >= 1
    shown = {p["pid"]: p for p in workers["processes"]}
    assert set(shown) == set(pids())
    assert all(p["requests"] >= 1 and p["rss_mb"] > 10 for p in shown.values())
    assert {"status", "database", "alembic", "models", "version"} <= set(body)
