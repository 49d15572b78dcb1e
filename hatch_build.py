"""Wheel build hook: the wheel must carry the SQL editor's JavaScript bundle (static/build/).

The bundle is built from the npm lock file by ``make setup`` (``npm ci && npm run build``) and is
never committed. A wheel built without it would install a console with a plain text box instead
of the editor, silently; so the build stops here with what to run. When the bundle is missing and
``npm`` is on PATH (a ``pipx install git+…`` of a fresh clone), the hook builds it first, as
``make setup`` would; ``PGADMIN_BUILD_JS=0`` turns that off (then a missing bundle is an error).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# What the templates load (sqlconsole/views.py BUNDLE); its absence means "not built".
BUNDLE = Path("static") / "build" / "sqlconsole.js"


class MissingBundle(RuntimeError):
    """The wheel would lack static/build/ and nothing can build it here."""


def bundle_problem(root: Path) -> str:
    """Empty when ``root`` has the bundle, else the message the build stops with."""
    if (root / BUNDLE).is_file() and (root / BUNDLE).stat().st_size > 0:
        return ""
    return (
        f"{BUNDLE} is missing: the wheel must carry the SQL editor's JavaScript bundle. "
        "Build it first with `make setup` (or `npm ci && npm run build`), then build the wheel again."
    )


def build_bundle(root: Path) -> None:
    """``npm ci && npm run build`` in ``root`` (what ``make setup`` does)."""
    npm = shutil.which("npm")
    if npm is None or not (root / "package-lock.json").is_file():
        return
    for args in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        subprocess.run([npm, *args], cwd=root, check=True)


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Checks (and, where npm is available, makes) the bundle before the wheel is assembled."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if bundle_problem(root) and os.environ.get("PGADMIN_BUILD_JS", "1") != "0":
            build_bundle(root)
        problem = bundle_problem(root)
        if problem:
            raise MissingBundle(problem)
