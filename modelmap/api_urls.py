"""API routes of `modelmap` (mounted under /api/)."""

from django.urls import path

from modelmap import api

urlpatterns = [
    path("models", api.ModelsView.as_view(), name="api-models"),
    path("models/<str:name>", api.ModelDetailView.as_view(), name="api-model"),
    path("models/<str:name>/relationships", api.ModelRelationshipsView.as_view(), name="api-model-relationships"),
    path("erd", api.ErdView.as_view(), name="api-erd"),
    path("erd/positions", api.ErdPositionsView.as_view(), name="api-erd-positions"),
]
