"""Runs the user's code in a child process (the runner principle of DESIGN.md).

The server never imports the user's models or runs their ``env.py``: ``run_task`` starts
``PGADMIN_PROJECT_PYTHON core/child/pgadmin_runner.py TASK`` in ``PGADMIN_PROJECT_DIR`` with a JSON payload on
stdin and reads JSON lines from its stdout, event by event (``on_event`` gets each one as it
arrives, for live logs). The child inherits the server's environment plus ``DATABASE_URL`` set
to the target, so a project whose settings read other variables can get them from the sidecar's
environment. A timeout kills the whole process group.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from core import interpreter
from core.exceptions import AppError
from core.logging import scrub

CHILD_SCRIPT = Path(__file__).resolve().parent / "child" / "pgadmin_runner.py"

EventHandler = Callable[[dict[str, Any]], None]


class RunnerError(AppError):
    code, status = "runner_failed", 502
    default_hint = "Run the same step by hand with PGADMIN_PROJECT_PYTHON in PGADMIN_PROJECT_DIR to see the full error."


def child_env(target_url: str | None) -> dict[str, str]:
    """The child's environment: the server's own, plus the target URL and unbuffered output."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if target_url:
        env["DATABASE_URL"] = target_url
    return env


def start(task: str, payload: dict[str, Any], target_url: str | None = None) -> subprocess.Popen[str]:
    """Start the child for ``task`` (caller reads ``stdout`` line by line)."""
    python = interpreter.resolve().path
    if not Path(python).exists() and "/" in python:
        raise RunnerError(f"PGADMIN_PROJECT_PYTHON={python} does not exist.",
                          hint="Set PGADMIN_PROJECT_PYTHON to your project's interpreter, e.g. /app/.venv/bin/python.")
    payload = {"project_dir": str(settings.PROJECT_DIR), **payload}
    try:
        proc = subprocess.Popen(
            [python, str(CHILD_SCRIPT), task],
            cwd=str(settings.PROJECT_DIR) if Path(settings.PROJECT_DIR).is_dir() else None,
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
    """Run ``task`` in a child and return its ``result``; raise RunnerError on failure."""
    timeout = timeout or settings.RUNNER_TIMEOUT_S
    proc = start(task, payload, target_url)
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    stderr_tail: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
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
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if not line:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.data == "err":
                    stderr_tail = (stderr_tail + [scrub(line.rstrip())])[-40:]
                    if on_event:
                        on_event({"event": "stderr", "line": scrub(line.rstrip())})
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if event.get("event") == "result":
                    result = event.get("result")
                elif event.get("event") == "error":
                    error = event
                elif on_event:
                    on_event(event)
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
