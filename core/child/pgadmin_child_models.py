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
import sys
from typing import TYPE_CHECKING, Any

from pgadmin_child_common import SKIP_DIRS, describe_import_error  # noqa: I001  (takes over stdout first)
from pgadmin_child_models_describe import describe_mapper, describe_table

if TYPE_CHECKING:  # the result shapes (pgadmin_protocol); annotations only
    from pgadmin_protocol import InspectResult, ModelInfo, ModelsSummary, TableInfo

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
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
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
    if isinstance(value, (list, tuple)) and value:
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
    import pgadmin_compat as compat

    return compat.all_registries()


def _metadata_of(owner: Any) -> Any:
    from sqlalchemy import MetaData

    if isinstance(owner, MetaData):
        return owner
    return getattr(owner, "metadata", None)


def _project_module(module_name: str, project_dir: str) -> bool:
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None) or ""
    return bool(path) and os.path.abspath(path).startswith(os.path.abspath(project_dir) + os.sep)


def loaded_project_files(payload: dict[str, Any]) -> list[str]:
    """The project's own source files among the modules imported so far.

    The server keys its model-map cache on these files (an edit elsewhere keeps the cached answer);
    installed packages, even in a venv inside the project, and this runner's own modules are left out.
    """
    roots = {os.path.abspath(p) for p in [payload.get("project_dir") or os.getcwd(), *payload.get("extra_paths", [])] if p}
    here = os.path.dirname(os.path.abspath(__file__))
    out: set[str] = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path:
            continue
        path = os.path.abspath(path)
        parts = path.split(os.sep)
        if path.startswith(here + os.sep) or "site-packages" in parts or "dist-packages" in parts:
            continue
        if any(path.startswith(root + os.sep) for root in roots):
            out.add(path)
    return sorted(out)


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
        metadata = _metadata_of(owner)
        if metadata is None:
            registry = getattr(owner, "registry", owner)
            metadata = getattr(registry, "metadata", None)
        registries = [r for r in _all_registries()
                      if r.metadata is metadata or any(m.local_table is not None and getattr(m.local_table, "metadata", None)
                                                       is metadata for m in r.mappers)]
        if registries or found_by != "env.py target_metadata" or (metadata is not None and metadata.tables):
            return {"found_by": found_by, "base": base, "metadatas": [metadata] if metadata is not None else [],
                    "registries": registries}
        # env.py names a metadata that holds nothing (its models are never imported): scan, as without one.
        found_by = "scan (env.py's target_metadata is empty)"
    return _scan(project_dir, found_by, errors)


def _scan(project_dir: str, found_by: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Import the project's modules that mention SQLAlchemy; every registry and MetaData of the project."""
    base = None
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


# --- description (pgadmin_child_models_describe) ------------------------------------------

def _configure(errors: list[dict[str, Any]]) -> str | None:
    """configure_mappers(); its failure as an error entry, and its message (None when it worked)."""
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
        return f"{type(exc).__name__}: {message}"
    return None


def _describe_all(found: dict[str, Any], errors: list[dict[str, Any]]) -> tuple[list[Any], list[ModelInfo]]:
    """Configure and describe every mapper; property errors also go to ``errors`` (one per property).

    A property that failed only because the mapper configuration failed is not repeated there: the
    ``(mapper configuration)`` entry already names the cause.
    """
    import sqlalchemy

    configure_failed = _configure(errors) if found["registries"] else None
    mappers = sorted({id(m): m for r in found["registries"] for m in r.mappers}.values(),
                     key=lambda m: (m.class_.__module__, m.class_.__name__))
    models = [_describe_one(sqlalchemy.inspect(m.class_), configure_failed) for m in mappers]
    for model in models:
        for err in model["errors"]:
            if err.get("caused_by"):
                continue
            errors.append({"module": f"{model['module']}:{model['name']}.{err['property']}", "model": model["name"],
                           "property": err["property"], "kind": err["kind"], "error": err["error"],
                           "hint": err["hint"], "where": err["where"]})
    return mappers, models


def _describe_one(mapper: Any, configure_failed: str | None) -> ModelInfo:
    """describe_mapper(), or a bare entry naming the failure: one odd class must not lose the others."""
    try:
        return describe_mapper(mapper, configure_failed)
    except Exception as exc:  # noqa: BLE001 - describe_mapper isolates properties; this is the last guard
        cls = mapper.class_
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return {"name": cls.__name__, "qualname": f"{cls.__module__}.{cls.__qualname__}", "module": cls.__module__,
                "doc": "", "table": getattr(mapper.local_table, "fullname", None), "sqlmodel": False,
                "imperative": False, "mixins": [], "inheritance": None, "columns": [], "relationships": [],
                "properties": [], "partial": True, "error": error,
                "errors": [{"property": "(model)", "kind": "model", "error": error, "where": "", "caused_by": None,
                            "hint": "The model could not be described; its table is still listed."}]}


def summary(payload: dict[str, Any]) -> ModelsSummary:
    """The startup report's summary: counts, import errors, and the models described only partly.

    ``errors`` holds import and configuration errors; ``property_errors`` the per-property ones
    (``partial`` models carry them), so the report can say "54 models, 3 described partly".
    """
    errors: list[dict[str, Any]] = []
    found = discover(payload, errors)
    mappers, models = _describe_all(found, errors)
    tables = sum(len(md.tables) for md in found["metadatas"])
    partial = sorted(m["name"] for m in models if m["partial"])
    return {"found_by": found["found_by"], "base": found["base"],
            "count": len(mappers) if mappers else tables,  # a Core-only MetaData counts its tables
            "tables": tables, "classes": sorted(m.class_.__name__ for m in mappers),
            "errors": [e for e in errors if "property" not in e],
            "property_errors": [e for e in errors if "property" in e],
            "partial": len(partial), "partial_models": partial, "project_files": loaded_project_files(payload)}


def scan_metadatas(payload: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The model map's discovery without env.py's ``target_metadata`` (drift's fallback when it is empty).

    ``PGADMIN_SQLALCHEMY_BASE`` still wins; otherwise the project is scanned, as /models does when
    env.py names no metadata. Returns discover()'s dict plus ``models`` (the number of mapped classes).
    """
    found = discover({**payload, "env_py": None, "alembic_ini": None}, errors)
    if found["registries"]:
        _configure(errors)
    found["models"] = len({id(m) for r in found["registries"] for m in r.mappers})
    return found


def task_inspect(payload: dict[str, Any]) -> InspectResult:
    """Every model, its table, columns, properties, relationships and inheritance; unmapped tables separately."""
    import sqlalchemy

    errors: list[dict[str, Any]] = []
    found = discover(payload, errors)
    mappers, models = _describe_all(found, errors)
    # Same class name in two modules: the API addresses models by name, so qualify the duplicates.
    seen: dict[str, int] = {}
    for model in models:
        seen[model["name"]] = seen.get(model["name"], 0) + 1
    for model in models:
        model["key"] = model["qualname"] if seen[model["name"]] > 1 else model["name"]
    tables: dict[str, TableInfo] = {}
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
        "partial": sum(1 for m in models if m["partial"]),
        "tables": sorted(tables.values(), key=lambda t: (t["schema"] or "", t["name"])),
        "errors": errors,
        "project_files": loaded_project_files(payload),
    }


TASKS = {"inspect": task_inspect}
