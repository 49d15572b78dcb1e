"""The audit service: every write path calls ``record`` (who, what, before/after, outcome)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from core.logging import scrub
from core.models import AuditEntry


def client_ip(request: HttpRequest | Any | None) -> str | None:
    """The client's address (REMOTE_ADDR; a proxy's X-Forwarded-For is not trusted by default)."""
    if request is None:
        return None
    meta = getattr(request, "META", {})
    return meta.get("REMOTE_ADDR") or None


def record(request: HttpRequest | Any | None, action: str, target: str = "", *, before: Any = None,
           after: Any = None, outcome: str = AuditEntry.Outcome.OK, message: str = "",
           user: Any = None, username: str = "") -> AuditEntry:
    """Write one audit entry. ``request`` gives the user and IP; ``user`` overrides it."""
    if user is None and request is not None:
        user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return AuditEntry.objects.create(
        user=user,
        username=username or (user.get_username() if user else ""),
        action=action,
        target=target[:500],
        before=before,
        after=after,
        outcome=outcome,
        message=scrub(message)[:5000],
        ip=client_ip(request),
    )
