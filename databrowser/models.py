"""The data browser's own table (internal DB): each user's grid column layout per table.

The layout (order, hidden columns, widths) is a display preference of one user, not a write to
the target database, so saving it is not audited (as the ER diagram's positions, see modelmap).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
