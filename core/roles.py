"""Roles and capabilities: viewer (read), editor (row writes), admin (migrations, users).

A role is a Django group holding capability permissions. ``require(user, capability)`` is the
one check every write path calls (views and API alike); it also enforces ``PGADMIN_READ_ONLY=1``,
which removes every write to the target whatever the role.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from rest_framework.permissions import BasePermission

from core.exceptions import Forbidden, ReadOnlyMode

ROLES = ("viewer", "editor", "admin")
CAPABILITIES = {
    "viewer": ["view_target"],
    "editor": ["view_target", "write_rows"],
    "admin": ["view_target", "write_rows", "run_migrations", "write_sql", "manage_users"],
}
# Capabilities that write to the target database: PGADMIN_READ_ONLY=1 refuses them for everyone.
TARGET_WRITES = {"write_rows", "run_migrations", "write_sql"}
_NEEDED_ROLE = {"view_target": "viewer", "write_rows": "editor", "run_migrations": "admin",
                "write_sql": "admin", "manage_users": "admin"}

User = AbstractBaseUser | AnonymousUser


def ensure_roles(**_: Any) -> None:
    """Create the three groups with their permissions (idempotent; runs after migrate)."""
    for role, codenames in CAPABILITIES.items():
        group, _created = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="core", codename__in=codenames)
        group.permissions.set(perms)


def role_of(user: Any) -> str | None:
    """The highest role of a user (superusers are admins), None for anonymous/no role."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
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


def can(user: Any, capability: str) -> bool:
    """True when the user's role grants ``capability`` (and PGADMIN_READ_ONLY does not forbid it)."""
    if capability in TARGET_WRITES and settings.READ_ONLY:
        return False
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(f"core.{capability}")


def require(user: Any, capability: str) -> None:
    """Raise ReadOnlyMode / Forbidden unless the user may do ``capability``."""
    if capability in TARGET_WRITES and settings.READ_ONLY:
        raise ReadOnlyMode()
    if not can(user, capability):
        needed = _NEEDED_ROLE.get(capability, "admin")
        raise Forbidden(f"This needs the {needed} role; you are {role_of(user) or 'without a role'}.",
                        hint=f"Ask an admin to give you the {needed} role.")


class HasCapability(BasePermission):
    """DRF permission: ``permission_classes = [HasCapability.of("write_rows")]``."""

    capability = "view_target"

    @classmethod
    def of(cls, capability: str) -> type[HasCapability]:
        return type(f"Has_{capability}", (cls,), {"capability": capability})

    def has_permission(self, request: Any, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False  # DRF answers 401 with the login hint
        require(request.user, self.capability)  # raises with a message and a hint
        return True
