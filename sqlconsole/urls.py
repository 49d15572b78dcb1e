"""Pages of `sqlconsole` (filled by the SQL-console feature)."""

from django.urls import path

from core.views import placeholder

urlpatterns = [
    path("sql", placeholder, {"feature": "sql", "title": "SQL console"}, name="sql"),
]
