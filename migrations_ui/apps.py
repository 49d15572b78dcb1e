"""App config of the migrations feature: runs left behind by a stopped server are reaped at startup."""

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _reap_stale_runs(**_kwargs: Any) -> None:
    """After ``migrate`` (which ``serve`` runs at every start): fail the runs a killed server left "running".

    In a thread: a run's sessions may still be ending on the target, and the start must not wait.
    """
    from migrations_ui.reaper import reap_stale_in_background

    reap_stale_in_background()


class MigrationsUiConfig(AppConfig):
    name = "migrations_ui"
    verbose_name = "Migrations"

    def ready(self) -> None:
        post_migrate.connect(_reap_stale_runs, sender=self, dispatch_uid="migrations_ui.reap_stale_runs")
