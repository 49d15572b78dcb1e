"""App config of the data browser: it reflects tables again after a run changed the schema (``core.signals``)."""

from typing import Any

from django.apps import AppConfig


def _forget_reflection(sender: Any, run: Any = None, **kwargs: Any) -> None:
    """``schema_changed``: forget the reflected tables, the next request reflects them again."""
    from databrowser.reflection import invalidate

    invalidate()


class DatabrowserConfig(AppConfig):
    name = "databrowser"
    verbose_name = "Data browser"

    def ready(self) -> None:
        from core.signals import schema_changed

        schema_changed.connect(_forget_reflection, dispatch_uid="databrowser.forget_reflection")
