"""The child-process runner: the only place where the user's code is imported.

Executed as a script by the project's interpreter (``PGADMIN_PROJECT_PYTHON``), never imported by the
server: ``python pgadmin_runner.py TASK`` with a JSON payload on stdin. It speaks JSON lines
on the *real* stdout (``{"event": "result", ...}``, see ``pgadmin_protocol``); anything the user's code
writes to stdout — ``print``, ``os.write(1, …)``, a subprocess — goes to stderr (``pgadmin_child_common``
swaps the file descriptors first) so it cannot corrupt the protocol. It depends only on the standard library and on the
SQLAlchemy/Alembic installed next to the user's code, so the user's versions are the ones
that run their code. This folder is ``sys.path[0]`` of the child: it holds only ``pgadmin_*`` modules.
The child runs in the ini's folder (where the CLI is run) with the CLI's ``sys.path`` (``set_project_path``).

This one-shot runner serves the migration runs (a fresh process each); the other tasks go to the warm
worker (``pgadmin_worker.py``), which imports this module and runs tasks through ``execute``.

Tasks: ``probe`` (alembic script directory + model discovery for the startup report), and
``area.task`` names served by the sibling modules ``pgadmin_child_<area>.py`` (each exports
``TASKS = {"task": function(payload) -> result}``; they may call ``emit("log", ...)`` for live
output). Sibling module names carry the ``pgadmin_child_`` prefix so they cannot shadow the
user's modules or the standard library.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

import pgadmin_compat as compat
from pgadmin_child_common import describe_import_error, emit  # noqa: I001  (takes over stdout first)

if TYPE_CHECKING:
    from pgadmin_protocol import ModelsSummary, ProbeResult

# --- models -------------------------------------------------------------------------------

def find_models(payload: dict[str, Any]) -> ModelsSummary:
    """The startup report's summary of the models (counts, errors, models described partly)."""
    from pgadmin_child_models import summary

    return summary(payload)


# --- alembic ------------------------------------------------------------------------------

def read_alembic(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Heads, revisions and the version tables env.py configures, as the CLI would see them."""
    if not payload.get("probe_alembic", bool(payload.get("alembic_ini"))):
        return None
    from pgadmin_child_alembic import capture_version_tables, config_for, failure, stray_revision_files

    try:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(config_for(payload))
        revisions = {
            r.revision: {"doc": (r.doc or "").strip().splitlines()[0] if (r.doc or "").strip() else "",
                         "down": compat.all_down_revisions(r)}
            for r in script.walk_revisions()
        }
        location = os.path.abspath(script.dir)
        out: dict[str, Any] = {"ok": True, "script_location": location, "heads": list(script.get_heads()),
                               "revisions": revisions, "count": len(revisions),
                               "env_py": os.path.join(location, "env.py")}
    except BaseException as exc:  # noqa: BLE001
        return failure("alembic script directory", exc)
    if not revisions:
        out["stray_revision_files"] = stray_revision_files(location)
    out["version_tables"] = capture_version_tables(payload, out["env_py"])
    return out


def task_probe(payload: dict[str, Any]) -> ProbeResult:
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


def _ini_prepend_paths(ini: str, section: str) -> list[str]:
    """``prepend_sys_path`` of the ini section, split as Alembic does, absolute (relative to the ini's folder)."""
    import configparser
    import re

    folder = os.path.dirname(os.path.abspath(ini))
    parser = configparser.ConfigParser(defaults={"here": folder})
    try:
        parser.read(ini, encoding="utf-8")
        raw = parser.get(section, "prepend_sys_path", fallback="") or ""
        sep = parser.get(section, "path_separator", fallback=None)
    except configparser.Error:
        return []
    if not raw.strip():
        return []
    chars = {"space": " ", "newline": "\n", "os": os.pathsep, ";": ";", ":": ":"}
    parts = raw.split(chars.get(sep, sep)) if sep else re.split(r", *|(?: +)|\:", raw)
    return [os.path.normpath(os.path.join(folder, p.strip())) for p in parts if p.strip()]


def set_project_path(payload: dict[str, Any]) -> None:
    """The child's ``sys.path`` as the Alembic CLI has it (issue 9 class 2).

    The ini's ``prepend_sys_path`` entries go first (what the CLI prepends); the project folder (and the
    ini's folder) go right after the standard library, so a project module named like a standard one
    (``logging.py``, ``signal/``, ``types.py``) cannot shadow it. The modules the CLI has imported before
    it reads the ini are imported first too, as in the CLI.
    """
    import argparse  # noqa: F401  - imported by the alembic CLI before prepend_sys_path applies
    import logging.config  # noqa: F401
    import signal  # noqa: F401
    import types  # noqa: F401
    import typing  # noqa: F401

    try:
        import alembic.config  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:  # a models-only project: nothing to pre-import
        pass
    project_dir = payload.get("project_dir") or os.getcwd()
    ini = payload.get("alembic_ini")
    front = _ini_prepend_paths(ini, payload.get("alembic_section") or "alembic") if ini else []
    after_stdlib = [os.path.abspath(p) for p in [project_dir, *payload.get("extra_paths", [])]
                    if p and os.path.abspath(p) not in front]
    sys.path[:0] = [p for p in front if p not in sys.path]
    site = next((i for i, p in enumerate(sys.path) if "site-packages" in p or "dist-packages" in p), len(sys.path))
    sys.path[site:site] = [p for p in dict.fromkeys(after_stdlib) if p not in sys.path]


def execute(task: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Run one task: ``("result", {"result": ...})`` or ``("error", {...})``, for the caller to emit."""
    func = resolve_task(task)
    if func is None:
        return "error", {"error": f"unknown task {task!r}"}
    try:
        compat.check_supported()  # "Alembic 1.6.5 is older than the oldest supported, 1.7", before any task
        result = func(payload)
    except compat.CompatError as exc:
        return "error", {"error": str(exc), "hint": exc.hint, "where": "the project's interpreter",
                         "traceback": traceback.format_exc(), "code": "unsupported_version"}
    except BaseException as exc:  # noqa: BLE001 - report, never crash silently
        return "error", {**describe_import_error(task, exc), "traceback": traceback.format_exc()}
    return "result", {"result": result}


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    payload = json.loads(sys.stdin.read() or "{}")
    set_project_path(payload)
    if resolve_task(task) is None:
        emit("error", error=f"unknown task {task!r}")
        return 2
    kind, data = execute(task, payload)
    emit(kind, **data)
    return 0 if kind == "result" else 1


if __name__ == "__main__":
    sys.exit(main())
