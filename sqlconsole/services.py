"""The one place that executes console SQL on the target (through ``core.target.get_engine()``).

How a run works:

* The script is split and parsed with PostgreSQL's own parser (``sqlconsole.guard``, pglast). In
  read mode only read statements pass and their function calls are checked against the catalogue
  *before anything runs*; a refusal is a 403 with the position, audited by the caller. Each
  statement is sent with the **extended query protocol** (``_ExtendedCursor``), which refuses
  several commands in one message — the text checked is exactly the text sent.
* Read mode runs as the least-privilege reader role when one is configured (``core.target``);
  every statement gets ``lock_timeout`` and a client-side deadline; results are capped in rows and
  in bytes (``sqlconsole.limits``); a user runs at most a few console queries at once.
* **Read mode** (everyone, the default): one ``BEGIN READ ONLY`` transaction per run, a
  savepoint around each statement (so an error keeps earlier results, and ``SET TRANSACTION
  READ WRITE`` is refused inside a subtransaction), ``statement_timeout`` re-applied before every
  statement, the script's own BEGIN/COMMIT skipped with a notice, savepoints and two-phase commit
  refused, and the transaction status checked after every statement. Nothing a run does persists.
* **Write mode** (admins only; the caller checks the role and audits): autocommit, so each
  statement commits on its own and the user's own BEGIN/COMMIT work as in psql; a transaction
  left open at the end is rolled back and the run says so.
* Row-returning queries (SELECT/WITH/VALUES/TABLE) run through a named server-side cursor and
  only the first ``ROW_CAP`` rows are fetched. In read mode the run's connection, its
  transaction (one snapshot) and its open cursors are **held** for ``HOLD_SECONDS`` so "fetch
  more" continues the same cursor — chosen over re-running with OFFSET because OFFSET
  re-executes the query (slow, and rows shift between pages). At most one held run per user
  and ``MAX_HELD`` in all keep the connection pool safe. Fetch-more renews the idle time but never
  the total: a held result lives at most ``PGADMIN_CONSOLE_HOLD_MAX`` (its snapshot holds locks).
  PostgreSQL's ``idle_in_transaction_session_timeout`` (and ``transaction_timeout`` on 17+) is
  the backstop if this process dies.
* NOTICEs are collected per statement; errors carry the position in the script.
* **Cancel**: every running statement registers its backend pid under the client's query id
  (``sqlconsole.registry``); ``cancel()`` calls ``pg_cancel_backend`` from another connection.
  The query is unregistered before its connection is closed.
* After a run the connection is closed rather than pooled (a new one costs milliseconds; a
  session the user changed — settings, roles, temp tables, locks — never reaches anyone else).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from psycopg import pq
from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import target
from core.exceptions import AppError, BadRequest, Conflict, Forbidden, NotFound, TargetUnavailable
from sqlconsole import guard, limits, registry, splitter
from sqlconsole.jsonable import jsonable, safe_loaders
from sqlconsole.registry import cancel, running_for

__all__ = ["cancel", "running_for", "run_script", "fetch_more", "expire_held", "release_user", "held_count"]

ROW_CAP = 10_000
HOLD_SECONDS = 120  # idle life of a held result: an open snapshot holds AccessShare locks
MAX_HELD = 4
MAX_STATEMENTS = 200
QUERY_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

class _ExtendedCursor(psycopg.Cursor):  # type: ignore[type-arg]
    """A cursor that always uses the extended protocol: one command per message, no more."""

    def _execute_send(self, query: Any, *, force_extended: bool = False, binary: bool | None = None) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)


def _cursor(conn: psycopg.Connection[Any], extended: bool = False) -> psycopg.Cursor[Any]:
    """A cursor for user rows: values Python cannot hold ('infinity' dates) arrive as text."""
    cur: psycopg.Cursor[Any] = _ExtendedCursor(conn) if extended else conn.cursor()
    safe_loaders(cur.adapters)  # the cursor's own copy: the pooled connection stays untouched
    return cur


# --- results -------------------------------------------------------------------------------

@dataclass
class StatementResult:
    index: int
    sql: str
    start: int  # offset of the statement in the script (for the editor)
    outcome: str = "ok"  # ok | error | cancelled | timeout | skipped
    command: str = ""
    columns: list[dict[str, str]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    row_count: int | None = None
    has_more: bool = False
    cursor: str | None = None
    duration_ms: float = 0.0
    notices: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    truncated: bool = False  # stopped at the byte cap (PGADMIN_CONSOLE_MAX_BYTES)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class RunResult:
    query_id: str
    mode: str  # read | write
    results: list[StatementResult]
    duration_ms: float
    messages: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        bad = [r.outcome for r in self.results if r.outcome not in ("ok", "skipped")]
        return bad[0] if bad else "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "mode": self.mode, "duration_ms": round(self.duration_ms, 2),
                "outcome": self.outcome, "messages": self.messages, "row_cap": ROW_CAP,
                "max_bytes": limits.max_bytes(),
                "results": [r.as_dict() for r in self.results]}


# --- held runs (fetch more) ------------------------------------------------------------------

@dataclass
class _Held:
    handle: str
    user_id: int
    conn: Connection
    raw: psycopg.Connection[Any]
    cursors: dict[str, dict[str, Any]]  # name -> {"columns", "pending": the probe row read past the cap}
    expires: float
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
        registry.register(query_id, user_id, held.raw.info.backend_pid, held.raw)
        started = time.perf_counter()
        truncated = False
        try:
            state = held.cursors[name]
            pending = state.pop("pending", None)
            with _cursor(held.raw) as cur:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", [f"{settings.STATEMENT_TIMEOUT_MS}ms"])
            with target.deadline(held.raw):
                rows, has_more, truncated, next_pending = _fetch_rows(held.raw, name, count, limits.Budget(),
                                                                      pending)
        except psycopg.Error as exc:
            entry = registry.unregister(query_id)
            held.cursors.clear()  # the transaction is aborted: nothing more can be fetched
            failure: psycopg.Error | None = exc
            error = _error_dict(exc, prefix=0, start=0, cancelled_by=entry.cancelled_by if entry else "")
        else:
            failure = None
            registry.unregister(query_id)
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
                columns: list[dict[str, str]] | None = None) -> tuple[list[list[Any]], bool, bool, list[Any] | None]:
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


# --- running a script ----------------------------------------------------------------------

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


def _columns(cur: psycopg.Cursor[Any]) -> list[dict[str, str]]:
    return [{"name": c.name, "type": c.type_display} for c in (cur.description or [])]


def _meta_command(stmt: splitter.Statement) -> str | None:
    """psql meta-commands are refused in every mode (they are not SQL)."""
    if stmt.text.lstrip().startswith("\\"):
        return "psql meta-commands (\\d, \\copy, …) are not SQL; the console only runs SQL."
    return None


class _Run:
    """The state of one run on one connection."""

    def __init__(self, raw: psycopg.Connection[Any], write: bool, explain: bool, analyze: bool,
                 query_id: str, handle: str) -> None:
        self.raw, self.write, self.explain, self.analyze = raw, write, explain, analyze
        self.query_id, self.handle = query_id, handle
        self.notices: list[str] = []
        self.cursors: dict[str, dict[str, Any]] = {}
        self.plans: dict[int, Any] = {}  # statement index -> plan.Plan (hints are added after the run)
        self.budget = limits.Budget()  # the bytes all results of this run may take together

    def on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self.notices.append(f"{diag.severity or 'NOTICE'}: {diag.message_primary or ''}")

    def timeout(self, local: bool) -> None:
        """statement_timeout and lock_timeout before every statement (a script cannot keep a
        lock queue waiting behind it, nor wait on one for long)."""
        self.raw.execute("SELECT set_config('statement_timeout', %s, %s), set_config('lock_timeout', %s, %s)",
                         [f"{settings.STATEMENT_TIMEOUT_MS}ms", local,
                          f"{settings.CONSOLE_LOCK_TIMEOUT_MS}ms", local])

    def execute(self, result: StatementResult, checked: guard.Checked) -> None:
        """Run one statement into ``result`` (raises psycopg.Error with ``self.prefix`` set)."""
        stmt = checked.statement
        self.prefix = 0
        if self.explain:
            self._explain(result, checked)
            return
        in_tx = self.raw.info.transaction_status == pq.TransactionStatus.INTRANS
        if checked.wants_cursor:
            name = f"c{result.index}"
            began = False
            if not in_tx:  # write mode, outside a user transaction: a short one for the cursor
                self.raw.execute("BEGIN")
                began = True
            head = f"DECLARE {name} NO SCROLL CURSOR FOR "
            self.prefix = len(head)
            try:
                with _ExtendedCursor(self.raw) as cur:
                    cur.execute(head + stmt.text)
                self.prefix = 0
                self._fetch_cursor(result, name)
            except psycopg.Error:
                if began:
                    self.raw.execute("ROLLBACK")
                raise
            if began:
                self.raw.execute("COMMIT")
            return
        with _cursor(self.raw, extended=True) as cur:
            cur.execute(stmt.text)
            result.command = cur.statusmessage or ""
            if cur.description is not None:
                result.columns = _columns(cur)
                rows: list[list[Any]] = []
                while len(rows) < ROW_CAP:
                    batch = cur.fetchmany(min(limits.BATCH_ROWS, ROW_CAP - len(rows)))
                    if not batch:
                        break
                    for row in batch:
                        values = [jsonable(v) for v in row]
                        if not self.budget.take(values, first=not rows):
                            result.truncated = True
                            break
                        rows.append(values)
                    if result.truncated:
                        break
                result.rows = rows
                result.has_more = cur.rowcount > len(rows)
                if result.truncated:
                    self._truncated_notice(result)
            result.row_count = cur.rowcount if cur.rowcount >= 0 else None

    def _truncated_notice(self, result: StatementResult) -> None:
        result.notices.append(f"Results truncated at {self.budget.label()} (PGADMIN_CONSOLE_MAX_BYTES): "
                              f"{len(result.rows)} rows shown. Select fewer or narrower columns, or fetch more.")

    def _fetch_cursor(self, result: StatementResult, name: str) -> None:
        columns: list[dict[str, str]] = []
        rows, has_more, truncated, pending = _fetch_rows(self.raw, name, ROW_CAP, self.budget, columns=columns)
        result.columns = columns
        result.has_more, result.truncated = has_more, truncated
        result.rows = rows
        result.row_count = len(rows)
        result.command = f"SELECT {len(rows)}" + ("+" if has_more else "")
        if truncated:
            self._truncated_notice(result)
        if has_more and not self.write:
            self.cursors[name] = {"columns": result.columns, "pending": pending}
            result.cursor = f"{self.handle}:{name}"
        else:
            self.raw.execute(pgsql.SQL("CLOSE {}").format(pgsql.Identifier(name)))

    def _explain(self, result: StatementResult, checked: guard.Checked) -> None:
        from sqlconsole import plan as plan_mod

        stmt = checked.statement
        options = "ANALYZE, BUFFERS, FORMAT JSON" if self.analyze else "FORMAT JSON"
        head = f"EXPLAIN ({options}) "
        rollback_tx = self.analyze and self.write  # read mode already rolls everything back
        in_tx = self.raw.info.transaction_status == pq.TransactionStatus.INTRANS
        if rollback_tx:
            self.raw.execute("SAVEPOINT explain_analyze" if in_tx else "BEGIN")
        self.prefix = len(head)
        try:
            with _ExtendedCursor(self.raw) as cur:
                cur.execute(head + stmt.text)
                row = cur.fetchone()
        finally:
            if rollback_tx:
                self.raw.execute("ROLLBACK TO SAVEPOINT explain_analyze" if in_tx else "ROLLBACK")
        raw_plan = row[0] if row else []
        tree = plan_mod.build(raw_plan)
        self.plans[result.index] = tree
        wrote = tree.writes
        lasting = bool(self.analyze and self.write and guard.has_side_effects_outside_transaction(checked))
        result.plan = {"raw": raw_plan, "tree": tree.as_dict(), "analyze": self.analyze,
                       "rolled_back": bool(self.analyze), "wrote": wrote, "hints": [],
                       "lasting_effects": lasting}
        if lasting:
            # A rollback undoes rows, not sequences (nextval, serial defaults) nor what volatile
            # functions did outside the transaction: say so instead of "nothing changed".
            result.notices.append("EXPLAIN ANALYZE executed the statement; its row changes were rolled back, but "
                                  "effects outside the transaction were NOT: sequence values it drew (nextval, "
                                  "serial/identity defaults) stay used, and calls like setval or "
                                  "pg_terminate_backend took effect.")
        elif self.analyze and wrote:
            result.notices.append("EXPLAIN ANALYZE executed the statement inside a transaction that was rolled "
                                  "back: no rows were changed.")
        result.command = "EXPLAIN"


def _add_hints(results: list[StatementResult], plans: dict[int, Any]) -> None:
    from sqlconsole import catalog, hints

    relations = {n.relation for p in plans.values() for n in p.nodes if n.relation}
    try:
        tables = catalog.table_info(relations)
    except AppError:
        tables = {}  # hints without catalog facts are still useful
    for index, tree in plans.items():
        plan = results[index].plan
        if plan is not None:
            plan["hints"] = [h.as_dict() for h in hints.hints_for(tree, tables)]


def _statement_at(statements: list[splitter.Statement], offset: int) -> splitter.Statement | None:
    """The statement under a cursor offset (the one before it when the cursor is between two)."""
    best: splitter.Statement | None = None
    for stmt in statements:
        if stmt.start <= offset:
            best = stmt
        if stmt.start <= offset <= stmt.end + 1:
            return stmt
    return best


def check_script(statements: list[splitter.Statement], write: bool) -> list[guard.Checked]:
    """Parse and classify every statement up to the first syntax error (the ones after it never
    run); in read mode, raise ``guard.ReadModeRefused`` for anything that is not a read."""
    checked: list[guard.Checked] = []
    for stmt in statements:
        if write:
            meta = _meta_command(stmt)
            if meta:
                raise guard.ReadModeRefused(meta, code="not_allowed", hint="",
                                            detail={"position": stmt.start, "statement": stmt.text[:200]})
        item = guard.check_write(stmt) if write else guard.check_read(stmt)
        checked.append(item)
        if item.kind == "syntax_error":
            break
    return checked


def _hold_max_s() -> float:
    return settings.CONSOLE_HOLD_MAX_MS / 1000


def run_script(script: str, *, user_id: int, write: bool = False, explain: bool = False, analyze: bool = False,
               query_id: str | None = None, at: int | None = None,
               on_statement: Callable[[StatementResult], None] | None = None) -> RunResult:
    """Run ``script`` (see the module docstring). The caller has checked the role for ``write``.

    ``at``: run only the statement under this character offset (the editor's cursor).
    Raises ``guard.ReadModeRefused`` (403) before anything runs when read mode refuses a statement.
    """
    statements = guard.split(script or "")
    if at is not None:
        current = _statement_at(statements, at)
        statements = [current] if current is not None else []
    if not statements:
        raise BadRequest("There is no SQL statement to run.", hint="Type a query, e.g. SELECT now();")
    if len(statements) > MAX_STATEMENTS:
        raise BadRequest(f"The script has {len(statements)} statements; the console runs at most {MAX_STATEMENTS}.")
    if query_id is not None and not QUERY_ID.match(query_id):
        raise BadRequest("query_id may only hold letters, digits and . _ : - (at most 64).")
    checked = check_script(statements, write)
    query_id = query_id or registry.new_query_id()
    results = [StatementResult(index=i, sql=s.text, start=s.start) for i, s in enumerate(statements)]
    release_user(user_id)  # a new run replaces the previous run's open cursors
    with limits.run_slot(user_id):
        return _run_checked(checked, results, user_id=user_id, write=write, explain=explain, analyze=analyze,
                            query_id=query_id, on_statement=on_statement)


def _connect(write: bool) -> tuple[Connection, psycopg.Connection[Any]]:
    try:
        conn = target.get_engine("console", reader=not write).connect()
        raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    except (DBAPIError, PoolTimeout) as exc:
        translated = target.translate_error(exc)
        raise (translated if translated is not exc else _connection_error_sa(exc)) from exc
    except ImproperlyConfigured as exc:  # no or a bad DATABASE_URL: say so instead of a 500
        raise TargetUnavailable(str(exc)) from exc
    return conn, raw


def _connection_error_sa(exc: Exception) -> AppError:
    return TargetUnavailable(f"The console could not connect: {str(exc).strip().splitlines()[0]}")


def _run_checked(checked: list[guard.Checked], results: list[StatementResult], *, user_id: int, write: bool,
                 explain: bool, analyze: bool, query_id: str,
                 on_statement: Callable[[StatementResult], None] | None) -> RunResult:
    run_started = time.perf_counter()
    messages: list[str] = []
    conn, raw = _connect(write)
    run = _Run(raw, write, explain, analyze, query_id, handle=secrets.token_urlsafe(9))
    hold = False
    try:
        registry.register(query_id, user_id, raw.info.backend_pid, raw)
    except Conflict:
        _release(conn, raw)
        raise
    raw.add_notice_handler(run.on_notice)
    try:
        if raw.info.transaction_status != pq.TransactionStatus.IDLE:
            raw.rollback()
        raw.autocommit = True
        raw.prepare_threshold = None  # the connection is closed after the run: nothing to prepare for
        if write:
            run.timeout(local=False)
        else:
            raw.execute("BEGIN READ ONLY")
            backstop = f"{int(settings.CONSOLE_HOLD_MAX_MS + 60_000)}ms"
            raw.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true)", (backstop,))
            if raw.info.server_version >= 170000:  # the server ends the snapshot even if we die
                raw.execute("SELECT set_config('transaction_timeout', %s, true)", (backstop,))
            guard.check_functions(raw, checked)  # same connection, same search path as the run
        stop = False
        for item, result in zip(checked + [None] * (len(results) - len(checked)), results, strict=True):
            if stop or item is None:
                result.outcome = "skipped"
                continue
            stmt = item.statement
            if item.kind == "tx_ignored":
                keyword = stmt.keyword
                result.command = f"{keyword} (ignored)"
                result.notices.append(f"{keyword} was skipped: in read mode the whole run is one read-only "
                                      "transaction, rolled back at the end.")
                if on_statement is not None:
                    on_statement(result)
                continue
            if item.syntax_error is not None:
                message, position = item.syntax_error
                result.outcome, stop = "error", True
                result.error = {"code": "sql_error", "sqlstate": "42601", "message": message, "detail": "",
                                "hint": "Nothing ran from this statement on.", "position": position}
                if on_statement is not None:
                    on_statement(result)
                continue
            if not write:
                raw.execute(pgsql.SQL("SAVEPOINT {}").format(pgsql.Identifier(f"s{result.index}")))
                run.timeout(local=True)
            run.notices = result.notices
            started = time.perf_counter()
            try:
                with target.deadline(raw) as flags:
                    try:
                        run.execute(result, item)
                    except psycopg.OperationalError as exc:
                        if flags.get("deadline_hit"):
                            raise target.silent_server_error() from exc
                        raise
            except psycopg.Error as exc:
                result.error = _error_dict(exc, run.prefix, stmt.start, registry.cancelled_by(query_id))
                result.outcome = {"cancelled": "cancelled", "statement_timeout": "timeout"}.get(
                    result.error["code"], "error")
                stop = True
                if raw.closed:
                    raise
                if not write and raw.info.transaction_status == pq.TransactionStatus.INERROR:
                    raw.execute(pgsql.SQL("ROLLBACK TO SAVEPOINT {}").format(pgsql.Identifier(f"s{result.index}")))
            finally:
                result.duration_ms = round((time.perf_counter() - started) * 1000, 2)
            if not write and not stop:
                if raw.info.transaction_status != pq.TransactionStatus.INTRANS:
                    # Cannot happen with the refusals above; stop rather than run outside the guard.
                    result.outcome, stop = "error", True
                    result.error = {"code": "not_allowed", "sqlstate": "", "hint": "", "detail": "",
                                    "message": "The statement ended the console's read-only transaction.",
                                    "position": stmt.start}
                    continue
                raw.execute(pgsql.SQL("RELEASE SAVEPOINT {}").format(pgsql.Identifier(f"s{result.index}")))
            if on_statement is not None:
                on_statement(result)
        if write and raw.info.transaction_status != pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
            messages.append("A transaction was still open at the end of the script; it was rolled back.")
        hold = bool(run.cursors) and not write and raw.info.transaction_status == pq.TransactionStatus.INTRANS
    except psycopg.Error as exc:  # our own bookkeeping statements failed (the connection is closed below)
        hold = False
        if isinstance(exc, psycopg.OperationalError):
            raise TargetUnavailable(f"The connection to PostgreSQL failed during the run: "
                                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}") from exc
        raise _connection_error(exc) from exc
    except BaseException:
        hold = False
        raise
    finally:
        registry.unregister(query_id)
        if not raw.closed:
            raw.remove_notice_handler(run.on_notice)
        if not hold:
            _release(conn, raw)
    if run.plans:
        _add_hints(results, run.plans)
    if hold:
        now = time.monotonic()
        _hold(_Held(handle=run.handle, user_id=user_id, conn=conn, raw=raw, cursors=run.cursors,
                    expires=min(now + HOLD_SECONDS, now + _hold_max_s()), deadline=now + _hold_max_s()))
    else:
        for r in results:
            r.cursor = None
    return RunResult(query_id=query_id, mode="write" if write else "read", results=results,
                     duration_ms=(time.perf_counter() - run_started) * 1000, messages=messages)
