"""App config of `core`: registers the system checks and creates the role groups."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "PostgreSQL Admin core"

    def ready(self) -> None:
        from core import checks, signals, warm  # noqa: F401  (register checks and signal handlers)
        from core.roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
        warm.install()  # fill the project's caches on the first request (manage.py serve does it at start)
