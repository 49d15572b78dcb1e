"""Runs a stopped server left "running": marked failed once their work has stopped.

A server killed mid-run cannot write the end of its runs. When a server starts (``apps.py``,
after ``migrate``), ``reap_stale_in_background`` looks for runs that claim to be queued or
running while this process executes none of them, and marks each failed as soon as no session
of it is alive on the target (its child's lock session, env.py's sessions, the server's lock
session — see ``migrations_ui.runlock``): until then its work may still be rolling back. The gate
of a new run does the same for runs it finds unattended (it holds the lock and sees no session).
Never called from a page: a GET changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection as django_connection
from django.utils import timezone

from core import target
from migrations_ui import runlock, services
from migrations_ui.models import Run, RunLine

log = logging.getLogger(__name__)

REAP_WAIT_S = 120.0  # at startup: how long to wait for a stale run's sessions to end before leaving it be
_OPEN = [Run.Status.QUEUED, Run.Status.RUNNING]
ERROR = ("The server stopped during this run (killed or restarted before the run finished). Its child process and "
         "database sessions were gone when this was noticed; what the run had not committed was rolled back.")
HINT = "The version table below is where the database is; start the run again if needed."


def _active() -> list[int]:
    from migrations_ui.runs import _ACTIVE

    return list(_ACTIVE)


def _mark_failed(pk: int, after: list[str] | None) -> bool:
    if not Run.objects.filter(pk=pk, status__in=_OPEN).update(status=Run.Status.FAILED, finished_at=timezone.now(),
                                                              error=ERROR, hint=HINT, to_revisions=after):
        return False
    seq = (RunLine.objects.filter(run_id=pk).order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    RunLine.objects.create(run_id=pk, seq=seq, kind="error", text=f"Marked failed: {ERROR}")
    return True


def fail_unattended(active: list[int]) -> int:
    """Mark failed every open run not in ``active`` (the caller holds the run lock and saw no run session)."""
    return sum(_mark_failed(pk, None) for pk in
               Run.objects.filter(status__in=_OPEN).exclude(pk__in=active).values_list("pk", flat=True))


def reap_stale(wait_s: float = 0.0) -> int:
    """Mark failed the open runs nobody executes whose sessions are gone; wait up to ``wait_s`` for the others.

    Runs whose sessions are still alive (another instance executing them, or an orphan still rolling
    back) are left be after ``wait_s``: a new run is refused while they live, with their backend named.
    """
    pending = set(Run.objects.filter(status__in=_OPEN).exclude(pk__in=_active()).values_list("pk", flat=True))
    reaped, deadline = 0, time.monotonic() + wait_s
    while pending:
        try:
            with target.get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                gone = {pk for pk in pending if not runlock.run_backends(conn, pk)}
        except Exception as exc:  # noqa: BLE001 - cannot tell whether they still work: leave them
            log.warning("stale runs %s not checked: %s", sorted(pending), exc)
            return reaped
        after: list[str] | None = None
        if gone:
            try:
                after = services.current_revisions()
            except Exception:  # noqa: BLE001 - the run page says so; the status matters more
                after = None
        reaped += sum(_mark_failed(pk, after) for pk in sorted(gone))
        pending -= gone
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if pending:
        log.warning("runs %s still have live database sessions; not marked failed", sorted(pending))
    return reaped


def reap_stale_in_background() -> threading.Thread | None:
    """Start ``reap_stale`` in a thread when some run claims to be running (at startup)."""
    from django.db import DatabaseError

    try:
        if not Run.objects.filter(status__in=_OPEN).exclude(pk__in=_active()).exists():
            return None
    except DatabaseError:  # the internal DB is not migrated yet
        return None

    def reap() -> None:
        try:
            reaped = reap_stale(REAP_WAIT_S)
            if reaped:
                log.warning("%s run(s) left running by a stopped server marked failed", reaped)
        except Exception:  # noqa: BLE001
            log.exception("reaping stale runs failed")
        finally:
            django_connection.close()

    thread = threading.Thread(target=reap, daemon=True, name="alembic-reap")
    thread.start()
    return thread
