"""Pages of `modelmap`: the model cards and the ER diagram."""

from django.urls import path

from modelmap import views

urlpatterns = [
    path("models", views.models_page, name="models"),
    path("models/part", views.models_part, name="models-part"),
    path("er-diagram/ready", views.erd_ready, name="er-diagram-ready"),
    path("er-diagram", views.erd_page, name="er-diagram"),
]
