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
  only the first ``ROW_CAP`` rows are fetched, in batches, stopping at the run's byte
  budget. In read mode the run's connection, its
  transaction (one snapshot) and its open cursors are **held** for ``HOLD_SECONDS`` so "fetch
  more" continues the same cursor — chosen over re-running with OFFSET because OFFSET
  re-executes the query (slow, and rows shift between pages). At most one held run per user
  and ``MAX_HELD`` in all keep the connection pool safe. Fetch-more renews the idle time but never
  the total: a held result lives at most ``PGADMIN_CONSOLE_HOLD_MAX`` (its snapshot holds locks).
  PostgreSQL's ``idle_in_transaction_session_timeout`` (and ``transaction_timeout`` on 17+) is
  the backstop if this process dies.
* NOTICEs are collected per statement; errors carry the position in the script.
* **Cancel**: every running statement registers its backend pid under the client's query id
  (``sqlconsole.registry``); ``cancel()`` sends a cancel request with the connection's key (no
  privilege needed, so it works for the reader role's backends too).
  The query is unregistered before its connection is closed.
* After a run the connection is closed rather than pooled (a new one costs milliseconds; a
  session the user changed — settings, roles, temp tables, locks — never reaches anyone else).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from psycopg import pq
from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import target
from core.exceptions import AppError, BadRequest, Conflict, TargetUnavailable
from sqlconsole import guard, limits, registry, splitter
from sqlconsole.held import (  # noqa: F401 - the console's public surface stays here
    HOLD_SECONDS,
    MAX_HELD,
    ROW_CAP,
    GuardedCursor,
    _columns,
    _connection_error,
    _cursor,
    _error_dict,
    _ExtendedCursor,
    _fetch_rows,
    _Held,
    _held,
    _hold,
    _hold_max_s,
    _release,
    expire_held,
    fetch_more,
    held_count,
    release_all,
    release_user,
)
from sqlconsole.jsonable import jsonable
from sqlconsole.registry import cancel, running_for

__all__ = ["cancel", "running_for", "run_script", "fetch_more", "expire_held", "release_user", "held_count"]

MAX_STATEMENTS = 200
QUERY_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# --- results -------------------------------------------------------------------------------

@dataclass
class StatementResult:
    index: int
    sql: str
    start: int  # offset of the statement in the script (for the editor)
    outcome: str = "ok"  # ok | error | cancelled | timeout | skipped
    command: str = ""
    columns: list[dict[str, Any]] = field(default_factory=list)
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


# --- running a script ----------------------------------------------------------------------

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
        columns: list[dict[str, Any]] = []
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
        result.command = "EXPLAIN ANALYZE" if self.analyze else "EXPLAIN"  # say what ran


def _add_hints(results: list[StatementResult], plans: dict[int, Any], on: target.Target) -> None:
    from sqlconsole import catalog, hints

    relations = {n.relation for p in plans.values() for n in p.nodes if n.relation}
    try:
        tables = catalog.table_info(relations, on)
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


def run_script(script: str, *, user_id: int, write: bool = False, explain: bool = False, analyze: bool = False,
               query_id: str | None = None, at: int | None = None,
               on_statement: Callable[[StatementResult], None] | None = None,
               before_run: Callable[[], None] | None = None, on: target.Target | None = None) -> RunResult:
    """Run ``script`` on target ``on`` (default ``current()``; see the module docstring). The caller
    has checked the role for ``write``.

    ``at``: run only the statement under this character offset (the editor's cursor).
    ``before_run`` is called once every check passed and the connection is ready, just before
    the first statement runs (the write-mode audit entry); raising there runs nothing.
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
        return _run_checked(checked, results, user_id=user_id, write=write, explain=explain, analyze=analyze, on=on,
                            query_id=query_id, on_statement=on_statement, before_run=before_run)


def _connect(write: bool, on: target.Target) -> tuple[Connection, psycopg.Connection[Any]]:
    try:
        conn = target.get_engine("console", reader=not write, target=on).connect()
        raw: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    except (DBAPIError, PoolTimeout) as exc:
        translated = target.translate_error(exc, on)
        raise (translated if translated is not exc else _connection_error_sa(exc)) from exc
    return conn, raw


def _connection_error_sa(exc: Exception) -> AppError:
    return TargetUnavailable(f"The console could not connect: {str(exc).strip().splitlines()[0]}")


def _run_checked(checked: list[guard.Checked], results: list[StatementResult], *, user_id: int, write: bool,
                 explain: bool, analyze: bool, query_id: str,
                 on_statement: Callable[[StatementResult], None] | None,
                 before_run: Callable[[], None] | None = None, on: target.Target | None = None) -> RunResult:
    run_started = time.perf_counter()
    messages: list[str] = []
    on = on or target.current()
    conn, raw = _connect(write, on)
    run = _Run(raw, write, explain, analyze, query_id, handle=f"{registry.INSTANCE}.{secrets.token_urlsafe(9)}")
    hold = False
    try:
        registry.register(query_id, user_id, raw.info.backend_pid, raw, reader=not write, on=on)
    except Conflict:
        _release(conn, raw)
        raise
    raw.add_notice_handler(run.on_notice)
    try:
        if raw.info.transaction_status != pq.TransactionStatus.IDLE:
            raw.rollback()
        raw.autocommit = True
        raw.cursor_factory = GuardedCursor  # every round trip under the client-side deadline
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
        if before_run is not None:
            before_run()
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
                run.execute(result, item)
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
        _add_hints(results, run.plans, on)
    if hold:
        now = time.monotonic()
        _hold(_Held(handle=run.handle, user_id=user_id, conn=conn, raw=raw, cursors=run.cursors,
                    expires=min(now + HOLD_SECONDS, now + _hold_max_s()), on=on, deadline=now + _hold_max_s()))
    else:
        for r in results:
            r.cursor = None
    return RunResult(query_id=query_id, mode="write" if write else "read", results=results,
                     duration_ms=(time.perf_counter() - run_started) * 1000, messages=messages)
