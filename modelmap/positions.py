"""Saved ER-diagram positions: read, merge and reset one user's {table: {x, y}} for this project.

The project is identified by PGADMIN_PROJECT_DIR, so two projects served from one internal DB keep
their layouts apart. Positions are a preference (no audit entry); bad input is a 400 with a hint.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings

from core.exceptions import BadRequest
from modelmap.models import ErdLayout

MAX_TABLES = 5000
LIMIT = 1_000_000.0


def project_key() -> str:
    return str(settings.PROJECT_DIR)


def load(user: Any) -> dict[str, dict[str, float]]:
    """The user's saved positions ({} when none or not logged in)."""
    if not getattr(user, "is_authenticated", False):
        return {}
    row = ErdLayout.objects.filter(user=user, project=project_key()).first()
    return dict(row.positions) if row else {}


def _clean(body: Any) -> dict[str, dict[str, float] | None]:
    hint = 'Send {"schema.table": {"x": 120, "y": 80}, ...}; null for a table forgets its position.'
    if not isinstance(body, dict) or not body:
        raise BadRequest("Expected a JSON object of table positions.", hint=hint)
    if len(body) > MAX_TABLES:
        raise BadRequest(f"At most {MAX_TABLES} tables per request.", hint=hint)
    out: dict[str, dict[str, float] | None] = {}
    for table, xy in body.items():
        if not isinstance(table, str) or not 0 < len(table) <= 300:
            raise BadRequest("Table names must be 1–300 characters.", hint=hint)
        if xy is None:
            out[table] = None
            continue
        if not isinstance(xy, dict) or set(xy) != {"x", "y"}:
            raise BadRequest(f"Position of {table!r} must be {{x, y}}.", hint=hint)
        values = []
        for key in ("x", "y"):
            v = xy[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > LIMIT:
                raise BadRequest(f"{key} of {table!r} must be a number within ±{LIMIT:.0f}.", hint=hint)
            values.append(round(float(v), 1))
        out[table] = {"x": values[0], "y": values[1]}
    return out


def merge(user: Any, body: Any) -> dict[str, dict[str, float]]:
    """Lay ``body`` over the saved positions and return them all."""
    changes = _clean(body)
    row, _ = ErdLayout.objects.get_or_create(user=user, project=project_key())
    positions = dict(row.positions)
    for table, xy in changes.items():
        if xy is None:
            positions.pop(table, None)
        else:
            positions[table] = xy
    if len(positions) > MAX_TABLES:
        raise BadRequest(f"At most {MAX_TABLES} saved positions.", hint="Reset the layout first.")
    row.positions = positions
    row.save()
    return positions


def reset(user: Any) -> None:
    ErdLayout.objects.filter(user=user, project=project_key()).delete()
