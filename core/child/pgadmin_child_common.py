"""Helpers shared by the child-process task modules (imported first by pgadmin_runner).

Importing this module takes over stdout: the protocol stream is kept in ``_PROTOCOL`` and
``sys.stdout`` becomes stderr, so that whatever the user's code prints cannot corrupt the
JSON lines. Only the standard library is used here.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

_PROTOCOL = sys.stdout
sys.stdout = sys.stderr  # user prints must not reach the protocol stream

SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", ".env", "node_modules", "__pycache__", "site-packages",
             ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build", "dist", "tests", "test",
             "migrations", "alembic", ".pgadmin"}


def emit(event: str, **data: Any) -> None:
    _PROTOCOL.write(json.dumps({"event": event, **data}, default=str) + "\n")
    _PROTOCOL.flush()


def describe_import_error(module: str, exc: BaseException) -> dict[str, Any]:
    """An import failure as {module, error, hint} in plain words."""
    error = f"{type(exc).__name__}: {exc}"
    hint = "Fix the error in your project, or set PGADMIN_SQLALCHEMY_BASE=module:Base to import only the models module."
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or str(exc)
        error = f"module '{missing}' not found"
        hint = (f"install your project's requirements into PGADMIN_PROJECT_PYTHON ({sys.executable}), "
                "or set PGADMIN_PROJECT_PYTHON to your venv's python")
    elif isinstance(exc, SyntaxError):
        error = f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
        hint = f"fix the syntax error at {exc.filename}:{exc.lineno}"
    elif isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and exc.args[0].isupper():
        error = f"missing environment variable {exc.args[0]!r}"
        hint = (f"set {exc.args[0]} in the tool's environment: the runner inherits it "
                "(in docker-compose, add it to the sidecar's environment)")
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    return {"module": module, "error": error, "hint": hint, "where": where}


