"""API routes of `databrowser` (mounted under /api/)."""

urlpatterns: list = []
