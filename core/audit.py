"""The audit service: every write path calls ``record`` (who, what, before/after, outcome).

The request being served is kept in a context variable (set by ``core.middleware``), so that a
check deep in a service — ``core.roles.require`` refusing an action — can audit the refusal with
the user's address without every caller passing the request down.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest

from core.logging import scrub
from core.models import AuditEntry
from pgadmin_site.proxies import valid_ip

_current_request: ContextVar[Any] = ContextVar("pgadmin_current_request", default=None)


def set_current_request(request: Any) -> Any:
    """Remember the request this thread/task serves; returns the token to reset it."""
    return _current_request.set(request)


def reset_current_request(token: Any) -> None:
    _current_request.reset(token)


def current_request() -> Any:
    """The request being served, or None (management commands, background work)."""
    return _current_request.get()


def client_ip(request: HttpRequest | Any | None) -> str | None:
    """The client's address as a valid IP, or None.

    REMOTE_ADDR is the TCP peer, or the forwarded client when the peer is one of
    PGADMIN_TRUSTED_PROXIES (pgadmin_site/proxies.py); anything that is not an IP is dropped.
    """
    if request is None:
        return None
    meta = getattr(request, "META", {})
    return valid_ip(meta.get("REMOTE_ADDR"))


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


def visible_entries(user: Any) -> Any:
    """The audit entries ``user`` may read: all for admins, their own for everyone else.

    Viewers must not read other people's actions (an admin's write-mode SQL, the users they
    created); their own history is theirs to see.
    """
    from core.roles import can

    entries = AuditEntry.objects.all()
    return entries if can(user, "manage_users") else entries.filter(user=user)
