"""App config of the SQL console: its held results make way for a migration run, and the running queries a
dead instance registered are forgotten at every housekeeping pass (``core.signals``)."""

import logging
from typing import Any

from django.apps import AppConfig

log = logging.getLogger(__name__)


def _release_for_run(sender: Any, run: Any = None, **kwargs: Any) -> str | None:
    """``job_starting``: close every held console snapshot; their AccessShare locks would block the run's DDL."""
    from sqlconsole.held import release_all

    released = release_all()
    if released:
        return f"Closed {released} open SQL console result(s) so that their locks do not block the run."
    return None


def _housekeeping(**_kwargs: Any) -> None:
    """``housekeeping``: delete the ``RunningQuery`` rows of queries whose backend is gone (``sqlconsole.registry``),
    and close this process's held results while a run is open on any instance (``release_during_runs``)."""
    from sqlconsole.registry import forget_dead_rows

    forget_dead_rows()
    release_during_runs()


def release_during_runs() -> int:
    """Close the held console results of this process while a migration run is open anywhere.

    ``job_starting`` reaches only the process that starts a run; with several instances (or a
    worker) the held snapshots of the others would make the run's DDL wait, and its ACCESS
    EXCLUSIVE request then queues every other query on the table behind it. Each instance's
    periodic pass (every few seconds) closes its own instead. Without held results: no query.
    """
    from sqlconsole.held import held_count, release_all

    if not held_count():
        return 0
    from migrations_ui.services import run_in_progress

    if not run_in_progress():
        return 0
    released = release_all()
    if released:
        log.info("closed %s held SQL console result(s): a migration run is open", released)
    return released


def _shutting_down(**_kwargs: Any) -> None:
    """``shutting_down``: cancel this process's running console statements (``registry.cancel_all_here``)."""
    from sqlconsole.registry import cancel_all_here

    cancel_all_here()


class SqlconsoleConfig(AppConfig):
    name = "sqlconsole"
    verbose_name = "SQL console"

    def ready(self) -> None:
        from core.signals import housekeeping, job_starting, shutting_down

        job_starting.connect(_release_for_run, dispatch_uid="sqlconsole.release_for_run")
        housekeeping.connect(_housekeeping, dispatch_uid="sqlconsole.housekeeping")
        shutting_down.connect(_shutting_down, dispatch_uid="sqlconsole.shutting_down")
