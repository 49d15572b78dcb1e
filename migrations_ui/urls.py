"""Pages of `migrations_ui` (filled by the migrations feature)."""

from django.urls import path

from core.views import placeholder

urlpatterns = [
    path("alembic", placeholder, {"feature": "alembic", "title": "Migrations"}, name="alembic"),
]
