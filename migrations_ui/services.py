"""The migrations feature's public surface: what other apps (and this app's views, API and jobs) call.

Other apps import ``migrations_ui.services`` only, never the app's other modules (the structure rule
in ``tests/core/test_structure.py``). The read side of the history lives in ``history`` and is
re-exported here as is; the drift comparison (``drift``) and the revision SQL (``preview``) are offered
through thin functions that import their module when called: both build on ``history``, so importing
them here at module level would load pygments and the preview machinery with every job, and a module
they import cannot import them back without a cycle.
"""

from __future__ import annotations

from typing import Any

from core.target import Target
from migrations_ui.history import (
    ALEMBIC_SECTION_ENV,
    SECTION_PREFERENCE,
    AlembicUnavailable,
    applied_set,
    choose_section,
    current_revisions,
    current_section,
    find_revision,
    git_authors,
    history,
    history_api,
    history_cached,
    ini_sections,
    leftovers,
    payload_key,
    project_payload,
    run_child,
    run_child_task,
    script_history,
    script_history_cached,
    section_from_env,
    stray_state,
    target_identity,
    target_url_string,
    version_table,
    version_tables,
)

__all__ = [
    "ALEMBIC_SECTION_ENV", "SECTION_PREFERENCE", "AlembicUnavailable", "applied_set", "choose_section",
    "compute_drift", "current_revisions", "current_section", "drift_cached", "find_revision", "git_authors",
    "history", "history_api", "history_cached", "ini_sections", "leftovers", "payload_key", "project_payload",
    "revision_sql", "run_child", "run_in_progress", "run_child_task", "script_history", "script_history_cached",
    "section_from_env", "stray_state", "target_identity", "target_url_string", "version_table",
    "version_tables",
]


def compute_drift(force: bool = False, on: Target | None = None) -> dict[str, Any]:
    """Models vs target ``on``'s database (default ``current()``) by Alembic's autogenerate compare
    (``drift.compute_drift``; cached there per target)."""
    from migrations_ui import drift

    return drift.compute_drift(force, on)


def drift_cached(on: Target | None = None) -> dict[str, Any] | None:
    """``compute_drift()``'s cached answer for target ``on``'s current schema, None when there is none."""
    from migrations_ui import drift

    return drift.drift_cached(on)


def revision_sql(h: dict[str, Any], rev: dict[str, Any], *, cached_only: bool = False,
                 on: Target | None = None) -> dict[str, Any] | None:
    """The offline SQL of one revision (``preview.revision_sql``; cached per target until its files change)."""
    from migrations_ui import preview

    return preview.revision_sql(h, rev, cached_only=cached_only, on=on)


def run_in_progress(target_name: str | None = None) -> bool:
    """Whether a run (queued or running, on any instance or worker) is open on the target named
    ``target_name`` (None: any target). One indexed internal-DB query: cheap enough for a periodic pass."""
    from migrations_ui.models import Run

    runs = Run.objects.filter(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
    if target_name is not None:
        runs = runs.filter(target_name__in=["", target_name])  # "": a row from before rows named their target
    return runs.exists()
