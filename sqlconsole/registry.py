"""Which console query runs on which backend, so that another request can cancel it.

Every running console statement is registered under the client's query id with the pid of its
connection (``conn.info.backend_pid``, the value of ``pg_backend_pid()``). ``cancel`` calls
the libpq cancel protocol (the connection's cancel key: it needs no privilege, so the target role
can cancel a statement of the reader role), or ``pg_cancel_backend`` when only a pid is known.
The lock is held while cancelling and while
unregistering, so a cancel never reaches a connection that already went back to the pool and
serves someone else. The registry is per process (the tool serves from one Daphne process).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from core import target
from core.exceptions import Conflict, Forbidden, NotFound


@dataclass
class _Running:
    user_id: int
    pid: int
    started: float
    cancelled_by: str = ""
    conn: Any = None  # the psycopg connection, for a cancel request with its key


_registry_lock = threading.Lock()
_running: dict[str, _Running] = {}


def new_query_id() -> str:
    return secrets.token_urlsafe(12)


def register(query_id: str, user_id: int, pid: int, conn: Any = None) -> None:
    with _registry_lock:
        if query_id in _running:
            raise Conflict("A query with this id is already running.", hint="Use a fresh query_id for every run.")
        _running[query_id] = _Running(user_id=user_id, pid=pid, started=time.monotonic(), conn=conn)


def unregister(query_id: str) -> _Running | None:
    with _registry_lock:
        return _running.pop(query_id, None)


def cancelled_by(query_id: str) -> str:
    with _registry_lock:
        entry = _running.get(query_id)
        return entry.cancelled_by if entry else ""


def cancel(query_id: str, user_id: int, username: str, is_admin: bool) -> dict[str, Any]:
    """Cancel a running query (its owner or an admin) with ``pg_cancel_backend`` from another connection."""
    with _registry_lock:
        entry = _running.get(query_id)
        if entry is None:
            raise NotFound("No running query has this id; it may have finished already.",
                           hint="Nothing to cancel.")
        if entry.user_id != user_id and not is_admin:
            raise Forbidden("Only the user who started a query, or an admin, can cancel it.")
        entry.cancelled_by = username
        if entry.conn is not None:
            try:
                entry.conn.cancel_safe(timeout=5)
            except Exception:  # noqa: BLE001 - the statement may have just finished: nothing to cancel
                return {"query_id": query_id, "cancelled": False}
            return {"query_id": query_id, "cancelled": True}
        with target.connect() as conn:
            sent = bool(conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": entry.pid}).scalar())
    return {"query_id": query_id, "cancelled": sent}


def running_for(user_id: int | None = None) -> list[str]:
    with _registry_lock:
        return [q for q, r in _running.items() if user_id is None or r.user_id == user_id]
