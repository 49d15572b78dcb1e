"""Pages of the SQL console. The page works as a plain form (server-rendered results) and the
CodeMirror bundle, when built, takes over the same page through the JSON API."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from core import reader_role, target
from core.exceptions import AppError
from core.roles import can, require
from sqlconsole import actions, services

BUNDLE = "build/sqlconsole.js"
FALLBACK_DISPLAY_ROWS = 1000


def _bundle_available() -> bool:
    return bool(finders.find(BUNDLE))


def _context(request: HttpRequest, sql: str = "", q: str = "") -> dict[str, Any]:
    saved = list(actions.saved_for(request.user))
    history = list(actions.history(request.user, q=q, limit=50, on=target.for_request_or_none(request)))
    try:
        reader_role.require_safe_console(request.user, target.for_request_or_none(request))
        refusal = None
    except AppError as exc:
        refusal = exc
    summary = reader_role.summary(on=target.for_request_or_none(request))
    read_role = summary.read_role.user if summary.read_role else ""
    return {
        "console_refusal": refusal, "read_role": read_role,
        "sql": sql, "q": q, "history": history, "saved": saved,
        "write_mode": actions.write_mode(request), "can_write": can(request.user, "write_sql"),
        "bundle": _bundle_available(), "row_cap": services.ROW_CAP, "display_rows": FALLBACK_DISPLAY_ROWS,
        "config": json.dumps({"writeMode": actions.write_mode(request), "rowCap": services.ROW_CAP}),
    }


@require_http_methods(["GET", "POST"])
def console(request: HttpRequest) -> HttpResponse:
    """GET the console; POST (the no-JavaScript form) runs or explains and renders the results."""
    require(request.user, "view_target")
    sql = request.GET.get("sql", "")
    if request.GET.get("history"):
        try:
            sql = actions.history_entry(request.user, int(request.GET["history"])).sql
        except (AppError, ValueError):
            sql = ""
    if request.GET.get("saved"):
        match = [s for s in actions.saved_for(request.user) if str(s.pk) == request.GET["saved"]]
        sql = match[0].sql if match else sql
    context = _context(request, sql=sql, q=request.GET.get("q", "").strip())
    status = 200
    if request.method == "POST":
        sql = request.POST.get("sql", "")
        action = request.POST.get("action", "run")
        context["sql"] = sql
        try:
            run = actions.run(request, sql, write=actions.write_mode(request),
                              explain=action in ("explain", "analyze"), analyze=action == "analyze")
        except AppError as exc:
            context["run_error"] = exc
            status = exc.status
        else:
            for result in run["results"]:
                numeric = [bool(c.get("numeric")) for c in result["columns"]]
                result["shown_cells"] = [list(zip(row, numeric, strict=False))
                                         for row in result["rows"][:FALLBACK_DISPLAY_ROWS]]
                if result.get("plan"):
                    result["plan"]["raw_json"] = json.dumps(result["plan"]["raw"], indent=2)
                if result.get("error") and result["error"].get("position") is not None:
                    pos = result["error"]["position"]
                    line_start = sql.rfind("\n", 0, pos) + 1
                    line_end = sql.find("\n", pos)
                    line_end = len(sql) if line_end < 0 else line_end
                    result["error"]["line"] = sql[line_start:line_end]
                    result["error"]["caret"] = " " * (pos - line_start) + "^"
                    result["error"]["line_no"] = sql.count("\n", 0, pos) + 1
            context["run"] = run
            context["history"] = list(actions.history(request.user, limit=50,
                                                      on=target.for_request_or_none(request)))
    return render(request, "sqlconsole/console.html", context, status=status)


@require_POST
def write_mode(request: HttpRequest) -> HttpResponse:
    """Switch write mode on or off for this session (admins; audited)."""
    enabled = request.POST.get("enabled") == "1"
    try:
        actions.set_write_mode(request, enabled)
    except AppError as exc:
        messages.error(request, f"{exc.message} {exc.hint}")
    else:
        if enabled:
            messages.warning(request, "Write mode is on: statements now run with their own transactions and commit.")
        else:
            messages.success(request, "Write mode is off: the console is read-only again.")
    return redirect("sql")


@require_POST
def save(request: HttpRequest) -> HttpResponse:
    try:
        saved = actions.save_query(request, request.POST.get("name", ""), request.POST.get("sql", ""),
                                   request.POST.get("shared") == "1")
    except AppError as exc:
        messages.error(request, f"{exc.message} {exc.hint}")
        return redirect("sql")
    messages.success(request, f"Saved “{saved.name}”.")
    return redirect(f"/sql?saved={saved.pk}")


@require_POST
def delete_saved(request: HttpRequest, saved_id: int) -> HttpResponse:
    try:
        actions.delete_saved(request, saved_id)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Saved query deleted.")
    return redirect("sql")
