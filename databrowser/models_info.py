"""What the project's SQLAlchemy models say about a table (read through the models feature).

The models are imported only in a child process (``modelmap.services.inspect_project``,
cached until the project's files change). Here we only look up, for a reflected table, the
model(s) that map it, the Python-side defaults of its columns and the ORM-level cascades of
its relationships. Any failure (no models, the models feature unavailable) means "no model
information": the data browser works from the database alone.
"""

from __future__ import annotations

import ast
import logging
import re
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


_SIZED = re.compile(r"^(?:VARCHAR|CHAR|NVARCHAR|CHARACTER VARYING|CHARACTER)\((\d+)\)", re.I)
_NUMERIC = re.compile(r"^(?:NUMERIC|DECIMAL)\((\d+)(?:,\s*(\d+))?\)", re.I)
_DECIMAL = re.compile(r"^Decimal\('(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)'\)$")
_ENUM_MEMBER = re.compile(r"^<\w+\.\w+: (.+)>$")


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


def _enum_values(type_text: str) -> list[str]:
    """The values of ``Enum('a', 'b', name='x')`` as the child renders it; [] when cut ("…") or odd."""
    try:
        call = ast.parse(type_text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    if not isinstance(call, ast.Call) or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args):
        return []
    return [a.value for a in call.args]  # type: ignore[attr-defined]


def _parse_default(text: str) -> tuple[bool, Any, str | None]:
    """The child renders a scalar default with repr() and a callable by its name (an SQL
    expression as SQL): (is_scalar, value, callable_name)."""
    member = _ENUM_MEMBER.match(text)  # an enum member default: <OperationKind.BUY: 'buy'>
    candidate = member.group(1) if member else text
    decimal = _DECIMAL.match(text)  # Decimal('1.50')
    if decimal:
        return True, Decimal(decimal.group(1)), None
    try:
        value = ast.literal_eval(candidate)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False, None, text
    if value is None or isinstance(value, bool | int | float | str | Decimal):
        return True, value, None
    return False, None, text  # a list / dict default: shown, not pre-filled


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
        ptype = c.get("python_type")
        if str(c.get("type") or "").startswith("Enum("):
            mc.enum_values = _enum_values(str(c["type"]))
            if ptype and ptype not in ("str", "object"):
                mc.python_enum = str(ptype)
                mc.notes.append(f"Python enum {ptype}")
        sized = _SIZED.match(str(c.get("sql_type") or ""))
        if sized:
            mc.max_length = int(sized.group(1))
        numeric = _NUMERIC.match(str(c.get("sql_type") or ""))
        if numeric:
            mc.precision = int(numeric.group(1))
            mc.scale = int(numeric.group(2) or 0)
        default = c.get("default")
        if default not in (None, "") and not str(default).startswith("Sequence("):
            mc.has_scalar_default, mc.default_value, mc.default_callable = _parse_default(str(default))
            mc.notes.append(f"model default: {default}" if mc.has_scalar_default
                            else f"set by the application: {mc.default_callable}")
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
    return {c["name"]: str(c["default"]) for c in found["table"].get("columns") or []
            if isinstance(c, dict) and c.get("default") not in (None, "")}


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
