"""The bundled demo project (examples/brokerbot) and loading it into the target database.

Loading runs the demo's own ``brokerbot.demo_setup`` in a child process (it is project code:
it runs Alembic and inserts sample rows), with the tool's interpreter, since the demo needs
nothing beyond SQLAlchemy, Alembic and psycopg.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from core.runner import child_env

DEMO_DIR = Path(settings.BASE_DIR) / "examples" / "brokerbot"


def load_demo(url: str, *, big: bool = False, reset: bool = False, timeout: float = 3600) -> dict[str, Any]:
    """Run the demo setup against ``url``; returns its final JSON line (``ok`` tells success)."""
    cmd = [sys.executable, "-m", "brokerbot.demo_setup", "--url", url]
    if big:
        cmd.append("--big")
    if reset:
        cmd.append("--reset")
    try:
        proc = subprocess.run(cmd, cwd=DEMO_DIR, env=child_env(url), capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "the demo setup timed out", "hint": "try again; --big takes minutes"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"ok": False, "error": tail[0], "hint": f"run it by hand: cd {DEMO_DIR} && python -m brokerbot.demo_setup --url …"}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"ok": False, "error": lines[-1][:200], "hint": ""}
    return result
