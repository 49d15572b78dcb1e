"""Roles and capabilities: viewer (read), editor (row writes), admin (migrations, users).

A role is a Django group holding capability permissions. ``require(user, capability)`` is the
one check every write path calls (views and API alike); it also enforces ``PGADMIN_READ_ONLY=1``,
which removes every write to the target whatever the role. The plain facts (``ROLES``, ``role_of``,
``can``) live in ``core.capabilities``, which imports no audit, so the target and the audit can ask
them without an import cycle; they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from rest_framework.permissions import BasePermission

from core import request_context

# The role facts (core.capabilities, which imports no audit), re-exported: callers import them from here.
from core.capabilities import CAPABILITIES as CAPABILITIES
from core.capabilities import ROLES as ROLES
from core.capabilities import TARGET_WRITES as TARGET_WRITES
from core.capabilities import assigned_role as assigned_role
from core.capabilities import can as can
from core.capabilities import role_of as role_of
from core.capabilities import set_role as set_role
from core.exceptions import Forbidden, ReadOnlyMode

_NEEDED_ROLE = {"view_target": "viewer", "write_rows": "editor", "run_migrations": "admin",
                "write_sql": "admin", "manage_users": "admin"}

User = AbstractBaseUser | AnonymousUser


def ensure_roles(**_: Any) -> None:
    """Create the three groups with their permissions (idempotent; runs after migrate)."""
    for role, codenames in CAPABILITIES.items():
        group, _created = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="core", codename__in=codenames)
        group.permissions.set(perms)


def require(user: Any, capability: str) -> None:
    """Raise ReadOnlyMode / Forbidden unless the user may do ``capability``; refusals are audited."""
    if capability in TARGET_WRITES and settings.READ_ONLY:
        _audit_refusal(user, capability, "read-only mode (PGADMIN_READ_ONLY=1)")
        raise ReadOnlyMode()
    if not can(user, capability):
        needed = _NEEDED_ROLE.get(capability, "admin")
        message = f"This needs the {needed} role; you are {role_of(user) or 'without a role'}."
        _audit_refusal(user, capability, message)
        raise Forbidden(message, hint=f"Ask an admin to give you the {needed} role.")


def _audit_refusal(user: Any, capability: str, reason: str) -> None:
    # Audited here, at the one check every path calls, so no refused view or endpoint is missed.
    from core import audit
    from core.models import AuditEntry

    request = request_context.current_request()
    where = f"{request.method} {request.path}" if request is not None else ""
    audit.record(request, "refused", f"{capability} {where}".strip(), outcome=AuditEntry.Outcome.DENIED,
                 message=reason, user=user if getattr(user, "is_authenticated", False) else None)


class HasCapability(BasePermission):
    """DRF permission: ``permission_classes = [HasCapability.of("write_rows")]``.

    Its ``view_target`` form is the API's default (``core.permissions.ViewTarget``):
    a logged-in user without a role reads nothing unless an endpoint opts out with ``Authenticated``.
    """

    capability = "view_target"

    @classmethod
    def of(cls, capability: str) -> type[HasCapability]:
        return type(f"Has_{capability}", (cls,), {"capability": capability})

    def has_permission(self, request: Any, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False  # DRF answers 401 with the login hint
        require(request.user, self.capability)  # raises with a message and a hint
        return True


class Authenticated(BasePermission):
    """DRF permission for the few endpoints any logged-in user may use, role or not (me, tokens, logout)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(getattr(request.user, "is_authenticated", False))


ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

# The attribute LoginRequiredMiddleware reads on every HTML view: the capability it checks before the
# view runs ("view_target" when a view says nothing), or None for the pages of one's own account.
CAPABILITY_ATTR = "pgadmin_capability"
DEFAULT_CAPABILITY = "view_target"


def capability(name: str) -> Callable[[ViewFunc], ViewFunc]:
    """HTML view decorator: ``@capability("run_migrations")`` — checked by the middleware before the view.

    Views that say nothing need ``view_target``; the check holds even when a view forgets its own
    ``require()`` call (defence in depth: the services check again at the source).
    """
    if name not in _NEEDED_ROLE:
        raise ValueError(f"unknown capability {name!r}")

    def mark(view: ViewFunc) -> ViewFunc:
        setattr(view, CAPABILITY_ATTR, name)
        return view
    return mark


def no_role_needed(view: ViewFunc) -> ViewFunc:
    """HTML view decorator for one's own account pages (a logged-in user without a role still has those)."""
    setattr(view, CAPABILITY_ATTR, None)
    return view


def view_capability(view: Callable[..., Any]) -> str | None:
    """The capability an HTML view needs (see ``capability``); unwraps Django's decorator chain."""
    func: Any = view
    while func is not None:
        if hasattr(func, CAPABILITY_ATTR):
            return getattr(func, CAPABILITY_ATTR)
        func = getattr(func, "__wrapped__", None)
    return DEFAULT_CAPABILITY
