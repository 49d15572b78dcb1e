"""The tool's record of migration runs (internal DB): who, when, what, outcome, log, backup."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Run(models.Model):
    """One upgrade or downgrade started from the UI or the API."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    class Kind(models.TextChoices):
        UPGRADE = "upgrade", "upgrade"
        DOWNGRADE = "downgrade", "downgrade"
        RESTORE = "restore", "restore"
        STAMP = "stamp", "stamp"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=200)  # what was asked: "heads", "+1", "-1", "base", a revision
    database = models.CharField(max_length=300, blank=True)  # host:port/db of the target at the time
    # which target database the run works on (core.target.Target.name): execution resolves it
    # db_default: an instance of the previous version (a rolling upgrade) inserts rows without this column.
    target_name = models.CharField(max_length=100, blank=True, default="", db_default="", db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    from_revisions = models.JSONField(default=list)
    to_revisions = models.JSONField(null=True, blank=True)  # re-read from the version table afterwards
    backup_requested = models.BooleanField(default=True)
    backup_path = models.CharField(max_length=500, blank=True)
    backup_bytes = models.BigIntegerField(null=True, blank=True)
    backup_ms = models.FloatField(null=True, blank=True)
    migrate_ms = models.FloatField(null=True, blank=True)
    steps = models.JSONField(default=list)  # [{revision, direction, status, duration_ms}]
    post_check = models.JSONField(null=True, blank=True)  # post-run check of what the run left behind
    error = models.TextField(blank=True)
    hint = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    # A cancel is a row update, not a message to a process: whichever instance executes the run sees it
    # (the job engine polls these while the run works) and kills its child (``migrations_ui.jobs``).
    cancel_requested_by = models.CharField(max_length=150, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # Who executes the run (``migrations_ui.jobs``): "web pid 41 on host" (the instance that accepted it) or
    # "worker pid 57 on host" (``manage.py worker``), and its heartbeat, written while it executes the run.
    # A run whose heartbeat stopped and whose sessions on the target are gone is failed by the reaper.
    executor = models.CharField(max_length=200, blank=True)
    executor_pid = models.IntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The job's payload, stored only when the run is queued for a worker (PGADMIN_JOBS=worker).
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} {self.kind} {self.target} {self.status}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds() * 1000, 1)
        return None


class JobWorker(models.Model):
    """A live ``manage.py worker`` process (PGADMIN_JOBS=worker): its heartbeat tells the web whether any is alive."""

    name = models.CharField(max_length=200, primary_key=True)  # "worker pid 57 on host"
    pid = models.IntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)
    run_id = models.IntegerField(null=True, blank=True)  # the run it executes now

    def __str__(self) -> str:
        return f"{self.name} (seen {self.seen_at:%H:%M:%S})"


class RunLine(models.Model):
    """One line of a run's log, in order (``seq``); ``kind`` says what it is (log, sql, error...)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20, default="log")
    text = models.TextField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="runline_run_seq_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.seq} {self.kind}: {self.text[:60]}"

    def as_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "at": self.at.isoformat(), "kind": self.kind, "text": self.text}


class Preference(models.Model):
    """A tool setting chosen in the UI that must survive a restart (e.g. the alembic.ini section)."""

    key = models.CharField(max_length=100, primary_key=True)
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    @classmethod
    def get(cls, key: str, default: str | None = None) -> str | None:
        """The stored value, or ``default`` (also when the internal DB is not migrated yet)."""
        from django.db import DatabaseError

        try:
            row = cls.objects.filter(key=key).values_list("value", flat=True).first()
        except DatabaseError:
            return default
        return default if row is None else row

    @classmethod
    def put(cls, key: str, value: str) -> None:
        cls.objects.update_or_create(key=key, defaults={"value": value})
