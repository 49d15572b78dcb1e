"""Runs a stopped server left "running": marked failed once their work has stopped.

A server killed mid-run cannot write the end of its runs. When a server starts (``apps.py``,
after ``migrate``), ``reap_stale_in_background`` looks for runs that claim to be queued or
running while this process executes none of them, and marks each failed as soon as no session
of it is alive on the target (its child's lock session, env.py's sessions, the server's lock
session — see ``migrations_ui.runlock``): until then its work may still be rolling back. The job
engine's gate does the same for runs it finds unattended (``jobs.fail_unattended``: it holds the
lock and sees no session).
Never called from a page: a GET changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection as django_connection

from core import target
from migrations_ui import runlock, services
from migrations_ui.jobs import executing, mark_failed
from migrations_ui.models import Run

log = logging.getLogger(__name__)

REAP_WAIT_S = 120.0  # at startup: how long to wait for a stale run's sessions to end before leaving it be
_OPEN = [Run.Status.QUEUED, Run.Status.RUNNING]


def reap_stale(wait_s: float = 0.0) -> int:
    """Mark failed the open runs nobody executes whose sessions are gone; wait up to ``wait_s`` for the others.

    Runs whose sessions are still alive (another instance executing them, or an orphan still rolling
    back) are left be after ``wait_s``: a new run is refused while they live, with their backend named.
    """
    pending = set(Run.objects.filter(status__in=_OPEN).exclude(pk__in=executing()).values_list("pk", flat=True))
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
        reaped += sum(mark_failed(pk, after) for pk in sorted(gone))
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
        if not Run.objects.filter(status__in=_OPEN).exclude(pk__in=executing()).exists():
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
