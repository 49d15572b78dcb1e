"""WebSocket routes of `migrations_ui`: the live log of a run."""

from django.urls import path

from migrations_ui.consumers import RunLogConsumer

websocket_urlpatterns = [
    path("ws/alembic/runs/<int:run_id>/", RunLogConsumer.as_asgi()),
]
