"""API routes of `sqlconsole` (mounted under /api/). /api/database/connection lives in core."""

from django.urls import path

from sqlconsole import api

urlpatterns = [
    path("database/query", api.QueryView.as_view(), name="api-sql-query"),
    path("database/query/cancel", api.CancelView.as_view(), name="api-sql-cancel"),
    path("database/query/more", api.MoreView.as_view(), name="api-sql-more"),
    path("database/stats", api.StatsView.as_view(), name="api-sql-stats"),
    path("database/schema", api.SchemaView.as_view(), name="api-sql-schema"),
    path("database/history", api.HistoryView.as_view(), name="api-sql-history"),
    path("database/saved", api.SavedView.as_view(), name="api-sql-saved"),
    path("database/saved/<int:saved_id>", api.SavedDetailView.as_view(), name="api-sql-saved-detail"),
]
