"""The SQL preview of a revision and of a run: its own SQL (offline mode), its diff, its safety findings.

A revision's preview is the SQL that revision runs and nothing else: the child runs
``alembic upgrade <parent>:<rev> --sql`` and cuts the output per revision, so a merge revision shows
only its own statements (a merge with ``pass`` says it has nothing to run) and ancestors never leak in.
An env.py that cannot run offline (it returns early, or raises) gives "offline SQL is not available for
this project" with the dry run offered, never an empty successful preview.

Offline SQL costs a child process; it is cached (``core.cache``) per range, validated by the files it
was rendered from: the revision files of the range, env.py and the ini. A second visit to a revision
starts no child at all; editing that revision's file (or env.py) renders it again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, SqlLexer

from core import catalog, target
from core.cache import Cache, Computed
from core.deps import Deps
from core.exceptions import AppError, NotFound
from core.runner import RunnerError
from core.target import Target
from migrations_ui import safety
from migrations_ui.history import (
    applied_set,
    find_revision,
    history,
    history_cached,
    payload_key,
    project_payload,
    run_child,
    version_tables,
)

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


NOT_OFFLINE = ("Offline SQL is not available for this project: its env.py does not run migrations in offline "
               "mode (alembic … --sql).")
NOT_OFFLINE_HINT = "Use the dry run: it runs the migrations online in a transaction that is always rolled back."


def offline_sql(direction: str, start: str | None, end: str, revision: str | None = None, *,
                on: Target | None = None) -> dict[str, Any]:
    """``alembic upgrade|downgrade --sql start:end`` from the child; failures come back as data.

    With ``revision``, ``sql`` is only that revision's own statements (``full_sql`` keeps the whole output)
    and an env.py that never ran it offline is reported as ``offline_unavailable``.
    """
    try:
        out = run_child("sql", {"direction": direction, "start": start, "end": end, "revision": revision}, on=on)
    except RunnerError as exc:  # a timeout or a busy runner: not an answer to keep
        return {"ok": False, "error": exc.message, "hint": exc.hint, "sql": "", "range": f"{start or ''}:{end}",
                "transient": True}
    if not out.get("ok"):
        return out
    if revision is None:
        if out.get("ran_revision") is False:  # no revision ran: env.py returned early in offline mode
            out.update(ok=False, offline_unavailable=True, error=NOT_OFFLINE, hint=NOT_OFFLINE_HINT)
        return out
    if not out.get("ran_revision"):
        return {**out, "ok": False, "offline_unavailable": True, "full_sql": out.get("sql", ""), "sql": "",
                "error": NOT_OFFLINE, "hint": NOT_OFFLINE_HINT}
    own = str(out.get("own_sql") or "")
    statements = safety.split_statements(own)
    return {**out, "full_sql": out.get("sql", ""), "sql": own.strip() + ("\n" if own.strip() else ""),
            "statement_count": len(statements), "nothing_to_run": not statements}


def sql_ranges(h: dict[str, Any], rev: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """The ranges whose output holds ``rev``'s own SQL: from its (first) parent to it, and back.

    The preview then keeps only ``rev``'s part: ancestors and a merge's other branches are never shown.
    """
    parent = rev["down_revisions"][0] if rev["down_revisions"] else None
    return {"upgrade": (parent, rev["revision"]) if parent else (None, rev["revision"]),
            "downgrade": (rev["revision"], parent or "base")}


_sql_cache = Cache("offline_sql", max_entries=512)


def _range_deps(module_paths: list[str], script_location: str | None) -> Deps:
    """The files an offline rendering reads: the revision files of its range, env.py and the ini."""
    return Deps.of([*module_paths, project_payload().get("alembic_ini"),
                    str(Path(script_location) / "env.py") if script_location else None])


def _cached_sql(key: tuple[Any, ...], compute: Any, module_paths: list[str], script_location: str | None,
                cached_only: bool, on: Target) -> Any:
    full_key = (*key, *payload_key(project_payload(), on))
    if cached_only:
        return _sql_cache.peek(full_key)

    def run() -> Computed:
        outs = compute()
        # Kept: SQL, and "env.py cannot run offline" (a property of env.py, a dependency). Not kept: a timeout,
        # a busy runner, or a failure that another file may cause (Alembic loads every revision file).
        keep = all(o.get("ok") or o.get("offline_unavailable") for o in (outs.values() if "ok" not in outs else [outs]))
        return Computed(outs, _range_deps(module_paths, script_location), store=keep)

    return _sql_cache.get_or_compute(full_key, run)


def revision_sql(h: dict[str, Any], rev: dict[str, Any], *, cached_only: bool = False,
                 on: Target | None = None) -> dict[str, Any] | None:
    """``{"upgrade": out, "downgrade": out}``: the revision's own offline SQL both ways with target ``on``'s
    URL (default ``current()``; cached per target; with ``cached_only`` None on a miss, without starting a child)."""
    ranges = sql_ranges(h, rev)
    on = on or target.current()

    def compute() -> dict[str, Any]:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two children side by side: the page waits for one
            return dict(zip(ranges, pool.map(lambda r: offline_sql(r[0], r[1][0], r[1][1], revision=rev["revision"], on=on),
                                             ranges.items()), strict=True))

    by_id = {r["revision"]: r for r in h["revisions"]}
    files = [by_id[r]["module_path"] for r in [rev["revision"], *rev["down_revisions"]] if r in by_id]
    found: dict[str, Any] | None = _cached_sql(("revision", rev["revision"], tuple(ranges.items())), compute, files,
                                               h.get("script_location"), cached_only, on)
    return found


def _highlight(code: str, lexer: Any) -> str:
    return highlight(code, lexer, HtmlFormatter(nowrap=False, cssclass="hl"))


def _range_note(direction: str, start: str | None, end: str, rev: dict[str, Any], out: dict[str, Any]) -> str:
    rng = f"{start}:{end}" if start else end
    if out.get("offline_unavailable"):
        return ""
    if out.get("nothing_to_run"):
        kind = "a merge revision whose function is empty" if rev.get("is_merge") else "its function is empty"
        return (f"Nothing to run: {rev['revision']} executes no SQL of its own ({kind}); "
                f"{direction} only updates the version table.")
    return (f"Only {rev['revision']}'s own {direction} SQL (offline: alembic {direction} {rng} --sql, "
            "other revisions of that range left out).")


def revision_detail(rev_id: str, *, with_sql: bool = True, on: Target | None = None) -> dict[str, Any]:
    """One revision on target ``on`` (default ``current()``): its file, the SQL it runs both ways
    (offline mode), the safety summary."""
    on = on or target.current()
    return _detail(history(on=on), rev_id, with_sql=with_sql, sql_cached_only=False, on=on)


def revision_detail_cached(rev_id: str, *, on: Target | None = None) -> dict[str, Any] | None:
    """``revision_detail()`` from what is cached, without starting a child: None while the history is
    not cached; ``sql_pending`` (and no ``*_sql``) while the revision's SQL is not."""
    on = on or target.current()
    h = history_cached(on)
    return _detail(h, rev_id, with_sql=True, sql_cached_only=True, on=on) if h is not None else None


def _detail(h: dict[str, Any], rev_id: str, *, with_sql: bool, sql_cached_only: bool, on: Target) -> dict[str, Any]:
    rev = find_revision(h, rev_id)
    source = read_source(rev["module_path"], h.get("script_location"))
    detail: dict[str, Any] = {"revision": rev, "source": source, "current": h["current"],
                              "body_warnings": safety.analyse_revision_source(source),
                              "diff": revision_diffs(rev, h, source), "sql_pending": False}
    if not with_sql:
        return detail
    outs = revision_sql(h, rev, cached_only=sql_cached_only, on=on)
    if outs is None:
        detail["sql_pending"] = True
        return detail
    ranges = sql_ranges(h, rev)
    tables = [name for name, _ in version_tables(h)]
    for direction, (start, end) in ranges.items():
        out = outs[direction]
        findings = safety.analyse_sql(out.get("sql") or "", tables) if out.get("ok") else []
        detail[f"{direction}_sql"] = {**out, "range": f"{start + ':' if start else ''}{end}",
                                      "note": _range_note(direction, start, end, rev, out), "findings": findings}
    found = sorted({f["table"] for d in ("upgrade_sql", "downgrade_sql") for f in detail[d]["findings"]
                    if f.get("table")})
    counts = estimated_rows(found, on)
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


def estimated_rows(tables: list[str], on: Target | None = None) -> dict[str, int | None]:
    """Planner estimates (``core.catalog``'s rule) on target ``on`` (default ``current()``) for table
    names as they appear in the SQL."""
    if not tables:
        return {}
    try:
        with target.connect(target=on) as conn:
            return catalog.estimates(conn, tables)  # None: never analysed (unknown, not "0 rows") or no such table
    except AppError:
        return {name: None for name in tables}


# --- what a run will do (the confirmation page) ------------------------------------------------

def _ancestors(by_id: dict[str, dict[str, Any]], rev: str) -> set[str]:
    return applied_set(by_id, [rev])


def plan_run(kind: str, target_value: str, h: dict[str, Any] | None = None, *,
             on: Target | None = None) -> dict[str, Any]:
    """The revisions a run will apply or revert, in execution order, and the SQL preview range
    (``h``: the history of the target it runs on, default ``on``'s, default ``current()``'s)."""
    h = h or history(on=on)
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


def preview_plan(plan: dict[str, Any], h: dict[str, Any] | None = None, *,
                 cached_only: bool = False, on: Target | None = None) -> dict[str, Any] | None:
    """Offline SQL of the plan's range on target ``on`` (default ``current()``) plus its safety findings
    with row estimates (cached per target, range and steps; with ``cached_only`` None on a miss, without
    starting a child)."""
    on = on or target.current()
    if not plan["steps"] and plan["kind"] != "stamp":
        return {"ok": True, "sql": "", "findings": [], "range": ""}
    start, end = plan["sql_range"]
    if plan["kind"] == "downgrade" and not start:
        return {"ok": False, "error": "Offline SQL of a downgrade needs one current revision.", "hint": "",
                "sql": "", "findings": []}
    h = h or history(on=on)
    by_id = {r["revision"]: r for r in h["revisions"]}
    revisions = [r["revision"] for r in plan["steps"]] + ([start] if start else [])
    files = [by_id[r]["module_path"] for r in revisions if r in by_id]
    out = _cached_sql(("plan", plan["kind"], start, end, tuple(revisions)),
                      lambda: offline_sql(plan["kind"], start, end, on=on), files, h.get("script_location"),
                      cached_only, on)
    if out is None:
        return None
    tables = [name for name, _ in version_tables(h)]
    findings = safety.analyse_sql(out.get("sql") or "", tables) if out.get("ok") else []
    counts = estimated_rows(sorted({f["table"] for f in findings if f.get("table")}), on)
    for f in findings:
        f["estimated_rows"] = counts.get(f.get("table") or "")
    return {**out, "findings": findings, "summary": safety.summary(findings)}
