"""The child-process runner: the only place where the user's code is imported.

Executed as a script by the project's interpreter (``PROJECT_PYTHON``), never imported by the
server: ``python pgadmin_runner.py TASK`` with a JSON payload on stdin. It speaks JSON lines
on the *real* stdout (``{"event": "result", ...}``); anything the user's code prints goes to
stderr so it cannot corrupt the protocol. It depends only on the standard library and on the
SQLAlchemy/Alembic installed next to the user's code, so the user's versions are the ones
that run their code. This folder is ``sys.path[0]`` of the child: it holds only ``pgadmin_*`` modules.

Tasks: ``probe`` (alembic script directory + model discovery for the startup report), and
``area.task`` names served by the sibling modules ``pgadmin_child_<area>.py`` (each exports
``TASKS = {"task": function(payload) -> result}``; they may call ``emit("log", ...)`` for live
output). Sibling module names carry the ``pgadmin_child_`` prefix so they cannot shadow the
user's modules or the standard library.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import sys
import traceback
from typing import Any

from pgadmin_child_common import SKIP_DIRS, describe_import_error, emit  # noqa: I001  (takes over stdout first)

# --- models -------------------------------------------------------------------------------

def _registries_in(module: Any) -> list[tuple[str, Any]]:
    """(qualified name, registry-or-metadata owner) for every declarative base in a module."""
    found = []
    for name, value in vars(module).items():
        if isinstance(value, type) and "registry" in vars(value) and hasattr(value, "metadata"):
            if getattr(value, "__module__", None) == module.__name__:
                found.append((f"{module.__name__}:{name}", value))
    return found


def _summarise(owner: Any, found_by: str, name: str) -> dict[str, Any]:
    from sqlalchemy import MetaData

    if isinstance(owner, MetaData):
        return {"found_by": found_by, "base": name, "count": len(owner.tables),
                "tables": len(owner.tables), "classes": []}
    registry = owner.registry
    classes = sorted(m.class_.__name__ for m in registry.mappers)
    return {"found_by": found_by, "base": name, "count": len(classes),
            "tables": len(owner.metadata.tables), "classes": classes}


def _resolve(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


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


def _scan(project_dir: str, errors: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(root, project_dir)
        parts = [] if rel == "." else rel.split(os.sep)
        # only importable locations: every folder from the root down is a package
        importable = all(os.path.exists(os.path.join(project_dir, *parts[: i + 1], "__init__.py")) for i in range(len(parts)))
        if parts and not importable:
            dirs[:] = []
            continue
        for filename in sorted(files):
            if not filename.endswith(".py") or filename in ("setup.py", "conftest.py", "manage.py"):
                continue
            path = os.path.join(root, filename)
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    source = fh.read()
            except OSError:
                continue
            if "sqlalchemy" not in source and "sqlmodel" not in source:
                continue
            stem = filename[:-3]
            module_name = ".".join(parts + ([] if stem == "__init__" else [stem]))
            if not module_name:
                continue
            try:
                module = importlib.import_module(module_name)
            except BaseException as exc:  # noqa: BLE001 - user code may raise anything, even SystemExit
                errors.append(describe_import_error(module_name, exc))
                continue
            found.extend(_registries_in(module))
    return found


def find_models(payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    spec = payload.get("sqlalchemy_base") or ""
    if spec:
        try:
            owner = _resolve(spec)
        except BaseException as exc:  # noqa: BLE001
            errors.append(describe_import_error(spec.partition(":")[0], exc))
            return {"found_by": "SQLALCHEMY_BASE", "base": spec, "count": 0, "errors": errors}
        return {**_summarise(owner, "SQLALCHEMY_BASE", spec), "errors": errors}
    env_py = payload.get("env_py")
    if env_py and os.path.exists(env_py):
        try:
            hit = _from_env_py(env_py)
        except BaseException as exc:  # noqa: BLE001
            errors.append(describe_import_error(f"{env_py} (target_metadata imports)", exc))
            hit = None
        if hit is not None:
            return {**_summarise(hit[0], "env.py target_metadata", hit[1]), "errors": errors}
    bases = _scan(payload["project_dir"], errors)
    if not bases:
        return {"found_by": "scan", "base": None, "count": 0, "tables": 0, "classes": [], "errors": errors}
    # Several bases: report the one with the most models, count them all.
    seen: dict[int, tuple[str, Any]] = {id(owner.registry): (name, owner) for name, owner in bases}
    summaries = [_summarise(owner, "scan", name) for name, owner in seen.values()]
    summaries.sort(key=lambda s: -s["count"])
    total = summaries[0]
    total["count"] = sum(s["count"] for s in summaries)
    total["classes"] = sorted(c for s in summaries for c in s["classes"])
    total["bases"] = [s["base"] for s in summaries]
    return {**total, "errors": errors}


# --- alembic ------------------------------------------------------------------------------

def read_alembic(payload: dict[str, Any]) -> dict[str, Any] | None:
    ini = payload.get("alembic_ini")
    if not ini:
        return None
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config(ini, ini_section=payload.get("alembic_section") or "alembic")
    try:
        script = ScriptDirectory.from_config(cfg)
        revisions = {
            r.revision: {"doc": (r.doc or "").strip().splitlines()[0] if (r.doc or "").strip() else "",
                         "down": list(r._all_down_revisions)}
            for r in script.walk_revisions()
        }
        return {"ok": True, "script_location": script.dir, "heads": list(script.get_heads()),
                "revisions": revisions, "count": len(revisions),
                "env_py": os.path.join(script.dir, "env.py")}
    except BaseException as exc:  # noqa: BLE001
        return {"ok": False, **describe_import_error("alembic script directory", exc)}


def task_probe(payload: dict[str, Any]) -> dict[str, Any]:
    alembic_info = read_alembic(payload)
    if alembic_info and alembic_info.get("ok") and not payload.get("env_py"):
        payload["env_py"] = alembic_info.get("env_py")
    return {"alembic": alembic_info, "models": find_models(payload)}


TASKS = {"probe": task_probe}


def resolve_task(name: str) -> Any:
    """``probe`` is built in; ``area.task`` lives in ``pgadmin_child_<area>.TASKS[task]``."""
    if name in TASKS:
        return TASKS[name]
    area, _, task = name.partition(".")
    if not area.isidentifier() or not task:
        return None
    try:
        module = importlib.import_module(f"pgadmin_child_{area}")
    except ModuleNotFoundError:
        return None
    return getattr(module, "TASKS", {}).get(task)


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    payload = json.loads(sys.stdin.read() or "{}")
    project_dir = payload.get("project_dir") or os.getcwd()
    sys.path[:0] = [p for p in [project_dir, *payload.get("extra_paths", [])] if p not in sys.path]
    func = resolve_task(task)
    if func is None:
        emit("error", error=f"unknown task {task!r}")
        return 2
    try:
        result = func(payload)
    except BaseException as exc:  # noqa: BLE001 - report, never crash silently
        emit("error", **describe_import_error(task, exc), traceback=traceback.format_exc())
        return 1
    emit("result", result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
