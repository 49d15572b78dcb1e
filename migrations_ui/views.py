"""Pages of the Alembic feature: graph, revision detail, run confirmation, runs (thin views)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from core import target
from core.exceptions import AppError, BadRequest
from core.roles import can, require
from migrations_ui import runs, services
from migrations_ui.models import Run


def alembic_index(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"can_run": can(request.user, "run_migrations")}
    try:
        context["h"] = services.history(force=request.GET.get("refresh") == "1")
    except AppError as exc:
        context["error"] = exc
    context["recent_runs"] = Run.objects.all()[:8]
    context["sections"], context["section"] = services.ini_sections(), services.current_section()
    return render(request, "migrations_ui/index.html", context)


def revision_page(request: HttpRequest, rev: str) -> HttpResponse:
    detail = services.revision_detail(rev)
    return render(request, "migrations_ui/revision.html", {
        "d": detail, "r": detail["revision"], "hl": {k: mark_safe(v) for k, v in services.highlighted(detail).items()},  # noqa: S308 - Pygments output escapes the code
        "pygments_css": services.pygments_css(), "can_run": can(request.user, "run_migrations"),
    })


@require_http_methods(["GET", "POST"])
def run_confirm(request: HttpRequest) -> HttpResponse:
    """GET: what exactly will run (revisions, SQL, warnings, backup); POST: start it."""
    require(request.user, "run_migrations")
    params = request.POST if request.method == "POST" else request.GET
    kind = params.get("kind", "upgrade")
    h = services.history()
    if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE, Run.Kind.STAMP):
        raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade, downgrade or stamp.")
    target_value = runs.validate_target(kind, params.get("target", ""), h)
    dry = None
    if request.method == "POST" and params.get("action") == "dryrun":
        try:
            dry = runs.dry_run(request, kind, target_value)
        except AppError as exc:
            if exc.status == 409:
                return render(request, "error.html", {"error": exc}, status=409)
            raise
    elif request.method == "POST":
        backup = params.get("backup") == "on"
        try:
            run = runs.start_run(request, kind, target_value, backup=backup)
        except AppError as exc:
            if exc.status == 409:
                return render(request, "error.html", {"error": exc}, status=409)
            raise
        return redirect("alembic-run", run_id=run.pk)
    plan = services.plan_run(kind, target_value, h)
    return render(request, "migrations_ui/confirm.html", {
        "plan": plan, "preview": services.preview_plan(plan), "h": h, "kind": kind, "target": target_value,
        "target_label": target.describe(target.target_url()), "dry": dry,
    })


def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(Run.objects.all(), 50).get_page(request.GET.get("page"))
    return render(request, "migrations_ui/runs.html", {"page": page})


def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(Run, pk=run_id)
    return render(request, "migrations_ui/run.html", {
        "run": run, "lines": run.lines.all(),
        "can_cancel": can(request.user, "run_migrations") and not run.finished and run.kind != Run.Kind.RESTORE,
    })


@require_http_methods(["GET", "POST"])
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    """GET: confirm cancelling a running run; POST: kill its child (admin, audited)."""
    require(request.user, "run_migrations")
    run = get_object_or_404(Run, pk=run_id)
    if request.method == "POST":
        try:
            runs.cancel_run(request, run.pk)
        except AppError as exc:
            if exc.status == 409:
                return render(request, "error.html", {"error": exc}, status=409)
            raise
        return redirect("alembic-run", run_id=run.pk)
    return render(request, "migrations_ui/cancel.html", {"run": run})


def drift_page(request: HttpRequest) -> HttpResponse:
    from migrations_ui.drift import compute_drift

    drift = compute_drift()
    if request.GET.get("download") == "1" and drift["script"]:
        response = HttpResponse(drift["script"], content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="autogenerate_upgrade.py"'
        return response
    return render(request, "migrations_ui/drift.html", {"drift": drift})


def backups_page(request: HttpRequest) -> HttpResponse:
    from migrations_ui import backups

    return render(request, "migrations_ui/backups.html", {
        "backups": backups.list_backups(), "keep": backups.keep_count(), "can_run": can(request.user, "run_migrations"),
    })


@require_http_methods(["GET", "POST"])
def restore_confirm(request: HttpRequest, name: str) -> HttpResponse:
    """GET: what a restore will do; POST: start it (admin, locked, streamed, audited)."""
    from migrations_ui import backups

    require(request.user, "run_migrations")
    path = backups.find_backup(name)
    if request.method == "POST":
        try:
            run = backups.start_restore(request, path.name, backup=request.POST.get("backup") == "on")
        except AppError as exc:
            if exc.status == 409:
                return render(request, "error.html", {"error": exc}, status=409)
            raise
        return redirect("alembic-run", run_id=run.pk)
    item = next((b for b in backups.list_backups() if b["name"] == path.name), None)
    return render(request, "migrations_ui/restore.html", {
        "b": item, "current": services.current_revisions(), "target_label": target.describe(target.target_url()),
    })


@require_http_methods(["POST"])
def choose_section(request: HttpRequest) -> HttpResponse:
    """Pick the alembic.ini section (``alembic -n NAME``) the tool works with (admin)."""
    services.choose_section(request, request.POST.get("section", ""))
    return redirect("alembic")
