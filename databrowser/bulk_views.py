"""The bulk-edit page: pick a column and a value, preview (GET), apply (POST with CSRF).

Thin: the scope, the value and the write come from ``databrowser.bulk``. The page works without
JS: the column select reloads the page with that column's widget; "Preview" is a GET of the same
page with the value; the preview carries everything (scope, column, value, previewed count) as
hidden fields of the POST form that applies it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from core import target
from core.exceptions import Conflict
from core.roles import can, role_of
from databrowser import actions, bulk, query
from databrowser.query import TableInfo
from databrowser.refs import TableRef

OP_TEXT = {"contains": "contains", "eq": "=", "starts": "starts with", "gte": "≥", "lte": "≤", "null": "is null",
           "bool": "is", "json": "JSON"}


def _refusal(request: HttpRequest, info: TableInfo) -> str:
    """Why this user may not apply a bulk edit here ("" when they may)."""
    if not info.writable:
        return info.read_only_reason
    if not can(request.user, "write_rows"):
        if settings.READ_ONLY:
            return "The tool runs in read-only mode (PGADMIN_READ_ONLY=1): no one can change rows."
        return f"Your role ({role_of(request.user) or 'none'}) may read rows but not change them; an editor or admin can."
    return ""


def _scope_text(scope: bulk.Scope) -> list[str]:
    if scope.pks is not None:
        return [", ".join(p) for p in scope.pks[:50]]
    assert scope.request is not None
    parts = [f"{f.column} {OP_TEXT.get(f.op, f.op)} {f.value}" for f in scope.request.filters]
    if scope.request.q:
        parts.append(f"search “{scope.request.q}”" + (f" in {', '.join(scope.request.q_in)}" if scope.request.q_in else ""))
    return parts


def _grid_url(info: TableInfo, scope: bulk.Scope) -> str:
    url = reverse("data-table", args=[info.ref.slug])
    return url + ("?" + urlencode(scope.params) if not scope.is_selection and scope.params else "")


@require_http_methods(["GET", "POST"])
def bulk_edit(request: HttpRequest, tref: str) -> HttpResponse:
    info = query.get_table(TableRef.parse(tref), on=target.for_request(request))
    source: Any = request.POST if request.method == "POST" else request.GET
    scope = bulk.scope_from_params(info, source)
    if request.method == "POST":
        bulk.require_bulk_writer(request, info)  # a refusal is a 403 before the value is even read
    col = bulk.pick_column(info, source.get("column"))
    wants_value = request.method == "POST" or "preview" in request.GET
    form = bulk.value_form(info, col, data=source if wants_value else None)
    hidden = [*scope.params, *([("scope", "filter")] if not scope.is_selection else [])]
    context: dict[str, Any] = {
        "info": info, "scope": scope, "scope_text": _scope_text(scope), "hidden": hidden, "column": col,
        "columns": bulk.editable(info), "form": form, "refusal": _refusal(request, info),
        "grid_url": _grid_url(info, scope), "key_names": info.pk,
    }
    status = 200
    if wants_value:
        if not form.is_valid():
            return render(request, "databrowser/bulk.html", context, status=400)
        value = bulk.clean_value(info, col, form)
        context["value_fields"] = [(k, v) for k in form.fields for v in source.getlist(k)]
        if request.method == "POST":
            expected = source.get("expected") or ""
            try:
                changed = bulk.do_bulk_update(request, info, scope, col, value, int(expected) if expected.isdigit() else None)
            except actions.RowInvalid as err:
                for msg in err.field_errors.values():
                    form.add_error(f"c{col.position}", msg)
                return render(request, "databrowser/bulk.html", context, status=err.status)
            except Conflict as exc:  # the rows changed since the preview: show the new one
                context["drift"] = exc
                status = 409
            else:
                messages.success(request, f"{changed} row{'s' if changed != 1 else ''} updated: {col.name} set to "
                                          f"{bulk.shown(value, col)[:80]}.")
                return redirect(context["grid_url"])
        context["preview"] = bulk.bulk_preview(info, scope, col, value)
        context["new_text"] = bulk.shown(value, col)
    return render(request, "databrowser/bulk.html", context, status=status)
