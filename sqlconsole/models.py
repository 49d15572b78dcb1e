"""The console's own tables (internal DB): per-user query history and saved queries."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class QueryHistory(models.Model):
    """One executed statement: who, when, how long, how many rows, how it ended."""

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"
        CANCELLED = "cancelled", "cancelled"
        TIMEOUT = "timeout", "timeout"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sql_history")
    sql = models.TextField()
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.FloatField(default=0)
    rows = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    error = models.TextField(blank=True)
    mode = models.CharField(max_length=5, default="read")  # read | write
    explain = models.BooleanField(default=False)
    # the target it ran on (core.target.Target.name)
    target_name = models.CharField(max_length=100, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "started_at"])]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.user_id} {self.outcome}: {self.sql[:60]}"


class SavedQuery(models.Model):
    """A starred query with a name; ``shared`` ones are visible (read-only) to every user."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queries")
    name = models.CharField(max_length=200)
    sql = models.TextField()
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="sqlconsole_saved_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id}{', shared' if self.shared else ''})"


class RunningQuery(models.Model):
    """A console statement running now, shared through the internal DB so any instance can cancel it.

    Written only when the internal DB is PostgreSQL (several instances share it); ``registry``
    deletes the row before the connection goes back to its pool, and a cancel from another
    instance holds the row's lock while it signals the pid, so the signal never reaches a pooled
    connection that serves someone else.
    """

    query_id = models.CharField(max_length=64, unique=True)
    user_id = models.BigIntegerField()
    pid = models.IntegerField()
    reader = models.BooleanField(default=False)  # ran as the reader role: cancel with the same role
    instance = models.CharField(max_length=32)
    # where the pid lives: cancel on that target
    target_name = models.CharField(max_length=100, blank=True, default="", db_default="")
    started_at = models.DateTimeField(auto_now_add=True)
    cancelled_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"{self.query_id} (user {self.user_id}, pid {self.pid}, on {self.instance})"
