"""The child-process runner: the only place where the user's code is imported.

Executed as a script by the project's interpreter (``PGADMIN_PROJECT_PYTHON``), never imported by the
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

import importlib
import json
import os
import sys
import traceback
from typing import Any

from pgadmin_child_common import describe_import_error, emit  # noqa: I001  (takes over stdout first)

# --- models -------------------------------------------------------------------------------

def find_models(payload: dict[str, Any]) -> dict[str, Any]:
    """The startup report's summary of the models (counts, errors, models described partly)."""
    from pgadmin_child_models import summary

    return summary(payload)


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
