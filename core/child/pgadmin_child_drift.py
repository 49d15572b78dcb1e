"""Drift between the project's models and the live database, as Alembic autogenerate sees it.

Task ``drift.compare``: the project's own env.py runs (online) so that its ``target_metadata``,
``include_object``, ``compare_type`` and friends apply exactly as in ``alembic revision
--autogenerate``; but the migration function we hand it compares instead of migrating, and
``dont_mutate`` keeps Alembic from even creating the version table. The same connect guard as
the runs makes sure env.py compared the tool's target and not another database.

When env.py's ``target_metadata`` is None or holds no table (env.py never imports the models), the
comparison falls back to the models the model map finds (``PGADMIN_SQLALCHEMY_BASE``, else a scan
of the project, as /models does) and the answer says so in ``fallback``; comparing with an empty
metadata would list every table as "to remove".
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

from pgadmin_child_alembic import _config, _install_connect_guard
from pgadmin_child_common import describe_import_error  # noqa: I001  (takes over stdout first)

if TYPE_CHECKING:  # the result shapes (pgadmin_protocol); annotations only
    from pgadmin_protocol import DriftDifference, DriftResult


def _name(obj: Any) -> str | None:
    return getattr(obj, "name", None)


def _table_of(obj: Any) -> Any:
    return getattr(obj, "table", None) or getattr(getattr(obj, "parent", None), "table", None)


def _flatten(diff: Any) -> DriftDifference:
    """One autogenerate diff tuple as {kind, schema, table, column, detail}."""
    if isinstance(diff, list):  # modify_* come as a list of one tuple
        diff = diff[0]
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        cols = ", ".join(c.name for c in table.columns)
        return {"kind": kind, "schema": table.schema, "table": table.name, "column": None,
                "detail": f"table {table.name} ({cols})"}
    if kind in ("add_column", "remove_column"):
        _, schema, tname, column = diff
        return {"kind": kind, "schema": schema, "table": tname, "column": column.name,
                "detail": f"column {tname}.{column.name} {column.type}"}
    if kind.startswith("modify_"):
        _, schema, tname, cname, _existing, old, new = diff
        return {"kind": kind, "schema": schema, "table": tname, "column": cname,
                "detail": f"{tname}.{cname}: database {old!r}, models {new!r}"}
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        cols = ", ".join(str(getattr(c, "name", c)) for c in index.expressions)
        return {"kind": kind, "schema": index.table.schema if index.table is not None else None,
                "table": index.table.name if index.table is not None else "", "column": None,
                "detail": f"{'unique ' if index.unique else ''}index {index.name} ({cols})"}
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        cols = ", ".join(c.name for c in fk.columns) if fk.columns else ""
        ref = fk.referred_table.name if fk.referred_table is not None else "?"
        return {"kind": kind, "schema": fk.table.schema, "table": fk.table.name, "column": None,
                "detail": f"foreign key {fk.name or '(unnamed)'} ({cols}) → {ref}"}
    if kind in ("add_constraint", "remove_constraint"):
        const = diff[1]
        table = _table_of(const)
        return {"kind": kind, "schema": getattr(table, "schema", None), "table": getattr(table, "name", ""),
                "column": None, "detail": f"{type(const).__name__} {_name(const) or '(unnamed)'}"}
    if kind in ("add_table_comment", "remove_table_comment"):
        table = diff[1]
        return {"kind": kind, "schema": table.schema, "table": table.name, "column": None, "detail": "table comment"}
    return {"kind": kind, "schema": None, "table": "", "column": None, "detail": repr(diff)[:300]}


def _tables(metadata: Any) -> int:
    """Tables of a MetaData (or of a list of them, as env.py may give); 0 for None."""
    if metadata is None:
        return 0
    if isinstance(metadata, (list, tuple)):
        return sum(_tables(m) for m in metadata)
    return len(getattr(metadata, "tables", {}) or {})


def _fallback(payload: dict[str, Any], configured: Any) -> tuple[Any, dict[str, Any]]:
    """The model map's discovery when env.py's metadata is empty: (metadata or None, the note)."""
    from pgadmin_child_models import scan_metadatas

    errors: list[dict[str, Any]] = []
    found = scan_metadatas(payload, errors)
    metadatas = [md for md in found["metadatas"] if md.tables]
    what = "None" if configured is None else "empty"
    how = "PGADMIN_SQLALCHEMY_BASE" if found["found_by"] == "PGADMIN_SQLALCHEMY_BASE" else "scanning the project"
    count = found["models"] or sum(len(md.tables) for md in metadatas)
    noun = "model" if found["models"] else "table"
    note = {"reason": f"target_metadata_{what.lower()}", "found_by": found["found_by"], "base": found["base"],
            "models": found["models"], "tables": sum(len(md.tables) for md in metadatas),
            "errors": errors,
            "message": f"env.py's target_metadata is {what}; compared with the {count} {noun}{'s' if count != 1 else ''} "
                       f"found by {how}" + (f" ({found['base']})" if found["base"] else "") + ".",
            "hint": "Set target_metadata = Base.metadata in env.py (importing the models) so that autogenerate "
                    "sees them too."}
    if not metadatas:
        return None, note
    return (metadatas[0] if len(metadatas) == 1 else metadatas), note


def task_compare(payload: dict[str, Any]) -> DriftResult:
    from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    out: dict[str, Any] = {}

    def compare(_heads: Any, context: Any) -> list[Any]:
        metadata = context.opts.get("target_metadata")
        if not _tables(metadata):
            configured = metadata
            metadata, out["fallback"] = _fallback(payload, configured)
            if metadata is None:
                what = "sets target_metadata = None" if configured is None else "has an empty target_metadata"
                found = "; no models were found by scanning the project either" \
                    if not out["fallback"]["errors"] else f"; scanning the project failed: " \
                    f"{out['fallback']['errors'][0]['module']}: {out['fallback']['errors'][0]['error']}"
                out["error"] = {"message": f"env.py {what}: there are no models to compare{found}.",
                                "hint": "Set target_metadata = Base.metadata in env.py (autogenerate needs it too), "
                                        "or PGADMIN_SQLALCHEMY_BASE=package.module:Base."}
                return []
        if isinstance(metadata, (list, tuple)):
            metadata = metadata[0] if len(metadata) == 1 else metadata
        diffs = compare_metadata(context, metadata)
        out["differences"] = [_flatten(d) for d in diffs]
        script = produce_migrations(context, metadata)
        out["script"] = render_python_code(script.upgrade_ops) if not script.upgrade_ops.is_empty() else ""  # type: ignore[union-attr,arg-type]
        return []  # nothing to migrate: we only compared

    try:
        _install_connect_guard(payload.get("expect"))
        cfg = _config(payload)
        script = ScriptDirectory.from_config(cfg)
        with EnvironmentContext(cfg, script, fn=compare, as_sql=False, dont_mutate=True):
            script.run_env()
    except BaseException as exc:  # noqa: BLE001 - a report, not a crash
        info = describe_import_error("env.py", exc)
        return {"ok": False, "error": {"message": info["error"], "hint": info["hint"]}, "differences": [],
                "script": "", "traceback": traceback.format_exc()}
    if "error" in out:
        return {"ok": False, "error": out["error"], "differences": [], "script": "", "fallback": out.get("fallback")}
    return {"ok": True, "error": None, "differences": out.get("differences", []), "script": out.get("script", ""),
            "fallback": out.get("fallback")}


TASKS = {"compare": task_compare}
