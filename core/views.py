"""HTML views of `core`: login (password or one-time link), dashboard, audit log, users."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from core import accounts, actions, audit, catalog, target
from core.exceptions import AppError
from core.models import AuditEntry
from core.pages import fragment, pages_first, wait_url
from core.project import project_status, project_status_cached
from core.roles import ROLES, assigned_role, can, capability, no_role_needed, require


def _next_url(request: HttpRequest) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or "/"
    return nxt if url_has_allowed_host_and_scheme(nxt, {request.get_host()}) else "/"


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("token", "")
    if token:
        user = accounts.consume_login_link(token)
        if user is None:
            audit.record(request, "login.failed", "one-time link", outcome=AuditEntry.Outcome.FAILED,
                         message="invalid, used or expired login link")
            messages.error(request, "This login link is invalid, already used or expired. "
                                    "Restart the server to print a new one, or log in with a password.")
            return redirect("login")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        if not user.has_usable_password():
            # First run: the bootstrap admin has no password yet; the prompt stays until one is set.
            messages.info(request, "You have no password yet: set one on My account (/account) to log in "
                                   "without a link next time.")
        return redirect(_next_url(request))
    context: dict[str, Any] = {"next": _next_url(request), "username": ""}
    status = 200
    if request.method == "POST":
        context["username"] = request.POST.get("username", "")
        try:
            user = actions.do_authenticate(request, request.POST.get("username", ""), request.POST.get("password", ""))
        except AppError as exc:
            context["error"] = exc
            status = exc.status
        else:
            login(request, user)
            return redirect(context["next"])
    return render(request, "core/login.html", context, status=status)


@no_role_needed
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


def dashboard(request: HttpRequest) -> HttpResponse:
    """The project at a glance; the parts that need the project's code fill in later when not cached."""
    refresh = request.GET.get("refresh") == "1"
    on = target.for_request_or_none(request)  # none configured: the checks say so
    checks = project_status_cached(on) if pages_first(request) else project_status(force=refresh, on=on)
    table_count = None
    if checks["database"].ok:
        try:
            with target.connect(target=on) as conn:
                table_count = catalog.table_count(conn)
        except AppError:
            table_count = None
    return render(request, "core/dashboard.html", {
        **_project_context(checks),
        "drift": _drift_now(checks, refresh, on),
        "table_count": table_count,
        "roles": _role_lines(on) if checks["database"].ok else {},
        "sync": wait_url(request),
        "fill_project": reverse("dashboard-project"),
        "fill_drift": reverse("dashboard-drift"),
        "models_typical_ms": None if checks.get("models") else _models_typical_ms(on),
    })


def _models_typical_ms(on: target.Target | None) -> int | None:
    """How long reading the models usually takes here: the models card's wait says so."""
    from modelmap.services import inspect_typical_ms

    try:
        return inspect_typical_ms(on)
    except Exception:  # noqa: BLE001 - an estimate is never worth a failed dashboard
        return None


def _project_context(checks: dict[str, Any]) -> dict[str, Any]:
    migration = checks.get("migration")
    pending = migration.data.get("pending", []) if migration else []
    return {"checks": checks, "pending": pending, "pending_count": len(pending),
            "current": migration.data.get("current", []) if migration else []}


def _drift_now(checks: dict[str, Any], refresh: bool, on: target.Target | None) -> dict[str, Any] | None:
    """The drift card's answer when known now: cached, or the database's own error; None: fill it later."""
    if not checks["database"].ok:
        return {"ok": False, "error": {"message": "The database is not reachable.", "hint": checks["database"].hint}}
    from migrations_ui.services import compute_drift, drift_cached

    return compute_drift(force=True, on=on) if refresh else drift_cached(on)


@never_cache
def dashboard_project(request: HttpRequest) -> HttpResponse:
    """Fragment: the migrations and models cards and the startup checks (runs the probe when not cached)."""
    def build() -> tuple[str, dict[str, Any]]:
        checks = project_status(on=target.for_request_or_none(request))
        return "core/_dash_project.html", {**_project_context(checks), "sync": wait_url(request, "/")}

    return fragment(request, ["card-migrations", "card-models", "startup-checks"], build, page="/")


@never_cache
def dashboard_drift(request: HttpRequest) -> HttpResponse:
    """Fragment: the drift card (autogenerate's comparison; cached under the schema fingerprint)."""
    from migrations_ui.services import compute_drift

    def build() -> tuple[str, dict[str, Any]]:
        on = target.for_request_or_none(request)
        migration = project_status_cached(on).get("migration")
        pending = len(migration.data.get("pending", [])) if migration else 0
        return "core/_dash_drift.html", {"drift": compute_drift(on=on), "pending_count": pending}

    return fragment(request, ["card-drift"], build, page="/")


def _role_lines(on: target.Target | None) -> dict[str, object]:
    """Which role each mode uses on target ``on``, and whether it is dangerous (core.reader_role, cached)."""
    from core import reader_role

    return {"lines": reader_role.summary(on=on).lines()}


AUDIT_PAGE_SIZE = 50


def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log: every entry for admins, one's own entries for viewers and editors."""
    visible = audit.visible_entries(request.user)
    entries = visible
    filters = {k: request.GET.get(k, "").strip() for k in ("user", "action", "outcome", "q", "since", "until")}
    if filters["user"]:
        entries = entries.filter(username=filters["user"])
    if filters["action"]:
        entries = entries.filter(action__startswith=filters["action"])
    if filters["outcome"] in AuditEntry.Outcome.values:
        entries = entries.filter(outcome=filters["outcome"])
    if filters["q"]:
        entries = entries.filter(target__icontains=filters["q"])
    from django.utils.dateparse import parse_date

    if (since := parse_date(filters["since"]) if filters["since"] else None) is not None:
        entries = entries.filter(created_at__date__gte=since)
    if (until := parse_date(filters["until"]) if filters["until"] else None) is not None:
        entries = entries.filter(created_at__date__lte=until)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    actions_known = visible.order_by().values_list("action", flat=True).distinct()
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "core/audit.html", {
        "page": page, "filters": filters, "outcomes": AuditEntry.Outcome.values,
        "actions_known": sorted(set(actions_known)), "query": query.urlencode(),
        "only_own": not can(request.user, "manage_users"),
    })


@capability("manage_users")
@never_cache
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    """Admins: create users, change roles, set passwords, disable/enable, delete; last login."""
    require(request.user, "manage_users")
    if request.method == "POST":
        op, username = request.POST.get("op"), request.POST.get("username", "")
        try:
            if op == "role":
                user = actions.do_set_role(request, username, request.POST.get("role", ""))
                messages.success(request, f"{user.username} is now {request.POST.get('role')}.")
            elif op == "password":
                actions.do_set_password(request, username, request.POST.get("password", ""))
                messages.success(request, f"Password of {username} set; their sessions and API tokens ended.")
            elif op in ("disable", "enable"):
                actions.do_set_active(request, username, op == "enable")
                messages.success(request, f"{username} is {op}d.")
            elif op == "delete":
                if request.POST.get("confirm") != username:
                    raise AppError("Type the username to confirm the deletion.", code="bad_request", status=400,
                                   hint="Deleting a user cannot be undone; their audit entries stay.")
                actions.do_delete_user(request, username)
                messages.success(request, f"User {username} deleted.")
            else:
                user = actions.do_create_user(request, request.POST.get("username", ""), request.POST.get("role", ""),
                                              request.POST.get("password", ""))
                messages.success(request, f"User {user.username} created.")
        except AppError as exc:
            messages.error(request, f"{exc.message} {exc.hint}")
        return redirect("users")
    from django.db.models import Max

    # last activity: the newest audit entry of each user (logins, writes, refusals)
    users_with_activity = get_user_model().objects.annotate(last_activity=Max("auditentry__created_at"))
    people = [(u, assigned_role(u)) for u in users_with_activity.order_by("username")]
    return render(request, "core/users.html", {"people": people, "roles": ROLES,
                                               "read_only_note": settings.READ_ONLY})


def placeholder(request: HttpRequest, feature: str, title: str) -> HttpResponse:
    """A page a later feature fills; it says so instead of failing."""
    return render(request, "core/placeholder.html", {"feature": feature, "title": title})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler: the API answers its error shape (a CI script with a wrong path reads a
    message, not an HTML page); every other path gets the 404 page."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        from core.exceptions import NotFound

        err = NotFound(f"There is no API endpoint {request.method} {request.path}.",
                       hint="The API's routes and methods are listed in its OpenAPI schema at /api/schema.")
        return JsonResponse({"error": err.as_dict()}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 handler. A request for a host name the server does not answer to (Django's
    ``DisallowedHost``) says which setting admits it — the first thing someone putting the tool
    behind a domain meets — without listing the allowed names; other 400s keep Django's page.
    Nothing here may call ``request.get_host()``: it raises again for that host."""
    from django.core.exceptions import DisallowedHost
    from django.http import JsonResponse
    from django.utils.html import escape

    if not isinstance(exception, DisallowedHost):
        from django.views.defaults import bad_request as django_bad_request

        return django_bad_request(request, exception)
    host = request.META.get("HTTP_HOST", "")[:200]
    message = f"This server does not answer to the host name {host!r}."
    hint = ("Add it to PGADMIN_ALLOWED_HOSTS (comma-separated; also PGADMIN_CSRF_TRUSTED_ORIGINS for "
            "logins through it, e.g. https://" + (host or "your.domain") + ") and restart the tool.")
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "unknown_host", "message": message, "hint": hint}}, status=400)
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Unknown host name</title></head>"
            f"<body><h1>Unknown host name</h1><p>{escape(message)}</p><p>{escape(hint)}</p></body></html>")
    return HttpResponse(body, status=400)
