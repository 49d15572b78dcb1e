"""The tool's own tables (internal DB): the audit log and one-time login links.

Roles are Django groups (viewer, editor, admin) holding the capability permissions declared
on ``AuditEntry`` below; ``core.roles`` creates them after every migrate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    """One write or security event: who, when, what, on what, before/after, outcome, from where."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"
        DENIED = "denied", "denied"
        PENDING = "pending", "pending"  # written before an autocommit console run; completed after it

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True, db_index=True)  # kept if the user is deleted
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=500, blank=True)  # the object acted on (a table, a revision, a user)
    # the target database the action was on (core.target.Target.name); empty for tool-level events
    # (logins, users, tokens)
    target_name = models.CharField(max_length=100, blank=True, default="", db_default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    message = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "username", "ip", "created_at"])]
        permissions = [
            ("view_target", "Browse the target database (viewer)"),
            ("write_rows", "Create, edit and delete rows (editor)"),
            ("run_migrations", "Run migrations, backups and restores (admin)"),
            ("write_sql", "Unlock write mode in the SQL console (admin)"),
            ("manage_users", "Manage users and roles (admin)"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.target} {self.outcome}"


class LoginToken(models.Model):
    """A one-time login link (Jupyter-style): only the SHA-256 of the token is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"login link for {self.user} (expires {self.expires_at:%Y-%m-%d %H:%M})"


class ApiToken(models.Model):
    """An API token (``Authorization: Token <key>``): only the SHA-256 of the key is stored.

    The key is 256 random bits, so a fast hash is enough (nothing to brute-force); the first
    characters (``prefix``) are kept in clear to find the row and to show the token in lists.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user} ({self.name or 'unnamed'})"


class LoginThrottle(models.Model):
    """Failed-login counter per (username, client address), updated with one atomic UPDATE.

    A login attempt first claims a slot (``failures + 1`` only while under the limit), then checks
    the password: however many attempts run in parallel, at most the limit reach the check.
    """

    username = models.CharField(max_length=150)
    ip = models.CharField(max_length=45, blank=True)  # a valid address or "" when unknown
    failures = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["username", "ip"], name="login_throttle_user_ip")]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip or '?'}: {self.failures}"
