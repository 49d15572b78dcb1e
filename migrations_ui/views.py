"""Pages of the Alembic feature: graph, revision detail, run confirmation, runs (thin views)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core import target
from core.exceptions import AppError, BadRequest
from core.pages import fragment, pages_first, wait_url
from core.roles import can, require
from migrations_ui import preview, runs, services
from migrations_ui.liveness import waiting_note
from migrations_ui.models import Run


def alembic_index(request: HttpRequest) -> HttpResponse:
    """The graph and the state; the history and the drift panel fill in later when not cached."""
    from migrations_ui.drift import compute_drift, drift_cached

    refresh = request.GET.get("refresh") == "1"
    on = target.for_request_or_none(request)  # none configured: the page still shows why
    context: dict[str, Any] = {"can_run": can(request.user, "run_migrations"), "sync": wait_url(request),
                               "fill_history": reverse("alembic-part-history"),
                               "fill_drift": reverse("alembic-part-drift")}
    try:
        context["h"] = services.history_cached(on) if pages_first(request) else services.history(force=refresh, on=on)
    except AppError as exc:
        context["error"] = exc
    context["drift"] = compute_drift(force=True, on=on) if refresh else drift_cached(on)
    context["recent_runs"] = runs.runs_of(request)[:8]
    context["sections"], context["section"] = services.ini_sections(), services.current_section()
    return render(request, "migrations_ui/index.html", context)


@never_cache
def alembic_part_history(request: HttpRequest) -> HttpResponse:
    """Fragment of /alembic: the summary and the revision graph (runs alembic history when not cached)."""
    context: dict[str, Any] = {"can_run": can(request.user, "run_migrations")}
    try:
        context["h"] = services.history(on=target.for_request(request))
    except AppError as exc:  # shown in place, as the page itself shows it
        context["error"] = exc
    return fragment(request, ["alembic-history"], lambda: ("migrations_ui/_history.html", context), page="/alembic")


@never_cache
def alembic_part_drift(request: HttpRequest) -> HttpResponse:
    """Fragment of /alembic: the drift panel (autogenerate's comparison; cached under the schema fingerprint)."""
    from migrations_ui.drift import compute_drift

    on = target.for_request_or_none(request)  # none: compute_drift says so (it never raises)
    return fragment(request, ["drift-panel"],
                    lambda: ("migrations_ui/_drift_panel.html", {"drift": compute_drift(on=on)}), page="/alembic")


def _revision_context(request: HttpRequest, rev: str, detail: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"rev": rev, "d": detail, "can_run": can(request.user, "run_migrations"),
                               "sync": wait_url(request, reverse("alembic-revision", args=[rev])),
                               "fill_body": reverse("alembic-revision-part", args=[rev]),
                               "fill_sql": reverse("alembic-revision-part", args=[rev]) + "?only=sql"}
    if detail is None:
        return context
    r = detail["revision"]
    ranges = {k: f"{start + ':' if start else ''}{end}" for k, (start, end) in preview.sql_ranges({}, r).items()}
    context.update(r=r, sql_ranges=ranges,
                   hl={k: mark_safe(v) for k, v in preview.highlighted(detail).items()},  # noqa: S308 - Pygments output escapes the code
                   sql_waiting=f"Rendering {r['revision']}'s upgrade and downgrade SQL offline "
                               f"(alembic upgrade --sql {ranges['upgrade']} in a child process)…")
    return context


def revision_page(request: HttpRequest, rev: str) -> HttpResponse:
    """A revision: its file, diff and safety at once; its offline SQL (a child process) when cached, else later."""
    on = target.for_request(request)
    detail = preview.revision_detail_cached(rev, on=on) if pages_first(request) else preview.revision_detail(rev, on=on)
    return render(request, "migrations_ui/revision.html", _revision_context(request, rev, detail))


@never_cache
def revision_part(request: HttpRequest, rev: str) -> HttpResponse:
    """Fragment of a revision's page: the whole body, or (``?only=sql``) its two SQL sections."""
    only_sql = request.GET.get("only") == "sql"

    def build() -> tuple[str, dict[str, Any]]:
        context = _revision_context(request, rev, preview.revision_detail(rev, on=target.for_request(request)))
        return ("migrations_ui/_revision_sql.html" if only_sql else "migrations_ui/_revision_body.html"), context

    ids = ["upgrade-sql", "downgrade-sql"] if only_sql else ["revision-body"]
    return fragment(request, ids, build, page=reverse("alembic-revision", args=[rev]))


@require_http_methods(["GET", "POST"])
def run_confirm(request: HttpRequest) -> HttpResponse:
    """GET: what exactly will run (revisions, SQL, warnings, backup); POST: start it."""
    require(request.user, "run_migrations")
    params = request.POST if request.method == "POST" else request.GET
    kind = params.get("kind", "upgrade")
    on = target.for_request(request)
    h = services.history(on=on)
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
    plan = preview.plan_run(kind, target_value, h, on=on)
    return render(request, "migrations_ui/confirm.html", {
        "plan": plan, "preview": preview.preview_plan(plan, h, cached_only=pages_first(request), on=on), "h": h,
        "kind": kind, "target": target_value, "target_label": on.describe(), "dry": dry,
        **_preview_fill(request, kind, target_value, plan),
    })


def _preview_fill(request: HttpRequest, kind: str, target_value: str, plan: dict[str, Any]) -> dict[str, Any]:
    query = QueryDict(mutable=True)
    query.update({"kind": kind, "target": target_value})
    start, end = plan["sql_range"]
    count = plan["count"]
    return {"fill_preview": f"{reverse('alembic-confirm-preview')}?{query.urlencode()}",
            "sync": f"{reverse('alembic-confirm')}?{query.urlencode()}&wait=1",
            "preview_waiting": f"Rendering the {kind} SQL of {count} revision{'s' if count != 1 else ''} offline "
                               f"(alembic {kind} --sql {start + ':' if start else ''}{end} in a child process)…"}


@never_cache
def run_confirm_preview(request: HttpRequest) -> HttpResponse:
    """Fragment of the confirmation page: the offline SQL of the run and its safety findings (admin)."""
    require(request.user, "run_migrations")
    kind = request.GET.get("kind", "upgrade")

    def build() -> tuple[str, dict[str, Any]]:
        if kind not in (Run.Kind.UPGRADE, Run.Kind.DOWNGRADE, Run.Kind.STAMP):
            raise BadRequest(f"Unknown run kind {kind!r}.", hint="Use upgrade, downgrade or stamp.")
        on = target.for_request(request)
        h = services.history(on=on)
        plan = preview.plan_run(kind, runs.validate_target(kind, request.GET.get("target", ""), h), h, on=on)
        return "migrations_ui/_plan_preview.html", {"preview": preview.preview_plan(plan, h, on=on)}

    return fragment(request, ["plan-preview"], build, page=reverse("alembic-confirm"))


def run_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(runs.runs_of(request), 50).get_page(request.GET.get("page"))
    return render(request, "migrations_ui/runs.html", {"page": page})


def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(Run, pk=run_id)
    return render(request, "migrations_ui/run.html", {
        "run": run, "lines": run.lines.all(), "waiting": waiting_note(run),
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

    drift = compute_drift(force=request.GET.get("refresh") == "1", on=target.for_request_or_none(request))
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
    on = target.for_request(request)
    return render(request, "migrations_ui/restore.html", {
        "b": item, "current": services.current_revisions(on), "target_label": on.describe(),
    })


@require_http_methods(["POST"])
def choose_section(request: HttpRequest) -> HttpResponse:
    """Pick the alembic.ini section (``alembic -n NAME``) the tool works with (admin)."""
    services.choose_section(request, request.POST.get("section", ""))
    return redirect("alembic")
