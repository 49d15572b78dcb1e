"""A run's log: numbered lines stored in ``RunLine`` and broadcast to the run's Channels group.

One writer per run (the instance executing it numbers the lines); the WebSocket consumer
(``migrations_ui.consumers``) joins the group and replays the stored lines.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection as django_connection

from core.logging import scrub
from migrations_ui.models import Run, RunLine

log = logging.getLogger(__name__)


def group_name(run_id: int) -> str:
    """The Channels group a run's log is broadcast to."""
    return f"alembic_run_{run_id}"


# Per process: the event loop of this process's ASGI server (the in-memory layer's queues live there).
_consumer_loop: asyncio.AbstractEventLoop | None = None


def register_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the WebSocket consumer: the loop that serves the run groups in this process."""
    global _consumer_loop
    _consumer_loop = loop


def run_as_dict(run: Run, with_lines: bool = True) -> dict[str, Any]:
    """The run as the API, the page and the run-log socket show it (``migrations_ui.serializers``)."""
    from migrations_ui.serializers import RunDetailSerializer, RunSerializer

    return dict((RunDetailSerializer if with_lines else RunSerializer)(run).data)


class RunLog:
    """Appends numbered lines to a run (DB) and broadcasts them to the run's group.

    Lines are buffered and written in batches (every ``FLUSH_S`` or ``FLUSH_LINES``), so that a
    run of many small revisions is not slowed down by one INSERT and one broadcast per SQL
    statement (NFR-2); a timer flushes a quiet run's last lines.
    """

    FLUSH_S = 0.15
    FLUSH_LINES = 200

    def __init__(self, run: Run) -> None:
        self.run = run
        self.seq = RunLine.objects.filter(run=run).count()
        self.layer = get_channel_layer()
        self._pending: list[RunLine] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last_flush = time.monotonic()

    def _send(self, message: dict[str, Any]) -> None:
        if self.layer is None:
            return
        try:
            loop = _consumer_loop
            if loop is not None and loop.is_running():
                # The in-memory layer's queues belong to the ASGI server's loop: send from there.
                asyncio.run_coroutine_threadsafe(self.layer.group_send(group_name(self.run.pk), message),
                                                 loop).result(timeout=10)
            else:
                async_to_sync(self.layer.group_send)(group_name(self.run.pk), message)
        except Exception:  # noqa: BLE001 - a broadcast failure must not stop the run
            log.exception("broadcast of run %s failed", self.run.pk)

    def line(self, kind: str, text_: str) -> None:
        """Append one line (scrubbed of secrets); written with the next batch."""
        with self._lock:
            self.seq += 1
            self._pending.append(RunLine(run=self.run, seq=self.seq, kind=kind, text=scrub(text_)[:20000]))
            due = len(self._pending) >= self.FLUSH_LINES or time.monotonic() - self._last_flush >= self.FLUSH_S
            if not due and self._timer is None:
                self._timer = threading.Timer(self.FLUSH_S, self._flush_from_timer)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def _flush_from_timer(self) -> None:
        try:
            self.flush()
        finally:
            django_connection.close()  # the timer thread's own DB connection

    def flush(self) -> None:
        """Store and broadcast the pending lines."""
        with self._lock:
            batch, self._pending = self._pending, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_flush = time.monotonic()
            if batch:
                RunLine.objects.bulk_create(batch)
        if batch:
            self._send({"type": "run.lines", "lines": [line.as_dict() for line in batch]})

    def progress(self, message: dict[str, Any]) -> None:
        """A long step's progress (``migrations_ui.progress``): to the page only, never stored."""
        self._send({"type": "run.progress", "progress": message})

    def status(self) -> None:
        """Flush, then broadcast the run's status (the page redraws its header)."""
        self.flush()
        self._send({"type": "run.status", "run": run_as_dict(self.run, with_lines=False)})
