"""Read side of the Alembic feature: history with status, revision detail, SQL preview.

The revision graph comes from the child (``alembic.history``; the user's revision files are
imported only there) and is cached until a file of the script directory changes. What is
applied, pending and current is computed here, from the version table read through
``core.target``. Both the HTML views and the API call these functions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.conf import settings
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, SqlLexer
from sqlalchemy import text

from core import project, target
from core.exceptions import AppError, BadRequest, NotFound
from core.runner import RunnerError, run_task
from migrations_ui import graph, safety

ALEMBIC_SECTION_ENV = "PGADMIN_ALEMBIC_SECTION"  # `alembic -n NAME`: which ini section holds the config


class AlembicUnavailable(AppError):
    code, status = "alembic_unavailable", 503
    default_hint = "Set PGADMIN_PROJECT_DIR to your project root or PGADMIN_ALEMBIC_CONFIG to its alembic.ini."


SECTION_PREFERENCE = "alembic.section"  # Preference key of the section an admin picked on /alembic
URL_OPTION_ENV = "PGADMIN_ALEMBIC_URL_OPTION"  # an ini option env.py reads its URL from; the child sets it to the target


def section_from_env() -> str:
    return os.environ.get(ALEMBIC_SECTION_ENV, "").strip()


def current_section() -> str:
    """PGADMIN_ALEMBIC_SECTION when set (the deployment decides), else the admin's pick, else ``alembic``."""
    from migrations_ui.models import Preference

    return section_from_env() or Preference.get(SECTION_PREFERENCE) or "alembic"


def ini_sections() -> list[str]:
    """The sections of alembic.ini that configure a script directory (``alembic -n NAME`` candidates)."""
    import configparser

    ini, _ = project.find_alembic_ini()
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
    """What every alembic child task needs to build its Config."""
    ini, hint = project.find_alembic_ini()
    payload: dict[str, Any] = {"alembic_section": current_section()}
    if ini is not None:
        payload.update(alembic_ini=str(ini), extra_paths=[str(ini.parent)])
    elif os.environ.get("PGADMIN_ALEMBIC_SCRIPT_LOCATION"):
        payload["script_location"] = os.environ["PGADMIN_ALEMBIC_SCRIPT_LOCATION"]
    else:
        raise AlembicUnavailable("Alembic config not found.", hint=hint)
    if os.environ.get(URL_OPTION_ENV, "").strip():
        payload["url_option"] = os.environ[URL_OPTION_ENV].strip()
    x_args = os.environ.get("PGADMIN_ALEMBIC_X_ARGS", "")
    if x_args:
        payload["x_args"] = [a for a in x_args.split(",") if a]
    return payload


def target_url_string() -> str:
    return target.target_url().render_as_string(hide_password=False)


def run_child_task(task: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Run ``area.task`` in the child with the project's Alembic config and the target URL."""
    url = target_url_string()
    return run_task(task, {**project_payload(), "target_url": url, **payload}, target_url=url, **kwargs)


def run_child(task: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return run_child_task(f"alembic.{task}", payload, **kwargs)


# --- history ------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_history_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def _script_key(payload: dict[str, Any]) -> tuple[Any, ...]:
    root = Path(payload.get("alembic_ini") or payload.get("script_location") or settings.PROJECT_DIR)
    root = root.parent if root.is_file() else root
    return (payload.get("alembic_ini"), payload.get("alembic_section"), payload.get("script_location"),
            settings.PROJECT_PYTHON, project.fingerprint(root))


def script_history(force: bool = False) -> dict[str, Any]:
    """The raw graph from the child (cached until the scripts change)."""
    payload = project_payload()
    key = _script_key(payload)
    with _cache_lock:
        if not force and key in _history_cache:
            return _history_cache[key]
    try:
        result = run_child("history", {})
    except RunnerError as exc:
        raise AlembicUnavailable(f"The project's Alembic scripts could not be read: {exc.message}", hint=exc.hint) from exc
    if not result.get("ok"):
        raise AlembicUnavailable(f"The project's Alembic scripts could not be read: {result.get('error')}",
                                 hint=str(result.get("hint") or ""))
    authors = git_authors(result.get("script_location") or "")
    for rev in result["revisions"]:
        rev["author"] = authors.get(str(Path(rev["module_path"]).resolve()))
    with _cache_lock:
        _history_cache.clear()
        _history_cache[key] = result
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


def version_table() -> tuple[str, str | None]:
    """(name, schema) of the version table: PGADMIN_ALEMBIC_VERSION_TABLE, else what env.py passes to configure()."""
    if os.environ.get("PGADMIN_ALEMBIC_VERSION_TABLE", "").strip():
        return project.version_table_setting()
    try:
        found = script_history().get("version_table") or {}
    except AppError:
        found = {}
    return str(found.get("name") or "alembic_version"), found.get("schema")


def current_revisions() -> list[str]:
    """The revisions in the version table (empty when none applied or no table yet)."""
    name, schema = version_table()
    return project.current_revisions(name, schema) or []


def applied_set(revisions: dict[str, dict[str, Any]], current: list[str]) -> set[str]:
    """The current revisions and everything they need: ancestors and ``depends_on``."""
    parents = {rev: [*info["down_revisions"], *info.get("depends_on", [])] for rev, info in revisions.items()}
    return project.applied_revisions(parents, current)


def history(force: bool = False) -> dict[str, Any]:
    """Every revision with applied/pending/current/head, the heads, counts and the graph layout."""
    raw = script_history(force=force)
    state_error: dict[str, str] | None = None
    try:
        current = current_revisions()
    except AppError as exc:  # the graph is still worth showing; the state is unknown
        current, state_error = [], {"message": exc.message, "hint": exc.hint}
    by_id = {r["revision"]: r for r in raw["revisions"]}
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
        "graph": lay,
    }


def history_api(force: bool = False) -> dict[str, Any]:
    """The API shape of DESIGN.md (no layout internals)."""
    h = history(force=force)
    keys = ("revision", "down_revisions", "depends_on", "branch_labels", "doc", "create_date", "author", "module_path",
            "is_head", "is_base", "is_branch_point", "is_merge", "is_current", "is_applied", "is_pending")
    return {"revisions": [{k: r[k] for k in keys} for r in h["revisions"]], "heads": h["heads"],
            "current": h["current"], "state_error": h["state_error"], "applied_count": h["applied_count"],
            "pending_count": h["pending_count"],
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


# --- revision detail ----------------------------------------------------------------------

def read_source(module_path: str, script_location: str | None) -> str:
    """The revision file's text (read, never imported), only from inside the script directory."""
    path = Path(module_path).resolve()
    if script_location and Path(script_location).resolve() not in path.parents:
        raise NotFound("The revision file is outside the script directory.")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(f"Cannot read {path.name}: {exc.strerror}.") from None


def function_bodies(source: str) -> dict[str, list[str] | None]:
    """The ``upgrade()`` / ``downgrade()`` bodies of a revision file (parsed with ``ast``, never run).

    Dedented source lines of the top-level function's body, docstring included; None when the
    file has no such function (or does not parse).
    """
    import ast
    import textwrap

    out: dict[str, list[str] | None] = {"upgrade": None, "downgrade": None}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return out
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in out and node.body:
            first, end = node.body[0].lineno, node.end_lineno or node.body[-1].lineno
            out[node.name] = textwrap.dedent("\n".join(lines[first - 1:end])).splitlines()
    return out


def _unified(old: list[str] | None, new: list[str] | None, name: str, parent: str, rev: str) -> dict[str, Any]:
    """One function's diff as classified lines (``add``/``del``/``hunk``/``ctx``/``file``)."""
    import difflib

    diff = list(difflib.unified_diff(old or [], new or [], fromfile=f"{parent}: {name}()",
                                     tofile=f"{rev}: {name}()", lineterm="", n=3))
    kinds = []
    for line in diff:
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        kinds.append({"kind": kind, "text": line})
    return {"function": name, "lines": kinds, "identical": not diff, "text": "\n".join(diff),
            "missing": [who for who, body in ((parent, old), (rev, new)) if body is None]}


def revision_diffs(rev: dict[str, Any], h: dict[str, Any], source: str) -> dict[str, Any]:
    """This revision's upgrade()/downgrade() against each parent's (a merge has several; a base none)."""
    by_id = {r["revision"]: r for r in h["revisions"]}
    mine = function_bodies(source)
    parents = []
    for parent_id in rev["down_revisions"]:
        parent = by_id.get(parent_id)
        if parent is None:
            parents.append({"parent": parent_id, "error": "not in the project's scripts", "functions": []})
            continue
        try:
            theirs = function_bodies(read_source(parent["module_path"], h.get("script_location")))
        except AppError as exc:
            parents.append({"parent": parent_id, "error": exc.message, "functions": []})
            continue
        parents.append({"parent": parent_id, "error": None, "functions": [
            _unified(theirs[name], mine[name], name, parent_id, rev["revision"]) for name in ("upgrade", "downgrade")]})
    note = ("This is the first revision: it has no parent to compare with." if not parents else
            f"A merge revision: compared with each of its {len(parents)} parents." if len(parents) > 1 else "")
    return {"parents": parents, "note": note}


def offline_sql(direction: str, start: str | None, end: str) -> dict[str, Any]:
    """``alembic upgrade|downgrade --sql start:end`` from the child; failures come back as data."""
    try:
        return run_child("sql", {"direction": direction, "start": start, "end": end})
    except RunnerError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint, "sql": "", "range": f"{start or ''}:{end}"}


def sql_ranges(h: dict[str, Any], rev: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """The upgrade and downgrade ranges a preview of ``rev`` shows, from the current revision."""
    current = h["current"]
    start = current[0] if len(current) == 1 else None
    parent = rev["down_revisions"][0] if rev["down_revisions"] else None  # a merge: its first parent
    down_to = parent or "base"
    if rev["is_pending"]:
        up = (start, rev["revision"]) if start else (None, rev["revision"])
        down = (rev["revision"], down_to)
    else:
        up = (parent, rev["revision"]) if parent else (None, rev["revision"])
        down = (start or rev["revision"], down_to)
    return {"upgrade": up, "downgrade": down}


def _highlight(code: str, lexer: Any) -> str:
    return highlight(code, lexer, HtmlFormatter(nowrap=False, cssclass="hl"))


def revision_detail(rev_id: str, *, with_sql: bool = True) -> dict[str, Any]:
    """One revision: its file, the SQL it runs both ways (offline mode), the safety summary."""
    h = history()
    rev = find_revision(h, rev_id)
    source = read_source(rev["module_path"], h.get("script_location"))
    detail: dict[str, Any] = {"revision": rev, "source": source, "current": h["current"],
                              "body_warnings": safety.analyse_revision_source(source),
                              "diff": revision_diffs(rev, h, source)}
    if with_sql:
        ranges = sql_ranges(h, rev)
        with ThreadPoolExecutor(max_workers=2) as pool:  # two children side by side: the page waits for one
            outs = dict(zip(ranges, pool.map(lambda r: offline_sql(r[0], *r[1]), ranges.items()), strict=True))
        for direction, (start, end) in ranges.items():
            out = outs[direction]
            findings = safety.analyse_sql(out.get("sql") or "") if out.get("ok") else []
            detail[f"{direction}_sql"] = {**out, "range": f"{start + ':' if start else ''}{end}",
                                          "findings": findings}
        tables = sorted({f["table"] for d in ("upgrade_sql", "downgrade_sql") for f in detail[d]["findings"]
                         if f.get("table")})
        counts = estimated_rows(tables)
        for d in ("upgrade_sql", "downgrade_sql"):
            for f in detail[d]["findings"]:
                f["estimated_rows"] = counts.get(f.get("table") or "")
    return detail


def highlighted(detail: dict[str, Any]) -> dict[str, str]:
    """HTML of the source and SQL with Pygments (for the page only)."""
    out = {"source": _highlight(detail["source"], PythonLexer())}
    for d in ("upgrade_sql", "downgrade_sql"):
        if d in detail and detail[d].get("sql"):
            out[d] = _highlight(detail[d]["sql"], SqlLexer())
    return out


def pygments_css() -> str:
    return HtmlFormatter(cssclass="hl", style="monokai").get_style_defs(".hl")


def estimated_rows(tables: list[str]) -> dict[str, int | None]:
    """Planner estimates (pg_class.reltuples) for table names as they appear in the SQL."""
    if not tables:
        return {}
    out: dict[str, int | None] = {}
    try:
        with target.connect() as conn:
            for name in tables:
                row = conn.execute(text("SELECT c.reltuples::bigint FROM pg_class c WHERE c.oid = to_regclass(:name)"),
                                   {"name": name}).first()
                out[name] = None if row is None else max(int(row[0]), 0) if row[0] is not None else None
    except AppError:
        return {name: None for name in tables}
    return out


# --- the target's identity (checked by the child against what env.py connects to) -------------

def target_identity() -> dict[str, Any]:
    with target.connect() as conn:
        row = conn.execute(text(
            "SELECT current_database(), pg_postmaster_start_time()::text, "
            "(SELECT oid FROM pg_database WHERE datname = current_database())::bigint"
        )).one()
    return {"database": row[0], "server_started": row[1], "db_oid": int(row[2]),
            "label": target.describe(target.target_url())}


def leftovers() -> dict[str, Any]:
    """What a run may leave behind: INVALID indexes and NOT VALID constraints."""
    with target.connect() as conn:
        invalid = [r[0] for r in conn.execute(text(
            "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE NOT i.indisvalid ORDER BY 1"))]
        not_valid = [f"{r[0]} on {r[1]}" for r in conn.execute(text(
            "SELECT c.conname, c.conrelid::regclass::text FROM pg_constraint c "
            "WHERE NOT c.convalidated AND c.contype IN ('f', 'c') ORDER BY 2, 1"))]
    return {"invalid_indexes": invalid, "not_valid_constraints": not_valid}


# --- what a run will do (the confirmation page) ------------------------------------------------

def _ancestors(by_id: dict[str, dict[str, Any]], rev: str) -> set[str]:
    return applied_set(by_id, [rev])


def plan_run(kind: str, target_value: str, h: dict[str, Any] | None = None) -> dict[str, Any]:
    """The revisions a run will apply or revert, in execution order, and the SQL preview range."""
    h = h or history()
    by_id = {r["revision"]: r for r in h["revisions"]}
    oldest_first = list(reversed(h["revisions"]))
    if kind == "stamp":  # nothing runs: the version table is set to the target
        return {"kind": kind, "target": target_value, "steps": [], "count": 0, "sql_range": (None, target_value),
                "body_warnings": []}
    if kind == "upgrade":
        pending = [r for r in oldest_first if r["is_pending"]]
        if target_value in ("head", "heads"):
            steps = pending
        elif target_value.startswith("+"):
            steps = pending[: int(target_value[1:])]
        else:
            wanted = _ancestors(by_id, target_value)
            steps = [r for r in pending if r["revision"] in wanted]
        end = "heads" if target_value in ("head", "heads") else (steps[-1]["revision"] if steps else target_value)
    else:
        applied = [r for r in h["revisions"] if r["is_applied"]]
        if target_value == "base":
            steps = applied
        elif target_value.startswith("-"):
            steps = applied[: int(target_value[1:])]
        else:
            keep = _ancestors(by_id, target_value)
            steps = [r for r in applied if r["revision"] not in keep]
        if target_value == "base" or not target_value.startswith("-"):
            end = target_value
        else:
            last_down = steps[-1]["down_revisions"] if steps else []
            end = last_down[0] if len(last_down) == 1 else "base"
    start = h["current"][0] if len(h["current"]) == 1 else None
    warnings: list[dict[str, Any]] = []
    if kind == "downgrade":
        for r in steps:
            try:
                source = read_source(r["module_path"], h.get("script_location"))
            except AppError:
                continue
            for w in safety.analyse_revision_source(source):
                warnings.append({**w, "revision": r["revision"]})
    return {"kind": kind, "target": target_value, "steps": steps, "count": len(steps),
            "sql_range": (start, end), "body_warnings": warnings}


def preview_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """Offline SQL of the plan's range plus its safety findings with row estimates."""
    if not plan["steps"] and plan["kind"] != "stamp":
        return {"ok": True, "sql": "", "findings": [], "range": ""}
    start, end = plan["sql_range"]
    if plan["kind"] == "downgrade" and not start:
        return {"ok": False, "error": "Offline SQL of a downgrade needs one current revision.", "hint": "",
                "sql": "", "findings": []}
    out = offline_sql(plan["kind"], start, end)
    findings = safety.analyse_sql(out.get("sql") or "") if out.get("ok") else []
    counts = estimated_rows(sorted({f["table"] for f in findings if f.get("table")}))
    for f in findings:
        f["estimated_rows"] = counts.get(f.get("table") or "")
    return {**out, "findings": findings, "summary": safety.summary(findings)}
