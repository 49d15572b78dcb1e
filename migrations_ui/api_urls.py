"""API routes of `migrations_ui` (mounted under /api/)."""

urlpatterns: list = []
