"""API routes of `core` (mounted under /api/)."""

from django.urls import path

from core import api

urlpatterns = [
    path("auth/token", api.TokenView.as_view(), name="api-token"),
    path("auth/tokens", api.TokensView.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>", api.TokenDetailView.as_view(), name="api-token-detail"),
    path("auth/logout", api.LogoutView.as_view(), name="api-logout"),
    path("health", api.HealthView.as_view(), name="api-health"),
    path("status", api.StatusView.as_view(), name="api-status"),
    path("me", api.MeView.as_view(), name="api-me"),
    path("users", api.UsersView.as_view(), name="api-users"),
    path("audit", api.AuditView.as_view(), name="api-audit"),
    path("database/connection", api.ConnectionView.as_view(), name="api-connection"),
]
