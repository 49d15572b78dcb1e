"""Write side of the migrations: start, cancel and dry-run upgrades, downgrades and stamps.

The public entry points the HTML views and the API call (role checks, target validation, audit of
the refusals), and the migrations' handlers of the job engine (``migrations_ui.jobs``, which
executes every job the same way; ``apps.py`` registers ``migrate`` and ``dry_run_child`` there):

* ``migrate``: the child task ``alembic.upgrade|downgrade|stamp``; the child takes the run lock over
  on its own session and holds it while it works, with a watchdog that ends the work when the server
  dies (``core/child/pgadmin_child_runlock.py``); each event becomes a log line;
* ``dry_run_child``: the child task ``alembic.dryrun``, the migrations online in a transaction that
  is always rolled back.

Backups and restores are ``migrations_ui.backups``.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q, QuerySet

from core import audit, target
from core.exceptions import BadRequest, Conflict, NotFound
from core.roles import require
from core.runner import RunnerError
from migrations_ui import jobs, runlock, safety, services
from migrations_ui.jobs import Job
from migrations_ui.models import Run

_RELATIVE = re.compile(r"^[+-]\d{1,4}$")


def validate_target(kind: str, raw: str, hist: dict[str, Any]) -> str:
    """The target revision a run of ``kind`` may go to (relative steps in the run's direction only)."""
    value = (raw or "").strip()
    if kind == "upgrade":
        value = value or "heads"
        if value in ("head", "heads") or _RELATIVE.match(value) and value.startswith("+"):
            return value
    elif kind == "stamp":
        value = value or "heads"
        if value in ("head", "heads", "base"):
            return value
    else:
        value = value or "-1"
        if value == "base" or _RELATIVE.match(value) and value.startswith("-"):
            return value
    rev = services.find_revision(hist, value)
    return rev["revision"]


def start_run(request: Any, kind: str, target_rev: str, backup: bool = True, *, user: Any = None,
              wait: bool = False) -> Run:
    """Check, lock, record and start an upgrade/downgrade/stamp; returns the Run (queued or running)."""
    user = user or request.user
    require(user, "run_migrations")
    if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE, Run.Kind.STAMP):
        raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade, downgrade or stamp.")
    on = target.for_request(request)
    hist = services.history(on=on)
    target_value = validate_target(kind, target_rev, hist)
    payload = {"target": target_value, "expect": services.target_identity(on)}
    return jobs.start(request, user, kind, target_value, backup, payload, hist["current"], wait=wait, on=on)


def runs_of(request: Any) -> QuerySet[Run]:
    """The runs on the request's target, newest first (rows from before runs carried a target
    count as the configured target's); every run when no target is configured."""
    on = target.for_request_or_none(request)
    found = Run.objects.all()
    return found if on is None else found.filter(Q(target_name=on.name) | Q(target_name=""))


def cancel_run(request: Any, run_id: int, *, user: Any = None) -> Run:
    """Ask for a running run to stop (admin; audited): stored in the internal DB, so any instance may take it.

    The instance executing the run kills its child (at once when it is this one, else within
    ``jobs.CANCEL_POLL_S``); the run then ends failed and unlocks.
    """
    user = user or request.user
    require(user, "run_migrations")
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"Run {run_id} does not exist.")
    if run.finished:
        raise Conflict(f"Run {run.pk} has already finished ({run.status}).")
    if run.kind == Run.Kind.RESTORE:
        raise Conflict("A restore cannot be cancelled: it would leave the database half restored.",
                       hint="Wait for it to finish, then restore again or migrate as needed.")
    pid = jobs.request_cancel(run, user.get_username())
    audit.record(request, "alembic.cancel", f"run {run.pk}: {run.kind} {run.target} on {run.database}",
                 before={"status": run.status, "child_pid": pid}, user=user)
    return run


def dry_run(request: Any, kind: str, target_rev: str, *, user: Any = None) -> dict[str, Any]:
    """Run the migrations online in a transaction that is always rolled back; return the statements.

    Takes the same advisory lock as a run (``jobs.run_now``), checks afterwards that the version
    table did not move, and is audited like a run.
    """
    user = user or request.user
    require(user, "run_migrations")
    if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE):
        raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade or downgrade.")
    on = target.for_request(request)
    hist = services.history(on=on)
    target_value = validate_target(kind, target_rev, hist)
    payload = {"direction": kind, "target": target_value, "expect": services.target_identity(on), "lock_timeout_ms": 3000}
    result, after = jobs.run_now(jobs.DRY_RUN, f"pgadmin-tool dry run by {user.get_username()}", payload, on)
    result["version_table_unchanged"] = sorted(after) == sorted(hist["current"])
    result.update(kind=kind, target=target_value, before=hist["current"], after=after)
    result["findings"] = safety.analyse_sql(";\n".join(result.get("statements") or []) + ";")
    audit.record(request, f"alembic.dryrun.{kind}", f"{on.describe()} → {target_value}",
                 outcome="ok" if result.get("ok") else "failed", message=str(result.get("error") or ""), user=user)
    return result


# --- the migrations' handlers of the job engine ------------------------------------------------

def migrate(job: Job) -> dict[str, Any]:
    """The child task alembic.upgrade|downgrade|stamp, its events turned into log lines."""
    assert job.run is not None
    # The child takes the run lock over on its own session (same key) and holds it while it works.
    payload = {**job.payload, "run_lock": runlock.child_payload(job.run.pk)}
    try:
        on = target.by_name(job.run.target_name)  # the run's target, not whichever is configured now
        return services.run_child(job.run.kind, payload, on_event=jobs.child_events(job), timeout=jobs.RUN_TIMEOUT_S,
                                  on=on)
    except RunnerError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint, "traceback": str(exc.detail.get("traceback", ""))}


def dry_run_child(job: Job) -> dict[str, Any]:
    """The child task alembic.dryrun; like a run, the child holds the lock while it works and dies with the server."""
    payload = {**job.payload, "run_lock": runlock.child_payload(runlock.DRY_RUN_ID)}
    try:
        return services.run_child("dryrun", payload, timeout=jobs.RUN_TIMEOUT_S, on_event=jobs.child_events(job),
                                  on=job.on)
    except RunnerError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint, "statements": [], "skipped": []}
