"""Accounts: the bootstrap admin, one-time login links, and login throttling.

First start creates an admin. With PGADMIN_ADMIN_USERNAME/PGADMIN_ADMIN_PASSWORD it uses those; otherwise it
creates ``admin`` without a usable password and prints a one-time login link at every start
(Jupyter-style). Failed logins are audited; after PGADMIN_LOGIN_FAILURE_LIMIT failures for the same
username from the same IP within PGADMIN_LOGIN_LOCKOUT_SECONDS, further attempts are refused until the
window passes. Each attempt first claims a slot with one atomic conditional UPDATE of a counter row
(``LoginThrottle``) and only then checks the password, so parallel attempts cannot all slip past
the limit; the row lives in the internal database, so the limit holds across instances sharing it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.models import LoginThrottle, LoginToken
from core.roles import ROLES, set_role

LINK_LIFETIME = timedelta(hours=24)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_bootstrap_admin() -> tuple[Any, bool]:
    """(admin user, uses_login_link). Creates or updates the bootstrap admin from the env."""
    user_model = get_user_model()
    username = settings.ADMIN_USERNAME or "admin"
    user, created = user_model.objects.get_or_create(username=username, defaults={"is_staff": True})
    if settings.ADMIN_PASSWORD:
        if created or not user.check_password(settings.ADMIN_PASSWORD):
            user.set_password(settings.ADMIN_PASSWORD)
            user.save()
        set_role(user, "admin")
        return user, False
    if created:
        user.set_unusable_password()
        user.save()
    set_role(user, "admin")
    return user, not user.has_usable_password()


def create_login_link(user: Any) -> str:
    """A new one-time token for ``user`` (the raw token; only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    LoginToken.objects.create(user=user, token_hash=_hash(token), expires_at=timezone.now() + LINK_LIFETIME)
    return token


def consume_login_link(token: str) -> Any | None:
    """The user of a valid unused token (marking it used), else None."""
    if not token or len(token) > 200:
        return None
    entry = LoginToken.objects.select_related("user").filter(token_hash=_hash(token)).first()
    if entry is None or entry.used_at is not None or entry.expires_at < timezone.now() or not entry.user.is_active:
        return None
    # Conditional update: two concurrent uses of the same link cannot both succeed.
    if LoginToken.objects.filter(pk=entry.pk, used_at__isnull=True).update(used_at=timezone.now()) != 1:
        return None
    return entry.user


def claim_login_attempt(username: str, ip: str | None) -> bool:
    """Count one attempt for (username, ip) before its password is checked; False = locked out.

    One UPDATE does test-and-increment (``failures < limit`` or the window has passed), so it is
    atomic on SQLite (one writer at a time) and on PostgreSQL (the row lock re-checks the WHERE):
    with any number of parallel attempts, at most the limit get True.
    """
    key = {"username": username[:150], "ip": ip or ""}
    now = timezone.now()
    since = now - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    LoginThrottle.objects.get_or_create(**key, defaults={"last_attempt_at": now})
    claimed = (LoginThrottle.objects.filter(**key)
               .filter(Q(failures__lt=settings.LOGIN_FAILURE_LIMIT) | Q(last_attempt_at__lt=since))
               .update(failures=Case(When(last_attempt_at__lt=since, then=Value(1)), default=F("failures") + 1),
                       last_attempt_at=now))
    return claimed == 1


def login_succeeded(username: str, ip: str | None) -> None:
    """A right password clears the failures counted for (username, ip)."""
    LoginThrottle.objects.filter(username=username[:150], ip=ip or "").update(failures=0)


def active_admins() -> Any:
    """Active users with the admin role (superusers included)."""
    return get_user_model().objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(groups__name="admin")).distinct()


def create_user(username: str, role: str, password: str | None = None) -> Any:
    """Create (or update) a user with a role; used by `manage.py adduser` and the users page."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
    elif created or not user.has_usable_password():
        # A new row's password is "", which Django counts as usable: mark it unusable, so pages say
        # "login link only" and /account asks for no current password.
        user.set_unusable_password()
    user.save()
    set_role(user, role)
    return user
