"""Who executes a run, whether it is still alive, and the end of the runs nobody executes any more.

A run is executed by one process: the web process that accepted it (``PGADMIN_JOBS=inline``) or a
``manage.py worker`` (``PGADMIN_JOBS=worker``). That process writes its name in ``Run.executor`` and
a heartbeat in ``Run.heartbeat_at`` every ``HEARTBEAT_S`` while it executes the run (the job engine's
cancel watcher, ``migrations_ui.jobs``). A run is *unattended* when it is open, its heartbeat is
older than ``core.housekeeping.STALE_AFTER_S`` (or was never written) and it is not queued waiting for a worker; the
reaper (``migrations_ui.reaper``) marks such a run failed once none of its sessions is left on the
target, and the gate of a new run (``fail_unattended``) does it holding the lock.

The heartbeat covers the moments a live run has no session on the target (between the child's
end and the server taking the lock back, between the unlock and the final status): a session test
alone would fail a live run there. A queued run no worker has claimed has no heartbeat and no
session by design: it waits (its page says so) and is never reaped.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from core import audit
from core.exceptions import Conflict
from core.housekeeping import process_name, stale_before
from core.target import Target
from migrations_ui.models import JobWorker, Run, RunLine

HEARTBEAT_S = 2.0  # how often the executing process writes the run's heartbeat
OPEN = [Run.Status.QUEUED, Run.Status.RUNNING]
STALE_ERROR = ("The server stopped during this run (killed or restarted before the run finished). Its child process "
               "and database sessions were gone when this was noticed; what the run had not committed was rolled back.")
STALE_HINT = "The version table below is where the database is; start the run again if needed."


this_process = process_name  # the name this process gives itself as a run's executor


def waiting_for_worker(run: Run) -> bool:
    """True for a run queued for a worker that no worker has claimed yet (never reaped: it waits)."""
    return run.status == Run.Status.QUEUED and run.payload is not None and not run.executor


def heartbeat_fresh(run: Run) -> bool:
    """True while the process executing the run writes its heartbeat (it may be between two sessions)."""
    return run.heartbeat_at is not None and run.heartbeat_at >= stale_before()


def workers_alive() -> list[JobWorker]:
    """The workers whose heartbeat is fresh."""
    return list(JobWorker.objects.filter(seen_at__gte=stale_before()))


def waiting_note(run: Run) -> str | None:
    """For a run queued for a worker: what it waits for, in words (None for any other run)."""
    if not waiting_for_worker(run):
        return None
    alive = workers_alive()
    if alive:
        return f"Waiting for a worker: {len(alive)} alive ({', '.join(w.name for w in alive)}); one takes it in a moment."
    last = JobWorker.objects.order_by("-seen_at").first()
    seen = f"the last one was seen at {timezone.localtime(last.seen_at):%Y-%m-%d %H:%M:%S}" if last else "none was ever seen"
    return (f"Waiting for a worker: no worker is running ({seen}). Start one with `manage.py worker` "
            "(PGADMIN_JOBS=worker), or cancel this run.")


def unattended(exclude: list[int]) -> QuerySet[Run]:
    """Open runs (not in ``exclude``: this process executes them) whose executor's heartbeat stopped."""
    fresh = stale_before()
    return (Run.objects.filter(status__in=OPEN).exclude(pk__in=exclude)
            .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=fresh))
            .exclude(status=Run.Status.QUEUED, executor="", payload__isnull=False))


def mark_failed(pk: int, after: list[str] | None) -> bool:
    """Mark a run nobody executes any more failed (True when it was still open), with a log line saying why."""
    fresh = stale_before()
    if not Run.objects.filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=fresh), pk=pk, status__in=OPEN).update(
            status=Run.Status.FAILED, finished_at=timezone.now(), error=STALE_ERROR, hint=STALE_HINT, to_revisions=after):
        return False
    seq = (RunLine.objects.filter(run_id=pk).order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    RunLine.objects.create(run_id=pk, seq=seq, kind="error", text=f"Marked failed: {STALE_ERROR}")
    run = Run.objects.get(pk=pk)
    # The process that died never audited the run's end: the audit trail says it here.
    audit.record(None, f"alembic.{run.kind}", f"{run.database} → {run.target}", before={"revisions": run.from_revisions},
                 after={"revisions": after, "run_id": pk, "executor": run.executor or None}, outcome="failed",
                 message=STALE_ERROR, user=run.user, username=run.username, target_name=run.target_name)
    return True


def fail_unattended(active: list[int], on: Target) -> int:
    """Mark failed every open run on target ``on`` not in ``active`` that nobody attends (the caller holds
    ``on``'s run lock and saw no run session there); 409 for a run another process still attends (queued
    for a worker, or its heartbeat fresh). Runs on other targets are not this gate's to judge.
    """
    attended: list[Run] = []
    failed = 0
    on_target = Run.objects.filter(status__in=OPEN, target_name__in=["", on.name])  # "": from before rows named it
    for run in on_target.exclude(pk__in=active):
        if waiting_for_worker(run) or heartbeat_fresh(run):
            attended.append(run)
        else:
            failed += mark_failed(run.pk, None)
    if attended:
        run = attended[0]
        if waiting_for_worker(run):
            raise Conflict(f"Run {run.pk} ({run.kind} to {run.target} by {run.username}) is queued, waiting for a "
                           "worker.", hint="It starts when a worker (manage.py worker) takes it; cancel it to start "
                                           "another.", detail={"run_id": run.pk})
        raise Conflict(f"Run {run.pk} ({run.kind} to {run.target} by {run.username}) is still running or finishing "
                       f"on {run.executor or 'another instance'}.",
                       hint="Its page shows when it is done; then try again.", detail={"run_id": run.pk})
    return failed
