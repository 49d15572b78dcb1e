"""Import jobs as rows of the internal DB (``databrowser.models.ImportJob``): finding one, its
heartbeat while it runs, the end of the jobs nobody runs any more, and the 24 h clean-up.

Any instance sharing the internal DB serves any request of an import: the pages and the API read
the row; the process running a validation or an import writes its progress and a heartbeat into it
every ``BEAT_S`` (``Beat``). When that process dies, its target transaction rolls back with its
connection, and the housekeeping pass of any live instance (``core.signals.housekeeping``,
connected in ``apps.py``) marks the job failed once its heartbeat is older than ``core.housekeeping.STALE_AFTER_S``.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from core.exceptions import NotFound
from core.housekeeping import process_name, stale_before
from databrowser.models import ImportJob
from databrowser.query import TableInfo

JOB_TTL_S = 24 * 3600
BEAT_S = 0.5  # the running process writes progress and heartbeat this often
FORGET_EVERY_S = 600.0  # how often the housekeeping pass deletes the jobs older than a day
STOPPED = "The server running this import stopped; nothing was written."
STOPPED_HINT = "Start the validation (or the import) again."
log = logging.getLogger(__name__)
_last_forget = 0.0  # this process's last clean-up (a throttle, not state of any job)


def this_process() -> str:
    """The name this process gives itself as a job's ``instance``."""
    return process_name("web")


def get_job(request: Any, job_id: str, info: TableInfo) -> ImportJob:
    """The user's own job on this table and target (another user's job does not exist for them)."""
    query = ImportJob.objects.filter(pk=str(job_id)[:32], user_id=request.user.pk, table=info.ref.slug)
    if info.on is not None:
        query = query.filter(target_name=info.on.name)
    job = query.exclude(state="uploading").first()
    if job is None:
        raise NotFound("No such import.", hint="Imports are kept for a day; upload the file again.")
    if job.running and fail_stale(pk=job.pk):
        job.refresh_from_db()
    return job


def fail_stale(pk: str | None = None, user_id: int | None = None) -> int:
    """Mark failed the running jobs whose heartbeat stopped (their process died: the target's
    transaction rolled back with its connection); how many."""
    stale = stale_before()
    query = ImportJob.objects.filter(state__in=ImportJob.RUNNING, heartbeat_at__lt=stale)
    if pk is not None:
        query = query.filter(pk=pk)
    if user_id is not None:
        query = query.filter(user_id=user_id)
    failed = query.update(state="failed", message=STOPPED, hint=STOPPED_HINT, phase="", progress=1.0)
    if failed:
        log.warning("%s import job(s) failed: the server running them stopped", failed)
    return failed


def forget_old() -> None:
    """Delete the jobs (and their files) older than a day, except one that still runs."""
    global _last_forget
    _last_forget = time.monotonic()
    cutoff = timezone.now() - timedelta(seconds=JOB_TTL_S)
    ImportJob.objects.filter(created_at__lt=cutoff).exclude(state__in=ImportJob.RUNNING).delete()
    legacy = Path(settings.DATA_DIR) / "imports"  # files of versions that kept jobs in their process: orphans now
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)


def housekeeping(**_kwargs: Any) -> None:
    """``core.signals.housekeeping``: fail the jobs of a dead instance; now and then, forget old jobs.
    One query when nothing runs."""
    fail_stale()
    if time.monotonic() - _last_forget > FORGET_EVERY_S:
        forget_old()


class Beat(threading.Thread):
    """Writes a running job's progress and heartbeat into its row every ``BEAT_S`` (the pages and
    the API poll the row from any instance), until ``stop()``."""

    def __init__(self, job: ImportJob) -> None:
        super().__init__(daemon=True, name=f"import-beat-{job.id[:8]}")
        self.job = job
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(BEAT_S):
                job = self.job
                try:
                    ImportJob.objects.filter(pk=job.pk, state__in=ImportJob.RUNNING).update(
                        phase=job.phase[:200], rows=job.rows, progress=job.progress, heartbeat_at=timezone.now())
                except DatabaseError:  # the internal DB is away for a moment: the next beat tries again
                    log.warning("import %s: the heartbeat could not be written", job.id, exc_info=True)
        finally:
            connection.close()  # this thread's internal-DB connection

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def wait(job: ImportJob, seconds: float) -> None:
    """Let a short job finish before answering (small files: no progress page at all); the job is
    read again from its row, whichever process runs it."""
    deadline = time.monotonic() + seconds
    while job.running and time.monotonic() < deadline:
        time.sleep(0.05)
        job.refresh_from_db()
