"""What the tool knows about the user's project and the target's state.

``project_status()`` answers, for the startup report, ``/api/health`` and the dashboard:
is the database reachable (and which version), which ``alembic.ini``, which models base and
how many models, which revision is current and how many are pending. Each check is
independent — a missing ``alembic.ini`` is a warning, not a crash — and each failure carries a
message and a hint. The part that needs the user's code runs in the child (``core.runner``)
and is cached until a file of the project changes (mtime fingerprint).
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from sqlalchemy import Column, MetaData, String, Table, inspect, select

from core import target
from core.exceptions import AppError
from core.runner import RunnerError, run_task

_SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pgadmin", ".mypy_cache", ".pytest_cache"}


@dataclass
class Check:
    """One line of the startup report: ok / warning / error, a message and a hint."""

    name: str
    status: str  # "ok" | "warning" | "error"
    message: str
    hint: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def find_alembic_ini() -> tuple[Path | None, str]:
    """(path, hint): PGADMIN_ALEMBIC_CONFIG, else PGADMIN_PROJECT_DIR/alembic.ini, else one level down."""
    if settings.ALEMBIC_CONFIG:
        path = Path(settings.ALEMBIC_CONFIG)
        if not path.is_absolute():
            path = settings.PROJECT_DIR / path
        if path.is_file():
            return path, ""
        return None, f"PGADMIN_ALEMBIC_CONFIG={settings.ALEMBIC_CONFIG} does not exist; fix the path or unset it."
    project = Path(settings.PROJECT_DIR)
    if (project / "alembic.ini").is_file():
        return project / "alembic.ini", ""
    if project.is_dir():
        for child in sorted(project.iterdir()):
            if child.is_dir() and child.name not in _SKIP and (child / "alembic.ini").is_file():
                return child / "alembic.ini", ""
    return None, (f"No alembic.ini in PGADMIN_PROJECT_DIR ({project}) or its subfolders: set PGADMIN_PROJECT_DIR to your "
                  "project root or PGADMIN_ALEMBIC_CONFIG to the file. Migrations stay unavailable until then.")


def fingerprint(root: Path) -> tuple[int, int]:
    """(file count, newest mtime in ns) of the project's .py/.ini files: changes on every edit."""
    count, newest = 0, 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP and not d.startswith(".")]
        for name in files:
            if name.endswith((".py", ".ini")):
                try:
                    mtime = os.stat(os.path.join(dirpath, name)).st_mtime_ns
                except OSError:
                    continue
                count += 1
                newest = max(newest, mtime)
    return count, newest


_probe_lock = threading.Lock()
_probe_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def probe_project(force: bool = False) -> dict[str, Any]:
    """The child's answer about alembic and models, cached until the project's files change."""
    ini, _ = find_alembic_ini()
    key = (str(settings.PROJECT_DIR), str(ini), settings.SQLALCHEMY_BASE, settings.PROJECT_PYTHON,
           fingerprint(Path(settings.PROJECT_DIR)))
    with _probe_lock:
        if not force and key in _probe_cache:
            return _probe_cache[key]
    payload = {"alembic_ini": str(ini) if ini else None, "sqlalchemy_base": settings.SQLALCHEMY_BASE,
               "extra_paths": [str(ini.parent)] if ini else []}
    try:
        result = run_task("probe", payload, target_url=_target_url_or_none())
    except RunnerError as exc:
        result = {"runner_error": exc.as_dict()}
    with _probe_lock:
        _probe_cache.clear()
        _probe_cache[key] = result
    return result


def _target_url_or_none() -> str | None:
    try:
        return target.target_url().render_as_string(hide_password=False)
    except Exception:  # noqa: BLE001 - no target yet: the child runs without DATABASE_URL
        return None


def version_table_setting() -> tuple[str, str | None]:
    """(name, schema) from PGADMIN_ALEMBIC_VERSION_TABLE (``[schema.]name``), else Alembic's default."""
    given = os.environ.get("PGADMIN_ALEMBIC_VERSION_TABLE", "").strip()
    if given:
        schema, _, name = given.rpartition(".")
        return name, schema or None
    return "alembic_version", None


def current_revisions(name: str | None = None, schema: str | None = None) -> list[str] | None:
    """Revisions in the target's version table (None when the table does not exist)."""
    if name is None:
        name, schema = version_table_setting()
    with target.connect() as conn:
        if not inspect(conn).has_table(name, schema=schema):
            return None
        version = Table(name, MetaData(), Column("version_num", String(32)), schema=schema)
        return [row[0] for row in conn.execute(select(version.c.version_num))]


def applied_revisions(parents: dict[str, list[str]], current: list[str]) -> set[str]:
    """The current revisions and everything they need (``parents``: down revisions + depends_on)."""
    applied: set[str] = set()
    stack = [r for r in current if r in parents]
    while stack:
        rev = stack.pop()
        if rev in applied:
            continue
        applied.add(rev)
        stack.extend(p for p in parents[rev] if p in parents)
    return applied


def pending_revisions(revisions: dict[str, dict[str, Any]], current: list[str]) -> list[str]:
    """Revisions of the probe not applied: not the current ones nor anything they need."""
    parents = {rev: [d for d in info.get("down", []) if d] for rev, info in revisions.items()}
    applied = applied_revisions(parents, current)
    return [r for r in revisions if r not in applied]


def check_database() -> Check:
    try:
        url = target.target_url()
    except Exception as exc:  # noqa: BLE001 - ImproperlyConfigured: no or bad DATABASE_URL
        return Check("database", "error", str(exc).split(" Hint:")[0], "Set DATABASE_URL.")
    try:
        info = target.server_info()
    except AppError as exc:
        return Check("database", "error", exc.message, exc.hint, {"target": target.describe(url)})
    return Check("database", "ok", f"Database connected (PostgreSQL {info.version})", "",
                 {"version": info.version, "database": info.database, "user": info.user,
                  "target": target.describe(url)})


def check_alembic(probe: dict[str, Any]) -> Check:
    ini, hint = find_alembic_ini()
    if ini is None:
        return Check("alembic", "warning", "Alembic config not found", hint)
    info = probe.get("alembic")
    if probe.get("runner_error"):
        err = probe["runner_error"]
        return Check("alembic", "error", f"Alembic config found: {ini}, but the project could not be read: {err['message']}",
                     err["hint"], {"config": str(ini)})
    if not info or not info.get("ok"):
        info = info or {}
        return Check("alembic", "error", f"Alembic config found: {ini}, but its scripts failed to load: {info.get('error')}",
                     str(info.get("hint", "")), {"config": str(ini)})
    return Check("alembic", "ok", f"Alembic config found: {ini}", "",
                 {"config": str(ini), "heads": info["heads"], "revisions": info["count"]})


def check_models(probe: dict[str, Any]) -> Check:
    if probe.get("runner_error"):
        err = probe["runner_error"]
        return Check("models", "error", f"SQLAlchemy models not loaded: {err['message']}", err["hint"])
    models = probe.get("models") or {}
    errors = models.get("errors") or []
    data = {"count": models.get("count", 0), "base": models.get("base"), "found_by": models.get("found_by"),
            "errors": errors, "partial": models.get("partial", 0), "property_errors": models.get("property_errors", [])}
    partly = f", {data['partial']} described partly" if data["partial"] else ""  # a property failed: see /models
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Check("models", "error",
                     f"SQLAlchemy models: {models.get('count', 0)} loaded{partly}; {first['module']} failed: "
                     f"{first['error']}{more}", first["hint"], data)
    if partly:
        first = data["property_errors"][0]
        return Check("models", "warning", f"SQLAlchemy models: {models['count']} models{partly} "
                     f"({first['module']}: {first['error']})", "Open /models for every property error.", data)
    if not models.get("count"):
        return Check("models", "warning", "No SQLAlchemy models found",
                     "Set PGADMIN_SQLALCHEMY_BASE=package.module:Base, or make sure env.py sets target_metadata.", data)
    return Check("models", "ok", f"SQLAlchemy models loaded: {models['count']} models ({models.get('base')}, "
                 f"found by {models.get('found_by')})", "", data)


def check_migration(probe: dict[str, Any], database: Check) -> Check:
    info = probe.get("alembic") or {}
    if not database.ok:
        return Check("migration", "error", "Current migration unknown: the database is not reachable",
                     database.hint)
    try:
        current = current_revisions()
    except AppError as exc:
        return Check("migration", "error", f"Current migration unknown: {exc.message}", exc.hint)
    revisions: dict[str, dict[str, Any]] = info.get("revisions") or {}
    if current is None or not current:
        pending = list(revisions)
        return Check("migration", "warning" if revisions else "ok",
                     f"No migration applied yet (empty version table), {len(pending)} pending",
                     "Open Migrations to apply them." if pending else "",
                     {"current": [], "pending": pending})
    pending = pending_revisions(revisions, current) if revisions else []
    labels = ", ".join(f"{rev} ({revisions.get(rev, {}).get('doc', '?')})" for rev in current)
    unknown = [rev for rev in current if revisions and rev not in revisions]
    if unknown:
        return Check("migration", "warning", f"Current migration: {labels}, not found in the project's scripts",
                     "The database was migrated from other code: check PGADMIN_PROJECT_DIR / the branch you run.",
                     {"current": current, "pending": pending})
    return Check("migration", "ok", f"Current migration: {labels}, {len(pending)} pending", "",
                 {"current": current, "pending": pending})


def project_status(force: bool = False) -> dict[str, Check]:
    """Every startup check, each independent of the others."""
    database = check_database()
    probe = probe_project(force=force)
    return {
        "database": database,
        "alembic": check_alembic(probe),
        "models": check_models(probe),
        "migration": check_migration(probe, database),
    }


def status_as_json(checks: dict[str, Check]) -> dict[str, Any]:
    return {name: asdict(check) for name, check in checks.items()}
