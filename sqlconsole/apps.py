"""App config of the SQL console: its held results make way for a migration run, and the running queries a
dead instance registered are forgotten at every housekeeping pass (``core.signals``)."""

from typing import Any

from django.apps import AppConfig


def _release_for_run(sender: Any, run: Any = None, **kwargs: Any) -> str | None:
    """``job_starting``: close every held console snapshot; their AccessShare locks would block the run's DDL."""
    from sqlconsole.held import release_all

    released = release_all()
    if released:
        return f"Closed {released} open SQL console result(s) so that their locks do not block the run."
    return None


def _housekeeping(**_kwargs: Any) -> None:
    """``housekeeping``: delete the ``RunningQuery`` rows of queries whose backend is gone (``sqlconsole.registry``)."""
    from sqlconsole.registry import forget_dead_rows

    forget_dead_rows()


class SqlconsoleConfig(AppConfig):
    name = "sqlconsole"
    verbose_name = "SQL console"

    def ready(self) -> None:
        from core.signals import housekeeping, job_starting

        job_starting.connect(_release_for_run, dispatch_uid="sqlconsole.release_for_run")
        housekeeping.connect(_housekeeping, dispatch_uid="sqlconsole.housekeeping")
