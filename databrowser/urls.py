"""Pages of `databrowser` (filled by the data-browser and SQL-console features)."""

from django.urls import path

from core.views import placeholder

urlpatterns = [
    path("data", placeholder, {"feature": "data", "title": "Data"}, name="data"),
    path("sql", placeholder, {"feature": "sql", "title": "SQL console"}, name="sql"),
]
