"""App config of the data browser: it reflects tables again after a run changed the schema, and fails
the CSV imports a dead instance was running at every housekeeping pass (``core.signals``)."""

from typing import Any

from django.apps import AppConfig


def _forget_reflection(sender: Any, run: Any = None, **kwargs: Any) -> None:
    """``schema_changed``: forget the reflected tables, the next request reflects them again."""
    from databrowser.reflection import invalidate

    invalidate()


def _housekeeping(**kwargs: Any) -> None:
    """``housekeeping``: fail the imports whose heartbeat stopped (``databrowser.importer_jobs``)."""
    from databrowser.importer_jobs import housekeeping

    housekeeping(**kwargs)


class DatabrowserConfig(AppConfig):
    name = "databrowser"
    verbose_name = "Data browser"

    def ready(self) -> None:
        from core.signals import housekeeping, schema_changed

        schema_changed.connect(_forget_reflection, dispatch_uid="databrowser.forget_reflection")
        housekeeping.connect(_housekeeping, dispatch_uid="databrowser.housekeeping")
