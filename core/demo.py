"""The bundled demo project (examples/brokerbot) and loading it into the target database.

Loading runs the demo's own ``brokerbot.demo_setup`` in a child process (it is project code:
it runs Alembic and inserts sample rows), with the tool's interpreter, since the demo needs
nothing beyond SQLAlchemy, Alembic and psycopg.

The child logs to stderr while it works; ``load_demo`` turns those lines into progress for the
person waiting (``progress``): each migration, the seed, and for ``--big`` a running count with a
percentage and the time left (from the rate so far), then the index rebuild that follows the rows.
When the child is silent for a while a heartbeat line says it is still working, so a long step
never looks like a hang.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from core.runner import child_env

DEMO_DIR = Path(settings.BASE_DIR) / "examples" / "brokerbot"
HEARTBEAT_S = 25.0  # longer than a batch of rows usually takes: the heartbeat covers the silent steps
# Rebuilding the indexes and foreign keys after the rows, then ANALYZE: measured at about a fifth of
# the time the rows took (10 M rows: 3 min of rows, 40 s of rebuild on 2 busy cores).
REBUILD_SHARE = 0.25

_ROWS = re.compile(r"^operations: ([\d,]+) / ([\d,]+) \(([\d.]+) s\)")
_MIGRATION = re.compile(r"Running upgrade ([^,\s]*) -> ([^,\s]+)")


def duration(seconds: float) -> str:
    """``42 s``, ``2 min 05 s``: how the progress lines say times."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class Progress:
    """Turns the demo setup's stderr lines into lines for a person (or None for noise)."""

    def __init__(self) -> None:
        self.loaded = False  # the last batch of rows is in; what follows is the index rebuild
        self.rebuild_from = 0.0  # when the rebuild started (monotonic), and how long it should take
        self.rebuild_s = 0.0

    def still(self, since_start: float) -> str:
        """The heartbeat while the child is silent: during the rebuild, its time against the estimate."""
        if not self.loaded:
            return f"  … still working ({duration(since_start)} since the start)"
        spent = time.monotonic() - self.rebuild_from
        left = (f"about {duration(self.rebuild_s - spent)} left" if spent < self.rebuild_s
                else f"longer than the {duration(self.rebuild_s)} estimated")
        return f"  … still rebuilding indexes: {duration(spent)} so far, {left} ({duration(since_start)} since the start)"

    def line(self, text: str) -> str | None:
        text = text.strip()
        if match := _ROWS.match(text):
            done, total, elapsed = int(match[1].replace(",", "")), int(match[2].replace(",", "")), float(match[3])
            share = done / total if total else 1.0
            # the rate so far, for the rows still to come and the rebuild after them
            left = (elapsed / share) * (1 + REBUILD_SHARE) - elapsed if share > 0 else 0.0
            if done >= total:
                self.loaded = True
                self.rebuild_from, self.rebuild_s = time.monotonic(), elapsed * REBUILD_SHARE
                return (f"  operations: {done:,} / {total:,} rows (100%) in {duration(elapsed)}; now rebuilding the "
                        f"indexes and foreign keys, then ANALYZE (about {duration(elapsed * REBUILD_SHARE)} more)")
            return (f"  operations: {done:,} / {total:,} rows ({share:.0%}) · {duration(elapsed)} so far, "
                    f"about {duration(left)} left")
        if match := _MIGRATION.search(text):
            return f"  migration {match[1] or 'base'} → {match[2]}"
        if text.startswith("Migrating a fresh database"):
            return "  " + text.replace("Migrating a fresh", "creating the schema: migrating the fresh")
        if text.startswith("Seeded "):
            try:
                counts = json.loads(text[len("Seeded "):].replace("'", '"'))
                return "  sample rows: " + ", ".join(f"{n:,} {table}" for table, n in counts.items())
            except (ValueError, AttributeError):
                return "  sample rows added"
        if text.startswith("Dropping and recreating"):
            return "  " + text[0].lower() + text[1:]
        return None


def load_demo(url: str, *, big: bool = False, reset: bool = False, timeout: float = 3600,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the demo setup against ``url``; returns its final JSON line (``ok`` tells success).

    ``progress`` receives a line for each step the child reports, and a heartbeat while it is silent.
    """
    cmd = [sys.executable, "-m", "brokerbot.demo_setup", "--url", url]
    if big:
        cmd.append("--big")
    if reset:
        cmd.append("--reset")
    proc = subprocess.Popen(cmd, cwd=DEMO_DIR, env=child_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace")
    lines: queue.Queue[str | None] = queue.Queue()
    stdout: list[str] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.put(raw)
        lines.put(None)

    def pump_stdout() -> None:
        assert proc.stdout is not None
        stdout.extend(proc.stdout)

    readers = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_stdout, daemon=True)]
    for reader in readers:
        reader.start()
    reading = Progress()
    started = last = time.monotonic()
    tail = ""
    while True:
        try:
            raw = lines.get(timeout=1.0)
        except queue.Empty:
            now = time.monotonic()
            if now - started > timeout:
                proc.kill()
                proc.wait()
                return {"ok": False, "error": "the demo setup timed out", "hint": "try again; --big takes minutes"}
            if progress is not None and now - last >= HEARTBEAT_S:
                progress(reading.still(now - started))
                last = now
            continue
        if raw is None:
            break
        tail = raw.strip() or tail
        shown = reading.line(raw)
        if shown is not None and progress is not None:
            progress(shown)
            last = time.monotonic()
    proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    results = [line for line in stdout if line.startswith("{")]
    if not results:
        return {"ok": False, "error": tail or "no output",
                "hint": f"run it by hand: cd {DEMO_DIR} && python -m brokerbot.demo_setup --url …"}
    try:
        result: dict[str, Any] = json.loads(results[-1])
    except json.JSONDecodeError:
        return {"ok": False, "error": results[-1][:200], "hint": ""}
    return result
