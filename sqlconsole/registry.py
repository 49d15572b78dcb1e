"""Which console query runs on which backend, so that another request can cancel it.

Every running console statement is registered under the client's query id with the pid of its
connection (``conn.info.backend_pid``, the value of ``pg_backend_pid()``). ``cancel`` calls
the libpq cancel protocol (the connection's cancel key: it needs no privilege, so the target role
can cancel a statement of the reader role), or ``pg_cancel_backend`` when only a pid is known.
The lock is held while cancelling and while
unregistering, so a cancel never reaches a connection that already went back to the pool and
serves someone else.

The registry is per process; with several instances (the internal DB on PostgreSQL) every running
query also has a ``RunningQuery`` row, so a cancel that lands on another instance finds the pid and
the role there and calls ``pg_cancel_backend`` as that role while holding the row's lock (the owning
instance deletes the row before the connection goes back to its pool, and waits for that lock).
An instance that dies leaves its rows behind: ``forget_dead_rows`` (at every housekeeping pass of
every live instance, ``core.signals.housekeeping``, the first at start) deletes the rows whose
backend is gone or is a newer session that reuses the pid.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from sqlalchemy import text

from core import target
from core.exceptions import AppError, Conflict, Forbidden, NotFound
from sqlconsole.models import RunningQuery

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=1)  # between the instance that wrote a row and the target's clock

# This process among the instances sharing the internal DB: the prefix of its held results' handles.
INSTANCE = secrets.token_hex(4)


@dataclass
class _Running:
    user_id: int
    pid: int
    started: float
    cancelled_by: str = ""
    conn: Any = None  # the psycopg connection, for a cancel request with its key
    on: target.Target | None = None  # the target the pid lives on (None: the configured one)


_registry_lock = threading.Lock()
_running: dict[str, _Running] = {}


def new_query_id() -> str:
    return secrets.token_urlsafe(12)


def shared() -> bool:
    """True when instances may share the internal DB (PostgreSQL); SQLite lives in one data dir."""
    return connection.vendor == "postgresql"


def register(query_id: str, user_id: int, pid: int, conn: Any = None, *, reader: bool = False,
             on: target.Target | None = None) -> None:
    """Remember a running console statement: its pid on target ``on`` (default the configured one)."""
    with _registry_lock:
        if query_id in _running:
            raise Conflict("A query with this id is already running.", hint="Use a fresh query_id for every run.")
        _running[query_id] = _Running(user_id=user_id, pid=pid, started=time.monotonic(), conn=conn, on=on)
    if shared():
        try:
            RunningQuery.objects.create(query_id=query_id, user_id=user_id, pid=pid, reader=reader,
                                        instance=INSTANCE, target_name=(on or target.current()).name)
        except IntegrityError:  # the same id runs on another instance
            with _registry_lock:
                _running.pop(query_id, None)
            raise Conflict("A query with this id is already running.",
                           hint="Use a fresh query_id for every run.") from None


def unregister(query_id: str) -> _Running | None:
    with _registry_lock:
        entry = _running.pop(query_id, None)
        if entry is not None and shared():
            # waits while another instance's cancel holds the row: it signals this pid meanwhile
            with transaction.atomic():
                row = RunningQuery.objects.select_for_update().filter(query_id=query_id, instance=INSTANCE).first()
                if row is not None:
                    row.delete()
                    entry.cancelled_by = entry.cancelled_by or row.cancelled_by
        return entry


def cancelled_by(query_id: str) -> str:
    with _registry_lock:
        entry = _running.get(query_id)
        if entry is None:
            return ""
        if not entry.cancelled_by and shared():  # cancelled through another instance
            by = RunningQuery.objects.filter(query_id=query_id, instance=INSTANCE).values_list(
                "cancelled_by", flat=True).first()
            entry.cancelled_by = by or ""
        return entry.cancelled_by


def cancel(query_id: str, user_id: int, username: str, is_admin: bool) -> dict[str, Any]:
    """Cancel a running query (its owner or an admin) with ``pg_cancel_backend`` from another connection."""
    with _registry_lock:
        here = query_id in _running
    if not here and shared():
        return _cancel_elsewhere(query_id, user_id, username, is_admin)
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
        with target.connect(target=entry.on) as conn:  # the pid is a backend of the query's target
            sent = bool(conn.execute(text("SELECT pg_cancel_backend(:pid)"), {"pid": entry.pid}).scalar())
    return {"query_id": query_id, "cancelled": sent}


def cancel_all_here(reason: str = "the server stopping") -> int:
    """Cancel every statement this process runs (``serve`` is stopping): their sessions end now
    instead of running on until ``statement_timeout`` after their client is gone. Returns how many."""
    with _registry_lock:
        entries = list(_running.values())
    cancelled = 0
    for entry in entries:
        entry.cancelled_by = entry.cancelled_by or reason
        if entry.conn is None:
            continue
        try:
            entry.conn.cancel_safe(timeout=1)
            cancelled += 1
        except Exception as exc:  # noqa: BLE001 - finished meanwhile, or the server does not answer
            log.info("console statement of user %s not cancelled at shutdown: %s", entry.user_id, exc)
    return cancelled


def _cancel_elsewhere(query_id: str, user_id: int, username: str, is_admin: bool) -> dict[str, Any]:
    """Cancel a query another instance runs: its row gives the pid, checked against the user."""
    row = RunningQuery.objects.filter(query_id=query_id).first()
    if row is None:
        raise NotFound("No running query has this id; it may have finished already.", hint="Nothing to cancel.")
    if row.user_id != user_id and not is_admin:
        raise Forbidden("Only the user who started a query, or an admin, can cancel it.")
    # committed before the signal: the owning instance reads who cancelled when its statement fails
    RunningQuery.objects.filter(pk=row.pk).update(cancelled_by=username)
    with transaction.atomic():
        if not RunningQuery.objects.select_for_update().filter(pk=row.pk).exists():
            return {"query_id": query_id, "cancelled": False}  # finished meanwhile: its pid serves others now
        # the same role as the query's connection: pg_cancel_backend signals only one's own role
        # and only a backend older than the row (1 min for clock skew): an instance that died leaves its
        # rows behind, and their pids may since belong to other sessions
        with target.connect(reader=row.reader, target=target.by_name(row.target_name)) as conn:
            sent = bool(conn.execute(text(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE pid = :pid AND backend_start < CAST(:registered AS timestamptz) + interval '1 minute'"),
                {"pid": row.pid, "registered": row.started_at}).scalar())
    return {"query_id": query_id, "cancelled": sent}


def running_for(user_id: int | None = None) -> list[str]:
    with _registry_lock:
        return [q for q, r in _running.items() if user_id is None or r.user_id == user_id]


def forget_dead_rows() -> int:
    """Delete other instances' ``RunningQuery`` rows whose backend is gone or newer than the row; how many.

    One internal-DB query when there are none; the target is asked (as each row's role: another role's
    ``backend_start`` is hidden) only when another instance has rows. This instance's rows are live.
    """
    if not shared():
        return 0
    rows = list(RunningQuery.objects.exclude(instance=INSTANCE)
                .values_list("pk", "pid", "reader", "started_at", "target_name"))
    dead: list[int] = []
    # each row's pid is a backend of the row's own target, seen as the row's role
    for name, reader in sorted({(row[4], row[2]) for row in rows}):
        group = [row for row in rows if row[2] == reader and row[4] == name]
        try:
            with target.connect(reader=reader, target=target.by_name(name)) as conn:
                found = conn.execute(text("SELECT pid, backend_start FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                                     {"pids": sorted({row[1] for row in group})}).all()
            alive: dict[int, Any] = {int(pid): start for pid, start in found}
        except AppError as exc:  # the target is down: its rows cannot be checked now
            log.info("running queries of other instances not checked: %s", exc.message)
            continue
        for pk, pid, _reader, started_at, _name in group:
            # gone, or a session started after the query was registered: the pid was reused
            if pid not in alive or (alive[pid] is not None and alive[pid] > started_at + CLOCK_SKEW):
                dead.append(pk)
    if dead:
        RunningQuery.objects.filter(pk__in=dead).delete()
        log.warning("forgot %s running console quer(ies) of instances that stopped", len(dead))
    return len(dead)
