"""The pure facts of roles: the three roles, the capabilities each grants, a user's role, ``can``.

Split from ``core.roles`` (whose ``require`` audits refusals) so that ``core.target``, ``core.audit``
and ``core.reader_role`` can ask what a user may do without importing the audit: no import cycle.
``core.roles`` re-exports every name here; the rest of the code base imports them from there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group

ROLES = ("viewer", "editor", "admin")
CAPABILITIES = {
    "viewer": ["view_target"],
    "editor": ["view_target", "write_rows"],
    "admin": ["view_target", "write_rows", "run_migrations", "write_sql", "manage_users"],
}
# Capabilities that write to the target database: PGADMIN_READ_ONLY=1 refuses them for everyone.
TARGET_WRITES = {"write_rows", "run_migrations", "write_sql"}


def role_of(user: Any) -> str | None:
    """The highest role of a user (superusers are admins), None for anonymous/disabled/no role."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    # asked on every target connection of a request (core.target reads viewers through the reader
    # role): one groups query per user object, forgotten by set_role()
    cached = getattr(user, "_pgadmin_role", _UNSET)
    if cached is _UNSET:
        cached = assigned_role(user)
        user._pgadmin_role = cached
    return cached if isinstance(cached, str) else None


_UNSET = object()


def assigned_role(user: Any) -> str | None:
    """The role a user holds, even while disabled (for the users page)."""
    if user.is_superuser:
        return "admin"
    names = set(user.groups.values_list("name", flat=True))
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def set_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))
    user.__dict__.pop("_pgadmin_role", None)


def can(user: Any, capability: str) -> bool:
    """True when the user's role grants ``capability`` (and PGADMIN_READ_ONLY does not forbid it)."""
    if capability in TARGET_WRITES and settings.READ_ONLY:
        return False
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(f"core.{capability}")
