"""Resource limits of the console: bytes per run, concurrent runs per user.

Rows are capped (``services.ROW_CAP``) and so are bytes: ``PGADMIN_CONSOLE_MAX_BYTES`` for all the
results of one run together, counted as the rows arrive in batches, so three parallel
``SELECT repeat('x', 30000) FROM generate_series(1, 10000)`` can no longer take the server to
gigabytes. A user runs at most ``PGADMIN_CONSOLE_HELD_PER_USER`` console queries at once (running
or holding a result); more answer 429.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from core.exceptions import Throttled

BATCH_ROWS = 500  # rows per FETCH: a batch of wide rows stays a few MB


def max_bytes() -> int:
    return int(getattr(settings, "CONSOLE_MAX_BYTES", 50 * 1024 * 1024))


def row_bytes(row: list[Any] | tuple[Any, ...]) -> int:
    """A cheap estimate of a row's size once in JSON (strings and bytes by length)."""
    size = 2
    for value in row:
        if value is None:
            size += 5
        elif isinstance(value, str | bytes | bytearray | memoryview):
            size += len(value) + 3
        elif isinstance(value, int | float | bool):
            size += 12
        else:
            size += len(str(value)) + 3
    return size


class Budget:
    """The bytes a run (or a fetch-more) may still collect."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max_bytes() if limit is None else limit
        self.used = 0

    def take(self, row: list[Any] | tuple[Any, ...], first: bool) -> bool:
        """Count ``row``; False when it would pass the limit (the first row of a result always fits)."""
        size = row_bytes(row)
        if self.used + size > self.limit and not first:
            return False
        self.used += size
        return True

    def label(self) -> str:
        return f"{self.limit / (1024 * 1024):g} MB"


_slots_lock = threading.Lock()
_slots: dict[int, int] = {}


def per_user() -> int:
    return int(getattr(settings, "CONSOLE_HELD_PER_USER", 2))


@contextmanager
def run_slot(user_id: int) -> Iterator[None]:
    """Reserve one of the user's concurrent console slots for the duration of a run."""
    with _slots_lock:
        if _slots.get(user_id, 0) >= per_user():
            raise Throttled(f"You already have {per_user()} console queries running.",
                            hint="Wait for them to finish or cancel one (PGADMIN_CONSOLE_HELD_PER_USER).",
                            code="too_many_queries")
        _slots[user_id] = _slots.get(user_id, 0) + 1
    try:
        yield
    finally:
        with _slots_lock:
            _slots[user_id] -= 1
            if _slots[user_id] <= 0:
                del _slots[user_id]
