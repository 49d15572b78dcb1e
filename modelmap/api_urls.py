"""API routes of `modelmap` (mounted under /api/)."""

urlpatterns: list = []
