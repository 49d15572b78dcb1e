"""Named user actions of `core` (called by the HTML views and the API alike; each audits)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest

from core import accounts, audit
from core.audit import client_ip
from core.exceptions import AppError, BadRequest, Throttled
from core.models import AuditEntry
from core.roles import ROLES, require, role_of, set_role


def do_authenticate(request: HttpRequest, username: str, password: str) -> Any:
    """Check credentials with throttling; audit failures. Returns the user or raises AppError."""
    username = (username or "").strip()[:150]
    ip = client_ip(request)
    if accounts.is_locked_out(username, ip):
        audit.record(request, "login.locked", username, outcome=AuditEntry.Outcome.DENIED,
                     username=username, message="too many failed logins")
        raise Throttled("Too many failed logins for this user from your address.",
                        hint="Wait 15 minutes, or ask an admin to reset your password.")
    user = authenticate(request, username=username, password=password)
    if user is None:
        audit.record(request, "login.failed", username, outcome=AuditEntry.Outcome.FAILED,
                     username=username, message="wrong username or password")
        raise AppError("Wrong username or password.", code="invalid_credentials", status=400,
                       hint="Check both; the first-start admin logs in with the link printed in the console.")
    return user


def do_create_user(request: HttpRequest, username: str, role: str, password: str = "") -> Any:
    """Create a user with a role (admin only)."""
    require(request.user, "manage_users")
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise BadRequest("A username of 1 to 150 characters is required.", hint="e.g. bob")
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}.", hint=f"Choose one of {', '.join(ROLES)}.")
    if get_user_model().objects.filter(username=username).exists():
        raise BadRequest(f"The user {username!r} exists already.", hint="Change their role instead.", code="exists")
    if password and len(password) < 8:
        raise BadRequest("The password is shorter than 8 characters.", hint="Use a longer password.")
    user = accounts.create_user(username, role, password or None)
    audit.record(request, "user.create", username, after={"username": username, "role": role})
    return user


def do_set_role(request: HttpRequest, username: str, role: str) -> Any:
    """Change a user's role (admin only; an admin cannot demote themselves)."""
    require(request.user, "manage_users")
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}.", hint=f"Choose one of {', '.join(ROLES)}.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise AppError(f"No user {username!r}.", code="not_found", status=404, hint="Check the name.")
    if user == request.user and role != "admin":
        raise BadRequest("You cannot remove your own admin role.", hint="Ask another admin to do it.")
    before = role_of(user)
    set_role(user, role)
    audit.record(request, "user.role", username, before={"role": before}, after={"role": role})
    return user
