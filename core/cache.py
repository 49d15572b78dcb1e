"""The one cache for answers that cost a child process: keyed, validated by dependencies, single-flight.

Every slow answer about the project (the probe, the revision history, a revision's offline SQL, the
model map, drift) goes through a ``Cache``::

    value = cache.get_or_compute(key, compute)   # compute() -> Computed(value, deps)
    value = cache.peek(key)                      # the cached answer or None; never computes

* **Keyed** by an explicit key (settings, interpreter, target…) and **validated by its dependencies**
  (``core.deps``): the files the answer was computed from, compared by stat and then by content, so
  editing one revision file invalidates that revision's answers and nothing else, and a file that was
  touched but not changed keeps them. An answer about a target has the target's ``cache_part``
  (``core.target.Target``) in its key, so two targets never see each other's answers.
* **Copies**: the value is stored pickled and every read unpickles a fresh copy, so a caller that
  decorates what it got (the model map adds ``drift`` to each model) never changes the next answer.
  Unpickling is several times faster than ``copy.deepcopy`` for these JSON-like values.
* **Single-flight**: concurrent misses on one key run ``compute`` once; the others wait for its
  answer (or its exception). ``peek`` never waits.
* **Bounded**: least recently used entries go first beyond ``max_entries`` or ``max_bytes``.
* An answer computed with ``store=False`` (a timeout, a busy runner: not a property of the files)
  is handed to the waiting callers but not kept.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from core.deps import Deps, Snapshot


class Computed(NamedTuple):
    """What ``compute`` returns: the value, what it depends on, and whether to keep it."""

    value: Any
    deps: Deps = Deps()
    store: bool = True


@dataclass
class _Entry:
    blob: bytes
    deps: Deps
    snapshot: Snapshot
    stored_at: float


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    blob: bytes | None = None
    error: BaseException | None = None
    waiters: int = 0


_registry: list[Cache] = []
_registry_lock = threading.Lock()


class Cache:
    """A named, bounded, thread-safe cache of pickled answers (see the module docstring)."""

    def __init__(self, name: str, *, max_entries: int = 64, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.name = name
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._bytes = 0
        self.stats = {"hits": 0, "misses": 0, "computes": 0, "stale": 0}
        with _registry_lock:
            _registry.append(self)

    # --- reading ------------------------------------------------------------------------------

    def _valid_entry(self, key: Hashable) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        # Checked outside the lock: stats and hashes are file I/O, and other keys must not wait.
        if entry.snapshot.valid():
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry
        with self._lock:
            if self._entries.get(key) is entry:
                self._drop(key)
                self.stats["stale"] += 1
        return None

    def peek(self, key: Hashable) -> Any | None:
        """A copy of the valid cached answer, or None (never computes, never waits)."""
        entry = self._valid_entry(key)
        with self._lock:
            self.stats["hits" if entry else "misses"] += 1
        return pickle.loads(entry.blob) if entry is not None else None  # noqa: S301 - our own pickles

    def deps_of(self, key: Hashable) -> Deps | None:
        """The dependencies of the valid cached answer (another answer may build on the same files)."""
        entry = self._valid_entry(key)
        return entry.deps if entry is not None else None

    def computing(self, key: Hashable) -> bool:
        """Whether an answer for ``key`` is being computed right now."""
        with self._lock:
            return key in self._flights

    def waiting(self, key: Hashable) -> int:
        """How many callers wait for the computation of ``key`` in flight (0 when none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return flight.waiters if flight is not None else 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], Computed], *, force: bool = False) -> Any:
        """The cached answer, else ``compute()``'s (once for all concurrent callers); always a copy.

        ``force`` skips the cached answer (a "Refresh" button) but still joins a computation in flight.
        """
        if not force:
            entry = self._valid_entry(key)
            if entry is not None:
                with self._lock:
                    self.stats["hits"] += 1
                return pickle.loads(entry.blob)  # noqa: S301
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.stats["misses"] += 1
        if not leader:
            with self._lock:
                flight.waiters += 1
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            assert flight.blob is not None
            return pickle.loads(flight.blob)  # noqa: S301
        try:
            with self._lock:
                self.stats["computes"] += 1
            started = time.time_ns()
            computed = compute()
            blob = pickle.dumps(computed.value, protocol=pickle.HIGHEST_PROTOCOL)
            if computed.store:
                # The dependencies are known only from the answer, so they are recorded after it; a file
                # changed while it was computed is recorded as changed (the next visit computes again).
                self._store(key, blob, computed.deps, started)
            flight.blob = blob
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
        return pickle.loads(blob)  # noqa: S301

    # --- writing ------------------------------------------------------------------------------

    def _store(self, key: Hashable, blob: bytes, deps: Deps, started_ns: int | None = None) -> None:
        snapshot = deps.snapshot(started_ns)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = _Entry(blob, deps, snapshot, time.time())
            self._bytes += len(blob)
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:  # with the lock held
        entry = self._entries.pop(key)
        self._bytes -= len(entry.blob)

    def invalidate(self, key: Hashable | None = None) -> None:
        """Forget one answer (or every answer with ``None``)."""
        with self._lock:
            if key is None:
                self._entries.clear()
                self._bytes = 0
            elif key in self._entries:
                self._drop(key)

    def clear(self) -> None:
        self.invalidate(None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def clear_all() -> None:
    """Forget every cached answer of every cache (tests; a deployment that swapped the project)."""
    with _registry_lock:
        caches = list(_registry)
    for cache in caches:
        cache.clear()


def digest(*parts: Any) -> str:
    """A short, stable hash of key parts that must not sit in memory in clear (a target URL)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
