"""Live log of a run over a WebSocket: the log so far, then every new line as it happens.

Anonymous connections are refused (close code 4401), unknown runs too (4404). The consumer joins
the run's group *before* reading the stored lines, so no line falls between the two; a line
may then arrive twice, and the client drops it by its ``seq``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.roles import can
from migrations_ui.models import Run
from migrations_ui.progress import latest as latest_progress
from migrations_ui.runlog import group_name, register_consumer_loop, run_as_dict


@database_sync_to_async
def _snapshot(run_id: int) -> dict[str, Any] | None:
    run = Run.objects.filter(pk=run_id).first()
    return run_as_dict(run) if run else None


class RunLogConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await database_sync_to_async(can)(user, "view_target"):
            await self.close(code=4403)  # a user without a role reads no run log (its SQL, its errors)
            return
        register_consumer_loop(asyncio.get_running_loop())
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.group = group_name(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await _snapshot(self.run_id)
        if snapshot is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=4404)
            return
        await self.accept()
        lines = snapshot.pop("lines")
        await self.send_json({"type": "status", "run": snapshot})
        for line in lines:
            await self.send_json({"type": "line", "line": line})
        now = latest_progress(self.run_id)  # a page opened mid-backup shows the bar at once
        if now is not None:
            await self.send_json({"type": "progress", "progress": now})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_line(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "line", "line": event["line"]})

    async def run_lines(self, event: dict[str, Any]) -> None:
        for line in event["lines"]:
            await self.send_json({"type": "line", "line": line})

    async def run_progress(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "progress", "progress": event["progress"]})

    async def run_status(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "status", "run": event["run"]})
