"""Pages of `databrowser` (filled by the data-browser feature)."""

from django.urls import path

from core.views import placeholder

urlpatterns = [
    path("data", placeholder, {"feature": "data", "title": "Data"}, name="data"),
]
