"""App config of the migrations feature: the job engine's handler table, the reaping of runs
left behind by a stopped server (at startup, and at every housekeeping pass of a live process),
and the stored Alembic section for ``core.project``."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _reap_stale_runs(**_kwargs: Any) -> None:
    """After ``migrate`` (which ``serve`` runs at every start): fail the runs a killed server left "running".

    In a thread: a run's sessions may still be ending on the target, and the start must not wait.
    """
    from migrations_ui.reaper import reap_stale_in_background

    reap_stale_in_background()


def _stored_section() -> str | None:
    """The section an admin picked on /alembic (``services.choose_section``), for ``core.project``."""
    from core.project import SECTION_PREFERENCE
    from migrations_ui.models import Preference

    return Preference.get(SECTION_PREFERENCE)


def _housekeeping(**kwargs: Any) -> None:
    """``core.signals.housekeeping``: fail the runs of a server or worker that died (``migrations_ui.reaper``)."""
    from migrations_ui.reaper import housekeeping

    housekeeping(**kwargs)


def register_jobs() -> None:
    """The job engine's handler table: one handler per kind of job (``migrations_ui.jobs``), explicitly."""
    from migrations_ui import backups, jobs, runs
    from migrations_ui.models import Run

    for kind in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE, Run.Kind.STAMP):
        jobs.register(kind, jobs.Handler(runs.migrate))
    jobs.register(Run.Kind.RESTORE, jobs.Handler(backups.restore_job))
    jobs.register(jobs.BACKUP, jobs.Handler(backups.backup_job, check=backups.check_backup_possible))
    jobs.register(jobs.DRY_RUN, jobs.Handler(runs.dry_run_child))


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations"

    def ready(self) -> None:
        from core import project

        register_jobs()
        project.provide_stored_section(_stored_section)
        post_migrate.connect(_reap_stale_runs, sender=self, dispatch_uid="migrations_ui.reap_stale_runs")
        from core.signals import housekeeping

        housekeeping.connect(_housekeeping, dispatch_uid="migrations_ui.housekeeping")
