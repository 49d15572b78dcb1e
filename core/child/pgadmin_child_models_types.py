"""Types and defaults of SQLAlchemy columns as structured JSON facts (child side, the user's SQLAlchemy).

``type_info()`` gives name, length, precision/scale, timezone, every enum value and the array item
type; ``describe_default()`` gives a Python-side default as ``{kind: scalar|sql|callable|sequence,
value, text, python_type}`` where ``value`` is what the database would store (an enum member as its
database label, a Decimal as text). The server reads these fields and never parses ``repr()`` text;
``render_type()`` is kept for display only.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import uuid
from typing import TYPE_CHECKING, Any

import pgadmin_compat as compat

if TYPE_CHECKING:  # the result shapes (pgadmin_protocol); annotations only
    from pgadmin_protocol import DefaultInfo, TypeInfo

# --- types --------------------------------------------------------------------------------

_POSITIONAL = re.compile(r"\b(length|precision|scale)=")
_DIALECT: list[Any] = []


def _dialect() -> Any:
    """One PostgreSQL dialect for every compile (building one per call costs more than the compile)."""
    if not _DIALECT:
        from sqlalchemy.dialects import postgresql

        _DIALECT.append(postgresql.dialect())
    return _DIALECT[0]


def render_type(sqltype: Any) -> str:
    """The type as the model code spells it: ``String(255)``, ``Numeric(18, 2)``, ``Enum('a', 'b')``.

    For display only: the structured facts (every enum value, length…) are in ``type_info``.
    """
    if type(sqltype).__name__ in ("Enum", "ENUM") and getattr(sqltype, "enums", None):
        values = ", ".join(repr(v) for v in sqltype.enums[:8]) + (", …" if len(sqltype.enums) > 8 else "")
        name = f", name={sqltype.name!r}" if getattr(sqltype, "name", None) else ""
        return f"Enum({values}{name})"
    try:
        text = repr(sqltype)
    except Exception:  # noqa: BLE001 - a user TypeDecorator with a broken __repr__
        text = type(sqltype).__name__
    text = _POSITIONAL.sub("", text)
    return text[:-2] if text.endswith("()") else text


def sql_type(sqltype: Any) -> str:
    """The type as PostgreSQL spells it (for comparing with the live database)."""
    try:
        return str(sqltype.compile(dialect=_dialect()))
    except Exception:  # noqa: BLE001 - types without a PostgreSQL rendering
        return render_type(sqltype)


def python_type(sqltype: Any) -> str | None:
    try:
        return sqltype.python_type.__name__
    except Exception:  # noqa: BLE001 - NotImplementedError for many types
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def type_info(sqltype: Any) -> TypeInfo:
    """The type as structured facts: name, length, precision/scale, timezone, every enum value, array item."""
    from sqlalchemy.types import TypeDecorator

    impl, decorator = sqltype, None
    # A user's TypeDecorator: its facts are those of the type it stores as (SQLAlchemy's own
    # decorators, like Interval, are types of their own on PostgreSQL).
    if isinstance(sqltype, TypeDecorator) and not type(sqltype).__module__.startswith("sqlalchemy"):
        inner = getattr(sqltype, "impl_instance", None) or sqltype.impl
        if inner is not None and not isinstance(inner, type):
            decorator, impl = type(sqltype).__name__, inner
    info: TypeInfo = {
        "name": type(impl).__name__,
        "decorator": decorator,
        "sql": sql_type(sqltype),
        "python": python_type(sqltype) or (python_type(impl) if impl is not sqltype else None),
        "length": _int_or_none(getattr(impl, "length", None)),
        "precision": _int_or_none(getattr(impl, "precision", None)),
        "scale": _int_or_none(getattr(impl, "scale", None)),
        "timezone": getattr(impl, "timezone", None) if isinstance(getattr(impl, "timezone", None), bool) else None,
        "enum": None,
        "item": None,
    }
    enums = getattr(impl, "enums", None)
    if type(impl).__name__ in ("Enum", "ENUM") and enums is not None:
        enum_class = getattr(impl, "enum_class", None)
        info["enum"] = {
            "values": [str(v) for v in enums],  # what the database stores, every one of them
            "name": getattr(impl, "name", None),
            "native": bool(getattr(impl, "native_enum", True)),
            "python_enum": enum_class.__name__ if enum_class is not None else None,
        }
    item = getattr(impl, "item_type", None)
    if item is not None and not isinstance(item, type):
        info["item"] = type_info(item)
    return info


# --- SQL and defaults ---------------------------------------------------------------------

def compile_sql(clause: Any) -> str:
    """An SQL expression as PostgreSQL text, literal values inlined; raises when it cannot compile."""
    if isinstance(clause, str):
        return clause
    return str(clause.compile(dialect=_dialect(), compile_kwargs={"literal_binds": True}))


def _sql(clause: Any) -> str:
    try:
        return compile_sql(clause)
    except Exception:  # noqa: BLE001 - literal binds of odd values: the plain text is good enough
        return str(clause)


def render_server_default(column: Any) -> str | None:
    default = column.server_default
    if default is None:
        return None
    kind = type(default).__name__
    if kind == "Identity":
        return "IDENTITY"
    if kind == "Computed":
        return f"GENERATED ALWAYS AS ({_sql(default.sqltext)})"
    arg = getattr(default, "arg", None)
    return _sql(arg) if arg is not None else kind


def _scalar(value: Any, sqltype: Any = None) -> tuple[Any, str]:
    """A Python default as a JSON value (what the database would store) and its Python type's name."""
    if isinstance(value, enum.Enum):
        stored: Any = None
        lookup = compat.enum_db_value(sqltype)
        if lookup is not None:
            try:
                stored = lookup(value)
            except Exception:  # noqa: BLE001 - not a member of this column's enum
                stored = None
        if stored is None:
            stored = value.value if isinstance(value.value, (str, int, float, bool)) else value.name
        return stored, type(value).__name__
    if value is None or isinstance(value, (bool, int, float, str)):
        return value, type(value).__name__
    if isinstance(value, decimal.Decimal):
        return str(value), "Decimal"
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat(), type(value).__name__
    if isinstance(value, uuid.UUID):
        return str(value), "UUID"
    if isinstance(value, (list, dict, tuple)):
        import json

        try:
            return json.loads(json.dumps(value)), type(value).__name__
        except (TypeError, ValueError):
            return repr(value), type(value).__name__
    return repr(value), type(value).__name__


def describe_default(column: Any) -> DefaultInfo | None:
    """The Python-side default: ``{kind: scalar|sql|callable|sequence, value, text, python_type}``."""
    default = column.default
    if default is None:
        return None
    if type(default).__name__ == "Sequence":
        return {"kind": "sequence", "value": default.name, "text": f"Sequence({default.name!r})", "python_type": None}
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False) or callable(arg):
        func = getattr(arg, "__wrapped__", arg)  # SQLAlchemy wraps one-argument-less callables
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
        return {"kind": "callable", "value": name, "text": name, "python_type": None}
    if getattr(default, "is_clause_element", False):
        text = _sql(arg)
        return {"kind": "sql", "value": text, "text": text, "python_type": None}
    value, ptype = _scalar(arg, column.type)
    try:
        text = f"{type(arg).__name__}.{arg.name}" if isinstance(arg, enum.Enum) else repr(arg)
    except Exception:  # noqa: BLE001
        text = str(value)
    return {"kind": "scalar", "value": value, "text": text, "python_type": ptype}
