"""Drift: the differences between the project's models and the live database.

``compute_drift()`` is the one entry point (the dashboard and the model map call it too, as ``services.compute_drift``); it
never raises. It runs the child task ``drift.compare`` (Alembic autogenerate's comparison with
the project's own env.py and ``target_metadata``) and returns::

    {"ok": bool, "error": {"message", "hint"} | None,
     "differences": [{"kind", "schema", "table", "column", "detail"}],
     "script": str,
     "fallback": None | {"message", "hint", "found_by", "base", "models", "tables", "reason", "errors"}}

``kind`` is Alembic's: ``add_*`` means in the models but not in the database, ``remove_*`` in
the database but not in the models, ``modify_*`` a column that differs. ``script`` is the body
autogenerate would write into a new revision's ``upgrade()`` (shown for copying; the tool never
writes into the project). ``fallback`` is set when env.py's ``target_metadata`` is None or empty:
the child then compared with the models the model map discovers, and ``fallback.message`` says so.

The answer is cached (``core.cache``) under the project's Alembic setup, the target (``Target.cache_part``:
an answer for one target is never another's), the applied revisions
and the **schema fingerprint** of the database (``core.catalog``: any DDL, by a migration or by hand,
changes it), and validated by the files the model import loaded plus env.py and the ini. No time limit:
the answer changes exactly when one of those does. ``compute_drift(force=True)`` (``?refresh=1``) recomputes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from core import catalog, deps, project, target
from core.cache import Cache, Computed
from core.exceptions import AppError
from core.runner import RunnerError

_drift_cache = Cache("drift", max_entries=16)


def _key(on: target.Target) -> tuple[Any, ...]:
    """The explicit key: setup, interpreter, target, applied revisions, schema fingerprint (DB queries on ``on``)."""
    from migrations_ui import history as read_side  # not services (it offers drift: a cycle)

    payload = read_side.project_payload()
    applied = tuple(sorted(project.current_revisions(on=on) or ()))
    with target.connect(target=on) as conn:
        fingerprint = catalog.schema_fingerprint(conn)
    return ("drift", *read_side.payload_key(payload, on), settings.SQLALCHEMY_BASE, applied, fingerprint)


def _deps(on: target.Target) -> deps.Deps:
    """The model import's files (as the model map recorded them), env.py and the ini; else every .py file."""
    from migrations_ui import history as read_side  # not services (it offers drift: a cycle)

    payload = read_side.project_payload()
    ini = payload.get("alembic_ini")
    models = deps.model_files()  # recorded by the model map when it read the models (None: not installed/known)
    if models is None:
        models = deps.project_python(settings.PROJECT_DIR, skip=deps.MODEL_SKIP_DIRS)
    history = read_side.script_history_cached(on) or {}
    location = history.get("script_location")
    return models | deps.Deps.of([ini, str(Path(location) / "env.py") if location else None])


def compute_drift(force: bool = False, on: target.Target | None = None) -> dict[str, Any]:
    """Models vs target ``on``'s database (default ``current()``) as autogenerate sees it (see the module
    docstring for the shape); never raises."""
    try:
        on = on or target.current()
        key = _key(on)
    except AppError as exc:
        return _failed(exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - never raise to the caller (dashboard, model map)
        return _failed(f"{type(exc).__name__}: {exc}", "")

    def compute() -> Computed:
        assert on is not None
        result = _compare(on)
        # Only a real comparison is kept: a failure (no database, a timeout) is tried again next time.
        return Computed(result, _deps(on), store=result["ok"])

    found: dict[str, Any] = _drift_cache.get_or_compute(key, compute, force=force)
    return found


def drift_cached(on: target.Target | None = None) -> dict[str, Any] | None:
    """The cached comparison for target ``on`` (default ``current()``) when it still holds (files, schema
    and applied revisions unchanged), else None."""
    try:
        key = _key(on or target.current())
    except Exception:  # noqa: BLE001 - no database: nothing cached can hold; the fragment will say why
        return None
    found: dict[str, Any] | None = _drift_cache.peek(key)
    return found


def _compare(on: target.Target) -> dict[str, Any]:
    from migrations_ui import history as read_side  # not services (it offers drift: a cycle)

    try:
        result = read_side.run_child_task("drift.compare", {"expect": read_side.target_identity(on),
                                                           "sqlalchemy_base": settings.SQLALCHEMY_BASE}, on=on)
    except RunnerError as exc:
        return _failed(exc.message, exc.hint)
    except AppError as exc:
        return _failed(exc.message, exc.hint)
    except Exception as exc:  # noqa: BLE001 - never raise to the caller (dashboard, model map)
        return _failed(f"{type(exc).__name__}: {exc}", "")
    error = result.get("error")
    return {
        "ok": bool(result.get("ok")),
        "error": {"message": str(error.get("message", "")), "hint": str(error.get("hint", ""))} if error else None,
        "differences": list(result.get("differences") or []),
        "script": str(result.get("script") or ""),
        "fallback": _fallback(result.get("fallback")),
    }


def _fallback(note: Any) -> dict[str, Any] | None:
    if not isinstance(note, dict):
        return None
    return {"message": str(note.get("message", "")), "hint": str(note.get("hint", "")),
            "found_by": note.get("found_by"), "base": note.get("base"), "models": int(note.get("models") or 0),
            "tables": int(note.get("tables") or 0), "reason": str(note.get("reason", "")),
            "errors": list(note.get("errors") or [])}


def _failed(message: str, hint: str) -> dict[str, Any]:
    return {"ok": False, "error": {"message": message, "hint": hint}, "differences": [], "script": "",
            "fallback": None}


def summary(drift: dict[str, Any]) -> dict[str, int]:
    """Counts by kind (for a badge)."""
    counts: dict[str, int] = {}
    for d in drift["differences"]:
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    return counts
