"""How long a slow computation took the last times, so that a wait can say "usually ~4 s on this project".

``remember(kind, key, seconds)`` after a computation, ``typical(kind, key)`` before the next one: the
median of the last ``KEEP`` durations of that kind and key (the key says what was computed, e.g. the
model cache's key: the project, interpreter and target). Kept in memory and in
``<data dir>/durations.json``, so the first wait after a restart — the longest, a cold worker — already
has an estimate. Keys are stored hashed (a key may hold a target URL).
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from core.cache import digest

log = logging.getLogger(__name__)

KEEP = 5
MAX_KEYS = 200
_lock = threading.Lock()
_loaded: dict[str, list[float]] | None = None


def duration(seconds: float) -> str:
    """``8 s``, ``2 min 05 s``: how waits and estimates are said everywhere."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def _path() -> Path:
    return Path(settings.DATA_DIR) / "durations.json"


def _table() -> dict[str, list[float]]:
    """The durations (loaded once from the data dir; a missing or broken file is an empty table)."""
    global _loaded
    if _loaded is None:
        try:
            raw = json.loads(_path().read_text())
            _loaded = {str(k): [float(x) for x in v][-KEEP:] for k, v in raw.items() if isinstance(v, list)}
        except (OSError, ValueError, TypeError, AttributeError):
            _loaded = {}
    return _loaded


def _name(kind: str, key: Hashable) -> str:
    return f"{kind}:{digest(key)}"


def remember(kind: str, key: Hashable, seconds: float) -> None:
    """Add one measured duration (and write the table; a read-only data dir only loses the memory)."""
    with _lock:
        table = _table()
        name = _name(kind, key)
        # 4 significant digits, not 3 decimals: a pace of 0.00004 s per row must not become 0
        table[name] = (table.pop(name, []) + [float(f"{seconds:.4g}")])[-KEEP:]  # re-inserted: newest last
        while len(table) > MAX_KEYS:
            table.pop(next(iter(table)))
        try:
            path = _path()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(table))
            tmp.replace(path)
        except OSError:
            log.debug("durations could not be written", exc_info=True)


def typical(kind: str, key: Hashable) -> float | None:
    """The median of the last durations of ``kind`` for ``key`` (None: never measured)."""
    with _lock:
        seen = _table().get(_name(kind, key))
    return statistics.median(seen) if seen else None


@contextmanager
def heartbeat(say: Callable[[str], None], what: str, *, typical: float | None = None,
              every: float = 5.0) -> Iterator[None]:
    """While the body runs, a console line every ``every`` seconds: the time so far against the usual one."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            spent = time.monotonic() - started
            usual = ""
            if typical and typical >= 1:  # "usually ~0 s" says nothing
                usual = (f", usually ~{duration(typical)} here" if spent <= typical * 1.2
                         else f", longer than the usual ~{duration(typical)}")
            say(f"  … still {what}: {duration(spent)} so far{usual}")

    thread = threading.Thread(target=beat, daemon=True, name=f"heartbeat {what}")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)


def reset() -> None:
    """Forget the loaded table (tests that switch the data dir)."""
    global _loaded
    with _lock:
        _loaded = None
