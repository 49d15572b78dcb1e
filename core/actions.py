"""Named user actions of `core` (called by the HTML views and the API alike; each audits)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from core import accounts, audit
from core.audit import client_ip
from core.exceptions import AppError, BadRequest, NotFound, Throttled
from core.models import AuditEntry
from core.roles import ROLES, require, role_of, set_role


def do_authenticate(request: HttpRequest, username: str, password: str) -> Any:
    """Check credentials with throttling; audit failures. Returns the user or raises AppError."""
    username = (username or "").strip()[:150]
    ip = client_ip(request)
    if not accounts.claim_login_attempt(username, ip):
        audit.record(request, "login.locked", username, outcome=AuditEntry.Outcome.DENIED,
                     username=username, message="too many failed logins")
        minutes = max(1, round(settings.LOGIN_LOCKOUT_SECONDS / 60))
        raise Throttled("Too many failed logins for this user from your address.",
                        hint=f"Wait {minutes} minute{'s' if minutes != 1 else ''}, or ask an admin to reset your password.")
    user = authenticate(request, username=username, password=password)
    if user is None:
        audit.record(request, "login.failed", username, outcome=AuditEntry.Outcome.FAILED,
                     username=username, message="wrong username or password")
        raise AppError("Wrong username or password.", code="invalid_credentials", status=400,
                       hint="Check both; the first-start admin logs in with the link printed in the console.")
    accounts.login_succeeded(username, ip)
    return user


def check_password_rules(password: str, user: Any = None) -> None:
    """Django's password validators (PGADMIN's AUTH_PASSWORD_VALIDATORS) as one BadRequest."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise BadRequest("The password is not accepted: " + " ".join(exc.messages),
                         hint="Use at least 8 characters, not a common password and not only digits.",
                         code="weak_password") from None


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
    if password:
        check_password_rules(password, get_user_model()(username=username))
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


def _other_user(request: HttpRequest, username: str) -> Any:
    require(request.user, "manage_users")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user {username!r}.", hint="Check the name on the users page.")
    return user


def do_change_own_password(request: HttpRequest, current: str, new: str, confirm: str) -> Any:
    """A user changes their own password (the current one first, unless they have none yet).

    The session stays logged in; other sessions and every API token of the user end.
    """
    user: Any = request.user
    if not getattr(user, "is_authenticated", False):
        raise AppError("Log in first.", code="not_authenticated", status=401, hint="Open /login.")
    if user.has_usable_password() and not user.check_password(current or ""):
        audit.record(request, "password.change", user.get_username(), outcome=AuditEntry.Outcome.FAILED,
                     message="wrong current password")
        raise BadRequest("The current password is wrong.", hint="Type the password you log in with.",
                         code="wrong_password")
    if new != confirm:
        raise BadRequest("The two new passwords differ.", hint="Type the same new password twice.")
    check_password_rules(new, user)
    user.set_password(new)
    user.save()  # core.signals revokes the user's API tokens
    update_session_auth_hash(request, user)
    audit.record(request, "password.change", user.get_username(), message="API tokens revoked")
    return user


def do_set_password(request: HttpRequest, username: str, new: str) -> Any:
    """An admin sets (resets) another user's password; the user's sessions and tokens end."""
    user = _other_user(request, username)
    check_password_rules(new, user)
    user.set_password(new)
    user.save()
    if user == request.user:
        update_session_auth_hash(request, user)
    audit.record(request, "user.password", username, message="password set by an admin; API tokens revoked")
    return user


def _refuse_last_admin(request: HttpRequest, user: Any, what: str) -> None:
    if user == request.user:
        raise BadRequest(f"You cannot {what} yourself.", hint="Ask another admin to do it.")
    if role_of(user) == "admin" and not accounts.active_admins().exclude(pk=user.pk).exists():
        raise BadRequest(f"You cannot {what} the last admin.", hint="Make another user admin first.")


def do_set_active(request: HttpRequest, username: str, active: bool) -> Any:
    """Disable (sessions and tokens end at once) or enable a user (admin only; never the last admin)."""
    user = _other_user(request, username)
    if not active:
        _refuse_last_admin(request, user, "disable")
    with transaction.atomic():
        before = user.is_active
        user.is_active = active
        user.save(update_fields=["is_active"])
    audit.record(request, "user.enable" if active else "user.disable", username,
                 before={"active": before}, after={"active": active})
    return user


def do_delete_user(request: HttpRequest, username: str) -> None:
    """Delete a user (admin only; never yourself, never the last admin). Their audit entries stay."""
    user = _other_user(request, username)
    _refuse_last_admin(request, user, "delete")
    before = {"username": username, "role": role_of(user), "active": user.is_active}
    user.delete()
    audit.record(request, "user.delete", username, before=before)


def do_revoke_token(request: HttpRequest, token_id: int) -> Any:
    """Revoke an API token: one's own, or anyone's for an admin. Audited."""
    from core import tokens
    from core.models import ApiToken
    from core.roles import can

    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or (token.user_id != request.user.pk and not can(request.user, "manage_users")):
        raise NotFound("No such token.", hint="List your tokens with GET /api/auth/tokens or on /account.")
    if not tokens.revoke(token):
        raise NotFound("This token was revoked already.", hint="List your live tokens on /account.")
    token.refresh_from_db()
    audit.record(request, "token.revoke", f"{token.name} ({tokens.PREFIX}{token.prefix}…)",
                 before={"user": token.user.get_username(), "id": token.pk})
    return token
