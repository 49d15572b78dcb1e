"""What the warm workers watch: their memory (from /proc) and the project's files (a throttled fingerprint).

``group_rss(pgid)`` sums the resident memory of a process group: the worker and whatever its imports
started. ``Watch.fingerprints(roots)`` says whether a ``.py``, ``.ini`` or ``.mako`` file changed below
the project's folders; a walk is reused for up to ``FINGERPRINT_MAX_INTERVAL_S``, and for a small tree
(a walk of a few milliseconds) it is redone far more often, so an edit is seen by the very next page.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

FINGERPRINT_MAX_INTERVAL_S = 1.0  # the project tree is walked at most this often (per root)
FINGERPRINT_COST_FACTOR = 50  # …and at most every 50 × the walk's own duration (a small tree: every request)
WATCHED_SUFFIXES = (".py", ".ini", ".mako")
SKIP_DIRS = frozenset({".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", "site-packages", ".pgadmin",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox"})
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- memory ---------------------------------------------------------------------------------

def group_rss(pgid: int) -> int:
    """Bytes resident in the processes of group ``pgid`` (the worker and whatever it started); 0 without /proc."""
    total = 0
    try:
        entries = os.scandir("/proc")
    except OSError:
        return 0
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    data = fh.read()
                fields = data[data.rindex(b")") + 2:].split()
                if int(fields[2]) == pgid:
                    total += int(fields[21]) * _PAGE
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return total


# --- the project's files --------------------------------------------------------------------

def _walk(root: str) -> tuple[int, int, int]:
    """(files, newest mtime, a sum over mtimes and sizes) of the watched files below ``root``."""
    count = newest = total = 0
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if name.endswith(WATCHED_SUFFIXES):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                count += 1
                newest = max(newest, st.st_mtime_ns)
                total = (total + st.st_mtime_ns * 31 + st.st_size + hash(name)) & 0xFFFFFFFFFFFF
    return count, newest, total


def watch_roots(payload: dict[str, Any], cwd: str | None) -> tuple[str, ...]:
    """The folders whose files the project's imports come from: project, ini, scripts, versions, extra paths."""
    candidates = [payload.get("project_dir"), cwd, payload.get("script_location"),
                  *(payload.get("version_locations") or []), *(payload.get("extra_paths") or [])]
    if payload.get("alembic_ini"):
        candidates.append(str(Path(payload["alembic_ini"]).parent))
    roots: list[str] = []
    for raw in candidates:
        if not raw or ":" in str(raw).split(os.sep)[0]:  # ``package:folder`` lives in site-packages
            continue
        path = os.path.realpath(str(raw))
        if os.path.isdir(path) and path not in roots:
            roots.append(path)
    roots.sort(key=len)
    return tuple(r for i, r in enumerate(roots) if not any(r.startswith(o + os.sep) for o in roots[:i]))


class Watch:
    """Fingerprints per root, each walk reused for a while (see FINGERPRINT_* above)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, float, tuple[int, int, int]]] = {}  # root -> (checked, interval, fp)

    def fingerprints(self, roots: tuple[str, ...]) -> dict[str, tuple[int, int, int]]:
        out = {}
        for root in roots:
            with self._lock:
                seen = self._seen.get(root)
            if seen is not None and time.monotonic() - seen[0] < min(seen[1], FINGERPRINT_MAX_INTERVAL_S):
                out[root] = seen[2]
                continue
            started = time.monotonic()
            fp = _walk(root)
            took = time.monotonic() - started
            with self._lock:
                self._seen[root] = (time.monotonic(), took * FINGERPRINT_COST_FACTOR, fp)
            out[root] = fp
        return out
