"""Describe one SQLAlchemy mapper as JSON: columns, types, defaults, every property kind, relationships.

Runs inside the child (imported by ``pgadmin_child_models``), with the project's own SQLAlchemy.
Every mapper property is described on its own: a property SQLAlchemy or the PostgreSQL dialect
cannot describe (a construct without a PostgreSQL compilation, a relationship whose configuration
failed) carries its own ``error`` and lands in the model's ``errors``; the rest of the model is
still described. Types and defaults are structured fields (``type_info``, ``default`` as
``{kind, value, text}``) so that the server never parses ``repr()`` text.

Property kinds (``kind``): ``column`` (in ``columns``), ``relationship`` (in ``relationships``), and in
``properties``: ``expression`` (a ``column_property`` built from an SQL expression: a label, a
scalar subquery…), ``query_expression``, ``composite``, ``synonym``, ``hybrid_property``,
``hybrid_method``, ``association_proxy``.

Only the standard library and the user's SQLAlchemy are used here.
"""

from __future__ import annotations

import inspect as pyinspect
import os
import traceback
from typing import TYPE_CHECKING, Any

import pgadmin_compat as compat
from pgadmin_child_models_types import (
    _sql,
    compile_sql,
    describe_default,
    python_type,
    render_server_default,
    render_type,
    sql_type,
    type_info,
)

if TYPE_CHECKING:  # the result shapes (pgadmin_protocol); annotations only
    from pgadmin_protocol import (
        ColumnInfo,
        ConstraintInfo,
        ForeignKeyInfo,
        IndexInfo,
        InheritanceInfo,
        ModelInfo,
        RelationshipInfo,
        TableInfo,
    )

# --- tables and columns -------------------------------------------------------------------

def _fk(fk: Any) -> ForeignKeyInfo:
    target = fk.target_fullname
    parts = target.split(".")
    return {"target": target, "table": ".".join(parts[:-1]), "column": parts[-1],
            "ondelete": (fk.ondelete or None), "onupdate": (fk.onupdate or None),
            "constraint": fk.constraint.name if fk.constraint is not None and isinstance(fk.constraint.name, str) else None}


def single_column_sets(table: Any) -> tuple[set[str], set[str]]:
    unique: set[str] = set()
    indexed: set[str] = set()
    for constraint in table.constraints:
        if type(constraint).__name__ == "UniqueConstraint" and len(constraint.columns) == 1:
            unique.add(next(iter(constraint.columns)).name)
    for index in table.indexes:
        cols = list(index.columns)
        if len(cols) == 1 and len(index.expressions) == 1:
            indexed.add(cols[0].name)
            if index.unique:
                unique.add(cols[0].name)
    return unique, indexed


def describe_column(column: Any, unique: set[str], indexed: set[str]) -> ColumnInfo:
    return {
        "name": column.name,
        "type": render_type(column.type),
        "sql_type": sql_type(column.type),
        "python_type": python_type(column.type),
        "type_info": type_info(column.type),
        "primary_key": bool(column.primary_key),
        "nullable": bool(column.nullable),
        "unique": bool(column.unique) or column.name in unique,
        "index": bool(column.index) or column.name in indexed,
        "server_default": render_server_default(column),
        "default": describe_default(column),
        "autoincrement": column.autoincrement if isinstance(column.autoincrement, bool) else str(column.autoincrement),
        "comment": column.comment,
        "foreign_keys": [_fk(fk) for fk in sorted(column.foreign_keys, key=lambda f: f.target_fullname)],
    }


def describe_table(table: Any) -> TableInfo:
    unique, indexed = single_column_sets(table)
    constraints: list[ConstraintInfo] = []
    for c in sorted(table.constraints, key=lambda c: (type(c).__name__, str(c.name or ""))):
        kind = type(c).__name__
        name = c.name if isinstance(c.name, str) else None
        entry: ConstraintInfo = {"kind": {"PrimaryKeyConstraint": "primary_key", "UniqueConstraint": "unique",
                                          "CheckConstraint": "check", "ForeignKeyConstraint": "foreign_key"}.get(kind, kind),
                                 "name": name, "columns": [col.name for col in c.columns]}
        if kind == "CheckConstraint":
            entry["sqltext"] = _sql(c.sqltext)
        if kind == "ForeignKeyConstraint":
            entry["references"] = [e.target_fullname for e in c.elements]
            entry["ondelete"], entry["onupdate"] = c.ondelete or None, c.onupdate or None
        if kind == "PrimaryKeyConstraint" and not entry["columns"]:
            continue
        constraints.append(entry)
    indexes: list[IndexInfo] = [{"name": i.name if isinstance(i.name, str) else None,
                "columns": [e.name if hasattr(e, "name") and e.name else _sql(e) for e in i.expressions],
                "unique": bool(i.unique)}
               for i in sorted(table.indexes, key=lambda i: str(i.name or ""))]
    return {
        "id": table.fullname,
        "schema": table.schema,
        "name": table.name,
        "comment": table.comment,
        "columns": [describe_column(c, unique, indexed) for c in table.columns],
        "primary_key": [c.name for c in table.primary_key.columns],
        "constraints": constraints,
        "indexes": indexes,
        "models": [],
    }


# --- relationships ------------------------------------------------------------------------

def _direction(rel: Any) -> str:
    name = rel.direction.name
    if name == "MANYTOMANY":
        return "N:M"
    if name == "ONETOMANY":
        return "1:N" if rel.uselist else "1:1"
    # MANYTOONE: one-to-one when the other side is scalar or the FK columns are unique.
    reverse = compat.reverse_properties(rel)
    if any(not r.uselist for r in reverse):
        return "1:1"
    local = list(rel.local_columns)
    if local and all(c.primary_key for c in local) and len(local) == len(list(rel.parent.local_table.primary_key)) \
            and rel.mapper.local_table is not rel.parent.local_table:
        return "1:1"
    if len(local) == 1 and (local[0].unique or any(
            type(c).__name__ == "UniqueConstraint" and list(c.columns) == local for c in local[0].table.constraints)):
        return "1:1"
    return "N:1"


_ALL_CASCADE = {"save-update", "merge", "refresh-expire", "expunge", "delete"}


def cascade_label(cascade: set[str]) -> str:
    """``all, delete-orphan`` style text for a cascade set (the way code usually declares it)."""
    if _ALL_CASCADE <= cascade:
        rest = sorted(cascade - _ALL_CASCADE)
        return ", ".join(["all", *rest])
    return ", ".join(sorted(cascade))


def describe_relationship(rel: Any) -> RelationshipInfo:
    cascade = set(rel.cascade)
    pairs = [(f"{lc.table.fullname}.{lc.name}", f"{rc.table.fullname}.{rc.name}")
             for lc, rc in rel.local_remote_pairs if hasattr(lc, "table") and hasattr(rc, "table")]
    backref = rel.backref
    if isinstance(backref, (tuple, list)):
        backref = backref[0]
    ondelete = sorted({fk.ondelete for c in rel.local_columns | set(rel.remote_side)
                       for fk in getattr(c, "foreign_keys", ()) if fk.ondelete})
    return {
        "name": rel.key,
        "kind": "relationship",
        "target": rel.mapper.class_.__name__,
        "target_table": rel.mapper.local_table.fullname if hasattr(rel.mapper.local_table, "fullname") else None,
        "direction": _direction(rel),
        "sqla_direction": rel.direction.name,
        "uselist": bool(rel.uselist),
        "secondary": rel.secondary.fullname if rel.secondary is not None and hasattr(rel.secondary, "fullname") else None,
        "back_populates": rel.back_populates,
        "backref": backref if isinstance(backref, str) else None,
        "reverse": sorted(r.key for r in compat.reverse_properties(rel)),
        "cascade": sorted(cascade),
        "cascade_label": cascade_label(cascade),
        "lazy": str(rel.lazy),
        "passive_deletes": rel.passive_deletes if isinstance(rel.passive_deletes, bool) else str(rel.passive_deletes),
        "viewonly": bool(rel.viewonly),
        "order_by": [_sql(o) for o in rel.order_by] if rel.order_by else [],
        "foreign_keys": sorted(f"{c.table.fullname}.{c.name}" for c in compat.user_defined_foreign_keys(rel)
                               if hasattr(c, "table")),
        "local_remote_pairs": [list(p) for p in pairs],
        "primaryjoin": _sql(rel.primaryjoin),
        "ondelete": ondelete,
        "error": None,
    }


def _unconfigured_relationship(rel: Any, error: str) -> RelationshipInfo:
    """What is known of a relationship SQLAlchemy could not set up (its declaration only)."""
    argument = getattr(rel, "argument", None)
    target = argument if isinstance(argument, str) else getattr(argument, "__name__", None)
    return {"name": rel.key, "kind": "relationship", "target": target or "?", "target_table": None,
            "direction": None, "sqla_direction": None, "uselist": getattr(rel, "uselist", None), "secondary": None,
            "back_populates": getattr(rel, "back_populates", None), "backref": None, "reverse": [],
            "cascade": sorted(getattr(rel, "cascade", None) or []), "cascade_label": "", "lazy": str(rel.lazy),
            "passive_deletes": False, "viewonly": bool(getattr(rel, "viewonly", False)), "order_by": [],
            "foreign_keys": [], "local_remote_pairs": [], "primaryjoin": None, "ondelete": [], "error": error}


# --- other property kinds -----------------------------------------------------------------

def property_kind(prop: Any) -> str:
    """``column``, ``expression``, ``relationship``, ``composite``, ``synonym`` or the class name."""
    from sqlalchemy import Column
    from sqlalchemy.orm import ColumnProperty, RelationshipProperty
    from sqlalchemy.orm.descriptor_props import CompositeProperty, SynonymProperty

    if isinstance(prop, RelationshipProperty):
        return "relationship"
    if isinstance(prop, CompositeProperty):
        return "composite"
    if isinstance(prop, SynonymProperty):
        return "synonym"
    if isinstance(prop, ColumnProperty):
        return "column" if isinstance(prop.columns[0], Column) else "expression"
    return type(prop).__name__


def _expression(prop: Any) -> dict[str, Any]:
    """A column_property over an SQL expression (a label, a scalar subquery, a function…)."""
    expr = prop.columns[0]
    strategy = dict(getattr(prop, "strategy_key", ()) or ())
    query_expression = "query_expression" in strategy
    element = getattr(expr, "element", expr)
    out: dict[str, Any] = {
        "name": prop.key, "kind": "query_expression" if query_expression else "expression",
        "deferred": bool(getattr(prop, "deferred", False)),
        "subquery": type(element).__name__ in ("ScalarSelect", "Select") or "Select" in type(element).__name__,
        "type": None, "sql_type": None, "sql": None, "error": None,
    }
    if not query_expression:  # its SQL and type come with each query (with_expression)
        out["type"] = render_type(expr.type)
        out["sql_type"] = sql_type(expr.type)
        out["sql"] = compile_sql(element)
    return out


def _composite(mapper: Any, prop: Any) -> dict[str, Any]:
    cls = prop.composite_class
    attrs = [str(getattr(a, "key", None) or getattr(a, "name", None) or a) for a in prop.attrs]
    props = compat.mapper_props(mapper)
    columns = [props[a].columns[0].name for a in attrs if a in props and hasattr(props[a], "columns")]
    return {"name": prop.key, "kind": "composite", "class": f"{cls.__module__}.{cls.__qualname__}",
            "attrs": [str(a) for a in attrs], "columns": columns, "error": None}


def _hybrid(cls: type, key: str, descriptor: Any) -> dict[str, Any]:
    """A hybrid_property (its SQL when it has one) or a hybrid_method (its arguments)."""
    method = type(descriptor).__name__ == "hybrid_method"
    func = getattr(descriptor, "func", None) or getattr(descriptor, "fget", None)
    out: dict[str, Any] = {"name": key, "kind": "hybrid_method" if method else "hybrid_property",
                           "doc": (pyinspect.getdoc(func) or "").split("\n")[0] if func is not None else "",
                           "setter": bool(getattr(descriptor, "fset", None)), "sql": None, "python_only": False,
                           "note": None, "error": None}
    if method:
        try:
            params = list(pyinspect.signature(func).parameters)[1:]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            params = []
        out["arguments"] = params
        return out
    try:
        clause = getattr(cls, key)
    except Exception as exc:  # noqa: BLE001 - the Python body does not work on columns: no SQL form
        out["python_only"] = True
        out["note"] = f"no SQL expression ({type(exc).__name__}: {_first_line(exc)}); usable on instances only"
        return out
    element = getattr(clause, "expression", clause)
    if hasattr(element, "compile"):
        out["sql"] = compile_sql(element)
    else:
        out["python_only"] = True
        out["note"] = "no SQL expression; usable on instances only"
    return out


def _association_proxy(cls: type, key: str, descriptor: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": key, "kind": "association_proxy", "via": descriptor.target_collection,
                           "attr": descriptor.value_attr, "target": None, "scalar": None, "error": None}
    instance = descriptor.for_class(cls)
    out["target"] = instance.target_class.__name__
    out["scalar"] = bool(instance.scalar)
    return out


# --- one mapper ---------------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def _where(exc: BaseException) -> str:
    """The user's own line in the traceback (not SQLAlchemy's, not ours), when there is one."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.sep + "sqlalchemy" + os.sep not in f.filename and not os.path.basename(f.filename).startswith("pgadmin_")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


_HINTS = {
    "expression": "SQLAlchemy cannot render this column_property for PostgreSQL; the rest of the model is shown.",
    "relationship": "Fix the relationship's declaration (target, foreign_keys, back_populates); the rest of the "
                    "model is shown.",
}


def _is_mapped(cls: type) -> bool:
    return "__mapper__" in vars(cls) or "_sa_class_manager" in vars(cls)


def _inheritance(mapper: Any) -> InheritanceInfo | None:
    if mapper.inherits is None and not mapper.polymorphic_map:
        return None
    kind = None
    if mapper.inherits is not None:
        kind = "concrete" if mapper.concrete else ("single" if mapper.local_table is mapper.inherits.local_table else "joined")
    on = mapper.polymorphic_on
    return {
        "parent": mapper.inherits.class_.__name__ if mapper.inherits is not None else None,
        "kind": kind,
        "polymorphic_identity": mapper.polymorphic_identity if isinstance(mapper.polymorphic_identity, (str, int, type(None)))
        else str(mapper.polymorphic_identity),
        "polymorphic_on": getattr(on, "name", None) if on is not None else None,
        "children": sorted(m.class_.__name__ for m in mapper.self_and_descendants if m.inherits is mapper),
    }


def _column_entry(mapper: Any, prop: Any, table: Any, unique: set[str], indexed: set[str]) -> ColumnInfo:
    column = prop.columns[0]
    own = column.table is table
    entry = describe_column(column, unique if own else set(), indexed if own else set())
    entry["attr"] = prop.key
    entry["table"] = getattr(column.table, "fullname", None)
    entry["deferred"] = bool(getattr(prop, "deferred", False))
    entry["inherited"] = column.table is not table or (
        mapper.inherits is not None and prop.key in compat.mapper_props(mapper.inherits)
        and getattr(compat.mapper_props(mapper.inherits)[prop.key], "columns", [None])[0] is column)
    return entry


def describe_mapper(mapper: Any, configure_failed: str | None = None) -> ModelInfo:
    """One model; each property described on its own, its failure recorded on it (and in ``errors``)."""
    cls = mapper.class_
    table = mapper.local_table
    model: ModelInfo = {
        "name": cls.__name__,
        "qualname": f"{cls.__module__}.{cls.__qualname__}",
        "module": cls.__module__,
        "doc": (cls.__doc__ or "").strip().split("\n")[0] if cls.__doc__ and cls.__doc__ is not getattr(
            cls.__mro__[1], "__doc__", None) else "",
        "table": table.fullname if hasattr(table, "fullname") else None,
        "sqlmodel": any(b.__module__.startswith("sqlmodel") for b in cls.__mro__[1:]),
        "imperative": not any("registry" in vars(b) or b.__module__.startswith("sqlmodel") for b in cls.__mro__[1:]),
        "mixins": [b.__name__ for b in cls.__mro__[1:-1]
                   if not _is_mapped(b) and "registry" not in vars(b) and b.__module__ not in ("builtins",)
                   and not b.__module__.startswith(("sqlalchemy", "sqlmodel", "pydantic", "typing"))],
        "inheritance": None,
        "columns": [],
        "relationships": [],
        "properties": [],
        "errors": [],
        "partial": False,
        "error": None,
    }

    def failed(key: str, kind: str, exc: BaseException, caused_by: str | None = None) -> str:
        message = f"{type(exc).__name__}: {_first_line(exc)}"
        model["errors"].append({"property": key, "kind": kind, "error": message, "where": _where(exc),
                                "hint": _HINTS.get(kind, "The rest of the model is shown."), "caused_by": caused_by})
        return message

    try:
        model["inheritance"] = _inheritance(mapper)
    except Exception as exc:  # noqa: BLE001
        failed("(inheritance)", "inheritance", exc, configure_failed)
    unique, indexed = single_column_sets(table) if hasattr(table, "constraints") else (set(), set())
    # mapper._props needs no configuration: when configure_mappers() failed, mapper.attrs would raise.
    props = list(compat.mapper_props(mapper).values())
    for prop in props:
        kind = property_kind(prop)
        try:
            if kind == "column":
                model["columns"].append(_column_entry(mapper, prop, table, unique, indexed))
            elif kind == "relationship":
                try:
                    model["relationships"].append(describe_relationship(prop))
                except Exception as exc:  # noqa: BLE001
                    message = failed(prop.key, "relationship", exc, configure_failed)
                    model["relationships"].append(_unconfigured_relationship(prop, message))
            elif kind == "expression":
                model["properties"].append(_expression(prop))
            elif kind == "composite":
                model["properties"].append(_composite(mapper, prop))
            elif kind == "synonym":
                model["properties"].append({"name": prop.key, "kind": "synonym", "of": prop.name, "error": None})
            else:
                model["properties"].append({"name": prop.key, "kind": type(prop).__name__, "error": None})
        except Exception as exc:  # noqa: BLE001 - one property must not hide the rest of the model
            message = failed(prop.key, kind or type(prop).__name__, exc)
            target = model["columns"] if kind == "column" else model["properties"]
            target.append({"name": getattr(prop, "key", "?"), "attr": getattr(prop, "key", "?"), "kind": kind,
                           "error": message})
    # Python-level descriptors: hybrids and association proxies (not mapper properties).
    try:
        descriptors = list(mapper.all_orm_descriptors.items())
    except Exception as exc:  # noqa: BLE001
        failed("(descriptors)", "descriptor", exc)
        descriptors = []
    # ``@x.inplace.expression`` leaves the same hybrid under a second name: describe it once, under
    # the name of its function when that is one of its keys.
    keys: dict[int, list[str]] = {}
    for key, descriptor in descriptors:
        keys.setdefault(id(descriptor), []).append(key)
    for key, descriptor in descriptors:
        kind = str(getattr(descriptor, "extension_type", "")).rpartition(".")[2].lower()
        if kind not in ("hybrid_property", "hybrid_method", "association_proxy"):
            continue
        names = keys[id(descriptor)]
        if key != (getattr(descriptor, "__name__", None) if getattr(descriptor, "__name__", None) in names else names[0]):
            continue
        try:
            if kind == "association_proxy":
                model["properties"].append(_association_proxy(cls, key, descriptor))
            else:
                model["properties"].append(_hybrid(cls, key, descriptor))
        except Exception as exc:  # noqa: BLE001
            model["properties"].append({"name": key, "kind": kind, "error": failed(key, kind, exc)})
    for entry in model["properties"]:
        for err in model["errors"]:
            if err["property"] == entry["name"] and entry.get("error") is None:
                entry["error"] = err["error"]
    if model["errors"]:
        model["partial"] = True
        names = ", ".join(e["property"] for e in model["errors"])  # type: ignore[assignment]
        model["error"] = f"{len(model['errors'])} propert{'y' if len(model['errors']) == 1 else 'ies'} could not " \
                         f"be described ({names}); the rest of the model is shown"
    return model
