"""Progress of a run's long steps — the backup's pg_dump and the restore's pg_restore — on the run page.

While the program works, a thread samples it every ``POLL_S``: bytes written (the archive's size on
disk) or read (pg_restore's position in the archive, from ``/proc/<pid>/fdinfo``), the share done,
the time so far and an estimate of the time left. Each sample goes to the run page as a ``run.progress``
message (not stored: the page's progress bar), and every ``LINE_S`` also as a log line, so the
stored log shows a long step advancing too.

The backup's share is read from PostgreSQL rather than guessed from the archive's size (compressed,
so nothing predicts it): ``pg_stat_progress_copy`` (PostgreSQL 14+) names the table pg_dump copies
and its rows so far; tables are weighed by their size on disk (``pg_table_size``), and pg_dump copies
them in schema, name order, so those before the current one are done. Without that view (older
servers) the last backup of the same database gives the expected size instead, when there is one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import connection as django_connection
from sqlalchemy import text

from core import target
from core.durations import duration

log = logging.getLogger(__name__)

POLL_S = 0.5  # the progress bar
LINE_S = 10.0  # a stored log line
_LATEST: dict[int, dict[str, Any]] = {}  # run id -> its last sample (a page opened mid-step shows it)


def latest(run_id: int) -> dict[str, Any] | None:
    """The last progress sample of a run executed by this process, if a step is in progress."""
    return _LATEST.get(run_id)


def size(n: float) -> str:
    """``812 kB``, ``41.3 MB``: decimal units, like the browser's download bar."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"  # pragma: no cover - the loop returns at GB


@dataclass
class Sample:
    """What a sampler reports: the sentence's first part and the share done (None: unknown)."""

    what: str
    share: float | None = None


def describe(step: str, sample: Sample, elapsed: float) -> dict[str, Any]:
    """The message for the page and the log: what, percentage, time so far, time left."""
    parts = [sample.what]
    share = sample.share
    if share is not None:
        share = max(0.0, min(share, 0.99))
        parts.append(f"{share:.0%}")
    parts.append(f"{duration(elapsed)} so far")
    if share is not None and share >= 0.02 and elapsed >= 1:
        left = elapsed / share - elapsed
        parts[-1] += f", about {duration(left)} left" if left >= 1 else ", almost done"
    return {"step": step, "text": " · ".join(parts), "percent": round(share * 100) if share is not None else None,
            "elapsed_s": round(elapsed, 1)}


@contextmanager
def watching(run_id: int, out: Any, step: str, sample: Callable[[], Sample | None]) -> Iterator[None]:
    """Sample ``step`` every ``POLL_S`` while the body runs; page messages, and a log line every ``LINE_S``."""
    stop = threading.Event()
    started = time.monotonic()

    def loop() -> None:
        last_line = started
        try:
            while not stop.wait(POLL_S):
                try:
                    got = sample()
                except Exception:  # noqa: BLE001 - a failed sample must never stop the backup
                    log.debug("progress sample of run %s failed", run_id, exc_info=True)
                    continue
                if got is None:
                    continue
                now = time.monotonic()
                message = describe(step, got, now - started)
                _LATEST[run_id] = message
                out.progress(message)
                if now - last_line >= LINE_S:
                    out.line(step, message["text"])
                    last_line = now
        finally:
            django_connection.close()  # this thread's own internal-DB connection (the log lines)

    thread = threading.Thread(target=loop, daemon=True, name=f"run-{run_id}-{step}-progress")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        _LATEST.pop(run_id, None)
        out.progress({"step": step, "done": True})


# --- backup: bytes written, share of the table data copied ---------------------------------------

# Plain tables only: a materialized view's rows are not in the archive (its restore refreshes it).
_TABLES = text("""
    SELECT c.oid::bigint AS relid, n.nspname AS schema, c.relname AS name, pg_table_size(c.oid) AS bytes,
           greatest(c.reltuples, 0)::float8 AS rows
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
""")
_COPYING = text("""
    SELECT p.relid::bigint AS relid, p.tuples_processed AS rows, p.bytes_processed AS bytes
    FROM pg_stat_progress_copy p JOIN pg_stat_activity a ON a.pid = p.pid
    WHERE a.application_name = :app
""")


class BackupMeter:
    """The sampler of a running ``pg_dump -Fc -f path`` of target ``on`` whose session is named ``app``."""

    def __init__(self, path: Path, app: str, previous_bytes: int | None, on: target.Target) -> None:
        self.path, self.app, self.previous, self.on = path, app, previous_bytes, on
        self.tables: dict[int, dict[str, Any]] = {}
        self.total = 0
        self.copy_view = True
        try:
            with target.connect(target=self.on) as conn:
                self.tables = {r.relid: dict(r._mapping) for r in conn.execute(_TABLES)}
        except Exception:  # noqa: BLE001 - then the previous backup's size is the only estimate
            log.debug("table sizes for the backup's progress could not be read", exc_info=True)
        self.total = sum(t["bytes"] for t in self.tables.values())
        self.last_share: float | None = None  # between two tables, the share stays where it was

    def table_share(self) -> tuple[float | None, str]:
        """The share of the table data pg_dump has copied, and the table it copies now."""
        if not self.copy_view or not self.total:
            return None, ""
        try:
            with target.connect(target=self.on) as conn:
                copying = conn.execute(_COPYING, {"app": self.app}).first()
        except Exception:  # noqa: BLE001 - PostgreSQL < 14: no pg_stat_progress_copy
            self.copy_view = False
            return None, ""
        if copying is None or copying.relid not in self.tables:
            return self.last_share, ""
        now = self.tables[copying.relid]
        key = (now["schema"], now["name"])
        done = sum(t["bytes"] for t in self.tables.values() if (t["schema"], t["name"]) < key)
        part = min(1.0, copying.rows / now["rows"]) if now["rows"] > 0 else 0.0
        share = self.last_share = max(self.last_share or 0.0, (done + part * now["bytes"]) / self.total)
        what = f"{now['schema']}.{now['name']}"
        if now["rows"] > 0:
            what += f" ({copying.rows:,} of ≈{now['rows']:,.0f} rows)"
        return share, what

    def __call__(self) -> Sample:
        written = self.path.stat().st_size if self.path.exists() else 0
        share, table = self.table_share()
        what = f"Backup: {size(written)} written"
        if table:
            what += f", copying {table}"
        if share is None and self.previous:
            share = written / self.previous
            what += f" (the last backup of this database was {size(self.previous)})"
        return Sample(what, share)


def previous_backup_bytes(database: str, run_id: int) -> int | None:
    """The size of the newest earlier backup of the same database (an estimate of this one's)."""
    from migrations_ui.models import Run

    prev = (Run.objects.filter(database=database, backup_bytes__gt=0).exclude(pk=run_id)
            .order_by("-pk").values_list("backup_bytes", flat=True).first())
    return int(prev) if prev else None


# --- restore: bytes of the archive read ---------------------------------------------------------


def read_position(pid: int, path: str) -> int | None:
    """How far process ``pid`` has read the file ``path`` (Linux ``/proc``; None elsewhere or once closed)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(fd_dir / fd) != path:
                    continue
                for row in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines():
                    if row.startswith("pos:"):
                        return int(row.split()[1])
            except OSError:
                continue
    except OSError:
        return None
    return None


class RestoreMeter:
    """The sampler of a running pg_restore reading the archive ``path``."""

    def __init__(self, pid: int, path: str) -> None:
        self.pid, self.path = pid, str(Path(path).resolve())
        self.total = Path(path).stat().st_size
        self.seen = 0

    def __call__(self) -> Sample | None:
        pos = read_position(self.pid, self.path)
        if pos is None:
            if not self.seen:
                return None
            # the archive is read and closed: the server builds the indexes and constraints now
            return Sample(f"Restore: archive read ({size(self.total)}); PostgreSQL is finishing (indexes, "
                          "constraints, commit)", None)
        self.seen = max(self.seen, pos)  # pg_restore seeks back to the table of contents at times
        return Sample(f"Restore: {size(self.seen)} of {size(self.total)} read", self.seen / self.total
                      if self.total else None)
