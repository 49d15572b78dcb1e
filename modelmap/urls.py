"""Pages of `modelmap` (filled by the model-map feature)."""

from django.urls import path

from core.views import placeholder

urlpatterns = [
    path("models", placeholder, {"feature": "models", "title": "Models"}, name="models"),
    path("er-diagram", placeholder, {"feature": "erd", "title": "ER diagram"}, name="er-diagram"),
]
