"""Django system checks: say early what is missing (target, alembic.ini, interpreter)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def project_checks(app_configs: Any, **kwargs: Any) -> list[Warning]:
    from core.project import resolve_alembic

    problems = []
    if not settings.TARGET_DATABASE_URL:
        problems.append(Warning("DATABASE_URL is not set.",
                                hint="`manage.py serve` starts the embedded PostgreSQL; set DATABASE_URL for your own server.",
                                id="pgadmin.W001"))
    else:
        from core.target import normalise_url

        try:
            normalise_url(settings.TARGET_DATABASE_URL)
        except Exception as exc:  # noqa: BLE001 - any parse failure is reported, not raised
            problems.append(Warning(str(exc), id="pgadmin.W002"))
    if not Path(settings.PROJECT_DIR).is_dir():
        problems.append(Warning(f"PGADMIN_PROJECT_DIR={settings.PROJECT_DIR} is not a folder.",
                                hint="Point PGADMIN_PROJECT_DIR at your project's root.", id="pgadmin.W003"))
    elif not (setup := resolve_alembic()).available:
        problems.append(Warning("No alembic.ini found.", hint=setup.hint, id="pgadmin.W004"))
    if "/" in settings.PROJECT_PYTHON and not Path(settings.PROJECT_PYTHON).exists():
        problems.append(Warning(f"PGADMIN_PROJECT_PYTHON={settings.PROJECT_PYTHON} does not exist.",
                                hint="Set it to your venv's python.", id="pgadmin.W005"))
    return problems
