"""Held console results ("fetch more") and the low-level helpers they share with the runs.

A read-mode run whose result was capped keeps its connection, its transaction (one snapshot) and
its open cursors here, so "fetch more" continues the same cursor. A held run is released when the
user starts another run, after ``HOLD_SECONDS`` idle, and at the latest ``PGADMIN_CONSOLE_HOLD_MAX``
after the run whatever fetch-more does (its snapshot holds AccessShare locks: DDL waits behind
it). At most one held run per user and ``MAX_HELD`` in all; a reaper thread expires them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql as pgsql
from sqlalchemy import Connection

from core import target
from core.exceptions import AppError, Conflict, Forbidden, NotFound, TargetUnavailable
from sqlconsole import limits, registry
from sqlconsole.jsonable import jsonable, safe_loaders

ROW_CAP = 10_000
HOLD_SECONDS = 120  # idle life of a held result: an open snapshot holds AccessShare locks
MAX_HELD = 4


def _hold_max_s() -> float:
    return float(settings.CONSOLE_HOLD_MAX_MS) / 1000

@contextmanager
def io_deadline(raw: Any) -> Iterator[None]:
    """One round trip to the server under the client-side deadline (``core.target.deadline``):
    a server that went silent ends it with ``TargetUnavailable`` (503) instead of a hang."""
    with target.deadline(raw) as flags:
        try:
            yield
        except psycopg.OperationalError as exc:
            if flags.get("deadline_hit"):
                raise target.silent_server_error() from exc
            raise


class GuardedCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """Every execute (each FETCH batch, each bookkeeping statement) under the deadline: a long
    result fetched in many batches is never cut short, a silent server never hangs a request.
    The console sets it as its connections' ``cursor_factory``."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        with io_deadline(self.connection):
            return super().execute(query, params, **kwargs)


class _ExtendedCursor(GuardedCursor):
    """A cursor that always uses the extended protocol: one command per message, no more."""

    def _execute_send(self, query: Any, *, force_extended: bool = False, binary: bool | None = None) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)


def _cursor(conn: psycopg.Connection[Any], extended: bool = False) -> psycopg.Cursor[Any]:
    """A cursor for user rows: values Python cannot hold ('infinity' dates) arrive as text."""
    cur: psycopg.Cursor[Any] = _ExtendedCursor(conn) if extended else conn.cursor()
    safe_loaders(cur.adapters)  # the cursor's own copy: the pooled connection stays untouched
    return cur


# --- held runs (fetch more) ------------------------------------------------------------------

@dataclass
class _Held:
    handle: str
    user_id: int
    conn: Connection
    raw: psycopg.Connection[Any]
    cursors: dict[str, dict[str, Any]]  # name -> {"columns", "pending": the probe row read past the cap}
    expires: float
    on: target.Target  # the target the run's connection is on (a fetch's cancel registration names it)
    deadline: float = 0.0  # the total life: fetch-more never extends it
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: bool = False  # set under ``lock``: a waiting fetch must not touch a pooled connection


_held_lock = threading.Lock()
_held: dict[str, _Held] = {}
_reaper: threading.Thread | None = None


def _reap_loop() -> None:
    while True:
        time.sleep(15)
        expire_held()
        with _held_lock:
            if not _held:
                global _reaper
                _reaper = None
                return


def expire_held(now: float | None = None) -> int:
    """Release held runs whose time is up; returns how many were released."""
    now = time.monotonic() if now is None else now
    with _held_lock:
        expired = [h for h in _held.values() if h.expires <= now]
    for held in expired:
        _release_held(held.handle)
    return len(expired)


def _hold(held: _Held) -> None:
    global _reaper
    expire_held()
    with _held_lock:
        olds = [h.handle for h in _held.values() if h.user_id == held.user_id]
        others = sorted((h for h in _held.values() if h.user_id != held.user_id), key=lambda h: h.expires)
        olds += [h.handle for h in others[: max(0, len(others) + 1 - MAX_HELD)]]
    for handle in olds:
        _release_held(handle)
    with _held_lock:
        _held[held.handle] = held
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_loop, name="sqlconsole-reaper", daemon=True)
            _reaper.start()


def _release_held(handle: str) -> None:
    with _held_lock:
        held = _held.pop(handle, None)
    if held is not None:
        with held.lock:
            if not held.released:
                held.released = True
                _release(held.conn, held.raw)


def release_user(user_id: int) -> None:
    """Close the held cursors of a user (a new run, logout, or an explicit close)."""
    with _held_lock:
        handles = [h.handle for h in _held.values() if h.user_id == user_id]
    for handle in handles:
        _release_held(handle)


def release_all() -> int:
    """Close every held console snapshot (before a migration: their AccessShare locks would make
    its DDL wait); returns how many were closed."""
    with _held_lock:
        handles = list(_held)
    for handle in handles:
        _release_held(handle)
    return len(handles)


def held_count() -> int:
    with _held_lock:
        return len(_held)


def fetch_more(cursor_ref: str, user_id: int, query_id: str | None = None, count: int = ROW_CAP) -> dict[str, Any]:
    """The next rows of a capped result (same cursor, same snapshot)."""
    handle, _, name = cursor_ref.partition(":")
    with _held_lock:
        held = _held.get(handle)
    if held is None and registry.shared() and not handle.startswith(f"{registry.INSTANCE}."):
        # the load balancer sent this request to another instance than the one holding the cursor
        raise Conflict("This result is held by another instance of the tool.", hint="Run the query again.",
                       code="cursor_elsewhere")
    if held is None or name not in held.cursors:
        raise NotFound("These results are no longer open (they are kept for a few minutes after a run).",
                       hint="Run the query again.", code="cursor_expired")
    if held.user_id != user_id:
        raise Forbidden("These results belong to another user's run.")
    count = max(1, min(int(count), ROW_CAP))
    query_id = query_id or registry.new_query_id()
    expired = NotFound("These results are no longer open (they are kept for a few minutes after a run).",
                       hint="Run the query again.", code="cursor_expired")
    if time.monotonic() >= held.deadline:  # the total life is over, whatever fetch-more did
        _release_held(handle)
        raise NotFound(f"These results were open for {_hold_max_s() / 60:g} minutes, the most a console result "
                       "is kept (PGADMIN_CONSOLE_HOLD_MAX): its snapshot was closed.",
                       hint="Run the query again.", code="cursor_expired")
    with held.lock:
        if held.released or name not in held.cursors:
            raise expired
        registry.register(query_id, user_id, held.raw.info.backend_pid, held.raw, reader=True, on=held.on)
        started = time.perf_counter()
        truncated = False
        app_failure: AppError | None = None
        failure: psycopg.Error | None = None
        try:
            state = held.cursors[name]
            pending = state.pop("pending", None)
            with _cursor(held.raw) as cur:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", [f"{settings.STATEMENT_TIMEOUT_MS}ms"])
            rows, has_more, truncated, next_pending = _fetch_rows(held.raw, name, count, limits.Budget(), pending)
        except AppError as exc:  # the server went silent: this result is lost
            registry.unregister(query_id)
            held.cursors.clear()
            app_failure = exc
        except psycopg.Error as exc:
            entry = registry.unregister(query_id)
            held.cursors.clear()  # the transaction is aborted: nothing more can be fetched
            failure = exc
            error = _error_dict(exc, prefix=0, start=0, cancelled_by=entry.cancelled_by if entry else "")
        else:
            failure = None
            registry.unregister(query_id)
    if app_failure is not None:
        _release_held(handle)
        raise app_failure
    if failure is not None:
        _release_held(handle)
        raise AppError(error["message"], hint=error.get("hint") or "", code=error["code"], status=400) from failure
    with held.lock:
        if held.released:
            raise expired
        columns = state["columns"]
        if has_more:
            state["pending"] = next_pending  # read to know there is more: served first next time
        else:
            held.cursors.pop(name, None)
        held.expires = min(time.monotonic() + HOLD_SECONDS, held.deadline)
        no_cursors_left = not held.cursors
    if no_cursors_left:
        _release_held(handle)
    return {"rows": rows, "has_more": has_more, "truncated": truncated,
            "cursor": cursor_ref if has_more else None, "columns": columns,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2)}


def _fetch_rows(raw: psycopg.Connection[Any], name: str, want: int, budget: limits.Budget,
                pending: list[Any] | None = None,
                columns: list[dict[str, Any]] | None = None) -> tuple[list[list[Any]], bool, bool, list[Any] | None]:
    """Up to ``want`` rows of cursor ``name`` (as JSON values), fetched in batches and stopped at
    the byte budget. Returns (rows, has_more, truncated by bytes, the row read past the end);
    ``columns``, when given, receives the result's columns."""
    out: list[list[Any]] = []
    queue: list[Any] = [pending] if pending is not None else []
    exhausted = False
    with _cursor(raw) as cur:
        while True:
            if not queue and not exhausted:
                ask = min(limits.BATCH_ROWS, want + 1 - len(out))
                cur.execute(pgsql.SQL("FETCH FORWARD {} FROM {}").format(ask, pgsql.Identifier(name)))
                batch = cur.fetchall()
                if columns is not None and not columns:
                    columns.extend(_columns(cur))
                exhausted = len(batch) < ask
                queue = [[jsonable(v) for v in row] for row in batch]
            if not queue:
                return out, False, False, None
            row = queue.pop(0)
            if len(out) >= want:
                return out, True, False, row
            if not budget.take(row, first=not out):
                return out, True, True, row
            out.append(row)
            if len(out) >= want and exhausted and not queue:
                return out, False, False, None


# --- connections and errors ---------------------------------------------------------------

def _release(conn: Connection, raw: psycopg.Connection[Any]) -> None:
    """Close a console connection instead of pooling it: whatever the session set up (settings,
    roles, temp tables, advisory locks, prepared statements, LISTEN) ends with it, and the next
    user of the pool gets a clean session. Closing also rolls back anything still open."""
    try:
        conn.invalidate()
        conn.close()
    except Exception:  # noqa: BLE001, S110 - a dead socket: closing it is all there is to do
        pass


def _error_dict(exc: psycopg.Error, prefix: int, start: int, cancelled_by: str = "") -> dict[str, Any]:
    diag = exc.diag
    sqlstate = exc.sqlstate or ""
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    hint = diag.message_hint or ""
    code = "sql_error"
    if sqlstate == "57014":
        if cancelled_by or "user request" in message:
            code, message = "cancelled", f"The query was cancelled{f' by {cancelled_by}' if cancelled_by else ''}."
        else:
            code = "statement_timeout"
            message = f"The query was cancelled by the statement timeout ({settings.STATEMENT_TIMEOUT_MS} ms)."
            hint = hint or "Narrow the query (filters, an index) or raise PGADMIN_STATEMENT_TIMEOUT."
    elif sqlstate == "25006":
        code = "read_only"
        message = f"The console is read-only: {message}. Nothing was changed."
        hint = "Statements run in a READ ONLY transaction. An admin can switch the console to write mode."
    position = None
    if diag.statement_position:
        try:
            position = start + max(0, int(diag.statement_position) - 1 - prefix)
        except ValueError:
            position = None
    return {"code": code, "sqlstate": sqlstate, "message": message, "detail": diag.message_detail or "",
            "hint": hint, "position": position}


def _connection_error(exc: psycopg.Error) -> AppError:
    if isinstance(exc, psycopg.OperationalError):
        return TargetUnavailable(f"The connection to PostgreSQL failed during the run: {str(exc).strip().splitlines()[0]}")
    return AppError(f"The console could not complete the run: {str(exc).strip().splitlines()[0]}",
                    hint="Run it again; if it keeps failing, the server log has the details.", code="console_error")


# int2, int4, int8, oid, float4, float8, money, numeric: shown right-aligned (digits line up)
NUMERIC_OIDS = frozenset({20, 21, 23, 26, 700, 701, 790, 1700})


def _columns(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    return [{"name": c.name, "type": c.type_display, "numeric": c.type_code in NUMERIC_OIDS}
            for c in (cur.description or [])]


