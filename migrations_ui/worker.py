"""The job worker (``manage.py worker``, ``PGADMIN_JOBS=worker``): claims queued runs and executes them.

In worker mode the web process does what it does inline up to the run's record (the checks, the
gate with its 409, the audit of a refusal, ``job_starting``), then records the run queued with its
payload (``Run.payload``) and releases the run lock. A worker:

1. claims the oldest queued run: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` then an update of
   its executor, elsewhere a conditional ``UPDATE … WHERE executor = ''``: with several workers each
   run is claimed by exactly one;
2. takes the run lock (a dry run of a web process may hold it for a moment: it waits up to
   ``LOCK_WAIT_S``, saying so in the run's log, then fails the run);
3. executes it with the job engine's ``execute``, exactly as a web process does inline: the same log
   lines broadcast through the channel layer (Redis, so that the web processes' pages get them), the
   same cancel request in the internal DB, the same heartbeat, the same final status and audit.

A worker writes its own heartbeat (``JobWorker``) every ``HEARTBEAT_S``; a queued run's page and API
say whether a worker is alive (``liveness.waiting_note``). A queued run nobody claimed is never reaped; a
worker killed mid-run leaves a run the reaper fails like a web process's (``migrations_ui.reaper``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from core import audit, target
from core.exceptions import AppError
from migrations_ui import jobs, runlock
from migrations_ui.liveness import HEARTBEAT_S, this_process
from migrations_ui.models import JobWorker, Run
from migrations_ui.runlock import ServerLock
from migrations_ui.runlog import RunLog

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often an idle worker looks for a queued run
LOCK_WAIT_S = 60.0  # how long a worker waits for the run lock of a run it claimed
FORGET_AFTER = timedelta(days=1)  # a worker row not seen for this long is deleted


def claim(name: str) -> Run | None:
    """Claim the oldest queued run for this worker (exactly one worker gets each), or None."""
    fields = {"executor": name, "executor_pid": os.getpid(), "heartbeat_at": timezone.now()}
    queued = (Run.objects.filter(status=Run.Status.QUEUED, executor="", payload__isnull=False)
              .order_by("created_at", "id"))
    if connection.vendor == "postgresql":
        with transaction.atomic():  # a row another worker is claiming is skipped, not waited for
            pk = queued.select_for_update(skip_locked=True).values_list("pk", flat=True).first()
            if pk is None:
                return None
            Run.objects.filter(pk=pk).update(**fields)
    else:
        pk = queued.values_list("pk", flat=True).first()
        if pk is None or not Run.objects.filter(pk=pk, status=Run.Status.QUEUED, executor="").update(**fields):
            return None
    return Run.objects.get(pk=pk)


def _lock_for(run: Run, out: RunLog) -> ServerLock | None:
    """The run lock of the run's target for a claimed run; waits while someone holds it (a dry run), None
    after ``LOCK_WAIT_S``."""
    try:
        on = target.by_name(run.target_name)  # the run's target, not whichever this worker has configured
    except AppError as exc:
        _fail_unstarted(run, out, f"The worker cannot reach the run's target: {exc.message}", exc.hint or "")
        return None
    deadline, said = time.monotonic() + LOCK_WAIT_S, False
    while True:
        try:
            lock = runlock.acquire(f"pgadmin-tool {run.kind} by {run.username} (worker)", on)
        except AppError as exc:
            cancelled = Run.objects.filter(pk=run.pk).values_list("cancel_requested_by", flat=True).first()
            if cancelled:
                _fail_unstarted(run, out, f"cancelled by {cancelled}", "The run never started: nothing was done.")
                return None
            if time.monotonic() >= deadline:
                _fail_unstarted(run, out, f"The worker could not take the run lock: {exc.message}", exc.hint or "")
                return None
            if not said:
                out.line("warning", f"Waiting for the run lock: {exc.message}")
                said = True
            time.sleep(1.0)
            continue
        lock.name(run.pk)
        return lock


def _fail_unstarted(run: Run, out: RunLog, error: str, hint: str) -> None:
    run.status, run.finished_at, run.error, run.hint = Run.Status.FAILED, timezone.now(), error, hint
    run.save(update_fields=["status", "finished_at", "error", "hint"])
    out.line("error", f"Failed: {error}")
    out.status()
    audit.record(None, f"alembic.{run.kind}", f"{run.database} → {run.target}", outcome="failed", message=error,
                 user=run.user, username=run.username, target_name=run.target_name)


class Worker:
    """One worker process: its heartbeat row, its loop, one run at a time."""

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self.name = this_process("worker")
        self.stopping = threading.Event()
        self.current: int | None = None
        self._beat = 0.0
        self.say = say or log.info

    def heartbeat(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._beat < HEARTBEAT_S:
            return
        try:
            JobWorker.objects.update_or_create(name=self.name, defaults={
                "pid": os.getpid(), "seen_at": timezone.now(), "run_id": self.current})
            self._beat = time.monotonic()
        except DatabaseError as exc:  # the internal DB is down (or not migrated yet): beat again later
            log.warning("worker heartbeat not written: %s", exc)
            close_old_connections()

    def run_one(self) -> int | None:
        """Claim and execute one queued run (in a thread, while this one keeps beating); its id, or None."""
        run = claim(self.name)
        if run is None:
            return None
        self.current = run.pk
        self.heartbeat(force=True)
        self.say(f"run {run.pk} ({run.kind} to {run.target} by {run.username}) claimed by {self.name}")
        out = RunLog(run)
        out.line("info", f"Taken by {self.name}.")
        lock = _lock_for(run, out)
        out.flush()  # the engine's log writer numbers its lines after these
        if lock is not None:
            thread = threading.Thread(target=jobs.execute, args=(run.pk, lock, run.payload or {}, None), daemon=True,
                                      name=f"alembic-run-{run.pk}")
            thread.start()
            while thread.is_alive():
                thread.join(POLL_S)
                self.heartbeat()
        self.current = None
        self.heartbeat(force=True)
        self.say(f"run {run.pk} done")
        return run.pk

    def loop(self) -> None:
        """Until ``stopping``: beat, claim, execute; the row is deleted at a clean exit."""
        try:
            JobWorker.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()
        except DatabaseError:  # not migrated yet (the web process migrates): the loop retries
            close_old_connections()
        try:
            while not self.stopping.is_set():
                self.heartbeat()
                try:
                    done = self.run_one()
                except DatabaseError as exc:
                    log.warning("worker: the internal DB failed: %s", exc)
                    close_old_connections()
                    done = None
                if done is None:
                    self.stopping.wait(POLL_S)
        finally:
            try:
                JobWorker.objects.filter(name=self.name).delete()
            except DatabaseError:
                pass
