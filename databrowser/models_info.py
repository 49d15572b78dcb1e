"""What the project's SQLAlchemy models say about a table (read through the models feature).

The models are imported only in a child process (``modelmap.services.inspect_project``,
cached until the project's files change). Here we only look up, for a reflected table, the
model(s) that map it, the Python-side defaults of its columns and the ORM-level cascades of
its relationships. Any failure (no models, the models feature unavailable) means "no model
information": the data browser works from the database alone.
"""

from __future__ import annotations

import logging
from typing import Any

from databrowser.refs import TableRef

log = logging.getLogger(__name__)


def _inspection() -> dict[str, Any]:
    try:
        from modelmap.services import inspect_project

        result = inspect_project()
    except Exception:  # noqa: BLE001 - model information is optional comfort
        log.debug("model inspection unavailable", exc_info=True)
        return {}
    return result if isinstance(result, dict) else {}


def _key(schema: str | None, name: str) -> tuple[str, str]:
    return (schema or "public", name)


def mapped_tables() -> dict[tuple[str, str], list[str]]:
    """(schema, table) -> names of the model classes mapping it."""
    out: dict[tuple[str, str], list[str]] = {}
    for table in _inspection().get("tables") or []:
        if isinstance(table, dict) and table.get("name"):
            out[_key(table.get("schema"), table["name"])] = list(table.get("models") or [])
    return out


def table_model(ref: TableRef) -> dict[str, Any] | None:
    """The model description of a table (columns with Python defaults, relationships), or None."""
    info = _inspection()
    tables = {_key(t.get("schema"), t.get("name", "")): t for t in info.get("tables") or [] if isinstance(t, dict)}
    table = tables.get((ref.schema, ref.name))
    if table is None:
        return None
    models = [m for m in info.get("models") or [] if isinstance(m, dict)
              and _key(m.get("schema"), m.get("table", "")) == (ref.schema, ref.name)]
    return {"table": table, "models": models}


def python_defaults(ref: TableRef) -> dict[str, str]:
    """Column name -> the model's Python-side default (shown as a hint in the forms)."""
    found = table_model(ref)
    if not found:
        return {}
    return {c["name"]: str(c["default"]) for c in found["table"].get("columns") or []
            if isinstance(c, dict) and c.get("default") not in (None, "")}


def form_hints(ref: TableRef) -> dict[str, str]:
    """Column name -> what the model adds: its Python default, the relationship an FK column feeds."""
    hints = {name: f"model default: {value}" for name, value in python_defaults(ref).items()}
    found = table_model(ref)
    if not found:
        return hints
    columns = {c.get("name") for c in found["table"].get("columns") or [] if isinstance(c, dict)}
    for model in found["models"]:
        for rel in model.get("relationships") or []:
            if rel.get("direction") != "N:1":
                continue
            for pair in rel.get("local_remote_pairs") or []:
                for end in pair:
                    table, _, column = str(end).rpartition(".")
                    if table.rpartition(".")[2] == ref.name and column in columns:
                        note = f"relationship {model.get('name')}.{rel.get('name')} → {rel.get('target')}"
                        hints[column] = f"{hints[column]} · {note}" if column in hints else note
    return hints


def orm_cascades(ref: TableRef) -> list[dict[str, Any]]:
    """Relationships of the table's models that delete their children at the ORM level.

    ``db_cascades`` says whether the database's own FK (ON DELETE CASCADE) does the same; when it
    does not, a delete through the application would remove rows that a delete here keeps.
    """
    found = table_model(ref)
    if not found:
        return []
    out = []
    for model in found["models"]:
        for rel in model.get("relationships") or []:
            cascade = rel.get("cascade") or []
            if "delete" not in cascade and "delete-orphan" not in cascade:
                continue
            ondelete = [str(x).upper() for x in rel.get("ondelete") or []]
            out.append({"model": model.get("name"), "relationship": rel.get("name"), "target": rel.get("target"),
                        "target_table": rel.get("target_table"), "cascade": rel.get("cascade_label") or ", ".join(cascade),
                        "db_cascades": bool(ondelete) and all(x == "CASCADE" for x in ondelete)})
    return out
