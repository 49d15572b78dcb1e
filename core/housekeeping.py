"""One daemon thread per serving process that sends ``core.signals.housekeeping`` every few seconds.

Started by ``manage.py serve`` (before Daphne listens) and by ``manage.py worker``; never by a
request, a test client or a management command that ends. The receivers (the job engine's reaper,
the SQL console's registry) clean up after instances that died while this one lives: a crashed
instance cannot do it, and waiting for a restart or a page view would leave a run "running" forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from django.db import close_old_connections
from django.db import connection as django_connection
from django.utils import timezone

from core.signals import housekeeping

log = logging.getLogger(__name__)

INTERVAL_S = 3.0  # how often the receivers look (each one internal-DB query when there is nothing to do)
# The liveness rule the receivers share (a run's executor, an import's process, a job worker):
STALE_AFTER_S = 10.0  # a heartbeat older than this: the process that wrote it is gone


def process_name(kind: str) -> str:
    """The name a process gives itself on the rows it executes: "web pid 41 on host", "worker pid 57 on host"."""
    return f"{kind} pid {os.getpid()} on {socket.gethostname()}"[:200]


def stale_before() -> datetime:
    """Heartbeats older than this are stale (``STALE_AFTER_S`` ago)."""
    return timezone.now() - timedelta(seconds=STALE_AFTER_S)

_started: threading.Thread | None = None
_guard = threading.Lock()
_stop = threading.Event()


def run_once() -> None:
    """One pass: every receiver, each failure logged (a receiver never stops the others or the thread)."""
    close_old_connections()
    for receiver, reply in housekeeping.send_robust(sender=None):
        if isinstance(reply, Exception):
            log.warning("housekeeping receiver %r failed: %s", receiver, reply)


def start(interval_s: float = INTERVAL_S) -> threading.Thread:
    """Start the thread (once per process; a second call returns the first thread). The first pass runs at once."""
    global _started
    with _guard:
        if _started is not None and _started.is_alive():
            return _started
        _stop.clear()

        def loop() -> None:
            try:
                while True:
                    try:
                        run_once()
                    except Exception:  # noqa: BLE001 - the internal DB is down: try again at the next pass
                        log.exception("housekeeping pass failed")
                    if _stop.wait(interval_s):
                        return
            finally:
                django_connection.close()

        _started = threading.Thread(target=loop, daemon=True, name="pgadmin-housekeeping")
        _started.start()
        return _started


def stop() -> None:
    """Stop the thread after its current pass (the worker's clean exit)."""
    _stop.set()
