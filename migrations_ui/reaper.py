"""Runs a stopped server left "running": marked failed once their work has stopped.

A server (or worker) killed mid-run cannot write the end of its runs. The runs nobody attends any
more (``migrations_ui.liveness.unattended``: open, not executed by this process, their executor's
heartbeat stopped, not queued waiting for a worker) are marked failed as soon as no session of them
is alive on the target (its child's lock session, env.py's sessions, the server's lock session — see
``migrations_ui.runlock``): until then their work may still be rolling back. This happens:

* when a server starts (``apps.py``, after ``migrate``): ``reap_stale_in_background``;
* every few seconds in every live server and worker (``housekeeping``, a receiver of
  ``core.signals.housekeeping``): one internal-DB query, and the target is asked only when some
  run is unattended — so a run whose instance died is failed while the other instances live,
  without a restart or a page view;
* in the job engine's gate (``liveness.fail_unattended``: it holds the lock and sees no session).

Never called from a page: a GET changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connection as django_connection

from core import target
from migrations_ui import runlock, services
from migrations_ui.jobs import executing
from migrations_ui.liveness import mark_failed, unattended

log = logging.getLogger(__name__)

REAP_WAIT_S = 120.0  # at startup: how long to wait for a stale run's sessions to end before leaving it be


def reap_stale(wait_s: float = 0.0) -> int:
    """Mark failed the open runs nobody executes whose sessions are gone; wait up to ``wait_s`` for the others.

    Each run's sessions are looked for on *that run's* target (``Run.target_name``), and its version
    table re-read there. Runs whose sessions are still alive (another instance executing them, or an
    orphan still rolling back) are left be after ``wait_s``: a new run is refused while they live,
    with their backend named. A run whose target is not configured here is left be (another instance
    configured with it reaps it).
    """
    pending = _unattended()
    reaped, deadline = 0, time.monotonic() + wait_s
    while pending:
        gone: set[int] = set()
        for name, pks in _by_target(pending).items():
            try:
                on = target.by_name(name)
                with target.get_engine(target=on).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    gone_here = {pk for pk in pks if not runlock.run_backends(conn, pk)}
            except Exception as exc:  # noqa: BLE001 - cannot tell whether they still work: leave them
                log.warning("stale runs %s not checked: %s", sorted(pks), exc)
                pending -= pks
                continue
            after: list[str] | None = None
            if gone_here:
                try:
                    after = services.current_revisions(on)
                except Exception:  # noqa: BLE001 - the run page says so; the status matters more
                    after = None
            reaped += sum(mark_failed(pk, after) for pk in sorted(gone_here))
            gone |= gone_here
        pending -= gone
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
        pending &= _unattended()  # its own server may have ended it
    if pending:
        log.warning("runs %s still have live database sessions; not marked failed", sorted(pending))
    return reaped


def _unattended() -> set[int]:
    return set(unattended(executing()).values_list("pk", flat=True))


def _by_target(pks: set[int]) -> dict[str, set[int]]:
    """The runs ``pks`` grouped by the name of the target they run on ("": a row from before rows named it)."""
    from migrations_ui.models import Run

    groups: dict[str, set[int]] = {}
    for pk, name in Run.objects.filter(pk__in=pks).values_list("pk", "target_name"):
        groups.setdefault(name or "", set()).add(pk)
    return groups


def reap_stale_in_background() -> threading.Thread | None:
    """Start ``reap_stale`` in a thread when some run claims to be running (at startup)."""
    from django.db import DatabaseError

    try:
        if not unattended(executing()).exists():
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


def housekeeping(**_kwargs: Any) -> int:
    """The periodic pass (``core.signals.housekeeping``): fail the unattended runs whose sessions are gone.

    Cheap when there is nothing to do: ``reap_stale`` reads the open runs once and touches the
    target only when one of them is unattended.
    """
    reaped = reap_stale(0.0)
    if reaped:
        log.warning("%s run(s) whose server or worker stopped marked failed", reaped)
    return reaped
