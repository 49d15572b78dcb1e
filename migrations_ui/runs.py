"""Write side: start an upgrade/downgrade run, execute it, stream and store its log.

``start_run`` (called by the HTML view and the API alike) checks the role, passes the gate of
``migrations_ui.runlock`` (the per-target PostgreSQL advisory lock, and no earlier run's session
still alive: 409 naming who), records a ``Run`` and executes it in a background thread:

1. backup: ``pg_dump -Fc`` into ``<data dir>/backups`` (PG* variables, no password on a command
   line), under the server's hold of the lock; a failed backup ends the run before any migration;
2. the child task ``alembic.upgrade|downgrade``: the child takes the run lock over on its own
   session and holds it while it works, with a watchdog that ends the work when the server dies
   (``core/child/pgadmin_child_runlock.py``); each event becomes a log line stored in ``RunLine``
   and broadcast to the Channels group of the run;
3. the lock comes back to the server (the run's leftover sessions ended first), the version
   table is re-read and checked (INVALID indexes, NOT VALID constraints);
4. the lock is released, and only then the run's final status is written and audited: a client
   that sees ``succeeded`` can start the next run at once.

A server that was killed mid-run leaves the run ``running`` in the internal DB: it is marked
failed when the server starts again (``migrations_ui.reaper``, from ``apps.py``), once no session of the
run is alive on the target any more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections
from django.db import connection as django_connection
from django.utils import timezone
from sqlalchemy import text

from core import audit, pgtools, target
from core.exceptions import BadRequest, Conflict, NotFound
from core.logging import scrub
from core.roles import require
from core.runner import RunnerError
from migrations_ui import progress, runlock, safety, services
from migrations_ui.models import Run, RunLine
from migrations_ui.runlock import LOCK_KEY, ServerLock, lock_holder  # noqa: F401  (LOCK_KEY: tests, pages)

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 6 * 3600
_RELATIVE = re.compile(r"^[+-]\d{1,4}$")
_ACTIVE: dict[int, int] = {}  # run id -> child pid, for the runs this process executes
_CANCELLED: dict[int, str] = {}  # run id -> who asked to cancel it
_BACKENDS: dict[int, set[int]] = {}  # run id -> PostgreSQL backend pids the child's env.py connected with
_LOGS: dict[int, RunLog] = {}  # run id -> its log (one writer per run: the line numbers are its own)


def group_name(run_id: int) -> str:
    return f"alembic_run_{run_id}"


# --- log lines ----------------------------------------------------------------------------

_consumer_loop: asyncio.AbstractEventLoop | None = None


def register_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Called by the WebSocket consumer: the loop that serves the run groups in this process."""
    global _consumer_loop
    _consumer_loop = loop


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
        self.flush()
        self._send({"type": "run.status", "run": run_as_dict(self.run, with_lines=False)})


# --- backup -------------------------------------------------------------------------------

def pg_dump_path(server_version_num: int | None = None) -> str:
    """The newest pg_dump installed (see core.pgtools); with a server version, one that can dump it."""
    return pgtools.pick(server_version_num).program("pg_dump")


def check_backup_possible() -> pgtools.ClientTools:
    """Before a run with a backup starts: a pg_dump that can dump the target, or a 409 with a hint."""
    return pgtools.pick(target.server_info().version_num)


def backup_dir() -> Path:
    path = Path(settings.DATA_DIR) / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_backup(run: Run, out: RunLog) -> None:
    """``pg_dump -Fc`` of the target; raises RuntimeError on failure (the run stops there)."""
    url = target.target_url()
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    rev = "-".join(run.from_revisions)[:40] or "base"
    path = backup_dir() / f"{url.database}-{stamp}-run{run.pk}-{re.sub(r'[^A-Za-z0-9_.-]', '_', rev)}.dump"
    try:
        tools = check_backup_possible()
    except pgtools.NoFittingClient as exc:  # checked before the run started; the server may have changed since
        raise RuntimeError(f"{exc.message} {exc.hint}") from exc
    dump = tools.program("pg_dump")
    out.line("backup", f"Backup: pg_dump -Fc {target.describe(url)} → {path} (pg_dump {tools.version}, {tools.source})")
    started = time.perf_counter()
    # Named after the run: a new run is refused while this dump's session lives (its locks would block DDL).
    env = {"PATH": "/usr/bin:/bin", **target.libpq_env(url), "PGAPPNAME": runlock.run_app_name(run.pk)}
    meter = progress.BackupMeter(path, env["PGAPPNAME"], progress.previous_backup_bytes(run.database, run.pk))
    with progress.watching(run.pk, out, "backup", meter):  # bytes written and share done, live on the run page
        proc = subprocess.run([dump, "-Fc", "--no-password", "-f", str(path)], env=env, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S, check=False)
    run.backup_ms = round((time.perf_counter() - started) * 1000, 1)
    if proc.returncode != 0:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed (exit {proc.returncode}): {scrub(proc.stderr.strip())[:2000]}")
    run.backup_path = str(path)
    run.backup_bytes = path.stat().st_size
    run.save(update_fields=["backup_path", "backup_bytes", "backup_ms"])
    out.line("backup", f"Backup done: {run.backup_bytes:,} bytes in {run.backup_ms:.0f} ms")
    from migrations_ui.backups import apply_retention  # (backups imports this module)

    removed = apply_retention()
    if removed:
        out.line("backup", f"Retention: deleted {len(removed)} old backup(s): {', '.join(removed)}")


# --- starting and executing a run ----------------------------------------------------------

def validate_target(kind: str, raw: str, hist: dict[str, Any]) -> str:
    value = (raw or "").strip()
    if kind == "upgrade":
        value = value or "heads"
        if value in ("head", "heads") or _RELATIVE.match(value) and value.startswith("+"):
            return value
    elif kind == "stamp":
        value = value or "heads"
        if value in ("head", "heads", "base"):
            return value
    else:
        value = value or "-1"
        if value == "base" or _RELATIVE.match(value) and value.startswith("-"):
            return value
    rev = services.find_revision(hist, value)
    return rev["revision"]


def start_run(request: Any, kind: str, target_rev: str, backup: bool = True, *, user: Any = None,
              wait: bool = False) -> Run:
    """Check, lock, record and start an upgrade/downgrade; returns the Run (queued or running)."""
    user = user or request.user
    require(user, "run_migrations")
    if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE, Run.Kind.STAMP):
        raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade, downgrade or stamp.")
    hist = services.history()
    target_value = validate_target(kind, target_rev, hist)
    payload = {"target": target_value, "expect": services.target_identity()}
    return start_job(request, user, kind, target_value, backup, payload, hist["current"], wait=wait)


def start_job(request: Any, user: Any, kind: str, target_value: str, backup: bool, payload: dict[str, Any],
              current: list[str], *, wait: bool = False) -> Run:
    """Pass the gate (409 when busy), record the Run and execute it in a background thread."""
    username = user.get_username()
    if backup:
        try:
            check_backup_possible()  # refused now (409 + hint), not half-way through the run
        except pgtools.NoFittingClient as exc:
            audit.record(request, f"alembic.{kind}", f"{target.describe(target.target_url())} → {target_value}",
                         outcome="failed", message=exc.message, user=user)
            raise
    try:
        lock = runlock.acquire(f"pgadmin-tool {kind} by {username}")
        try:
            _refuse_while_finishing()
        except BaseException:
            lock.release()
            raise
    except Conflict as exc:
        audit.record(request, f"alembic.{kind}", f"{target.describe(target.target_url())} → {target_value}",
                     outcome="failed", message=exc.message, user=user)
        raise
    try:
        _reap_unattended()  # the lock is ours and no run's session is alive: any "running" run is stale
        run = Run.objects.create(user=user, username=username, kind=kind, target=target_value,
                                 database=target.describe(target.target_url()), from_revisions=current,
                                 backup_requested=bool(backup))
        lock.name(run.pk)
    except BaseException:
        lock.release()
        raise
    _ACTIVE[run.pk] = 0
    # Open SQL-console snapshots hold AccessShare locks for up to two minutes ("fetch more"):
    # close them first, or the migration's DDL would sit waiting behind them.
    from sqlconsole.services import release_all

    released = release_all()
    if released:
        RunLine.objects.create(run=run, seq=0, kind="info",
                               text=f"Closed {released} open SQL console result(s) so that their locks do not block the run.")
    thread = threading.Thread(target=execute_run, args=(run.pk, lock, payload, request), daemon=True,
                              name=f"alembic-run-{run.pk}")
    thread.start()
    if wait:
        thread.join()
        run.refresh_from_db()
    return run


def _refuse_while_finishing() -> None:
    """409 while a run of this process has not written its final status (its child may be dead already)."""
    finishing = sorted(_ACTIVE)
    if finishing:
        raise Conflict(f"Run {finishing[0]} is still running or finishing on this server.",
                       hint="Its page shows when it is done (a few seconds after its work stopped); then try again.",
                       detail={"run_id": finishing[0]})


def _reap_unattended() -> int:
    """Mark failed the runs that claim to run here while nobody executes them (called holding the gate)."""
    from migrations_ui.reaper import fail_unattended

    return fail_unattended(list(_ACTIVE))


def _child_events(out: RunLog, run: Run, lock: ServerLock) -> Callable[[dict[str, Any]], None]:
    kinds = {"stderr": "stderr", "sql": "sql", "revision_start": "revision", "revision_end": "revision",
             "revision_failed": "error", "connected": "info", "info": "info", "pid": "info", "log": "log",
             "runlock": "info"}

    def child_started(pid: int) -> None:
        if pid and not _ACTIVE.get(run.pk):
            _ACTIVE[run.pk] = pid  # tests and operators can find the child
            if run.pk in _CANCELLED:  # cancelled while the child was starting
                _kill_group(pid)

    def on_event(event: dict[str, Any]) -> None:
        name = event.get("event", "log")
        if name == "pid":
            child_started(int(event.get("pid") or 0))
        elif name == "backend" and event.get("pid"):
            _BACKENDS.setdefault(run.pk, set()).add(int(event["pid"]))
        line = event.get("line")
        if line:
            out.line(kinds.get(name, "log"), str(line))
        if name == "runlock":
            child_started(int(event.get("pid") or 0))
            note = runlock.child_lock_event(lock, event)
            if note:
                out.line("info", note)

    return on_event


def _migrate(run: Run, out: RunLog, payload: dict[str, Any], lock: ServerLock) -> dict[str, Any]:
    """The child task alembic.upgrade|downgrade|stamp, its events turned into log lines."""
    if run.pk in _CANCELLED:  # cancelled during the backup: no child at all
        return {"ok": False, "error": "cancelled before the migrations started"}
    # The child takes the run lock over on its own session (same key) and holds it while it works.
    payload = {**payload, "run_lock": runlock.child_payload(run.pk)}
    try:
        return services.run_child(run.kind, payload, on_event=_child_events(out, run, lock), timeout=RUN_TIMEOUT_S)
    except RunnerError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint, "traceback": str(exc.detail.get("traceback", ""))}


# kind -> work of the run between the backup and the final check (restore registers itself);
# ``work(run, out, payload)``: the server holds the run lock throughout.
_WORK: dict[str, Callable[[Run, RunLog, dict[str, Any]], dict[str, Any]]] = {}


def execute_run(run_id: int, lock: ServerLock, payload: dict[str, Any], request: Any = None) -> None:
    """The background part of a run (thread): backup, child, lock back, re-read, check, unlock, status, audit."""
    try:
        close_old_connections()
        run = Run.objects.get(pk=run_id)
        out = RunLog(run)
        _LOGS[run_id] = out
    except Exception:  # the internal DB failed: never keep the lock for a run that cannot start
        lock.release()
        _ACTIVE.pop(run_id, None)
        log.exception("run %s could not start", run_id)
        return
    result: dict[str, Any] = {}
    # The verdict stays in this variable until the lock is released; the stored status says
    # "running" until then, so that a client that sees a final status can start the next run.
    verdict = Run.Status.FAILED
    try:
        run.status, run.started_at = Run.Status.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
        out.status()
        out.line("info", f"{run.kind} to {run.target} on {run.database} by {run.username}; "
                         f"current: {', '.join(run.from_revisions) or 'base'}")
        if run.backup_requested:
            run_backup(run, out)
        else:
            out.line("warning", "No backup (unticked by an admin).")
        lock.verify()  # its session may have been ended during the backup: then nothing else runs
        started = time.perf_counter()
        work = _WORK.get(run.kind)
        result = work(run, out, payload) if work else _migrate(run, out, payload, lock)
        run.migrate_ms = round((time.perf_counter() - started) * 1000, 1)
        run.steps = result.get("steps") or []
        cancelled_by = _CANCELLED.get(run.pk)
        if result.get("ok"):
            verdict = Run.Status.SUCCEEDED
        elif cancelled_by:
            run.error = f"cancelled by {cancelled_by}"
            run.hint = ("The child process was killed and its database sessions terminated: the migration in "
                        "progress was rolled back; the version table below is what the database is at.")
            out.line("error", f"Cancelled by {cancelled_by}: child process killed.")
            _terminate_backends(run.pk)
        else:
            run.error, run.hint = str(result.get("error") or "failed"), str(result.get("hint") or "")
            run.traceback = scrub(str(result.get("traceback") or ""))
            out.line("error", f"Failed: {run.error}")
    except Exception as exc:  # noqa: BLE001 - backup failure, DB errors: the run fails, the server lives
        run.error = scrub(str(exc)) or type(exc).__name__
        out.line("error", f"Failed: {run.error}")
    finally:
        try:
            for note in lock.reclaim():  # leftover sessions ended, lock held again for the re-read
                out.line("warning", note)
            _finish(run, out, verdict)
        except Exception:  # noqa: BLE001
            log.exception("run %s: the final check failed", run.pk)
        finally:
            lock.release()
            out.line("info", "Lock released.")
            _ACTIVE.pop(run.pk, None)
            _CANCELLED.pop(run.pk, None)
            _BACKENDS.pop(run.pk, None)
            _LOGS.pop(run.pk, None)
            run.status, run.finished_at = verdict, timezone.now()
            try:
                run.save(update_fields=["status", "finished_at", "error", "hint"])
            except Exception:  # noqa: BLE001 - the startup reaper will mark it failed
                log.exception("run %s: its final status could not be stored", run.pk)
            out.line("result" if verdict == Run.Status.SUCCEEDED else "error",
                     f"Run {'succeeded' if verdict == Run.Status.SUCCEEDED else 'FAILED'}: "
                     f"{', '.join(run.from_revisions) or 'base'} → {', '.join(run.to_revisions or []) or 'base'}")
            out.status()
            _audit(run, request)
            django_connection.close()


def _finish(run: Run, out: RunLog, verdict: str) -> None:
    """Re-read the version table and check what the run left behind (the final status comes later)."""
    # The schema may have changed: the data browser must reflect its tables again.
    from databrowser.reflection import invalidate

    invalidate()
    try:
        after = services.current_revisions()
        left = services.leftovers()
        run.to_revisions = after
        check: dict[str, Any] = {"version_table": after, **left}
        if verdict == Run.Status.SUCCEEDED and run.kind == "upgrade" and run.target in ("head", "heads"):
            heads = services.script_history()["heads"]
            check["at_target"] = sorted(after) == sorted(heads)
        check["ok"] = not left["invalid_indexes"] and not left["not_valid_constraints"] and check.get("at_target", True)
        run.post_check = check
        out.line("check", f"Version table now: {', '.join(after) or 'empty (base)'}")
        if left["invalid_indexes"]:
            out.line("warning", f"INVALID indexes left: {', '.join(left['invalid_indexes'])}")
        if left["not_valid_constraints"]:
            out.line("warning", f"NOT VALID constraints: {', '.join(left['not_valid_constraints'])}")
    except Exception as exc:  # noqa: BLE001
        run.post_check = {"ok": False, "error": scrub(str(exc))}
        out.line("warning", f"Could not re-read the version table: {exc}")
    run.save()


def _audit(run: Run, request: Any) -> None:
    try:
        audit.record(request, f"alembic.{run.kind}", f"{run.database} → {run.target}",
                     before={"revisions": run.from_revisions},
                     after={"revisions": run.to_revisions, "run_id": run.pk, "backup": run.backup_path or None},
                     outcome="ok" if run.status == Run.Status.SUCCEEDED else "failed",
                     message=run.error, user=run.user, username=run.username)
    except Exception:  # noqa: BLE001
        log.exception("audit of run %s failed", run.pk)


def run_as_dict(run: Run, with_lines: bool = True) -> dict[str, Any]:
    """The run as the API, the page and the run-log socket show it (``migrations_ui.serializers``)."""
    from migrations_ui.serializers import RunDetailSerializer, RunSerializer

    return dict((RunDetailSerializer if with_lines else RunSerializer)(run).data)


def child_pid(run_id: int) -> int | None:
    """The pid of the child executing a run in this process (None when not running here)."""
    return _ACTIVE.get(run_id) or None


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (the runner starts each child as its own group leader)."""
    try:
        if pid and os.getpgid(pid) == pid:  # only a group leader we started; never a reused pid's group
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_backends(run_id: int) -> None:
    """End the killed child's server sessions now, so its transaction rolls back and frees its locks."""
    pids = sorted(_BACKENDS.get(run_id, ()))
    if not pids:
        return
    try:
        with target.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.pid = ANY(:pids) "
                "AND a.datname = current_database() AND a.pid <> pg_backend_pid()"), {"pids": pids})
    except Exception:  # noqa: BLE001 - the backends end by themselves when they next talk to the dead child
        log.warning("could not terminate the backends %s of cancelled run %s", pids, run_id)


def cancel_run(request: Any, run_id: int, *, user: Any = None) -> Run:
    """Kill a running run's child (admin; audited); the run thread then ends it failed and unlocks."""
    user = user or request.user
    require(user, "run_migrations")
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"Run {run_id} does not exist.")
    if run.finished:
        raise Conflict(f"Run {run.pk} has already finished ({run.status}).")
    if run.kind == Run.Kind.RESTORE:
        raise Conflict("A restore cannot be cancelled: it would leave the database half restored.",
                       hint="Wait for it to finish, then restore again or migrate as needed.")
    if run.pk not in _ACTIVE:
        raise Conflict(f"Run {run.pk} is not executed by this server process.",
                       hint="Cancel it on the instance that started it (or restart that instance).")
    username = user.get_username()
    _CANCELLED[run.pk] = username
    pid = _ACTIVE.get(run.pk) or 0
    out = _LOGS.get(run.pk)
    if out is not None:
        out.line("warning", f"Cancel requested by {username}"
                 + ("." if pid else "; the run stops before its migrations start."))
    _kill_group(pid)
    audit.record(request, "alembic.cancel", f"run {run.pk}: {run.kind} {run.target} on {run.database}",
                 before={"status": run.status, "child_pid": pid or None}, user=user)
    return run


def dry_run(request: Any, kind: str, target_rev: str, *, user: Any = None) -> dict[str, Any]:
    """Run the migrations online in a transaction that is always rolled back; return the statements.

    Takes the same advisory lock as a run (a dry run takes the migrations' locks on the live
    database, just for less time), checks afterwards that the version table did not move, and
    is audited like a run.
    """
    user = user or request.user
    require(user, "run_migrations")
    if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE):
        raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade or downgrade.")
    hist = services.history()
    target_value = validate_target(kind, target_rev, hist)
    lock = runlock.acquire(f"pgadmin-tool dry run by {user.get_username()}")
    try:
        _refuse_while_finishing()
        lock.name(runlock.DRY_RUN_ID)
        # Like a run, the child holds the lock while it works and its work dies with the server.
        payload = {"direction": kind, "target": target_value, "expect": services.target_identity(),
                   "lock_timeout_ms": 3000, "run_lock": runlock.child_payload(runlock.DRY_RUN_ID)}
        try:
            result = services.run_child("dryrun", payload, timeout=RUN_TIMEOUT_S, on_event=lambda event: (
                runlock.child_lock_event(lock, event) if event.get("event") == "runlock" else None))
        except RunnerError as exc:
            result = {"ok": False, "error": exc.message, "hint": exc.hint, "statements": [], "skipped": []}
        lock.reclaim()
        after = services.current_revisions()
    finally:
        lock.release()
    result["version_table_unchanged"] = sorted(after) == sorted(hist["current"])
    result.update(kind=kind, target=target_value, before=hist["current"], after=after)
    result["findings"] = safety.analyse_sql(";\n".join(result.get("statements") or []) + ";")
    audit.record(request, f"alembic.dryrun.{kind}", f"{target.describe(target.target_url())} → {target_value}",
                 outcome="ok" if result.get("ok") else "failed", message=str(result.get("error") or ""), user=user)
    return result
