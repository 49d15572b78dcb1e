"""Template context shared by every page: version, role, read-only flag, navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from core import roles, target

NAV = [
    ("dashboard", "Dashboard", "/", "g d"),
    ("alembic", "Migrations", "/alembic", "g m"),
    ("models", "Models", "/models", "g o"),
    ("erd", "ER diagram", "/er-diagram", "g e"),
    ("data", "Data", "/data", "g b"),  # b for browse: "t" alone toggles the theme
    ("sql", "SQL", "/sql", "g s"),
    ("audit", "Audit", "/audit", "g a"),
]


def tool(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    try:  # the request's target (resolved once per request): the header names what the page works on
        on = target.for_request(request) if target.has_target() else None
        where = on.describe() if on is not None else "not configured"
    except Exception:  # noqa: BLE001 - a bad URL must not break every page
        where = "invalid DATABASE_URL"
    return {
        "tool_version": settings.VERSION,
        "nav_items": NAV,
        "read_only": settings.READ_ONLY,
        "user_role": roles.role_of(user) if user is not None else None,
        "can_manage_users": roles.can(user, "manage_users") if user is not None else False,
        "target_label": where,
        "debug": settings.DEBUG,
    }
