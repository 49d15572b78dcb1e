"""The job engine: every job that works on the target under the run lock, executed one way.

Jobs: upgrade, downgrade, stamp and restore (each a ``Run``, executed in a background thread),
the backup a run makes before its work, and the dry run (no ``Run``: answered to its request).
The engine does not know what a job does: a handler table maps each kind to its work, filled
explicitly by ``MigrationsUiConfig.ready()`` (``apps.py``) — the migrations' work lives in
``migrations_ui.runs``, backup and restore in ``migrations_ui.backups``.

A run, as ``start`` and ``execute`` carry it out:

1. the gate of ``migrations_ui.runlock`` (the per-target advisory lock, and no earlier run's
   session alive: 409 naming who); runs left "running" by nobody are marked failed there, an open run
   another process still attends is a 409 (``liveness.fail_unattended``); the ``Run`` is recorded and
   ``core.signals.job_starting`` is sent (the SQL console closes its held cursors, whose locks would
   block the run's DDL);
2. the backup handler (when asked), under the server's hold of the lock; a failed backup ends the run;
3. the kind's handler (the child task, or the restore), which may hand the lock to the child;
4. the lock comes back (the run's leftover sessions ended first), ``core.signals.schema_changed``
   is sent, the version table is re-read and checked (INVALID indexes, NOT VALID constraints);
5. the lock is released, and only then the final status is written and audited: a client that
   sees ``succeeded`` can start the next run at once.

Where the state lives:

* internal database: the run, its log (``RunLine``) and its cancel request (``Run.cancel_requested_*``).
  A cancel is written there by whichever process handles the request; the process executing the
  run polls it (``CANCEL_POLL_S``) and kills its child, so it does not matter which instance got it;
* target database: the run lock (an advisory lock, see ``migrations_ui.runlock``);
* this process only (``_EXECUTING``): for each run this process executes, its child's pid, the
  backend pids the child's env.py connected with, its log writer and the cancel as seen. These are
  facts of this host and this process (a pid means nothing elsewhere), so they stay in memory.

Who executes a run: the process that accepted it (``PGADMIN_JOBS=inline``, the default: a thread of
the web process), or a ``manage.py worker`` process (``PGADMIN_JOBS=worker``: the web process does the
checks and the gate, records the run queued with its payload and releases the lock; a worker claims
it and executes it with the same ``execute``, see ``migrations_ui.worker``). The executing process
writes its name in ``Run.executor`` and a heartbeat (``Run.heartbeat_at``, every
``liveness.HEARTBEAT_S``, from the run's cancel watcher) while it executes the run.

A process killed mid-run leaves its run "running"; its child dies with it (the child's watchdog,
``core/child/pgadmin_child_runlock.py``, ends the work and rolls it back). ``migrations_ui.reaper``
marks such a run failed once its heartbeat is older than ``core.housekeeping.STALE_AFTER_S`` and none of its
sessions is left on the target: at start, every few seconds in every live instance and worker
(``core.housekeeping``), and in the gate of the next run. A run queued for a worker that no worker
has claimed yet is never reaped: it waits, and says so (``liveness.waiting_note``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, transaction
from django.db import connection as django_connection
from django.utils import timezone
from sqlalchemy import text

from core import audit, target
from core.exceptions import AppError, Conflict
from core.logging import scrub
from core.signals import job_starting, schema_changed
from migrations_ui import runlock, services
from migrations_ui.liveness import HEARTBEAT_S, fail_unattended, this_process
from migrations_ui.models import Run, RunLine
from migrations_ui.runlock import ServerLock
from migrations_ui.runlog import RunLog

log = logging.getLogger(__name__)

RUN_TIMEOUT_S = 6 * 3600
CANCEL_POLL_S = 0.25  # how often the executing process reads a run's cancel request
BACKUP = "backup"  # the backup step before a run's work
DRY_RUN = "dryrun"  # a dry run (no Run record)
KINDS = (*Run.Kind.values, BACKUP, DRY_RUN)


# --- the handler table ----------------------------------------------------------------------

@dataclass
class Job:
    """What a handler works with: the run (None for a dry run), its log (None: no log), payload, lock."""

    run: Run | None
    out: RunLog | None
    payload: dict[str, Any]
    lock: ServerLock

    @property
    def on(self) -> target.Target:
        """The target the job works on: its lock's (the run's target, or the dry run's request's)."""
        return self.lock.on


@dataclass(frozen=True)
class Handler:
    """A kind's work (``work(job) -> result``, with ``result["ok"]``) and its check before a job is accepted.

    ``check(on)`` raises an ``AppError`` (e.g. 409 with a hint) to refuse a job on target ``on`` before it starts.
    """

    work: Callable[[Job], dict[str, Any]]
    check: Callable[[target.Target], Any] | None = None


_HANDLERS: dict[str, Handler] = {}


def register(kind: str, handler: Handler) -> None:
    """Register the handler of ``kind`` (from ``MigrationsUiConfig.ready``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r} (known: {', '.join(KINDS)})")
    _HANDLERS[kind] = handler


def handler(kind: str) -> Handler:
    """The registered handler of ``kind``."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise ImproperlyConfigured(f"no job handler registered for {kind!r} (MigrationsUiConfig.ready)") from None


def registered() -> frozenset[str]:
    """The kinds that have a handler."""
    return frozenset(_HANDLERS)


# --- per-process state of the runs this process executes --------------------------------------

@dataclass
class _Execution:
    out: RunLog | None = None
    child_pid: int = 0
    backends: set[int] = field(default_factory=set)  # the child's env.py sessions (to end them on cancel)
    cancelled_by: str = ""  # the cancel request once this process has seen (and acted on) it
    done: threading.Event = field(default_factory=threading.Event)
    guard: threading.Lock = field(default_factory=threading.Lock)


_EXECUTING: dict[int, _Execution] = {}  # run id -> its state, for the runs THIS process executes


def executing() -> list[int]:
    """The ids of the runs this process executes (started and not yet finished here)."""
    return list(_EXECUTING)


def child_pid(run_id: int) -> int | None:
    """The pid of the child executing a run in this process (None when not running here)."""
    ex = _EXECUTING.get(run_id)
    return (ex.child_pid or None) if ex else None


def backend_pids(run_id: int) -> set[int]:
    """The target backends the child of a run executed here connected with (empty when unknown)."""
    ex = _EXECUTING.get(run_id)
    return set(ex.backends) if ex else set()


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group (the runner starts each child as its own group leader)."""
    try:
        if pid and os.getpgid(pid) == pid:  # only a group leader we started; never a reused pid's group
            os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _terminate_backends(run_id: int, pids: set[int]) -> None:
    """End the killed child's server sessions now, so its transaction rolls back and frees its locks."""
    if not pids:
        return
    try:
        on = target.by_name(Run.objects.filter(pk=run_id).values_list("target_name", flat=True).first() or "")
        with target.get_engine(target=on).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.pid = ANY(:pids) "
                "AND a.datname = current_database() AND a.pid <> pg_backend_pid()"), {"pids": sorted(pids)})
    except Exception:  # noqa: BLE001 - the backends end by themselves when they next talk to the dead child
        log.warning("could not terminate the backends %s of cancelled run %s", sorted(pids), run_id)


def child_events(job: Job) -> Callable[[dict[str, Any]], None]:
    """The ``on_event`` of a job's child: log lines, its pid and sessions noted, the lock handed over and back."""
    kinds = {"stderr": "stderr", "sql": "sql", "revision_start": "revision", "revision_end": "revision",
             "revision_failed": "error", "connected": "info", "info": "info", "pid": "info", "log": "log",
             "runlock": "info"}
    ex = _EXECUTING.get(job.run.pk) if job.run is not None else None

    def child_started(pid: int) -> None:
        if ex is None or not pid:
            return
        with ex.guard:
            if ex.child_pid:
                return
            ex.child_pid = pid  # tests and operators can find the child
            cancelled = bool(ex.cancelled_by)
        if cancelled:  # cancelled while the child was starting
            _kill_group(pid)

    def on_event(event: dict[str, Any]) -> None:
        name = event.get("event", "log")
        if name == "pid":
            child_started(int(event.get("pid") or 0))
        elif name == "backend" and event.get("pid") and ex is not None:
            ex.backends.add(int(event["pid"]))
        line = event.get("line")
        if line and job.out is not None:
            job.out.line(kinds.get(name, "log"), str(line))
        if name == "runlock":
            child_started(int(event.get("pid") or 0))
            note = runlock.child_lock_event(job.lock, event)
            if note and job.out is not None:
                job.out.line("info", note)

    return on_event


# --- cancel: a request in the internal DB, acted on by the executing process --------------------

def _apply_cancel(ex: _Execution, by: str) -> int:
    """This process executes the run: note the cancel, say so in the log, kill the child; its pid (0: none yet)."""
    with ex.guard:
        if ex.cancelled_by:
            return ex.child_pid
        ex.cancelled_by = by
        pid = ex.child_pid
    if ex.out is not None:
        ex.out.line("warning", f"Cancel requested by {by}" + ("." if pid else "; the run stops before its migrations start."))
    _kill_group(pid)
    return pid


def request_cancel(run: Run, username: str) -> int | None:
    """Store a cancel request for ``run`` (the first one counts); the child's pid when this process runs it.

    The process executing the run sees the request within ``CANCEL_POLL_S``; when that is this
    process, the child is killed at once.
    """
    Run.objects.filter(pk=run.pk, cancel_requested_at__isnull=True).update(
        cancel_requested_by=username, cancel_requested_at=timezone.now())
    # Queued for a worker and not claimed yet: nobody will see the request, so it ends here (a worker
    # claiming it meanwhile sees the request before the run's work starts).
    if Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED, executor="", payload__isnull=False).update(
            status=Run.Status.FAILED, finished_at=timezone.now(), error=f"cancelled by {username}",
            hint="No worker had taken the run yet: nothing was done on the database."):
        ended = Run.objects.get(pk=run.pk)
        RunLog(ended).status()
        _audit(ended, None)
        return None
    ex = _EXECUTING.get(run.pk)
    if ex is None:
        return None
    by = Run.objects.filter(pk=run.pk).values_list("cancel_requested_by", flat=True).first() or username
    return _apply_cancel(ex, by) or None


def _requested_cancel(run_id: int) -> str:
    return Run.objects.filter(pk=run_id).values_list("cancel_requested_by", flat=True).first() or ""


def _watch_cancel(run_id: int, ex: _Execution) -> threading.Thread:
    """Poll the run's cancel request until the run is done (a thread with its own DB connection)."""

    def watch() -> None:
        beat = 0.0
        try:
            while not ex.done.wait(CANCEL_POLL_S):
                if time.monotonic() - beat >= HEARTBEAT_S:  # this process still executes the run (reaper.py)
                    try:
                        Run.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
                        beat = time.monotonic()
                    except Exception:  # noqa: BLE001 - the internal DB hiccuped: beat again at the next poll
                        log.warning("run %s: could not write its heartbeat", run_id)
                if ex.cancelled_by:
                    continue
                try:
                    by = _requested_cancel(run_id)
                except Exception:  # noqa: BLE001 - the internal DB hiccuped: read again at the next poll
                    log.warning("run %s: could not read its cancel request", run_id)
                    continue
                if by:
                    _apply_cancel(ex, by)
        finally:
            django_connection.close()

    thread = threading.Thread(target=watch, daemon=True, name=f"alembic-cancel-watch-{run_id}")
    thread.start()
    return thread


# --- starting and executing ---------------------------------------------------------------------

def _send(signal_: Any, run: Run) -> list[str]:
    """Send a job signal to every receiver (a failing one is logged, never stops the run); their notes."""
    notes = []
    for receiver, reply in signal_.send_robust(sender=Run, run=run):
        if isinstance(reply, Exception):
            log.error("run %s: receiver %r of a job signal failed: %s", run.pk, receiver, reply, exc_info=reply)
        elif isinstance(reply, str) and reply:
            notes.append(reply)
    return notes


def refuse_while_finishing() -> None:
    """409 while a run of this process has not written its final status (its child may be dead already)."""
    finishing = sorted(_EXECUTING)
    if finishing:
        raise Conflict(f"Run {finishing[0]} is still running or finishing on this server.",
                       hint="Its page shows when it is done (a few seconds after its work stopped); then try again.",
                       detail={"run_id": finishing[0]})


def start(request: Any, user: Any, kind: str, target_value: str, backup: bool, payload: dict[str, Any],
          current: list[str], *, wait: bool = False, on: target.Target | None = None) -> Run:
    """Pass the gate of target ``on`` (default the request's; 409 when busy), record the Run and execute
    it in a background thread.

    With ``PGADMIN_JOBS=worker`` the Run is recorded queued with its payload and the lock released: a
    worker claims and executes it (``migrations_ui.worker``); ``wait`` then polls until it is final.
    The run remembers its target (``Run.target_name``): its execution works on that one.
    """
    on = on or target.for_request(request)
    username = user.get_username()
    work = handler(kind)
    checks = [work.check, *([handler(BACKUP).check] if backup else [])]
    try:
        for check in checks:
            if check is not None:
                check(on)  # refused now (409 + hint), not half-way through the run
        lock = runlock.acquire(f"pgadmin-tool {kind} by {username}", on)
        try:
            refuse_while_finishing()
            # the lock of this target is ours and no run's session is alive on it: its "running" runs are stale
            fail_unattended(executing(), on)
        except BaseException:
            lock.release()
            raise
    except AppError as exc:
        audit.record(request, f"alembic.{kind}", f"{on.describe()} → {target_value}",
                     outcome="failed", message=exc.message, user=user, target_name=on.name)
        raise
    queued = settings.JOBS == "worker"
    try:
        with transaction.atomic():  # other processes see the run only with its notes and executor (or payload)
            run = Run.objects.create(user=user, username=username, kind=kind, target=target_value,
                                     database=on.describe(), target_name=on.name, from_revisions=current,
                                     backup_requested=bool(backup))
            _starting(run)
            _assign(run, payload if queued else None)
        if queued:
            lock.release()  # a worker takes it again when it claims the run
        else:
            lock.name(run.pk)
    except BaseException:
        lock.release()
        raise
    if queued:
        if wait:
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while not run.finished and time.monotonic() < deadline:
                time.sleep(0.5)
                run.refresh_from_db()
        return run
    _EXECUTING[run.pk] = _Execution()
    thread = threading.Thread(target=execute, args=(run.pk, lock, payload, request), daemon=True,
                              name=f"alembic-run-{run.pk}")
    thread.start()
    if wait:
        thread.join()
        run.refresh_from_db()
    return run


def _starting(run: Run) -> None:
    """``job_starting``: receivers free what would block the run (the SQL console's held cursors) and say so in its log."""
    try:
        with transaction.atomic():
            for seq, note in enumerate(_send(job_starting, run)):
                RunLine.objects.create(run=run, seq=seq, kind="info", text=note)
    except Exception:  # noqa: BLE001 - a note lost is no reason to keep the lock of a run that never starts
        log.exception("run %s: the notes of job_starting could not be stored", run.pk)


def _assign(run: Run, payload: dict[str, Any] | None) -> None:
    """This process executes the new run (its name and a first heartbeat), or, with a payload, a worker will."""
    if payload is not None:
        fields: dict[str, Any] = {"payload": payload}
    else:
        fields = {"executor": this_process("web"), "executor_pid": os.getpid(), "heartbeat_at": timezone.now()}
    Run.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)


def execute(run_id: int, lock: ServerLock, payload: dict[str, Any], request: Any = None) -> None:
    """The background part of a run (thread): backup, work, lock back, re-read, check, unlock, status, audit."""
    ex = _EXECUTING.setdefault(run_id, _Execution())
    try:
        close_old_connections()
        run = Run.objects.get(pk=run_id)
        out = RunLog(run)
        ex.out = out
    except Exception:  # the internal DB failed: never keep the lock for a run that cannot start
        lock.release()
        _EXECUTING.pop(run_id, None)
        log.exception("run %s could not start", run_id)
        return
    watcher = _watch_cancel(run_id, ex)
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
        job = Job(run, out, payload, lock)
        if run.backup_requested:
            handler(BACKUP).work(job)
        else:
            out.line("warning", "No backup (unticked by an admin).")
        lock.verify()  # its session may have been ended during the backup: then nothing else runs
        started = time.perf_counter()
        if ex.cancelled_by or _requested_cancel(run_id):  # cancelled during the backup: no child at all
            result = {"ok": False, "error": "cancelled before the migrations started"}
        else:
            result = handler(run.kind).work(job)
        run.migrate_ms = round((time.perf_counter() - started) * 1000, 1)
        run.steps = result.get("steps") or []
        cancelled_by = ex.cancelled_by or _requested_cancel(run_id)
        if result.get("ok"):
            verdict = Run.Status.SUCCEEDED
        elif cancelled_by:
            run.error = f"cancelled by {cancelled_by}"
            run.hint = ("The child process was killed and its database sessions terminated: the migration in "
                        "progress was rolled back; the version table below is what the database is at.")
            out.line("error", f"Cancelled by {cancelled_by}: child process killed.")
            _terminate_backends(run_id, ex.backends)
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
            ex.done.set()
            watcher.join(10)
            _EXECUTING.pop(run_id, None)
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
    """Re-read the run's target's version table and check what the run left behind there (the final
    status comes later)."""
    for note in _send(schema_changed, run):  # e.g. the data browser reflects its tables again
        out.line("info", note)
    try:
        on = target.by_name(run.target_name)  # the run's target, not whichever is configured now
        after = services.current_revisions(on)
        left = services.leftovers(on)
        run.to_revisions = after
        check: dict[str, Any] = {"version_table": after, **left}
        if verdict == Run.Status.SUCCEEDED and run.kind == "upgrade" and run.target in ("head", "heads"):
            heads = services.script_history(on=on)["heads"]
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
    # Not a full save: the cancel request columns belong to whoever writes them (another process maybe).
    run.save(update_fields=["to_revisions", "post_check", "migrate_ms", "steps", "error", "hint", "traceback"])


def _audit(run: Run, request: Any) -> None:
    try:
        audit.record(request, f"alembic.{run.kind}", f"{run.database} → {run.target}",
                     before={"revisions": run.from_revisions},
                     after={"revisions": run.to_revisions, "run_id": run.pk, "backup": run.backup_path or None},
                     outcome="ok" if run.status == Run.Status.SUCCEEDED else "failed",
                     message=run.error, user=run.user, username=run.username, target_name=run.target_name)
    except Exception:  # noqa: BLE001
        log.exception("audit of run %s failed", run.pk)


def run_now(kind: str, label: str, payload: dict[str, Any], on: target.Target) -> tuple[dict[str, Any], list[str]]:
    """A job without a ``Run`` (the dry run) on target ``on``, in the caller's thread: its result and the
    version table after.

    Same gate as a run (a dry run takes the migrations' locks on the live database, just for less
    time); the handler may hand the lock to its child; the lock comes back before the re-read.
    """
    work = handler(kind)
    lock = runlock.acquire(label, on)
    try:
        refuse_while_finishing()
        lock.name(runlock.DRY_RUN_ID)
        result = work.work(Job(None, None, payload, lock))
        lock.reclaim()
        after = services.current_revisions(on)
    finally:
        lock.release()
    return result, after
