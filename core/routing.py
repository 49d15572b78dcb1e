"""WebSocket routes of `core`."""

from django.urls import path

from core.consumers import HeartbeatConsumer

websocket_urlpatterns = [
    path("ws/heartbeat/", HeartbeatConsumer.as_asgi()),
]
