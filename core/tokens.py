"""API tokens: issued by POST /api/auth/token, stored hashed, expiring, revocable.

A token is ``pga_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored,
with an 8-character prefix to find the row and to name the token in lists; the key itself is
shown once, when issued. Tokens expire after PGADMIN_TOKEN_TTL (30 days by default), are revoked
one by one (``DELETE /api/auth/tokens/{id}``, the /account page), by ``POST /api/auth/logout``
(the token used for that call) and all at once when the user's password changes or the user is
disabled. ``TokenAuthentication`` keeps the contract ``Authorization: Token <key>``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from core.models import ApiToken

PREFIX = "pga_"
# A token's last use is written at most this often (not on every request).
_TOUCH_EVERY = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(user: Any, name: str = "", ttl_seconds: int | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``: (row, key). The key is never stored and cannot be shown again."""
    # Rows of tokens dead for a week go (the audit log keeps their story); live ones stay.
    week_ago = timezone.now() - timedelta(days=7)
    ApiToken.objects.filter(user=user).filter(Q(expires_at__lt=week_ago) | Q(revoked_at__lt=week_ago)).delete()
    key = PREFIX + secrets.token_urlsafe(32)
    ttl = settings.TOKEN_TTL_SECONDS if ttl_seconds is None else ttl_seconds
    token = ApiToken.objects.create(user=user, name=name.strip()[:100], prefix=key[len(PREFIX):][:8],
                                    key_hash=_digest(key), expires_at=timezone.now() + timedelta(seconds=ttl))
    return token, key


def find(key: str) -> ApiToken | None:
    """The live (unrevoked, unexpired) token with this key, else None."""
    if not key.startswith(PREFIX) or len(key) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(key)).first()
    if token is None or token.revoked_at is not None or token.expires_at <= timezone.now():
        return None
    return token


def live_tokens(user: Any) -> Any:
    """The user's tokens that still work, newest first."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())


def revoke(token: ApiToken) -> bool:
    """Revoke one token; False when it was revoked already."""
    return ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()) == 1


def revoke_all(user: Any) -> int:
    """Revoke every live token of ``user`` (password change, disabled user); how many."""
    return int(ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now()))


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF authentication by ``Authorization: Token <key>`` against the hashed, expiring tokens."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This user is disabled.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token
