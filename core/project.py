"""What the tool knows about the user's project and the target's state.

``project_status()`` answers, for the startup report, ``/api/health`` and the dashboard:
is the database reachable (and which version), which ``alembic.ini``, which models base and
how many models, which revision is current and how many are pending. Each check is
independent — a missing ``alembic.ini`` is a warning, not a crash — and each failure carries a
message and a hint. The part that needs the user's code runs in the child (``core.runner``)
and is cached (``core.cache``) until a file it was read from changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from sqlalchemy import Column, MetaData, String, Table, inspect, select

from core import deps, interpreter, target
from core.cache import Cache, Computed
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
            return path.resolve(), ""
        return None, f"PGADMIN_ALEMBIC_CONFIG={settings.ALEMBIC_CONFIG} does not exist; fix the path or unset it."
    project = Path(settings.PROJECT_DIR).resolve()
    if (project / "alembic.ini").is_file():
        return project / "alembic.ini", ""
    if project.is_dir():
        for child in sorted(project.iterdir()):
            if child.is_dir() and child.name not in _SKIP and (child / "alembic.ini").is_file():
                return child / "alembic.ini", ""
    return None, (f"No alembic.ini in PGADMIN_PROJECT_DIR ({project}) or its subfolders: set PGADMIN_PROJECT_DIR to your "
                  "project root or PGADMIN_ALEMBIC_CONFIG to the file (PGADMIN_ALEMBIC_SCRIPT_LOCATION to the script "
                  "directory when the project has no alembic.ini). Migrations stay unavailable until then.")


# --- the one resolution of the project's Alembic setup ----------------------------------------

SECTION_PREFERENCE = "alembic.section"  # Preference key of the section an admin picked on /alembic


def _env(name: str) -> str:
    # Read at call time (not at settings import): the deployment may change them per test/process.
    return os.environ.get(name, "").strip()


def _split_paths(raw: str) -> list[str]:
    """``a,b`` or ``a:b`` (os.pathsep) → entries, blanks dropped."""
    return [p.strip() for chunk in raw.split(",") for p in chunk.split(os.pathsep) if p.strip()]


# The admin's pick is kept by the migrations feature (its ``Preference`` model), which registers the
# reader in its ``AppConfig.ready()``: core imports no feature app's internals. None registered (the
# feature not installed): only the environment decides.
_section_reader: Callable[[], str | None] | None = None


def provide_stored_section(reader: Callable[[], str | None]) -> None:
    """Register the function answering the section an admin picked on /alembic (None: no pick)."""
    global _section_reader
    _section_reader = reader


def _stored_section() -> str | None:
    return _section_reader() if _section_reader is not None else None


@dataclass(frozen=True)
class AlembicSetup:
    """How the Alembic CLI would see the project; what every surface (report, health, pages) uses.

    Paths are absolute: the child runs in ``cwd`` (the ini's folder, where the CLI is run from) and the
    server never resolves anything against its own working directory.
    """

    ini: Path | None
    section: str
    section_fixed: bool  # PGADMIN_ALEMBIC_SECTION is set: the page cannot switch it
    script_location: str | None  # PGADMIN_ALEMBIC_SCRIPT_LOCATION (absolute), else the ini's own
    url_option: str
    version_table: tuple[str, str | None] | None  # PGADMIN_ALEMBIC_VERSION_TABLE override (name, schema)
    x_args: tuple[str, ...]
    version_locations: tuple[str, ...]
    cwd: Path
    hint: str  # why Alembic is not available (empty when it is)

    @property
    def available(self) -> bool:
        return self.ini is not None or self.script_location is not None

    def payload(self) -> dict[str, Any]:
        """What every alembic child task needs to build the CLI's Config."""
        out: dict[str, Any] = {"alembic_section": self.section, "cwd": str(self.cwd)}
        if self.ini is not None:
            out["alembic_ini"] = str(self.ini)
        if self.script_location:
            out["script_location"] = self.script_location
        if self.url_option:
            out["url_option"] = self.url_option
        if self.x_args:
            out["x_args"] = list(self.x_args)
        if self.version_locations:
            out["version_locations"] = list(self.version_locations)
        if self.version_table:
            out["version_table"] = table_label(*self.version_table)
        return out

    def describe(self) -> str:
        where = str(self.ini) if self.ini else f"script_location {self.script_location}"
        return where + (f" [{self.section}]" if self.ini and self.section != "alembic" else "")


def _cli_folder(ini: Path, section: str) -> Path:
    """Where the ``alembic`` command runs for this ini: the ini's own folder by convention; the
    project root when the ini's relative ``script_location`` exists only from there (a package that
    ships ``script_location = pkg/db/migrations`` inside itself and runs Alembic from the package's
    parent, as mlflow does)."""
    import configparser

    parser = configparser.ConfigParser(defaults={"here": str(ini.parent)})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get(section, "script_location", raw=True).replace("%(here)s", str(ini.parent))
    except (configparser.Error, OSError):
        return ini.parent
    if ":" in location.split("/")[0] or os.path.isabs(location) or (ini.parent / location).exists():
        return ini.parent
    project = Path(settings.PROJECT_DIR).resolve()
    return project if (project / location).is_dir() else ini.parent


def resolve_alembic() -> AlembicSetup:
    """The project's Alembic setup from the settings (``PGADMIN_ALEMBIC_*``) and the files found."""
    ini, hint = find_alembic_ini()
    section_env = _env("PGADMIN_ALEMBIC_SECTION")
    section = section_env or _stored_section() or "alembic"
    cwd = _cli_folder(ini, section) if ini is not None else Path(settings.PROJECT_DIR).resolve()
    location = _env("PGADMIN_ALEMBIC_SCRIPT_LOCATION")
    if location and ":" not in location.split("/")[0] and not os.path.isabs(location):
        location = str((cwd / location).resolve())  # relative to where the CLI runs; ``pkg:folder`` stays
    table = _env("PGADMIN_ALEMBIC_VERSION_TABLE")
    version_table = None
    if table:
        schema, _, name = table.rpartition(".")
        version_table = (name, schema or None)
    locations = tuple(str((cwd / p).resolve()) if ":" not in p.split("/")[0] else p
                      for p in _split_paths(_env("PGADMIN_ALEMBIC_VERSION_LOCATIONS")))
    if ini is None and location:
        hint = ""
    return AlembicSetup(ini=ini, section=section, section_fixed=bool(section_env), script_location=location or None,
                        url_option=_env("PGADMIN_ALEMBIC_URL_OPTION"),
                        version_table=version_table,
                        x_args=tuple(a for a in _env("PGADMIN_ALEMBIC_X_ARGS").split(",") if a),
                        version_locations=locations, cwd=cwd, hint=hint)


def fingerprint(root: Path) -> tuple[int, int]:
    """(file count, newest mtime in ns) of the project's .py/.ini files (kept for scripts; the caches use
    ``core.deps``, which follows only the files each answer depends on)."""
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


# The probe (alembic script folder + model summary) costs a child process: cached until one of the
# files it read changes (its revision files, env.py, the ini, the modules the model import loaded).
_probe_cache = Cache("probe", max_entries=8)


def _probe_key(setup: AlembicSetup, on: target.Target | None) -> tuple[Any, ...]:
    return ("probe", str(settings.PROJECT_DIR), setup, settings.SQLALCHEMY_BASE, interpreter.resolve().path,
            on.cache_part if on is not None else None)


def probe_deps(setup: AlembicSetup, result: dict[str, Any]) -> deps.Deps:
    """What the probe's answer was read from (see ``core.deps``)."""
    info = result.get("alembic") or {}
    if setup.available and not info.get("ok"):
        # The scripts failed to load (a revision that does not import, a bad ini): which file will fix it is
        # unknown, so any Python file of the project (or of the ini's folder) counts.
        scripts = deps.project_python(settings.PROJECT_DIR) | deps.project_python(setup.cwd) | deps.Deps.of([setup.ini])
    else:
        scripts = deps.alembic_scripts(info.get("script_location") or setup.script_location, ini=setup.ini,
                                       extra_folders=[p for p in setup.version_locations if os.path.isdir(p)])
    models = result.get("models") or {}
    return scripts | deps.model_import(models, settings.PROJECT_DIR, ini=setup.ini, env_py=info.get("env_py"))


def probe_project(force: bool = False, setup: AlembicSetup | None = None,
                  on: target.Target | None = None) -> dict[str, Any]:
    """The child's answer about alembic and models, read with target ``on``'s URL (default the
    configured one; none when none is), cached per target until a file it depends on changes."""
    setup = setup or resolve_alembic()
    on = on or target.current_or_none()
    payload = {**setup.payload(), "sqlalchemy_base": settings.SQLALCHEMY_BASE, "probe_alembic": setup.available}
    url = on.url.render_as_string(hide_password=False) if on is not None else None  # none: no DATABASE_URL

    def compute() -> Computed:
        try:
            result = run_task("probe", payload, target_url=url)
        except RunnerError as exc:  # a timeout or a bad interpreter is not a property of the files
            return Computed({"runner_error": exc.as_dict()}, store=False)
        return Computed(result, probe_deps(setup, result))

    return dict(_probe_cache.get_or_compute(_probe_key(setup, on), compute, force=force))


def probe_cached(setup: AlembicSetup | None = None, on: target.Target | None = None) -> dict[str, Any] | None:
    """The cached probe for target ``on`` (default the configured one) when it is still valid, else
    None (never starts a child)."""
    setup = setup or resolve_alembic()
    found = _probe_cache.peek(_probe_key(setup, on or target.current_or_none()))
    return dict(found) if found is not None else None


def version_table_setting() -> tuple[str, str | None]:
    """(name, schema) from PGADMIN_ALEMBIC_VERSION_TABLE (``[schema.]name``), else Alembic's default."""
    return resolve_alembic().version_table or ("alembic_version", None)


def version_tables(setup: AlembicSetup, found: list[dict[str, Any]] | None) -> list[tuple[str, str | None]]:
    """The version tables to read: the override, else every one env.py configured (one per tenant schema)."""
    if setup.version_table:
        return [setup.version_table]
    out: list[tuple[str, str | None]] = []
    for entry in found or []:
        pair = (str(entry.get("name") or "alembic_version"), entry.get("schema") or None)
        if pair not in out:
            out.append(pair)
    return out or [("alembic_version", None)]


def table_label(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema else name


def current_revisions(name: str | None = None, schema: str | None = None, *,
                      on: target.Target | None = None) -> list[str] | None:
    """Revisions in the version table of target ``on`` (default ``current()``; None when the table
    does not exist)."""
    if name is None:
        name, schema = version_table_setting()
    with target.connect(target=on) as conn:
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


def check_database(on: target.Target | None = None) -> Check:
    """Whether target ``on`` (default the configured one) answers, and which server it is."""
    try:
        on = on or target.current()
        url = on.url
    except AppError as exc:  # TargetNotConfigured: no target, or not a PostgreSQL URL
        return Check("database", "error", exc.message, exc.hint)
    try:
        info = target.server_info(on)
    except AppError as exc:
        return Check("database", "error", exc.message, exc.hint, {"target": target.describe(url)})
    return Check("database", "ok", f"Database connected (PostgreSQL {info.version})", "",
                 {"version": info.version, "database": info.database, "user": info.user,
                  "target": target.describe(url)})


def stray_hint(info: dict[str, Any], setup: AlembicSetup) -> str:
    """The fix when the script directory yields no revisions but revision files lie below it."""
    folders = sorted({str(Path(f).parent) for f in info.get("stray_revision_files") or []})
    shown = ",".join(folders[:4])
    return (f"Set PGADMIN_ALEMBIC_VERSION_LOCATIONS={shown} (the version_locations your own alembic wrapper sets), "
            "or add version_locations to the ini section; pass -x arguments with PGADMIN_ALEMBIC_X_ARGS.")


def check_alembic(probe: dict[str, Any], setup: AlembicSetup | None = None) -> Check:
    setup = setup or resolve_alembic()
    if not setup.available:
        return Check("alembic", "warning", "Alembic config not found", setup.hint)
    where = setup.describe()
    data: dict[str, Any] = {"config": str(setup.ini) if setup.ini else None, "section": setup.section}
    info = probe.get("alembic")
    if probe.get("runner_error"):
        err = probe["runner_error"]
        return Check("alembic", "error", f"Alembic config found: {where}, but the project could not be read: {err['message']}",
                     err["hint"], data)
    if not info or not info.get("ok"):
        info = info or {}
        return Check("alembic", "error", f"Alembic config found: {where}, but its scripts failed to load: {info.get('error')}",
                     str(info.get("hint", "")), data)
    data.update(heads=info["heads"], revisions=info["count"], script_location=info.get("script_location"),
                version_tables=[table_label(*t) for t in version_tables(setup, info.get("version_tables"))])
    if not info["count"] and info.get("stray_revision_files"):
        count = len(info["stray_revision_files"])
        return Check("alembic", "error", f"Alembic config found: {where}, but its script directory "
                     f"({info.get('script_location')}) yields no revisions while {count} revision file(s) lie below it",
                     stray_hint(info, setup), data)
    return Check("alembic", "ok", f"Alembic config found: {where}", "", data)


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


def _state_of(revisions: dict[str, dict[str, Any]], current: list[str] | None) -> tuple[list[str], list[str], list[str]]:
    """(current, pending, unknown current) of one version table."""
    current = current or []
    pending = pending_revisions(revisions, current) if current else list(revisions)
    return current, pending, [rev for rev in current if rev not in revisions]


def check_migration(probe: dict[str, Any], database: Check, alembic: Check | None = None,
                    setup: AlembicSetup | None = None, on: target.Target | None = None) -> Check:
    setup = setup or resolve_alembic()
    info = probe.get("alembic") or {}
    if alembic is not None and alembic.status == "warning" and not setup.available:
        return Check("migration", "warning", "Current migration unknown: no Alembic config", alembic.hint)
    if alembic is not None and not alembic.ok:
        return Check("migration", "error", "Current migration unknown: the project's Alembic scripts could not be read",
                     alembic.hint)
    if not database.ok:
        return Check("migration", "error", "Current migration unknown: the database is not reachable",
                     database.hint)
    revisions: dict[str, dict[str, Any]] = info.get("revisions") or {}
    tables = version_tables(setup, info.get("version_tables"))
    states: list[dict[str, Any]] = []
    try:
        for name, schema in tables:
            current, pending, unknown = _state_of(revisions, current_revisions(name, schema, on=on))
            states.append({"schema": schema, "table": table_label(name, schema), "current": current,
                           "pending": pending, "unknown": unknown})
    except AppError as exc:
        return Check("migration", "error", f"Current migration unknown: {exc.message}", exc.hint)
    first = states[0]
    data = {"current": first["current"], "pending": first["pending"], "version_table": first["table"],
            "schemas": states if len(states) > 1 else []}
    if len(states) > 1:  # env.py migrates one version table per tenant schema
        parts = [f"{s['schema'] or 'default'}: {', '.join(s['current']) or 'none'} ({len(s['pending'])} pending)"
                 for s in states]
        bad = any(s["unknown"] for s in states)
        behind = any(s["pending"] for s in states)
        return Check("migration", "warning" if bad or behind else "ok",
                     f"Current migration per schema ({len(states)} version tables): " + "; ".join(parts),
                     "Open Migrations to see each schema's state." if bad or behind else "", data)
    current, pending, unknown = first["current"], first["pending"], first["unknown"]
    table_note = "" if first["table"] == "alembic_version" else f" (version table {first['table']})"
    if not current:
        return Check("migration", "warning" if revisions else "ok",
                     f"No migration applied yet (empty version table{table_note and ' ' + first['table']}), "
                     f"{len(pending)} pending",
                     "Open Migrations to apply them." if pending else "", data)
    labels = ", ".join(f"{rev} ({revisions.get(rev, {}).get('doc', '?')})" for rev in current)
    if unknown:
        return Check("migration", "warning", f"Current migration: {labels}, not found in the project's scripts",
                     "The database was migrated from other code: check PGADMIN_PROJECT_DIR / the branch you run.", data)
    return Check("migration", "ok", f"Current migration: {labels}, {len(pending)} pending{table_note}", "", data)


def check_interpreter() -> Check:
    """Which Python runs the project's code and why (core.interpreter; a build in progress is a
    warning that says so, a failed build an error with the tail of its log)."""
    state = interpreter.status()  # resolves once (never waits for a build)
    chosen = interpreter.Interpreter(**state["interpreter"])
    data = {"path": chosen.path, "source": chosen.source, "reason": chosen.reason, "state": state["state"]}
    if state["state"] == "failed":
        log_tail = str((state.get("build") or {}).get("error") or "")
        return Check("interpreter", "error", f"{chosen.report_line()}; building the project's environment failed",
                     log_tail or "Look at PGADMIN_DATA_DIR/envs/<hash>/build.log, fix, and restart.", data)
    if chosen.warning or chosen.source == "building":
        return Check("interpreter", "warning", chosen.report_line(),
                     "The tool uses it as soon as it is built; refresh this page then."
                     if chosen.source == "building"
                     else "Install SQLAlchemy and Alembic into it, or set PGADMIN_PROJECT_PYTHON.", data)
    return Check("interpreter", "ok", chosen.report_line(), "", data)


def project_status(force: bool = False, on: target.Target | None = None) -> dict[str, Check]:
    """Every startup check about target ``on`` (default the configured one), each independent of the others."""
    setup = resolve_alembic()
    on = on or target.current_or_none()
    database = check_database(on)
    probe = probe_project(force=force, setup=setup, on=on)
    alembic = check_alembic(probe, setup)
    return {
        "interpreter": check_interpreter(),
        "database": database,
        "alembic": alembic,
        "models": check_models(probe),
        "migration": check_migration(probe, database, alembic, setup, on),
    }


def project_status_cached(on: target.Target | None = None) -> dict[str, Check]:
    """The checks that need no child process, plus the project's when its probe is cached.

    ``alembic``, ``models`` and ``migration`` are missing while the probe was never run or its files
    changed: a page shows the rest at once and asks for them later (``project_status()``).
    """
    setup = resolve_alembic()
    on = on or target.current_or_none()
    database = check_database(on)
    checks = {"interpreter": check_interpreter(), "database": database}
    probe = probe_cached(setup, on)
    if probe is not None:
        alembic = check_alembic(probe, setup)
        checks.update(alembic=alembic, models=check_models(probe),
                      migration=check_migration(probe, database, alembic, setup, on))
    return checks


def status_as_json(checks: dict[str, Check]) -> dict[str, Any]:
    return {name: asdict(check) for name, check in checks.items()}
