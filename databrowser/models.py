"""The data browser's own tables (internal DB): each user's grid column layout per table, and the
CSV imports (``ImportJob``, the file's pieces in ``ImportChunk``).

The layout (order, hidden columns, widths) is a display preference of one user, not a write to
the target database, so saving it is not audited (as the ER diagram's positions, see modelmap).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class ColumnPrefs(models.Model):
    """How one user arranges the grid of one table of one project.

    ``order``: column names, first to last (columns missing from it follow in table order);
    ``hidden``: column names not shown; ``widths``: {column name: width in CSS pixels}.
    Names that no longer exist (a migration dropped them) are ignored when read.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="column_prefs")
    project = models.CharField(max_length=1000)
    table = models.CharField(max_length=300)  # schema.table as in databrowser.refs (the URL segment)
    order = models.JSONField(default=list)
    hidden = models.JSONField(default=list)
    widths = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project", "table"],
                                               name="databrowser_columnprefs_user_project_table")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.table}: {len(self.order)} ordered, {len(self.hidden)} hidden"


def _new_id() -> str:
    return uuid.uuid4().hex


class ImportJob(models.Model):
    """One CSV import (``databrowser.importer``), kept here so that any instance serves any step.

    ``uploading``: a file still arriving (``ImportChunk`` rows; no user or table yet for a multipart
    body, whose owner is named when the job is created); then the steps ``mapping`` → ``validating``
    → ``invalid``/``valid`` → ``importing`` → ``done``, or ``failed``. While it validates or imports,
    ``instance`` names the process running it and ``heartbeat_at`` is written every half second with
    the progress; a running job whose heartbeat stopped is failed by the housekeeping pass.
    """

    RUNNING = ("validating", "importing")

    id = models.CharField(primary_key=True, max_length=32, default=_new_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="import_jobs")
    table = models.CharField(max_length=300, blank=True)  # the table's slug (databrowser.refs)
    target_name = models.CharField(max_length=200, blank=True)  # core.target.Target.name
    file_name = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(default=0)  # bytes of the file received so far
    delimiter = models.CharField(max_length=1, default=",")
    null_style = models.CharField(max_length=10, default="empty")
    headers = models.JSONField(default=list)
    samples = models.JSONField(default=list)
    mapping = models.JSONField(default=list)  # per CSV column: the target column, or None (skipped)
    notes = models.JSONField(default=dict)  # per target column: a type doubt from the samples
    mode = models.CharField(max_length=10, default="insert")
    state = models.CharField(max_length=12, default="uploading", db_index=True)
    phase = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0.0)
    rows = models.BigIntegerField(default=0)
    errors = models.JSONField(default=list)  # [{"row", "column", "message"}]
    truncated = models.BooleanField(default=False)
    would_update = models.BigIntegerField(default=0)
    written = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    hint = models.TextField(blank=True)
    instance = models.CharField(max_length=200, blank=True)  # the process running the validation or import
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"import {self.id} of {self.table or '?'}: {self.state}"

    @property
    def running(self) -> bool:
        return self.state in self.RUNNING

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "table": self.table, "state": self.state, "phase": self.phase,
                "progress": round(self.progress, 3), "file_name": self.file_name, "size": self.size,
                "delimiter": self.delimiter, "null_style": self.null_style, "mode": self.mode,
                "headers": self.headers,
                "mapping": [{"csv": h, "column": m} for h, m in zip(self.headers, self.mapping, strict=True)],
                "rows": self.rows, "errors": self.errors, "error_count": len(self.errors),
                "errors_truncated": self.truncated, "would_update": self.would_update, "written": self.written,
                "message": self.message, "hint": self.hint}


class ImportChunk(models.Model):
    """One piece (``importer_upload.PIECE``, 256 KB) of an import's file, in order of ``seq``; read back one at a time."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    seq = models.IntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="databrowser_importchunk_job_seq")]

    def __str__(self) -> str:
        return f"piece {self.seq} of import {self.job_id}"
