"""Read side of the Alembic feature: history with status (the revision detail and SQL preview build on it).

The revision graph comes from the child (``alembic.history``; the user's revision files are
imported only there) and is cached (``core.cache``) until a file of the script directory changes. What is
applied, pending and current is computed here, from the version table read through
``core.target``. Both the HTML views and the API call these functions, through ``services`` (the app's
public surface, which re-exports them); ``drift`` and ``preview`` import this module directly, so that
``services`` can offer their answers too without an import cycle.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core import deps, interpreter, project, target
from core.cache import Cache, Computed
from core.exceptions import AppError, BadRequest, NotFound
from core.runner import RunnerError, run_task
from migrations_ui import graph

ALEMBIC_SECTION_ENV = "PGADMIN_ALEMBIC_SECTION"  # `alembic -n NAME`: which ini section holds the config


class AlembicUnavailable(AppError):
    code, status = "alembic_unavailable", 503
    default_hint = "Set PGADMIN_PROJECT_DIR to your project root or PGADMIN_ALEMBIC_CONFIG to its alembic.ini."


SECTION_PREFERENCE = project.SECTION_PREFERENCE  # Preference key of the section an admin picked on /alembic


def section_from_env() -> str:
    setup = project.resolve_alembic()
    return setup.section if setup.section_fixed else ""


def current_section() -> str:
    """PGADMIN_ALEMBIC_SECTION when set (the deployment decides), else the admin's pick, else ``alembic``."""
    return project.resolve_alembic().section


def ini_sections() -> list[str]:
    """The sections of alembic.ini that configure a script directory (``alembic -n NAME`` candidates)."""
    import configparser

    ini = project.resolve_alembic().ini
    if ini is None:
        return []
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except configparser.Error:
        return []
    return [name for name in parser.sections() if parser.has_option(name, "script_location")]


def choose_section(request: Any, name: str) -> str:
    """Switch the ini section the tool uses (admin; audited)."""
    from core import audit
    from core.roles import require
    from migrations_ui.models import Preference

    require(request.user, "run_migrations")
    if section_from_env():
        raise BadRequest(f"The section is fixed by {ALEMBIC_SECTION_ENV}={section_from_env()} in the tool's environment.",
                         hint=f"Unset {ALEMBIC_SECTION_ENV} to pick the section here.")
    sections = ini_sections()
    if name not in sections:
        raise BadRequest(f"alembic.ini has no section {name!r} with a script_location.",
                         hint=f"Choose one of: {', '.join(sections) or 'none'}.")
    before = current_section()
    Preference.put(SECTION_PREFERENCE, name)  # survives a restart
    audit.record(request, "alembic.section", name, before={"section": before}, after={"section": name})
    return name


def project_payload() -> dict[str, Any]:
    """What every alembic child task needs to build its Config (from the one resolver, core.project)."""
    setup = project.resolve_alembic()
    if not setup.available:
        raise AlembicUnavailable("Alembic config not found.", hint=setup.hint)
    return setup.payload()


def target_url_string(on: target.Target | None = None) -> str:
    return (on or target.current()).url.render_as_string(hide_password=False)


def run_child_task(task: str, payload: dict[str, Any], *, on: target.Target | None = None,
                   **kwargs: Any) -> dict[str, Any]:
    """Run ``area.task`` in the child with the project's Alembic config and the URL of target ``on``
    (default ``current()``)."""
    url = target_url_string(on)
    return run_task(task, {**project_payload(), "target_url": url, **payload}, target_url=url, **kwargs)


def run_child(task: str, payload: dict[str, Any], *, on: target.Target | None = None,
              **kwargs: Any) -> dict[str, Any]:
    return run_child_task(f"alembic.{task}", payload, on=on, **kwargs)


# --- history ------------------------------------------------------------------------------

# The graph costs a child process (Alembic imports every revision file): cached until a file of the
# script folder, env.py, the ini or script.py.mako changes, or a revision file appears or goes.
_history_cache = Cache("history", max_entries=8)


def payload_key(payload: dict[str, Any], on: target.Target | None = None) -> tuple[Any, ...]:
    """The explicit key part of every answer read from the project's Alembic setup, about target ``on``
    (default ``current()``, None when none is configured): an answer for one target is never another's."""
    on = on or target.current_or_none()
    return (tuple(sorted((k, str(v)) for k, v in payload.items())), interpreter.resolve().path,
            on.cache_part if on is not None else None)


def script_history_cached(on: target.Target | None = None) -> dict[str, Any] | None:
    """The cached raw graph when still valid, else None (never starts a child)."""
    payload = project_payload()
    found: dict[str, Any] | None = _history_cache.peek(("history", *payload_key(payload, on)))
    return found


def script_history(force: bool = False, on: target.Target | None = None) -> dict[str, Any]:
    """The raw graph from the child (cached until the scripts change), read with target ``on``'s URL
    (env.py may read it) and cached per target (default ``current()``)."""
    on = on or target.current()
    payload = project_payload()
    key = ("history", *payload_key(payload, on))
    url = target_url_string(on)
    ini = payload.get("alembic_ini")

    def compute() -> Computed:
        try:
            result = run_task("alembic.history", {**payload, "target_url": url}, target_url=url)
        except RunnerError as exc:
            raise AlembicUnavailable(f"The project's Alembic scripts could not be read: {exc.message}",
                                     hint=exc.hint) from exc
        if not result.get("ok"):
            raise AlembicUnavailable(f"The project's Alembic scripts could not be read: {result.get('error')}",
                                     hint=str(result.get("hint") or ""))
        authors = git_authors(result.get("script_location") or "")
        for rev in result["revisions"]:
            rev["author"] = authors.get(str(Path(rev["module_path"]).resolve()))
        return Computed(result, deps.alembic_scripts(result.get("script_location"), ini=ini,
                                                     module_paths=[r["module_path"] for r in result["revisions"]]))

    result: dict[str, Any] = _history_cache.get_or_compute(key, compute, force=force)
    return result


def git_authors(folder: str) -> dict[str, str]:
    """Who added each revision file (``git log --diff-filter=A``), when the project is a git checkout."""
    if not folder or not shutil.which("git"):
        return {}
    try:
        top = subprocess.run(["git", "-C", folder, "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                             timeout=5, check=False)
        if top.returncode != 0:
            return {}
        log = subprocess.run(["git", "-C", folder, "log", "--diff-filter=A", "--format=%x01%an", "--name-only",
                              "--", "."], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    root, authors, author = Path(top.stdout.strip()), {}, ""
    for line in log.stdout.splitlines():
        if line.startswith("\x01"):
            author = line[1:]
        elif line.strip() and author:
            authors[str((root / line.strip()).resolve())] = author  # oldest add wins (log is newest first)
    return authors


def version_tables(raw: dict[str, Any] | None = None, on: target.Target | None = None) -> list[tuple[str, str | None]]:
    """Every version table to read: PGADMIN_ALEMBIC_VERSION_TABLE, else what env.py passes to configure()
    (one per tenant schema when env.py migrates several)."""
    setup = project.resolve_alembic()
    if raw is None and setup.version_table is None:
        try:
            raw = script_history(on=on)
        except AppError:
            raw = {}
    return project.version_tables(setup, (raw or {}).get("version_tables"))


def version_table(on: target.Target | None = None) -> tuple[str, str | None]:
    """(name, schema) of the (first) version table."""
    return version_tables(on=on)[0]


def current_revisions(on: target.Target | None = None) -> list[str]:
    """The revisions in the (first) version table of target ``on`` (default ``current()``; empty when
    none applied or no table yet)."""
    name, schema = version_table(on)
    return project.current_revisions(name, schema, on=on) or []


def applied_set(revisions: dict[str, dict[str, Any]], current: list[str]) -> set[str]:
    """The current revisions and everything they need: ancestors and ``depends_on``."""
    parents = {rev: [*info["down_revisions"], *info.get("depends_on", [])] for rev, info in revisions.items()}
    return project.applied_revisions(parents, current)


def history(force: bool = False, on: target.Target | None = None) -> dict[str, Any]:
    """Every revision with applied/pending/current/head on target ``on`` (default ``current()``), the
    heads, counts and the graph layout."""
    on = on or target.current()
    return _with_state(script_history(force=force, on=on), on)


def history_cached(on: target.Target | None = None) -> dict[str, Any] | None:
    """``history()`` when the graph is cached (the applied state is read now), else None."""
    on = on or target.current_or_none()  # none configured: the graph still shows, its state says why not
    raw = script_history_cached(on)
    return _with_state(raw, on) if raw is not None else None


def _with_state(raw: dict[str, Any], on: target.Target | None) -> dict[str, Any]:
    """The raw graph with target ``on``'s state (version tables read now: one short query each) and the layout."""
    state_error: dict[str, str] | None = None
    tables = version_tables(raw, on)
    by_id = {r["revision"]: r for r in raw["revisions"]}
    schemas: list[dict[str, Any]] = []
    current: list[str] = []
    try:
        for i, (name, schema) in enumerate(tables):
            found = project.current_revisions(name, schema, on=on) or []
            if i == 0:
                current = found
            pending = [r for r in by_id if r not in applied_set(by_id, found)]
            schemas.append({"schema": schema, "version_table": project.table_label(name, schema), "current": found,
                            "pending_count": len(pending), "shown": i == 0})
    except AppError as exc:  # the graph is still worth showing; the state is unknown
        current, state_error = [], {"message": exc.message, "hint": exc.hint}
    applied = applied_set(by_id, current)
    revisions = []
    for r in raw["revisions"]:
        rev = r["revision"]
        revisions.append({**r, "short": rev if len(rev) <= 32 else rev[:12], "is_current": rev in current,
                          "is_applied": rev in applied, "is_pending": rev not in applied})
    heads = raw["heads"]
    lay = graph.layout(revisions)
    order = {rev: i for i, rev in enumerate(lay["order"])}
    revisions.sort(key=lambda r: order[r["revision"]])
    row_by_rev = {row["revision"]: row for row in lay["rows"]}
    for r in revisions:
        r["graph"] = row_by_rev[r["revision"]]
    unknown = [c for c in current if c not in by_id]
    return {
        "revisions": revisions, "heads": heads, "bases": raw.get("bases", []), "current": current,
        "unknown_current": unknown, "state_error": state_error,
        "applied_count": sum(1 for r in revisions if r["is_applied"]),
        "pending_count": sum(1 for r in revisions if r["is_pending"]),
        "pending": [r["revision"] for r in reversed(revisions) if r["is_pending"]],
        "multiple_heads": len(heads) > 1,
        "merge_command": f'alembic merge -m "merge heads" {" ".join(heads)}' if len(heads) > 1 else "",
        "script_location": raw.get("script_location"),
        "version_table": project.table_label(*tables[0]),
        "version_tables": raw.get("version_tables"),  # as env.py configures them (version_tables(h) reads it)
        "schemas": schemas if len(schemas) > 1 else [],  # schema-per-tenant: each schema's own state
        "stray": stray_state(raw),
        "graph": lay,
    }


def stray_state(raw: dict[str, Any]) -> dict[str, Any] | None:
    """No revisions in the script directory while revision files lie below it: say so and name the fix."""
    files = raw.get("stray_revision_files") or []
    if raw.get("revisions") or not files:
        return None
    info = {"stray_revision_files": files}
    return {"files": files[:20], "count": len(files),
            "message": f"The script directory {raw.get('script_location')} yields no revisions, but {len(files)} "
                       "revision file(s) lie in folders below it: this project's own alembic command sets "
                       "version_locations in code.",
            "hint": project.stray_hint(info, project.resolve_alembic())}


def history_api(force: bool = False, on: target.Target | None = None) -> dict[str, Any]:
    """The API shape of DESIGN.md (no layout internals)."""
    h = history(force=force, on=on)
    keys = ("revision", "down_revisions", "depends_on", "branch_labels", "doc", "create_date", "author", "module_path",
            "is_head", "is_base", "is_branch_point", "is_merge", "is_current", "is_applied", "is_pending")
    return {"revisions": [{k: r[k] for k in keys} for r in h["revisions"]], "heads": h["heads"],
            "current": h["current"], "state_error": h["state_error"], "applied_count": h["applied_count"],
            "pending_count": h["pending_count"], "version_table": h["version_table"], "schemas": h["schemas"],
            "stray": h["stray"],
            "multiple_heads": h["multiple_heads"], "merge_command": h["merge_command"]}


def find_revision(h: dict[str, Any], rev: str) -> dict[str, Any]:
    """A revision by full id or unique prefix (what people paste from `alembic history`)."""
    exact = [r for r in h["revisions"] if r["revision"] == rev]
    if exact:
        return exact[0]
    matches = [r for r in h["revisions"] if rev and r["revision"].startswith(rev)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise BadRequest(f"'{rev}' matches {len(matches)} revisions.", hint="Give more characters of the id.")
    raise NotFound(f"Revision '{rev}' is not in the project's scripts.",
                   hint="Open /alembic to see the revisions the tool found.")


# --- the target's identity (checked by the child against what env.py connects to) -------------

def target_identity(on: target.Target | None = None) -> dict[str, Any]:
    """Which database target ``on`` (default ``current()``) is: the child refuses to work when env.py
    connects elsewhere."""
    on = on or target.current()
    with target.connect(target=on) as conn:
        row = conn.execute(text(
            "SELECT current_database(), pg_postmaster_start_time()::text, "
            "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint"
        )).one()
    return {"database": row[0], "server_started": row[1], "db_oid": int(row[2]),
            "label": on.describe()}


def leftovers(on: target.Target | None = None) -> dict[str, Any]:
    """What a run may leave behind on target ``on`` (default ``current()``): INVALID indexes and NOT
    VALID constraints."""
    with target.connect(target=on) as conn:
        invalid = [r[0] for r in conn.execute(text(
            "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE NOT i.indisvalid ORDER BY 1"))]
        not_valid = [f"{r[0]} on {r[1]}" for r in conn.execute(text(
            "SELECT c.conname, c.conrelid::regclass::text FROM pg_constraint c "
            "WHERE NOT c.convalidated AND c.contype IN ('f', 'c') ORDER BY 2, 1"))]
    return {"invalid_indexes": invalid, "not_valid_constraints": not_valid}
