"""A heartbeat WebSocket: proves the Channels wiring and the authenticated route.

Anonymous connections are refused (close code 4401). A logged-in client gets a ``hello``
with its username, and every message it sends comes back as an ``echo`` with the server time.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone


class HeartbeatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send_json({"type": "hello", "user": user.get_username(), "at": timezone.now().isoformat()})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "echo", "data": content, "at": timezone.now().isoformat()})
