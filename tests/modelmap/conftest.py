"""Model-map fixtures: point the tool at a fixture project, and load the same models in this process.

``use_project(path, base="")`` sets PGADMIN_PROJECT_DIR (and PGADMIN_SQLALCHEMY_BASE) for one test. ``sqla_truth``
imports a fixture's models *in the test process* and describes them straight from
``sqlalchemy.inspect(mapper)``: the reference every API answer is compared with.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import configure_mappers

from tests.conftest import FIXTURES


@pytest.fixture
def use_project(settings) -> Iterator[Callable[..., Path]]:  # type: ignore[no-untyped-def]
    from modelmap import services

    def point(path: Path | str, base: str = "") -> Path:
        path = FIXTURES / path if isinstance(path, str) else path
        settings.PROJECT_DIR = path
        settings.SQLALCHEMY_BASE = base
        services._cache.clear()
        return path

    yield point
    services._cache.clear()


def load_mappers(root: Path, modules: list[str], owners: list[str]) -> dict[str, Any]:
    """Import ``modules`` from ``root`` here and return {class name: mapper} of the ``owners``' registries."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    for name in modules:
        importlib.import_module(name)
    configure_mappers()
    mappers: dict[str, Any] = {}
    for spec in owners:
        module, _, attr = spec.partition(":")
        owner = getattr(importlib.import_module(module), attr)
        registry = getattr(owner, "registry", owner)
        for mapper in registry.mappers:
            mappers[mapper.class_.__name__] = mapper
    return mappers


def _sql_type(col: Any) -> str:
    return str(col.type.compile(dialect=postgresql.dialect()))


def _compiled(clause: Any) -> str | None:
    try:
        return str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    except Exception:  # noqa: BLE001 - the tool must report it as the property's error
        return None


def property_truth(m: Any) -> dict[str, Any]:
    """Every property that is not a table column or a relationship, as SQLAlchemy reports it."""
    from sqlalchemy.ext.associationproxy import AssociationProxyExtensionType
    from sqlalchemy.ext.hybrid import HybridExtensionType
    from sqlalchemy.orm import ColumnProperty, CompositeProperty, SynonymProperty

    out: dict[str, Any] = {}
    for prop in m.attrs:
        if isinstance(prop, ColumnProperty) and not isinstance(prop.columns[0], Column):
            query_expression = "query_expression" in dict(prop.strategy_key)
            out[prop.key] = {"kind": "query_expression" if query_expression else "expression",
                             "sql": None if query_expression else _compiled(prop.columns[0].element
                                                                             if hasattr(prop.columns[0], "element")
                                                                             else prop.columns[0])}
        elif isinstance(prop, CompositeProperty):
            out[prop.key] = {"kind": "composite", "attrs": [str(a) for a in prop.attrs]}
        elif isinstance(prop, SynonymProperty):
            out[prop.key] = {"kind": "synonym", "of": prop.name}
    for key, desc in m.all_orm_descriptors.items():
        kind = desc.extension_type
        if kind is AssociationProxyExtensionType.ASSOCIATION_PROXY:
            out[key] = {"kind": "association_proxy", "via": desc.target_collection, "attr": desc.value_attr}
        elif kind in (HybridExtensionType.HYBRID_PROPERTY, HybridExtensionType.HYBRID_METHOD) \
                and (getattr(desc, "__name__", None) or desc.func.__name__) == key:  # not an inplace alias
            out[key] = {"kind": kind.name.lower()}
    return out


def reported_properties(model: dict[str, Any]) -> dict[str, Any]:
    """The API's ``properties`` in the shape of ``property_truth`` (a failed property: sql None)."""
    picks = {"expression": ("sql",), "query_expression": ("sql",), "composite": ("attrs",), "synonym": ("of",),
             "association_proxy": ("via", "attr"), "hybrid_property": (), "hybrid_method": ()}
    return {p["name"]: {"kind": p["kind"], **{k: p.get(k) for k in picks.get(p["kind"], ())}}
            for p in model.get("properties") or []}


def truth(mapper: Any) -> dict[str, Any]:
    """What SQLAlchemy itself reports about one mapped class."""
    m = inspect(mapper.class_)
    columns = {}
    for prop in m.column_attrs:
        col = prop.columns[0]
        if not isinstance(col, Column):
            continue  # an SQL expression: in property_truth()
        columns[prop.key] = {
            "name": col.name, "primary_key": bool(col.primary_key), "nullable": bool(col.nullable),
            "sql_type": _sql_type(col),
            "foreign_keys": sorted((fk.target_fullname, fk.ondelete, fk.onupdate) for fk in col.foreign_keys),
        }
    relationships = {}
    for rel in m.relationships:
        relationships[rel.key] = {
            "target": rel.mapper.class_.__name__, "sqla_direction": rel.direction.name, "uselist": bool(rel.uselist),
            "secondary": rel.secondary.fullname if rel.secondary is not None else None,
            "back_populates": rel.back_populates, "cascade": sorted(rel.cascade), "lazy": str(rel.lazy),
            "passive_deletes": rel.passive_deletes,
            "foreign_keys": sorted(f"{c.table.fullname}.{c.name}" for c in rel._user_defined_foreign_keys),
        }
    return {
        "table": m.local_table.fullname, "columns": columns, "relationships": relationships,
        "properties": property_truth(m),
        "parent": m.inherits.class_.__name__ if m.inherits is not None else None,
        "polymorphic_identity": m.polymorphic_identity,
    }


def reported(model: dict[str, Any]) -> dict[str, Any]:
    """The same facts picked out of the API's answer for one model."""
    columns = {c["attr"]: {"name": c["name"], "primary_key": c["primary_key"], "nullable": c["nullable"],
                           "sql_type": c["sql_type"],
                           "foreign_keys": sorted((f["target"], f["ondelete"], f["onupdate"]) for f in c["foreign_keys"])}
               for c in model["columns"]}
    relationships = {r["name"]: {"target": r["target"], "sqla_direction": r["sqla_direction"], "uselist": r["uselist"],
                                 "secondary": r["secondary"], "back_populates": r["back_populates"],
                                 "cascade": r["cascade"], "lazy": r["lazy"], "passive_deletes": r["passive_deletes"],
                                 "foreign_keys": r["foreign_keys"]}
                     for r in model["relationships"]}
    inheritance = model.get("inheritance") or {}
    return {"table": model["table"], "columns": columns, "relationships": relationships,
            "properties": reported_properties(model),
            "parent": inheritance.get("parent"), "polymorphic_identity": inheritance.get("polymorphic_identity")}


def assert_matches_sqlalchemy(api_models: list[dict[str, Any]], mappers: dict[str, Any]) -> None:
    """Every model the API lists is exactly what inspect(mapper) says, and none is missing."""
    by_name = {m["name"]: m for m in api_models}
    assert set(by_name) == set(mappers)
    for name, mapper in mappers.items():
        assert reported(by_name[name]) == truth(mapper), name
        # Direction words follow SQLAlchemy's own direction and uselist.
        for rel in by_name[name]["relationships"]:
            expected = {"MANYTOMANY": {"N:M"}, "ONETOMANY": {"1:N"} if rel["uselist"] else {"1:1"},
                        "MANYTOONE": {"N:1", "1:1"}}[rel["sqla_direction"]]
            assert rel["direction"] in expected, (name, rel["name"])


def parse_svg(data: bytes | str, path: str | None = None) -> Any:
    """Parse the tool's own SVG output (well-formedness is what the tests check)."""
    import xml.etree.ElementTree as ET

    if path is not None:
        return ET.parse(path).getroot()  # noqa: S314 - our own export, not untrusted input
    return ET.fromstring(data)  # noqa: S314 - our own output, not untrusted input
