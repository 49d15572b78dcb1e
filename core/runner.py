"""Runs the user's code in a child process (the runner principle of DESIGN.md).

The server never imports the user's models or runs their ``env.py``. ``run_task(task, payload)`` runs
a task in the project's interpreter (``PGADMIN_PROJECT_PYTHON``) and returns its result:

- every task but the migration runs (probe, history, offline SQL, models, drift…) goes to a warm
  project worker (``core.worker``): a long-lived child that imported the project once and answers
  request after request, replaced when a project file changes, killed on timeout or over its memory
  limit;
- the runs (``RUN_TASKS``: upgrade, downgrade, stamp, dry run) start a fresh
  ``core/child/pgadmin_runner.py TASK`` each, with a JSON payload on stdin, reading JSON lines from its
  stdout event by event (``on_event`` gets each one as it arrives, for live logs), so that a run never
  uses a stale import and its run lock lives and dies with its own process.

Both speak ``core.child.pgadmin_protocol``. The child inherits the server's environment plus
``DATABASE_URL`` set to the target, so a project whose settings read other variables can get them from
the sidecar's environment. A timeout kills the child's whole process group. The child runs where the
Alembic CLI would be run: in the folder of the project's ``alembic.ini`` (``payload["cwd"]``, set by
``core.project.resolve_alembic``), else in ``PGADMIN_PROJECT_DIR``.

Concurrency: the warm workers are capped by ``PGADMIN_WORKER_PROCESSES`` (see ``core.worker``); with
``PGADMIN_WORKER_PROCESSES=0`` pages use one-shot children too, at most ``PGADMIN_RUNNER_CONCURRENCY`` at
once. Migration runs have a separate pool of two (one run at a time is already enforced by the advisory
lock; the second slot lets a dry run or a refused run's check proceed), so a long migration never starves
the pages and a burst of page requests never delays a run. Further requests wait in a queue (roughly in
arrival order) up to their own timeout, then answer 503 "busy".
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from core.child.pgadmin_protocol import RUN_TASKS, decode_event
from core.childenv import RunnerBusy, RunnerError, child_cwd, child_env, project_python
from core.logging import scrub

CHILD_SCRIPT = Path(__file__).resolve().parent / "child" / "pgadmin_runner.py"

EventHandler = Callable[[dict[str, Any]], None]

__all__ = ["RUN_TASKS", "RunnerBusy", "RunnerError", "child_cwd", "child_env", "project_python", "queue_state", "run_task",
           "start"]
RUN_POOL_SIZE = 2
_pools: dict[str, threading.BoundedSemaphore] = {}
_pools_lock = threading.Lock()
_waiting = {"pages": 0, "runs": 0}


def _pool(task: str) -> tuple[str, threading.BoundedSemaphore]:
    """The semaphore a task's child counts against (created on first use, sized from the settings)."""
    name = "runs" if task in RUN_TASKS else "pages"
    size = RUN_POOL_SIZE if name == "runs" else int(getattr(settings, "RUNNER_CONCURRENCY", 4))
    with _pools_lock:
        key = f"{name}:{size}"
        if key not in _pools:
            _pools[key] = threading.BoundedSemaphore(size)
        return name, _pools[key]


def queue_state() -> dict[str, Any]:
    """How many requests wait for a child (``pages``, ``runs``) and the warm workers' state (``workers``)."""
    from core import worker

    workers = worker.pool().state()
    with _pools_lock:
        waiting: dict[str, Any] = dict(_waiting)
    waiting["pages"] += workers["waiting"]
    waiting["workers"] = workers
    return waiting


def start(task: str, payload: dict[str, Any], target_url: str | None = None) -> subprocess.Popen[str]:
    """Start the one-shot child for ``task`` (caller reads ``stdout`` line by line)."""
    python = project_python()
    payload = {"project_dir": str(settings.PROJECT_DIR), **payload}
    try:
        proc = subprocess.Popen(
            [python, str(CHILD_SCRIPT), task],
            cwd=child_cwd(payload),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(target_url),
            start_new_session=True,  # own process group: a timeout kills what it spawned too
        )
    except OSError as exc:
        raise RunnerError(f"Cannot start PGADMIN_PROJECT_PYTHON ({python}): {exc.strerror}.",
                          hint="Set PGADMIN_PROJECT_PYTHON to a working Python interpreter.") from None
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(payload))
    proc.stdin.close()
    return proc


def kill(proc: subprocess.Popen[str]) -> None:
    """Kill the child's whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_task(task: str, payload: dict[str, Any], *, target_url: str | None = None,
             on_event: EventHandler | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run ``task`` in a child and return its ``result``; raise RunnerError on failure.

    Runs get a fresh one-shot child; every other task a warm project worker (unless
    ``PGADMIN_WORKER_PROCESSES=0``). Same result shapes and errors either way.
    """
    timeout = timeout or settings.RUNNER_TIMEOUT_S
    if task not in RUN_TASKS and int(settings.WORKER_PROCESSES) > 0:
        from core import worker  # imports this module: loaded on first use

        return worker.run(task, payload, target_url=target_url, on_event=on_event, timeout=timeout)
    name, pool = _pool(task)
    with _pools_lock:
        _waiting[name] += 1
    try:
        got = pool.acquire(timeout=timeout)
    finally:
        with _pools_lock:
            _waiting[name] -= 1
    if not got:
        raise RunnerBusy(f"All {name} slots for the project's code stayed busy for {timeout:.0f} s (task {task}).",
                         hint="Retry in a moment; raise PGADMIN_RUNNER_CONCURRENCY if the machine has cores to spare.")
    try:
        return _run_task(task, payload, target_url=target_url, on_event=on_event, timeout=timeout)
    finally:
        pool.release()


class _PipeLines:
    """Complete lines from a child's pipe, read from its raw descriptor.

    Never ``readline()`` on the buffered file object between ``select()`` calls: that reads ahead
    whatever the pipe holds, and the lines past the first then sit in Python's buffer, invisible to
    ``select()``, until the child writes again. A run's "releasing" event (the child waits for the
    server to queue on the run lock before it unlocks) used to sit there for the child's whole
    hand-back wait (5 s) whenever it arrived in one read with the lines before it.
    """

    def __init__(self, fileobj: Any) -> None:
        self.fd = fileobj.fileno()
        self._buf = b""

    def read(self) -> tuple[list[str], bool]:
        """The lines the pipe has now (one ``os.read``), and whether it reached its end."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            rest, self._buf = self._buf, b""
            return ([rest.decode("utf-8", "replace")] if rest else []), True
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return [line.decode("utf-8", "replace") + "\n" for line in lines], False


def _run_task(task: str, payload: dict[str, Any], *, target_url: str | None,
              on_event: EventHandler | None, timeout: float) -> dict[str, Any]:
    proc = start(task, payload, target_url)
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    result: dict[str, Any] | None = None
    error: Any = None
    stderr_tail: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout.fileno(), selectors.EVENT_READ, ("out", _PipeLines(proc.stdout)))
    sel.register(proc.stderr.fileno(), selectors.EVENT_READ, ("err", _PipeLines(proc.stderr)))
    open_streams = 2
    try:
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kill(proc)
                raise RunnerError(f"The project code did not finish within {timeout:.0f} s (task {task}).",
                                  hint="An import may hang (e.g. connecting to a service at import time); "
                                       "raise PGADMIN_RUNNER_TIMEOUT if the project is just slow.")
            for key, _ in sel.select(timeout=min(remaining, 1.0)):
                stream, pipe = key.data
                lines, ended = pipe.read()
                if ended:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                for line in lines:
                    if stream == "err":
                        stderr_tail = (stderr_tail + [scrub(line.rstrip())])[-40:]
                        if on_event:
                            on_event({"event": "stderr", "line": scrub(line.rstrip())})
                        continue
                    event = decode_event(line)
                    if event is None:
                        continue
                    if event.get("event") == "result":
                        result = event.get("result")
                    elif event.get("event") == "error":
                        error = event
                    elif on_event:
                        on_event(dict(event))
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        sel.close()
        if proc.poll() is None:
            kill(proc)
    if error is not None:
        raise RunnerError(scrub(str(error.get("error", "The project code failed."))),
                          hint=str(error.get("hint") or RunnerError.default_hint),
                          detail={"traceback": scrub(str(error.get("traceback", "")))})
    if result is None:
        tail = "\n".join(stderr_tail[-5:])
        raise RunnerError(f"The runner exited with code {proc.returncode} without a result. {tail}".strip())
    return result
