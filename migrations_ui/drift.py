"""Drift: the differences between the project's models and the live database.

``compute_drift()`` is the one entry point (the dashboard and the model map call it too); it
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
"""

from __future__ import annotations

from typing import Any

from core.exceptions import AppError
from core.runner import RunnerError


def compute_drift() -> dict[str, Any]:
    """Models vs database as autogenerate sees it (see the module docstring for the shape)."""
    from migrations_ui import services

    try:
        from django.conf import settings

        result = services.run_child_task("drift.compare", {"expect": services.target_identity(),
                                                           "sqlalchemy_base": settings.SQLALCHEMY_BASE})
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
