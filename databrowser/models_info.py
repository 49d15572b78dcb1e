"""What the project's SQLAlchemy models say about a table (read through the models feature).

The models are imported only in a child process (``modelmap.services.inspect_project``,
cached until the project's files change). Here we only look up, for a reflected table, the
model(s) that map it, the Python-side defaults of its columns and the ORM-level cascades of
its relationships. Any failure (no models, the models feature unavailable) means "no model
information": the data browser works from the database alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
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


@dataclass
class ModelColumn:
    """What the model says about one column, as the forms use it."""

    name: str
    python_enum: str | None = None  # the Python enum class of an Enum column ("OperationKind")
    has_scalar_default: bool = False  # a literal Python-side default the form pre-fills
    default_value: Any = None
    default_callable: str | None = None  # a callable / SQL expression the application evaluates
    relationship: str | None = None  # the N:1 relationship this FK column feeds ("client")
    max_length: int | None = None  # String(n) of the model
    precision: int | None = None  # Numeric(p, s) of the model
    scale: int | None = None
    enum_values: list[str] = field(default_factory=list)  # Enum('a', 'b') of the model (all listed)
    notes: list[str] = field(default_factory=list)  # help text pieces

    @property
    def hint(self) -> str:
        return " · ".join(self.notes)


_PREFILLED = ("bool", "int", "float", "str", "Decimal", "NoneType")


def model_default(default: Any) -> tuple[bool, Any, str | None]:
    """The child's structured default ``{kind, value, text, python_type}`` as (is_scalar, value, callable text).

    A scalar of a simple type is pre-filled (its ``value`` is what the database stores: an enum
    member as its label, a Decimal as text); a callable, an SQL expression or a list/dict default
    is named, not pre-filled. A sequence is the database's business.
    """
    if not isinstance(default, dict):
        return False, None, None
    kind, value, text = default.get("kind"), default.get("value"), str(default.get("text") or default.get("value"))
    if kind == "scalar":
        ptype = default.get("python_type")
        if ptype == "Decimal" and isinstance(value, str):
            return True, Decimal(value), None
        if ptype in _PREFILLED or (isinstance(value, str | int | float | bool) and ptype not in ("list", "dict", "tuple")):
            return True, value, None
        return False, None, text
    if kind in ("callable", "sql"):
        return False, None, text
    return False, None, None


def form_model(ref: TableRef) -> dict[str, ModelColumn]:
    """Column name -> what the model adds to the form of this table (empty without a model)."""
    found = table_model(ref)
    if not found:
        return {}
    out: dict[str, ModelColumn] = {}
    for c in found["table"].get("columns") or []:
        if not isinstance(c, dict) or not c.get("name"):
            continue
        mc = ModelColumn(str(c["name"]))
        raw_info = c.get("type_info")
        info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
        raw_enum = info.get("enum")
        enum_info: dict[str, Any] | None = raw_enum if isinstance(raw_enum, dict) else None
        if enum_info:
            mc.enum_values = [str(v) for v in enum_info.get("values") or []]
            if enum_info.get("python_enum"):
                mc.python_enum = str(enum_info["python_enum"])
                mc.notes.append(f"Python enum {mc.python_enum}")
        if isinstance(info.get("length"), int) and not enum_info and info.get("python") == "str":
            mc.max_length = info["length"]
        if isinstance(info.get("precision"), int) and info.get("python") == "Decimal":
            mc.precision = info["precision"]
            mc.scale = info["scale"] if isinstance(info.get("scale"), int) else 0
        default = c.get("default")
        mc.has_scalar_default, mc.default_value, mc.default_callable = model_default(default)
        if mc.has_scalar_default:
            mc.notes.append(f"model default: {default.get('text')}")  # type: ignore[union-attr]
        elif mc.default_callable:
            mc.notes.append(f"set by the application: {mc.default_callable}")
        out[mc.name] = mc
    for model in found["models"]:
        for rel in model.get("relationships") or []:
            if rel.get("direction") not in ("N:1", "1:1") or rel.get("sqla_direction", "MANYTOONE") != "MANYTOONE":
                continue
            for pair in rel.get("local_remote_pairs") or []:
                table, _, column = str(pair[0]).rpartition(".")
                if table.rpartition(".")[2] == ref.name and column in out:
                    out[column].relationship = out[column].relationship or str(rel.get("name"))
                    out[column].notes.append(f"relationship {model.get('name')}.{rel.get('name')} → {rel.get('target')}")
    return out


def python_defaults(ref: TableRef) -> dict[str, str]:
    """Column name -> the model's Python-side default as the model code spells it."""
    found = table_model(ref)
    if not found:
        return {}
    return {c["name"]: str(c["default"].get("text") or c["default"].get("value"))
            for c in found["table"].get("columns") or []
            if isinstance(c, dict) and isinstance(c.get("default"), dict)}


def form_hints(ref: TableRef) -> dict[str, str]:
    """Column name -> what the model adds, as one help text (Python default, enum class, relationship)."""
    return {name: mc.hint for name, mc in form_model(ref).items() if mc.hint}


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
