"""The model map's own table (internal DB): each user's dragged ER-diagram positions per project.

Positions are a display preference of one user, not a write to the target database, so saving
them is not audited (the audit trail records changes to data, schema, runs and users).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ErdLayout(models.Model):
    """{table id: {x, y}} one user placed by hand on the ER diagram of one project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="erd_layouts")
    project = models.CharField(max_length=1000)
    positions = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="modelmap_erdlayout_user_project")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.project}: {len(self.positions)} tables"
