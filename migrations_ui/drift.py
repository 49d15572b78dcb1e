"""Drift: the differences between the project's models and the live database.

``compute_drift()`` is the one entry point (the dashboard and the model map call it too); it
never raises. It runs the child task ``drift.compare`` (Alembic autogenerate's comparison with
the project's own env.py and ``target_metadata``) and returns::

    {"ok": bool, "error": {"message", "hint"} | None,
     "differences": [{"kind", "schema", "table", "column", "detail"}],
     "script": str}

``kind`` is Alembic's: ``add_*`` means in the models but not in the database, ``remove_*`` in
the database but not in the models, ``modify_*`` a column that differs. ``script`` is the body
autogenerate would write into a new revision's ``upgrade()`` (shown for copying; the tool never
writes into the project).
"""

from __future__ import annotations

from typing import Any

from core.exceptions import AppError
from core.runner import RunnerError


def compute_drift() -> dict[str, Any]:
    """Models vs database as autogenerate sees it (see the module docstring for the shape)."""
    from migrations_ui import services

    try:
        result = services.run_child_task("drift.compare", {"expect": services.target_identity()})
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
    }


def _failed(message: str, hint: str) -> dict[str, Any]:
    return {"ok": False, "error": {"message": message, "hint": hint}, "differences": [], "script": ""}


def summary(drift: dict[str, Any]) -> dict[str, int]:
    """Counts by kind (for a badge)."""
    counts: dict[str, int] = {}
    for d in drift["differences"]:
        counts[d["kind"]] = counts.get(d["kind"], 0) + 1
    return counts
