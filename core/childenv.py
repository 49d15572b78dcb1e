"""How a child process of the project is started: its interpreter, environment and folder, and the errors.

Shared by the one-shot runner (``core.runner``) and the warm project worker (``core.worker``); a module
of its own so that the runner can hand a task to the worker without the two importing each other.
``core.runner`` re-exports all of it: callers keep importing ``RunnerError`` and the rest from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from core import interpreter
from core.exceptions import AppError
from pgadmin_site.entry import project_environment


class RunnerError(AppError):
    code, status = "runner_failed", 502
    default_hint = "Run the same step by hand with PGADMIN_PROJECT_PYTHON in PGADMIN_PROJECT_DIR to see the full error."


class RunnerBusy(RunnerError):
    code, status = "runner_busy", 503


def child_env(target_url: str | None) -> dict[str, str]:
    """The child's environment: the server's own, plus the target URL, unbuffered output, no bytecode files."""
    env = project_environment()  # the project's own DJANGO_SETTINGS_MODULE, never the tool's
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    # no __pycache__ written into the project while the tool reads it: a folder that changes during a
    # computation marks its answer as never valid (core.deps), and the tool should leave no files behind
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if target_url:
        env["DATABASE_URL"] = target_url
    return env


def child_cwd(payload: dict[str, Any]) -> str | None:
    """Where the CLI would run: the ini's folder (``cwd`` / ``alembic_ini``), else PGADMIN_PROJECT_DIR."""
    ini = payload.get("alembic_ini")
    for candidate in (payload.get("cwd"), str(Path(ini).parent) if ini else None, str(settings.PROJECT_DIR)):
        if candidate and Path(candidate).is_dir():
            return str(Path(candidate).resolve())
    return None


def project_python() -> str:
    """The interpreter that runs the project's code (``core.interpreter``); a missing file is a clear error."""
    python = interpreter.resolve().path
    if not Path(python).exists() and "/" in python:
        raise RunnerError(f"PGADMIN_PROJECT_PYTHON={python} does not exist.",
                          hint="Set PGADMIN_PROJECT_PYTHON to your project's interpreter, e.g. /app/.venv/bin/python.")
    return python
