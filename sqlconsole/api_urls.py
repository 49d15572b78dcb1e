"""API routes of `sqlconsole` (mounted under /api/)."""

urlpatterns: list = []
