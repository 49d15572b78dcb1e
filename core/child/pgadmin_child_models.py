"""Child task ``models.inspect``: discover the project's SQLAlchemy models and describe them as JSON.

Runs inside the child process (``pgadmin_runner.py models.inspect``) with the project's own
interpreter and SQLAlchemy, never in the server. Discovery, in order: ``PGADMIN_SQLALCHEMY_BASE``
(``module:Base``, a ``registry`` or a ``MetaData``); else the ``target_metadata`` of Alembic's
``env.py`` (followed through its imports without running it), completed with the other modules
of the package that holds it; else a scan of the project's packages. Whatever was imported,
every mapper of every registry touching the found metadata is described through
``sqlalchemy.inspect`` — the same object the ORM uses, so what we show is what the code declares.
Import and mapper-configuration failures are reported per module with a hint; the rest still shows.

Only the standard library and the user's SQLAlchemy are used here.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import os
import re
import sys
from typing import Any

from pgadmin_child_common import SKIP_DIRS, describe_import_error  # noqa: I001  (takes over stdout first)

# --- discovery ----------------------------------------------------------------------------


def _resolve(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def env_py_from_ini(ini: str, section: str = "alembic") -> str | None:
    """The env.py of an alembic.ini's ``script_location`` (read with configparser, no alembic import)."""
    parser = configparser.ConfigParser(defaults={"here": os.path.dirname(os.path.abspath(ini))})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get(section, "script_location")
    except (configparser.Error, OSError):
        return None
    if ":" in location and not os.path.isabs(location) and not location.startswith("%"):
        return None  # package resource spec (pkg:dir): not worth resolving here
    if not os.path.isabs(location):
        location = os.path.join(os.path.dirname(os.path.abspath(ini)), location)
    env_py = os.path.join(location, "env.py")
    return env_py if os.path.exists(env_py) else None


def _from_env_py(env_py: str) -> tuple[Any, str] | None:
    """Follow env.py's ``target_metadata = X`` through its imports, without running env.py."""
    with open(env_py, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), env_py)
    imports: list[ast.stmt] = []
    expr: ast.expr | None = None
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and not any(
            (a.name.split(".")[0] in ("alembic", "logging")) for a in node.names
        ) and not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("alembic", "logging"))):
            imports.append(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "target_metadata" for t in node.targets):
            expr = node.value
    if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
        return None
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=imports, type_ignores=[]), env_py, "exec"), namespace)  # noqa: S102
    value = eval(compile(ast.Expression(body=expr), env_py, "eval"), namespace)  # noqa: S307
    if isinstance(value, list | tuple) and value:
        value = value[0]
    # Prefer the declarative class that owns this MetaData, for class names.
    for obj in namespace.values():
        if isinstance(obj, type) and getattr(obj, "metadata", None) is value and "registry" in vars(obj):
            return obj, f"{obj.__module__}:{obj.__name__}"
    return value, ast.unparse(expr)


def _importable_modules(project_dir: str, only_package: str | None = None) -> list[str]:
    """Dotted names of the project's modules that mention sqlalchemy/sqlmodel (importable ones only)."""
    names: list[str] = []
    start = os.path.join(project_dir, *only_package.split(".")) if only_package else project_dir
    if not os.path.isdir(start):
        return names
    for root, dirs, files in os.walk(start):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(root, project_dir)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and not all(os.path.exists(os.path.join(project_dir, *parts[: i + 1], "__init__.py"))
                             for i in range(len(parts))):
            dirs[:] = []
            continue
        for filename in sorted(files):
            if not filename.endswith(".py") or filename in ("setup.py", "conftest.py", "manage.py", "env.py"):
                continue
            try:
                with open(os.path.join(root, filename), encoding="utf-8", errors="replace") as fh:
                    source = fh.read()
            except OSError:
                continue
            if "sqlalchemy" not in source and "sqlmodel" not in source:
                continue
            stem = filename[:-3]
            name = ".".join(parts + ([] if stem == "__init__" else [stem]))
            if name:
                names.append(name)
    return names


def _import_all(names: list[str], errors: list[dict[str, Any]]) -> None:
    for name in names:
        if name in sys.modules:
            continue
        if any(e["module"] == name or name.startswith(e["module"] + ".") for e in errors):
            continue  # its package already failed: one error is enough
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, even SystemExit
            errors.append(_describe(name, exc))


def _describe(name: str, exc: BaseException) -> dict[str, Any]:
    """describe_import_error, with ``where`` pointing at the user's own line when there is one."""
    import traceback

    info = describe_import_error(name, exc)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<") and "importlib" not in f.filename and f.filename != __file__]
    if isinstance(exc, SyntaxError):
        info["where"] = f"{exc.filename}:{exc.lineno}"
    elif frames:
        info["where"] = f"{frames[-1].filename}:{frames[-1].lineno}"
    return info


def _all_registries() -> list[Any]:
    from sqlalchemy.orm import mapperlib

    if hasattr(mapperlib, "_all_registries"):
        return list(mapperlib._all_registries())
    return list(getattr(mapperlib, "_mapper_registries", {}))


def _metadata_of(owner: Any) -> Any:
    from sqlalchemy import MetaData

    if isinstance(owner, MetaData):
        return owner
    return getattr(owner, "metadata", None)


def _project_module(module_name: str, project_dir: str) -> bool:
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None) or ""
    return bool(path) and os.path.abspath(path).startswith(os.path.abspath(project_dir) + os.sep)


def discover(payload: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Import the models; return {found_by, base, metadatas, registries}."""
    project_dir = payload.get("project_dir") or os.getcwd()
    spec = payload.get("sqlalchemy_base") or ""
    owner: Any = None
    found_by, base = "scan", None
    if spec:
        found_by, base = "PGADMIN_SQLALCHEMY_BASE", spec
        try:
            owner = _resolve(spec)
        except BaseException as exc:  # noqa: BLE001
            errors.append(_describe(spec.partition(":")[0], exc))
            return {"found_by": found_by, "base": base, "metadatas": [], "registries": []}
    else:
        env_py = payload.get("env_py") or (env_py_from_ini(payload["alembic_ini"]) if payload.get("alembic_ini") else None)
        if env_py and os.path.exists(env_py):
            try:
                hit = _from_env_py(env_py)
            except BaseException as exc:  # noqa: BLE001
                errors.append(_describe(f"{env_py} (target_metadata imports)", exc))
                hit = None
            if hit is not None:
                owner, base = hit
                found_by = "env.py target_metadata"
    if owner is not None:
        _complete_package(owner, project_dir, errors)
    if owner is None:
        _import_all(_importable_modules(project_dir), errors)
        registries = [r for r in _all_registries()
                      if any(_project_module(m.class_.__module__, project_dir) for m in r.mappers)]
        metadatas = _unique([r.metadata for r in registries])
        # Plain MetaData objects with tables but no mapped class (Core-only projects).
        core_only: list[str] = []
        for name in sorted(sys.modules):
            if _project_module(name, project_dir):
                for attr, value in list(vars(sys.modules[name]).items()):
                    md = value if type(value).__name__ == "MetaData" else None
                    if md is not None and md.tables and all(md is not m for m in metadatas):
                        metadatas.append(md)
                        core_only.append(f"{name}:{attr}")
        if registries or core_only:
            base = ", ".join(sorted({_registry_label(r, project_dir) for r in registries}) + core_only)
        return {"found_by": found_by, "base": base, "metadatas": metadatas, "registries": registries}
    metadata = _metadata_of(owner)
    if metadata is None:
        registry = getattr(owner, "registry", owner)
        metadata = getattr(registry, "metadata", None)
    registries = [r for r in _all_registries()
                  if r.metadata is metadata or any(m.local_table is not None and getattr(m.local_table, "metadata", None)
                                                   is metadata for m in r.mappers)]
    return {"found_by": found_by, "base": base, "metadatas": [metadata] if metadata is not None else [],
            "registries": registries}


def _complete_package(owner: Any, project_dir: str, errors: list[dict[str, Any]]) -> None:
    """Import the sibling modules of the Base's own models package (``app.models.*``).

    Only a dedicated sub-package is completed (``app/models/``): a Base in a top-level package or
    a flat module stays as the user's imports left it, so unrelated code is not imported.
    """
    module_name = getattr(owner, "__module__", None) or ""
    if isinstance(owner, type) or type(owner).__name__ == "registry":
        module_name = getattr(owner, "__module__", "") or ""
    package = module_name.rpartition(".")[0]
    if package.count(".") >= 1 and _project_module(module_name, project_dir):
        _import_all(_importable_modules(project_dir, package), errors)


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if all(item is not o for o in out):
            out.append(item)
    return out


def _registry_label(registry: Any, project_dir: str) -> str:
    """``module:Name`` of the variable that holds this registry's Base (or the registry itself)."""
    for module_name in sorted(sys.modules):
        if not _project_module(module_name, project_dir):
            continue
        for name, value in list(vars(sys.modules[module_name]).items()):
            if value is registry or (isinstance(value, type) and vars(value).get("registry") is registry):
                return f"{module_name}:{name}"
    mappers = sorted(registry.mappers, key=lambda m: m.class_.__name__)
    if any(b.__module__ == "sqlmodel.main" for m in mappers for b in m.class_.__mro__):
        return "sqlmodel:SQLModel"
    return f"registry ({mappers[0].class_.__module__})" if mappers else "registry"


# --- rendering helpers --------------------------------------------------------------------

_POSITIONAL = re.compile(r"\b(length|precision|scale)=")


def render_type(sqltype: Any) -> str:
    """The type as the model code spells it: ``String(255)``, ``Numeric(18, 2)``, ``Enum('a', 'b')``."""
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


_DIALECT: list[Any] = []


def _dialect() -> Any:
    """One PostgreSQL dialect for every compile (building one per call costs more than the compile)."""
    if not _DIALECT:
        from sqlalchemy.dialects import postgresql

        _DIALECT.append(postgresql.dialect())
    return _DIALECT[0]


def sql_type(sqltype: Any) -> str:
    """The type as PostgreSQL spells it (for comparing with the live database)."""
    try:
        return str(sqltype.compile(dialect=_dialect()))
    except Exception:  # noqa: BLE001 - types without a PostgreSQL rendering
        return render_type(sqltype)


def _sql(clause: Any) -> str:
    if isinstance(clause, str):
        return clause
    try:
        return str(clause.compile(dialect=_dialect(), compile_kwargs={"literal_binds": True}))
    except Exception:  # noqa: BLE001
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


def render_default(column: Any) -> str | None:
    default = column.default
    if default is None:
        return None
    if type(default).__name__ == "Sequence":
        return f"Sequence({default.name!r})"
    arg = getattr(default, "arg", None)
    if getattr(default, "is_callable", False) or callable(arg):
        return getattr(arg, "__name__", None) or repr(arg)
    if getattr(default, "is_clause_element", False):
        return _sql(arg)
    return repr(arg)


# --- description --------------------------------------------------------------------------


def _fk(fk: Any) -> dict[str, Any]:
    target = fk.target_fullname
    parts = target.split(".")
    return {"target": target, "table": ".".join(parts[:-1]), "column": parts[-1],
            "ondelete": (fk.ondelete or None), "onupdate": (fk.onupdate or None),
            "constraint": fk.constraint.name if fk.constraint is not None and isinstance(fk.constraint.name, str) else None}


def _single_column_sets(table: Any) -> tuple[set[str], set[str]]:
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


def describe_column(column: Any, unique: set[str], indexed: set[str]) -> dict[str, Any]:
    return {
        "name": column.name,
        "type": render_type(column.type),
        "sql_type": sql_type(column.type),
        "python_type": _python_type(column.type),
        "primary_key": bool(column.primary_key),
        "nullable": bool(column.nullable),
        "unique": bool(column.unique) or column.name in unique,
        "index": bool(column.index) or column.name in indexed,
        "server_default": render_server_default(column),
        "default": render_default(column),
        "autoincrement": column.autoincrement if isinstance(column.autoincrement, bool) else str(column.autoincrement),
        "comment": column.comment,
        "foreign_keys": [_fk(fk) for fk in sorted(column.foreign_keys, key=lambda f: f.target_fullname)],
    }


def _python_type(sqltype: Any) -> str | None:
    try:
        return sqltype.python_type.__name__
    except Exception:  # noqa: BLE001 - NotImplementedError for many types
        return None


def describe_table(table: Any) -> dict[str, Any]:
    unique, indexed = _single_column_sets(table)
    constraints: list[dict[str, Any]] = []
    for c in sorted(table.constraints, key=lambda c: (type(c).__name__, str(c.name or ""))):
        kind = type(c).__name__
        name = c.name if isinstance(c.name, str) else None
        entry: dict[str, Any] = {"kind": {"PrimaryKeyConstraint": "primary_key", "UniqueConstraint": "unique",
                                          "CheckConstraint": "check", "ForeignKeyConstraint": "foreign_key"}.get(kind, kind),
                                 "name": name, "columns": [col.name for col in c.columns]}
        if kind == "CheckConstraint":
            entry["sqltext"] = _sql(c.sqltext)
            if not entry["columns"]:
                entry["columns"] = []
        if kind == "ForeignKeyConstraint":
            entry["references"] = [e.target_fullname for e in c.elements]
            entry["ondelete"], entry["onupdate"] = c.ondelete or None, c.onupdate or None
        if kind == "PrimaryKeyConstraint" and not entry["columns"]:
            continue
        constraints.append(entry)
    indexes = [{"name": i.name if isinstance(i.name, str) else None,
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


def _direction(rel: Any) -> str:
    name = rel.direction.name
    if name == "MANYTOMANY":
        return "N:M"
    if name == "ONETOMANY":
        return "1:N" if rel.uselist else "1:1"
    # MANYTOONE: one-to-one when the other side is scalar or the FK columns are unique.
    reverse = list(getattr(rel, "_reverse_property", []) or [])
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


def describe_relationship(rel: Any) -> dict[str, Any]:
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
        "target": rel.mapper.class_.__name__,
        "target_table": rel.mapper.local_table.fullname if hasattr(rel.mapper.local_table, "fullname") else None,
        "direction": _direction(rel),
        "sqla_direction": rel.direction.name,
        "uselist": bool(rel.uselist),
        "secondary": rel.secondary.fullname if rel.secondary is not None and hasattr(rel.secondary, "fullname") else None,
        "back_populates": rel.back_populates,
        "backref": backref if isinstance(backref, str) else None,
        "reverse": sorted(r.key for r in getattr(rel, "_reverse_property", []) or []),
        "cascade": sorted(cascade),
        "cascade_label": cascade_label(cascade),
        "lazy": str(rel.lazy),
        "passive_deletes": rel.passive_deletes if isinstance(rel.passive_deletes, bool) else str(rel.passive_deletes),
        "viewonly": bool(rel.viewonly),
        "order_by": [_sql(o) for o in rel.order_by] if rel.order_by else [],
        "foreign_keys": sorted(f"{c.table.fullname}.{c.name}" for c in rel._user_defined_foreign_keys
                               if hasattr(c, "table")),
        "local_remote_pairs": [list(p) for p in pairs],
        "primaryjoin": _sql(rel.primaryjoin),
        "ondelete": ondelete,
    }


def _inheritance(mapper: Any) -> dict[str, Any] | None:
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


def describe_mapper(mapper: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
    cls = mapper.class_
    table = mapper.local_table
    model: dict[str, Any] = {
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
        "inheritance": _inheritance(mapper),
        "columns": [],
        "relationships": [],
        "error": None,
    }
    try:
        unique, indexed = _single_column_sets(table) if hasattr(table, "constraints") else (set(), set())
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if not hasattr(column, "table") or not hasattr(column, "foreign_keys"):
                model["columns"].append({"attr": prop.key, "name": prop.key, "expression": _sql(column)})
                continue
            own_table = getattr(column.table, "fullname", None)
            own = column.table is table
            entry = describe_column(column, unique if own else set(), indexed if own else set())
            entry["attr"] = prop.key
            entry["table"] = own_table
            entry["inherited"] = column.table is not table or (
                mapper.inherits is not None and prop.key in mapper.inherits.column_attrs
                and mapper.inherits.column_attrs[prop.key].columns[0] is column)
            model["columns"].append(entry)
        model["relationships"] = [describe_relationship(r) for r in mapper.relationships]
    except Exception as exc:  # noqa: BLE001 - one broken relationship must not hide the other models
        model["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not model["columns"] and hasattr(table, "columns"):
            unique, indexed = _single_column_sets(table)
            model["columns"] = [{**describe_column(c, unique, indexed), "attr": c.key, "table": table.fullname,
                                 "inherited": False} for c in table.columns]
    return model


def _is_mapped(cls: type) -> bool:
    return "__mapper__" in vars(cls) or "_sa_class_manager" in vars(cls)


def _configure(errors: list[dict[str, Any]]) -> None:
    from sqlalchemy.orm import configure_mappers

    try:
        configure_mappers()
    except Exception as exc:  # noqa: BLE001
        message = str(exc).split("\n")[0]
        hint = "Fix the relationship in your models; the other models are shown below."
        if "foreign_keys" in str(exc) or "multiple foreign key paths" in str(exc):
            hint = "Pass foreign_keys=[...] to the relationship (several foreign keys link these tables)."
        elif "back_populates" in str(exc) or "no property" in str(exc):
            hint = "Check back_populates: both sides must name each other, with matching attribute names."
        errors.append({"module": "(mapper configuration)", "error": f"{type(exc).__name__}: {message}",
                       "hint": hint, "where": ""})


def task_inspect(payload: dict[str, Any]) -> dict[str, Any]:
    """Every model, its table, columns, relationships and inheritance; unmapped tables separately."""
    import sqlalchemy

    errors: list[dict[str, Any]] = []
    found = discover(payload, errors)
    if found["registries"]:
        _configure(errors)
    mappers = sorted({id(m): m for r in found["registries"] for m in r.mappers}.values(),
                     key=lambda m: (m.class_.__module__, m.class_.__name__))
    models = [describe_mapper(sqlalchemy.inspect(m.class_), errors) for m in mappers]
    # Same class name in two modules: the API addresses models by name, so qualify the duplicates.
    seen: dict[str, int] = {}
    for model in models:
        seen[model["name"]] = seen.get(model["name"], 0) + 1
    for model in models:
        model["key"] = model["qualname"] if seen[model["name"]] > 1 else model["name"]
    tables: dict[str, dict[str, Any]] = {}
    for metadata in found["metadatas"]:
        for table in metadata.tables.values():
            tables.setdefault(table.fullname, describe_table(table))
    for model in models:
        if model["table"] in tables:
            tables[model["table"]]["models"].append(model["key"])
        elif model["table"]:
            # A mapped table outside the found metadata (another registry): describe it too.
            mapper = next(m for m in mappers if m.class_.__name__ == model["name"]
                          and m.class_.__module__ == model["module"])
            if hasattr(mapper.local_table, "columns"):
                tables[model["table"]] = describe_table(mapper.local_table)
                tables[model["table"]]["models"].append(model["key"])
    for table in tables.values():
        table["mapped"] = bool(table["models"])
        # Association tables: not mapped, and at least two of their columns point elsewhere.
        table["association"] = not table["mapped"] and sum(bool(c["foreign_keys"]) for c in table["columns"]) >= 2
    return {
        "found_by": found["found_by"],
        "base": found["base"],
        "sqlalchemy_version": sqlalchemy.__version__,
        "python": sys.version.split()[0],
        "models": models,
        "tables": sorted(tables.values(), key=lambda t: (t["schema"] or "", t["name"])),
        "errors": errors,
    }


TASKS = {"inspect": task_inspect}
