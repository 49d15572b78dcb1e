"""The model map's service layer: one function per thing a page or an API endpoint shows.

``inspect_project()`` runs the child task ``models.inspect`` (the user's models are imported only
there) and caches its answer (``core.cache``) until a file the model import loaded changes (the child
reports them), so editing a model re-runs it and editing a revision file does not.
``reflect_database()`` describes the live tables in the same shape, for databases without models
and for tables no model maps. ``model_drift()`` compares the two per table; it prefers the migrations
feature's ``compute_drift()`` (Alembic's autogenerate compare, cached under the schema fingerprint) so
both pages agree, and falls back to a reflection compare of its own.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError

from core import catalog, deps, durations, interpreter, target
from core.cache import Cache, Computed
from core.exceptions import AppError, BadRequest, NotFound
from core.project import find_alembic_ini
from core.runner import RunnerError, run_task
from core.target import Target

# models.inspect costs a child process: cached (core.cache) until a file the model import loaded changes.
_cache = Cache("models", max_entries=8)


def _payload() -> dict[str, Any]:
    ini, _ = find_alembic_ini()
    return {"alembic_ini": str(ini) if ini else None, "sqlalchemy_base": settings.SQLALCHEMY_BASE,
            "extra_paths": [str(ini.parent)] if ini else []}


def _on(on: Target | None) -> Target | None:
    """The target asked about: ``on``, else the configured one, else None (models read without a database)."""
    return on or target.current_or_none()


def _cache_key(on: Target | None) -> tuple[Any, ...]:
    """The explicit key; the target's part is its ``cache_part`` (an answer for one target is never
    another's: the child imports the models with that target's URL)."""
    payload = _payload()
    return ("models.inspect", str(settings.PROJECT_DIR), payload["alembic_ini"], settings.SQLALCHEMY_BASE,
            interpreter.resolve().path, on.cache_part if on is not None else None)


def inspect_project(force: bool = False, on: Target | None = None) -> dict[str, Any]:
    """The child's description of every model, read with target ``on``'s URL (default ``current()``,
    none when none is configured), cached per target until a file the import loaded changes.

    A runner failure (bad PGADMIN_PROJECT_PYTHON, a hang) is returned as ``runner_error`` rather than
    raised: the pages still show the database from reflection.
    """
    on = _on(on)
    payload = _payload()
    url = on.url.render_as_string(hide_password=False) if on is not None else None

    def compute() -> Computed:
        started = time.monotonic()
        try:
            result = run_task("models.inspect", payload, target_url=url)
        except RunnerError as exc:  # not a property of the files: answered, not kept
            return Computed({"runner_error": exc.as_dict(), "models": [], "tables": [], "errors": [],
                             "found_by": None, "base": None, "partial": 0,
                             "elapsed_ms": round((time.monotonic() - started) * 1000)}, store=False)
        result["elapsed_ms"] = round((time.monotonic() - started) * 1000)
        # "usually ~N s" next time: only waits long enough to show a clock are kept, so an answer from a
        # worker that had the models imported already (a fraction of a second) cannot pull the estimate
        # of the next real wait (a fresh import after an edit) down to nothing
        if result["elapsed_ms"] >= 1000:
            durations.remember("models.inspect", key, result["elapsed_ms"] / 1000)
        ini = payload["alembic_ini"]
        env_py = env_py_of(ini)
        return Computed(result, deps.model_import(result, settings.PROJECT_DIR, ini=ini, env_py=env_py))

    key = _cache_key(on)
    found: dict[str, Any] = _cache.get_or_compute(key, compute, force=force)
    return found


def inspect_typical_ms(on: Target | None = None) -> int | None:
    """How long reading the models usually takes on this project (ms; None: never measured here)."""
    seconds = durations.typical("models.inspect", _cache_key(_on(on)))
    return round(seconds * 1000) if seconds is not None else None


def inspect_cached(on: Target | None = None) -> dict[str, Any] | None:
    """The cached inspection for target ``on`` (default ``current()``) when still valid, else None
    (never starts a child)."""
    found: dict[str, Any] | None = _cache.peek(_cache_key(_on(on)))
    return found


def model_deps(on: Target | None = None) -> deps.Deps | None:
    """The files the cached model import depends on (drift builds on the same files), None when unknown.
    The files are the project's whichever target the models were read for; the hook
    (``core.deps.provide_model_files``) asks about the configured one."""
    return _cache.deps_of(_cache_key(_on(on)))


def env_py_of(ini: str | None) -> str | None:
    """env.py of the ini's default section (read with configparser; no alembic import in the server)."""
    if not ini:
        return None
    import configparser

    parser = configparser.ConfigParser(defaults={"here": str(Path(ini).parent)})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get("alembic", "script_location")
    except (configparser.Error, OSError):
        return None
    if ":" in location.split("/")[0]:
        return None  # a package resource (pkg:folder): env.py is found through the loaded modules
    path = Path(location) if Path(location).is_absolute() else Path(ini).parent / location
    return str(path / "env.py")


# --- reflection ---------------------------------------------------------------------------

_POSITIONAL = re.compile(r"\b(length|precision|scale)=")


def _render_type(sqltype: Any) -> str:
    try:
        text = repr(sqltype)
    except Exception:  # noqa: BLE001
        text = type(sqltype).__name__
    text = _POSITIONAL.sub("", text).replace("astext_type=Text()", "")
    text = text.replace("(, ", "(").replace(", )", ")")
    return text[:-2] if text.endswith("()") else text


def _sql_type(sqltype: Any) -> str:
    try:
        return str(sqltype.compile(dialect=postgresql.dialect()))
    except Exception:  # noqa: BLE001
        return _render_type(sqltype)


def reflect_database(on: Target | None = None) -> list[dict[str, Any]]:
    """Every table of target ``on``'s database (default ``current()``), shaped like the child's
    ``tables`` (read-only, batched)."""
    tables: list[dict[str, Any]] = []
    with target.connect(target=on) as conn:  # no target configured: TargetNotConfigured (503 with a hint)
        insp = sa_inspect(conn)
        default_schema = insp.default_schema_name
        for schema in catalog.user_schemas(conn):
            names = insp.get_table_names(schema=schema)
            if not names:
                continue
            columns = insp.get_multi_columns(schema=schema)
            pks = insp.get_multi_pk_constraint(schema=schema)
            fks = insp.get_multi_foreign_keys(schema=schema)
            uniques = insp.get_multi_unique_constraints(schema=schema)
            indexes = insp.get_multi_indexes(schema=schema)
            checks = insp.get_multi_check_constraints(schema=schema)
            for name in sorted(names):
                k = (schema, name)
                shown_schema = None if schema == default_schema else schema
                tables.append(_reflected_table(shown_schema, name, columns.get(k, []), pks.get(k) or {},
                                               fks.get(k, []), uniques.get(k, []), indexes.get(k, []),
                                               checks.get(k, []), default_schema))
    return tables


def _reflected_table(schema: str | None, name: str, columns: Any, pk: Any, fks: Any, uniques: Any, indexes: Any,
                     checks: Any, default_schema: str | None) -> dict[str, Any]:
    """One reflected table (SQLAlchemy's Reflected* typed dicts) in the child's table shape."""
    pk_cols = list(pk.get("constrained_columns") or [])
    unique_single = {u["column_names"][0] for u in uniques if len(u["column_names"]) == 1}
    unique_single |= {i["column_names"][0] for i in indexes if i.get("unique") and len(i["column_names"]) == 1}
    index_single = {i["column_names"][0] for i in indexes if len(i["column_names"]) == 1 and i["column_names"][0]}
    col_fks: dict[str, list[dict[str, Any]]] = {}
    constraints: list[dict[str, Any]] = []
    for fk in fks:
        ref_schema = fk.get("referred_schema")
        ref_table = f"{ref_schema}.{fk['referred_table']}" if ref_schema and ref_schema != default_schema \
            else fk["referred_table"]
        options = fk.get("options") or {}
        for local, remote in zip(fk["constrained_columns"], fk["referred_columns"], strict=False):
            col_fks.setdefault(local, []).append({
                "target": f"{ref_table}.{remote}", "table": ref_table, "column": remote,
                "ondelete": (options.get("ondelete") or "").upper() or None,
                "onupdate": (options.get("onupdate") or "").upper() or None, "constraint": fk.get("name")})
        constraints.append({"kind": "foreign_key", "name": fk.get("name"), "columns": fk["constrained_columns"],
                            "references": [f"{ref_table}.{c}" for c in fk["referred_columns"]],
                            "ondelete": (options.get("ondelete") or "").upper() or None,
                            "onupdate": (options.get("onupdate") or "").upper() or None})
    if pk_cols:
        constraints.append({"kind": "primary_key", "name": pk.get("name"), "columns": pk_cols})
    constraints += [{"kind": "unique", "name": u.get("name"), "columns": u["column_names"]} for u in uniques]
    constraints += [{"kind": "check", "name": c.get("name"), "columns": [], "sqltext": c.get("sqltext")} for c in checks]
    return {
        "id": f"{schema}.{name}" if schema else name,
        "schema": schema,
        "name": name,
        "comment": None,
        "columns": [{
            "name": c["name"], "type": _render_type(c["type"]), "sql_type": _sql_type(c["type"]),
            "primary_key": c["name"] in pk_cols, "nullable": bool(c.get("nullable", True)),
            "unique": c["name"] in unique_single, "index": c["name"] in index_single,
            "server_default": c.get("default") or ("IDENTITY" if c.get("identity") else None),
            "default": None, "comment": c.get("comment"), "foreign_keys": col_fks.get(c["name"], []),
        } for c in columns],
        "primary_key": pk_cols,
        "constraints": constraints,
        "indexes": [{"name": i.get("name"), "columns": [c or "(expression)" for c in i["column_names"]],
                     "unique": bool(i.get("unique"))} for i in indexes],
        "models": [],
        "mapped": False,
        "association": False,
        "reflected": True,
    }


# --- model vs database --------------------------------------------------------------------

def compute_drift_here(model_tables: list[dict[str, Any]], live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Differences between the models' tables and the live ones (missing/extra columns, types, NULL).

    The fallback used when the migrations feature's ``compute_drift()`` is not available; it keeps
    the same difference shape: ``{kind, schema, table, column, detail}``.
    """
    live_by_id = {t["id"]: t for t in live}
    diffs: list[dict[str, Any]] = []
    for table in model_tables:
        base = {"schema": table["schema"], "table": table["name"]}
        real = live_by_id.get(table["id"])
        if real is None:
            diffs.append({**base, "kind": "missing_table", "column": None,
                          "detail": f"table {table['id']} does not exist in the database"})
            continue
        real_cols = {c["name"]: c for c in real["columns"]}
        model_cols = {c["name"]: c for c in table["columns"]}
        for name, col in model_cols.items():
            live_col = real_cols.get(name)
            if live_col is None:
                diffs.append({**base, "kind": "missing_column", "column": name,
                              "detail": f"column {name} ({col['sql_type']}) is in the model but not in the database"})
                continue
            if _norm_type(col["sql_type"]) != _norm_type(live_col["sql_type"]):
                diffs.append({**base, "kind": "type", "column": name,
                              "detail": f"type: model {col['sql_type']}, database {live_col['sql_type']}"})
            if bool(col["nullable"]) != bool(live_col["nullable"]) and not col["primary_key"]:
                diffs.append({**base, "kind": "nullable", "column": name,
                              "detail": f"nullable: model {'NULL' if col['nullable'] else 'NOT NULL'}, "
                                        f"database {'NULL' if live_col['nullable'] else 'NOT NULL'}"})
        for name, live_col in real_cols.items():
            if name not in model_cols:
                diffs.append({**base, "kind": "extra_column", "column": name,
                              "detail": f"column {name} ({live_col['sql_type']}) is in the database but not in the model"})
    return diffs


def _norm_type(text: str) -> str:
    text = text.upper().replace(" ", "")
    # Names the server reports differently from what the model compiles to.
    return {"TIMESTAMPWITHOUTTIMEZONE": "TIMESTAMP", "DOUBLEPRECISION": "FLOAT", "INT": "INTEGER"}.get(text, text)


_LABELS = {
    "add_table": "table missing in the database", "missing_table": "table missing in the database",
    "remove_table": "table only in the database",
    "add_column": "column missing in the database", "missing_column": "column missing in the database",
    "remove_column": "column only in the database", "extra_column": "column only in the database",
    "modify_type": "type differs", "type": "type differs",
    "modify_nullable": "nullability differs", "nullable": "nullability differs",
    "modify_default": "server default differs", "modify_comment": "comment differs",
    "add_index": "index missing in the database", "remove_index": "index only in the database",
    "add_constraint": "constraint missing in the database", "remove_constraint": "constraint only in the database",
    "add_fk": "foreign key missing in the database", "remove_fk": "foreign key only in the database",
}


def _autogenerate_drift(force: bool, cached_only: bool = False, on: Target | None = None) -> dict[str, Any] | None:
    """The migrations feature's ``compute_drift()`` for target ``on`` (Alembic autogenerate; cached there
    per target under the schema fingerprint). None when that feature is not installed, cannot answer,
    or (``cached_only``) has no cached answer."""
    try:
        from migrations_ui.services import compute_drift, drift_cached  # shared with the migrations drift panel
    except ImportError:
        return None
    try:
        result = drift_cached(on) if cached_only else compute_drift(force, on)
    except Exception:  # noqa: BLE001 - fall back to our own compare rather than lose the page
        return None
    if result is None or not result.get("ok"):
        return None
    return result


def _has_autogenerate() -> bool:
    try:
        import migrations_ui.services  # noqa: F401
    except ImportError:
        return False
    return True


def model_drift(inspection: dict[str, Any], live: list[dict[str, Any]] | None, force: bool = False,
                cached_only: bool = False, on: Target | None = None) -> dict[str, Any]:
    """{ok, error, source, by_table: {table id: [differences]}, pending}: the one place drift is computed.

    ``cached_only``: the autogenerate comparison only when cached; otherwise ``pending`` (no child started).
    """
    result = _autogenerate_drift(force, cached_only, on) if live is not None else None
    if result is None and cached_only and live is not None and _has_autogenerate():
        return {"ok": False, "pending": True, "error": None, "source": None, "by_table": {}}
    if result is not None:
        return {"ok": True, "error": None, "source": "alembic autogenerate",
                "note": (result.get("fallback") or {}).get("message"),
                "by_table": _group(result.get("differences") or [])}
    if live is None:
        return {"ok": False, "error": "the database could not be read", "source": None, "by_table": {}}
    model_tables = [t for t in inspection.get("tables", []) if t.get("mapped") or t.get("association")]
    return {"ok": True, "error": None, "source": "reflection",
            "by_table": _group(compute_drift_here(model_tables, live))}


def _group(diffs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_table: dict[str, list[dict[str, Any]]] = {}
    for d in diffs:
        d = {**d, "label": _LABELS.get(d.get("kind", ""), str(d.get("kind", "")).replace("_", " "))}
        key = f"{d['schema']}.{d['table']}" if d.get("schema") and d["schema"] != "public" else str(d.get("table"))
        by_table.setdefault(key, []).append(d)
    return by_table


# --- what the pages and the API show ------------------------------------------------------

def model_map(force: bool = False, with_drift: bool = True, on: Target | None = None) -> dict[str, Any]:
    """Models, their tables, tables no model maps (from reflection of target ``on``, default
    ``current()``), import errors and drift."""
    on = _on(on)
    return _model_map(inspect_project(force=force, on=on), force, with_drift, cached_only=False, on=on)


def model_map_cached(on: Target | None = None) -> dict[str, Any] | None:
    """``model_map()`` from what is cached: None while the models are not; ``drift.pending`` while the
    comparison is not (the database is reflected now: one batch of catalogue queries)."""
    on = _on(on)
    inspection = inspect_cached(on)
    return _model_map(inspection, False, True, cached_only=True, on=on) if inspection is not None else None


def _model_map(inspection: dict[str, Any], force: bool, with_drift: bool, cached_only: bool,
               on: Target | None) -> dict[str, Any]:
    live: list[dict[str, Any]] | None = None
    db_error: dict[str, Any] | None = None
    try:
        live = reflect_database(on)
    except AppError as exc:  # unreachable, busy, or no target configured (TargetNotConfigured)
        db_error = exc.as_dict()
    except SQLAlchemyError as exc:  # reflection failed on something odd: the models still show
        db_error = {"code": "database_unavailable", "message": str(exc).strip().splitlines()[0], "hint": ""}
    model_tables = {t["id"]: t for t in inspection.get("tables", [])}
    live_ids = {t["id"] for t in live or []}
    unmapped = [t for t in live or [] if t["id"] not in model_tables]  # not even in the models' metadata
    for t in model_tables.values():
        t["in_database"] = (t["id"] in live_ids) if live is not None else None
    drift = model_drift(inspection, live, force, cached_only, on) if with_drift else {"ok": False, "by_table": {}, "error": None}
    for model in inspection.get("models", []):
        model["drift"] = drift["by_table"].get(model["table"] or "", [])
    return {
        "found_by": inspection.get("found_by"),
        "base": inspection.get("base"),
        "sqlalchemy_version": inspection.get("sqlalchemy_version"),
        "models": inspection.get("models", []),
        # Models described only partly: a property failed; it carries the error, and so does ``errors``.
        "partial": sum(1 for m in inspection.get("models", []) if m.get("partial")),
        "tables": list(model_tables.values()),
        "unmapped_tables": [t for t in unmapped if t["id"] != "alembic_version"],
        "errors": inspection.get("errors", []),
        "runner_error": inspection.get("runner_error"),
        "database_error": db_error,
        "drift": {"ok": drift["ok"], "error": drift.get("error"), "source": drift.get("source"),
                  "note": drift.get("note"), "pending": bool(drift.get("pending"))},
        "elapsed_ms": inspection.get("elapsed_ms"),
    }


def search(models: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Models whose class, table or a column/relationship name contains ``query`` (case-insensitive)."""
    q = query.strip().lower()
    if not q:
        return models
    return [m for m in models if q in m["name"].lower() or q in (m["table"] or "").lower()
            or any(q in c["name"].lower() for c in m["columns"])
            or any(q in p["name"].lower() for p in m.get("properties") or [])
            or any(q in r["name"].lower() for r in m["relationships"])]


def find_model(name: str, force: bool = False, on: Target | None = None) -> dict[str, Any]:
    """One model by class name (or qualified name when two modules share a name), with its table."""
    inspection = inspect_project(force=force, on=on)
    for model in inspection.get("models", []):
        if name in (model["key"], model["qualname"]):
            table = next((t for t in inspection["tables"] if t["id"] == model["table"]), None)
            return {**model, "table_detail": table}
    known = ", ".join(sorted(m["key"] for m in inspection.get("models", []))[:20])
    raise NotFound(f"No model named {name!r}.", hint=f"Known models: {known}" if known else
                   "No models were found: set PGADMIN_SQLALCHEMY_BASE=package.module:Base.")


def erd(source: str = "", focus_on: str = "", hops: int = 1, force: bool = False,
        on: Target | None = None) -> dict[str, Any]:
    """The ER graph from the models (default when there are any) or from the live database.

    ``focus_on`` keeps the table and its neighbours ``hops`` FK steps away (0 = the whole graph,
    with the table highlighted); ``all_tables`` always lists every table for the focus picker.
    """
    from modelmap import erd as erdlib

    if source not in ("", "models", "database"):
        raise BadRequest(f"Unknown source {source!r}.", hint="Use ?source=models or ?source=database.")
    inspection = inspect_project(force=force, on=on) if source != "database" else {}
    if not source:
        source = "models" if inspection.get("tables") else "database"
    if source == "models":
        graph = erdlib.build_graph(inspection.get("tables", []), inspection.get("models", []))
    else:
        graph = erdlib.build_graph([t for t in reflect_database(on) if t["id"] != "alembic_version"])
    all_tables = [{"id": t["id"], "data_id": t["data_id"]} for t in graph["tables"]]
    if focus_on:
        if not any(focus_on in (t["id"], t["data_id"], t["name"]) for t in graph["tables"]):
            raise NotFound(f"No table {focus_on!r} in the diagram.", hint="Pick a table from the list.")
        hops = max(0, min(hops, 10))
        graph = erdlib.focus(graph, focus_on, hops)
    graph["source"] = source
    graph["all_tables"] = all_tables
    return graph


def erd_style() -> str:
    """The ER diagram's inline ``<style>`` block (the security headers allow exactly it, by its hash)."""
    from modelmap import erd as erdlib

    return erdlib.STYLE
