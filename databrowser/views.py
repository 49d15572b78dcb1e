"""HTML pages of the data browser: table list, grid, row, create/edit forms, delete, export.

Thin views: parameters in, one call to ``query``/``actions``/``export``, a template out.
Writes confirm on GET and act on POST (CSRF); roles are checked inside the actions.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import target
from core.durations import duration
from core.exceptions import AppError, BadRequest, Conflict
from core.roles import can
from databrowser import actions, columns, filtercheck, forms, models_info, query, related
from databrowser.export import estimate_seconds, export_response
from databrowser.formatting import as_text, full_html, jsonable
from databrowser.pages import fetch_page
from databrowser.query import TableInfo
from databrowser.refs import TableRef, decode_pk, encode_pk
from databrowser.tables import body_html, build_grid, fk_url, head_html

OP_LABELS = [("contains", "contains"), ("eq", "="), ("starts", "starts with"), ("gte", "≥"), ("lte", "≤"),
             ("null", "is null (1) / not null (0)"), ("bool", "is true/false"), ("json", "JSON key=value")]


def _info(request: Any, tref: str) -> TableInfo:
    """The table ``tref`` of the request's target (the operations on it follow ``TableInfo.on``)."""
    return query.get_table(TableRef.parse(tref), on=target.for_request(request))


def _writable(request: HttpRequest, info: TableInfo) -> bool:
    return info.writable and can(request.user, "write_rows")


def edit_refusal(request: HttpRequest, info: TableInfo) -> str:
    """Why this user cannot change rows of this table in place ("" when they can): shown on an edit attempt."""
    if _writable(request, info):
        return ""
    if info.read_only_reason:
        return f"Read-only: {info.read_only_reason.rstrip('.')}."
    if settings.READ_ONLY:
        return "Read-only: this instance runs in read-only mode (PGADMIN_READ_ONLY=1)."
    return "Read-only: you are a viewer."


@require_GET
def table_list(request: HttpRequest) -> HttpResponse:
    rows = query.list_tables(target.for_request(request))
    mapped = models_info.mapped_tables()
    for r in rows:
        r["models"] = mapped.get((r["schema"], r["name"]), [])
    q = request.GET.get("q", "").strip().lower()
    if q:
        rows = [r for r in rows if q in f"{r['schema']}.{r['name']}".lower()]
    for r in rows:
        r["url"] = reverse("data-table", args=[TableRef(r["schema"], r["name"]).slug])
    return render(request, "databrowser/list.html", {"tables": rows, "q": request.GET.get("q", "")})


def _query_without(params: Any, *drop: str) -> str:
    items = [(k, v) for k in params for v in params.getlist(k) if k not in drop]
    return urlencode(items)


@require_GET
def grid(request: HttpRequest, tref: str) -> HttpResponse:
    if request.GET.get("refresh") == "1":  # re-read the table's structure now (after a migration)
        query.invalidate(TableRef.parse(tref))
        params = request.GET.copy()
        params.pop("refresh")
        return redirect(request.path + ("?" + params.urlencode() if params else ""))
    info = _info(request, tref)
    if "add_col" in request.GET:  # the filter form (works without JS): fold it into f.<op>.<col>
        params = request.GET.copy()
        col, op, val = params.pop("add_col")[-1], params.pop("add_op", ["contains"])[-1], params.pop("add_val", [""])[-1]
        if col and val != "":
            params.appendlist(f"f.{op}.{col}", val)
        for k in ("cursor", "page", "last"):
            params.pop(k, None)
        return redirect(request.path + "?" + params.urlencode())
    req = query.parse_request(info, request.GET)
    all_filters = list(req.filters)
    page, filter_errors = _fetch_marking_bad_filters(info, req)
    base = [(k, v) for k in request.GET for v in request.GET.getlist(k)]
    layout = columns.load(request.user, info)
    table = build_grid(page, base, selectable=_writable(request, info), columns=layout.visible)
    keep = _query_without(request.GET, "cursor", "page", "last", "count", "at")
    nav: dict[str, str | None] = {"first": "?" + keep if (page.has_prev or page.page_no and page.page_no > 1) else None}
    start = _start_position(request, req, page)
    if page.mode in ("keyset", "scan"):
        at_next = {"at": start + len(page.rows)} if start is not None else {}
        at_prev = {"at": max(0, start - req.page_size)} if start is not None else {}
        nav["next"] = ("?" + "&".join(filter(None, [keep, urlencode({"cursor": page.next_cursor, **at_next})]))
                       if page.next_cursor else None)
        nav["prev"] = ("?" + "&".join(filter(None, [keep, urlencode({"cursor": page.prev_cursor, **at_prev})]))
                       if page.prev_cursor else None)
    else:
        n = page.page_no or 1
        nav["next"] = "?" + "&".join(filter(None, [keep, f"page={n + 1}"])) if page.has_next else None
        nav["prev"] = "?" + "&".join(filter(None, [keep, f"page={n - 1}"])) if page.has_prev else None
    # a scan has no last page to jump to (finding it is the whole scan): it continues instead
    nav["last"] = "?" + "&".join(filter(None, [keep, "last=1"])) if page.has_next and page.mode != "scan" else None
    filters = [{"label": f"{f.column} {dict(OP_LABELS)[f.op]} {f.value}", "error": filter_errors.get(i, ""),
                "remove": "?" + urlencode([(k, v) for k in request.GET for v in request.GET.getlist(k)
                                           if k not in ("cursor", "page", "last", "at")
                                           and not (k == f"f.{f.op}.{f.column}" and v == f.value)])}
               for i, f in enumerate(all_filters)]
    export_q = _query_without(request.GET, "cursor", "page", "last", "count", "page_size")
    total = page.total_exact if page.total_exact is not None else page.total_estimate
    # how long each export takes at the pace of the last ones here (said when it is more than a moment)
    export_eta = {fmt: duration(s) for fmt in ("csv", "json") if (s := estimate_seconds(fmt, total, info.ref.slug) or 0) >= 2}
    return render(request, "databrowser/grid.html", {
        "info": info, "page": page, "table": table, "body": body_html(table, page, layout.widths),
        "head": head_html(table, layout.widths, editable={c.name for c in forms.editable_columns(info, creating=False)}
                          if _writable(request, info) else None), "layout": layout, "nav": nav, "filters": filters,
        "ops": OP_LABELS,
        "page_sizes": query.PAGE_SIZES,
        "count_url": "?" + "&".join(filter(None, [_query_without(request.GET, "count", "cursor"), "count=1"])),
        **_export_links(info, export_q), **_export_notes(info, layout),
        "bulk_all": reverse("data-bulk", args=[info.ref.slug]) + "?" + urlencode(
            [("scope", "filter"), *((k, v) for k in request.GET for v in request.GET.getlist(k)
                                   if k.startswith("f.") or k in ("q", "qin"))]),
        "export_eta": export_eta,
        "can_write": _writable(request, info), "edit_refusal": edit_refusal(request, info),
        "q": req.q, "q_in": req.q_in[0] if len(req.q_in) == 1 else "",
        "search": page.search, "console": _console_links(request, page),
        "position": _position(start, page), "density": request.COOKIES.get("grid_density", "compact"),
        "filter_keep": [(k, v) for k in request.GET for v in request.GET.getlist(k)
                        if k.startswith("f.") or k in ("sort", "page_size")],
        "size_keep": [(k, v) for k in request.GET for v in request.GET.getlist(k)
                      if k not in ("page_size", "cursor", "page", "last", "at")],
    })


def _export_links(info: TableInfo, export_q: str) -> dict[str, str]:
    """The grid's exports: the shown columns in the user's order (the export's default), or every column."""
    base = reverse("data-export", args=[info.ref.slug]) + "?"
    return {f"export_{fmt}{suffix}": base + "&".join(filter(None, [export_q, f"format={fmt}", extra]))
            for fmt in ("csv", "json") for suffix, extra in (("", ""), ("_all", "columns=all"))}


def _export_notes(info: TableInfo, layout: columns.Layout) -> dict[str, str]:
    """What the default export writes, said beside its link; the "all columns" links (offered once the
    layout differs from the table's) say theirs."""
    if not layout.customised:
        return {"export_cols": f"All {len(info.columns)} columns, in the table's order",
                "export_cols_short": "all columns"}
    left_out = f", {len(layout.hidden)} hidden left out" if layout.hidden else ""
    return {"export_cols": f"The {len(layout.visible)} shown columns, in your order{left_out} "
                           "(More → Export CSV, all columns: every one)",
            "export_cols_short": f"shown columns ({len(layout.visible)}), your order"}


def _start_position(request: HttpRequest, req: query.PageRequest, page: query.Page) -> int | None:
    """0-based index of the page's first row, when known: offset pages know it, keyset pages carry
    it in ``at`` (display only: the cursor alone decides which rows come), the last page counts back."""
    if page.mode == "offset":
        return ((page.page_no or 1) - 1) * req.page_size
    if req.last:
        return page.total_exact - len(page.rows) if page.total_exact is not None else None
    if not req.cursor:
        return 0
    raw = request.GET.get("at", "")
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def _position(start: int | None, page: query.Page) -> dict[str, Any]:
    """"rows 76–100 of ≈ 10.0 M": the first and last row numbers (1-based) of this page, when known."""
    shown = len(page.rows)
    if start is None or not shown:
        return {"shown": shown}
    return {"shown": shown, "first": start + 1, "last": start + shown}


def _fetch_marking_bad_filters(info: TableInfo, req: query.PageRequest) -> tuple[query.Page, dict[int, str]]:
    """The page; when a filter value cannot be read, the page without that filter and its message.

    Only a refusal costs the per-filter check (``databrowser.filtercheck``); the grid stays, with the
    other filters applied and the bad one marked in place (not a 400 page instead of the grid).
    """
    try:
        return fetch_page(info, req, cut=True), {}
    except AppError as refused:
        if not req.filters or refused.status != 400:
            raise
        errors = filtercheck.bad_filters(info, req)
        if not errors:
            raise
    kept = [f for i, f in enumerate(req.filters) if i not in errors]
    good = dataclasses.replace(req, filters=kept, cursor=None, page=None, last=False)
    return fetch_page(info, good, cut=True), errors


@require_POST
def column_layout(request: HttpRequest, tref: str) -> HttpResponse:
    """The grid's columns menu without JS: move a column left/right, show/hide, reset; back to the grid."""
    info = _info(request, tref)
    columns.apply_form(request.user, info, request.POST)
    back = request.POST.get("next", "")
    grid_url = reverse("data-table", args=[info.ref.slug])
    if not back.startswith(grid_url) or not url_has_allowed_host_and_scheme(back, allowed_hosts=None):
        back = grid_url
    return redirect(back)


def _console_links(request: HttpRequest, page: query.Page) -> dict[str, str]:
    """Admins may run the suggested CREATE INDEX statements: links that open them in the SQL console
    (its write mode runs each statement on its own, as CONCURRENTLY requires)."""
    if not can(request.user, "write_sql"):
        return {}
    links = {}
    if page.search is not None and page.search.hints:
        links["search"] = reverse("sql") + "?" + urlencode({"sql": "\n".join(page.search.hints)})
    if page.sort_sql:
        links["sort"] = reverse("sql") + "?" + urlencode({"sql": page.sort_sql})
    return links


def _pk(info: TableInfo, pk: str) -> list[str]:
    if not info.pk:
        raise BadRequest(info.read_only_reason, hint="Browse the rows in the grid instead.", code="no_primary_key")
    return decode_pk(pk, len(info.pk))


@require_GET
def row_page(request: HttpRequest, tref: str, pk: str) -> HttpResponse:
    info = _info(request, tref)
    row = query.fetch_row(info, _pk(info, pk))
    seg = encode_pk(actions.pk_of(info, row))
    fields = [{"col": c, "html": full_html(row[c.name], c.kind, reverse("data-value", args=[info.ref.slug, seg, c.position])),
               "link": fk_url(c, row),
               "json": json.dumps(row[c.name], indent=2, ensure_ascii=False, default=str)
               if c.kind == "json" and row[c.name] is not None else None,
               "download": reverse("data-download", args=[info.ref.slug, encode_pk(actions.pk_of(info, row)),
                                                          c.position]) if c.kind == "bytea" and row[c.name] else None}
              for c in info.columns]
    labels = related.fk_labels(info, row)  # an FK value shows its row's label beside the id
    for f, c in zip(fields, info.columns, strict=True):
        if f["link"] and c.name in labels:
            f["label"] = labels[c.name]
    referencing = related.related_counts(info, row)
    for r in referencing:
        r["url"] = reverse("data-table", args=[r["table"].slug]) + "?" + urlencode(
            [(f"f.eq.{c}", str(jsonable(v))) for c, v in r["filters"]])
    # ?panel=1: the same row as a fragment for the grid's side panel (no page around it)
    template = "databrowser/_row_panel.html" if request.GET.get("panel") == "1" else "databrowser/row.html"
    return render(request, template, {
        "info": info, "row": row, "fields": fields, "related": referencing, "can_write": _writable(request, info),
        "edit_url": reverse("data-edit", args=[info.ref.slug, seg]),
        "delete_url": reverse("data-delete", args=[info.ref.slug, seg]),
        "pk_text": ", ".join(str(v) for v in actions.pk_of(info, row)), "seg": seg,
    })


def _apply_field_errors(form: Any, err: actions.RowInvalid) -> None:
    by_name = {c.name: key for key, c in form.columns.items()}
    for name, msg in err.field_errors.items():
        key = by_name.get(name)
        form.add_error(key, msg) if key else form.add_error(None, msg)


@require_http_methods(["GET", "POST"])
def create_row(request: HttpRequest, tref: str) -> HttpResponse:
    info = _info(request, tref)
    if request.method == "POST":
        actions.require_writer(request, "data.create", info)  # a refusal first: 403 whatever the form holds
        form = forms.row_form(info, creating=True, data=request.POST, model=models_info.form_model(info.ref))
        if form.is_valid():
            try:
                row = actions.do_create_row(request, info, forms.cleaned_values(info, form, creating=True, only_changed=False))
            except actions.RowInvalid as err:
                _apply_field_errors(form, err)
            else:
                messages.success(request, f"Row ({', '.join(str(v) for v in actions.pk_of(info, row))}) created.")
                return redirect(reverse("data-row", args=[info.ref.slug, encode_pk(actions.pk_of(info, row))]))
        status = 400
    else:
        if not info.writable:
            raise BadRequest(info.read_only_reason, code="read_only_relation", status=405)
        form = forms.row_form(info, creating=True, model=models_info.form_model(info.ref))
        status = 200
    return render(request, "databrowser/form.html", {"info": info, "form": form, "creating": True,
                                                       "can_write": _writable(request, info)}, status=status)


@require_http_methods(["GET", "POST"])
def edit_row(request: HttpRequest, tref: str, pk: str) -> HttpResponse:
    info = _info(request, tref)
    pk_values = _pk(info, pk)
    row = query.fetch_row(info, pk_values)
    context: dict[str, Any] = {"info": info, "creating": False, "pk_text": ", ".join(pk_values),
                               "row_url": reverse("data-row", args=[info.ref.slug, encode_pk(pk_values)]),
                               "can_write": _writable(request, info)}
    if request.method == "POST":
        actions.require_writer(request, "data.update", info, pk_values)  # a refusal first, whatever the form holds
        form = forms.row_form(info, creating=False, data=request.POST, row=row, model=models_info.form_model(info.ref))
        xmin = (request.POST.get("__xmin") or "").strip() or None
        if xmin is None or not xmin.isdigit():
            # Without the version the form was loaded with, a save would silently overwrite a
            # change made since: refuse it (the form below carries the current version).
            from core import audit

            audit.record(request, "data.update", f"{info.ref.slug} ({', '.join(pk_values)})", outcome="denied",
                         message="refused: the form was posted without its row version")
            form.add_error(None, "This form was sent without the row's version, so nothing was saved. "
                                 "The form below holds the current row: check it and save again.")
            context.update({"form": form, "xmin": row["__xmin"]})
            return render(request, "databrowser/form.html", context, status=400)
        if form.is_valid():
            values = forms.cleaned_values(info, form, creating=False, only_changed=False)
            try:
                actions.do_update_row(request, info, pk_values, values, xmin)
            except actions.RowInvalid as err:
                _apply_field_errors(form, err)
            except Conflict as exc:
                names = [c.name for c in forms.editable_columns(info, False)]
                yours = exc.detail.get("yours", {})
                current = exc.detail.get("current", {})
                fresh = forms.row_form(info, creating=False, row=row, model=models_info.form_model(info.ref))
                context.update({"conflict": exc, "form": fresh,
                                "xmin": row["__xmin"],
                                "diff": [{"name": n, "yours": yours.get(n), "current": current.get(n),
                                          "differs": yours.get(n) != current.get(n)} for n in names]})
                return render(request, "databrowser/form.html", context, status=409)
            else:
                messages.success(request, "Saved.")
                return redirect(context["row_url"])
        context.update({"form": form, "xmin": xmin or row["__xmin"]})
        return render(request, "databrowser/form.html", context, status=400)
    context.update({"form": forms.row_form(info, creating=False, row=row, model=models_info.form_model(info.ref)),
                    "xmin": row["__xmin"]})
    return render(request, "databrowser/form.html", context)


def _delete_page(request: HttpRequest, info: TableInfo, pks: list[list[str]], action_url: str) -> HttpResponse:
    preview = actions.cascade_preview(info, pks)
    for step in preview.steps:
        step.url = reverse("data-table", args=[step.table.slug])  # type: ignore[attr-defined]
    return render(request, "databrowser/delete.html", {
        "info": info, "preview": preview, "pks": [encode_pk(p) for p in pks], "action_url": action_url,
        "orm_cascades": models_info.orm_cascades(info.ref),
        "can_write": _writable(request, info), "pk_texts": related.row_labels(info, pks[:50]),
        "label_column": info.label_column,
    })


@require_http_methods(["GET", "POST"])
def delete_row(request: HttpRequest, tref: str, pk: str) -> HttpResponse:
    info = _info(request, tref)
    pk_values = _pk(info, pk)
    if request.method == "POST":
        actions.do_delete_rows(request, info, [pk_values])
        messages.success(request, f"Row ({', '.join(pk_values)}) deleted.")
        return redirect(reverse("data-table", args=[info.ref.slug]))
    return _delete_page(request, info, [pk_values], request.path)


@require_http_methods(["GET", "POST"])
def delete_rows(request: HttpRequest, tref: str) -> HttpResponse:
    info = _info(request, tref)
    if not info.pk:
        raise BadRequest(info.read_only_reason, code="no_primary_key")
    source = request.POST if request.method == "POST" else request.GET
    pks = [decode_pk(v, len(info.pk)) for v in source.getlist("pk")]
    if request.method == "POST":
        deleted = actions.do_delete_rows(request, info, pks)
        messages.success(request, f"{len(deleted)} row(s) deleted.")
        return redirect(reverse("data-table", args=[info.ref.slug]))
    return _delete_page(request, info, pks, request.path)


@require_GET
def export(request: HttpRequest, tref: str) -> HttpResponseBase:
    info = _info(request, tref)
    return export_response(info, request.GET, asgi=isinstance(request, ASGIRequest), user=request.user,
                           request=request)


@require_GET
def lookup(request: HttpRequest, tref: str) -> JsonResponse:
    """FK picker data: rows of the referenced table as {value, label}, searchable, paged."""
    info = _info(request, tref)
    return JsonResponse(related.lookup(info, request.GET.get("column") or (info.pk[0] if info.pk else ""),
                                     request.GET.get("q", ""), request.GET.get("cursor") or None))


@require_GET
def full_value(request: HttpRequest, tref: str, pk: str, position: int) -> HttpResponse:
    """The whole value of one cell (the grid shows long ones cut): text as text, JSON as JSON."""
    info = _info(request, tref)
    cols = [c for c in info.columns if c.position == position]
    if not cols:
        raise BadRequest(f"{info.ref} has no column at position {position}.", hint="Use the link of the grid or row page.")
    col = cols[0]
    if col.kind == "bytea":
        return download(request, tref, pk, position)
    value = query.fetch_row(info, _pk(info, pk))[col.name]
    if col.kind == "json":
        return HttpResponse(json.dumps(jsonable(value), ensure_ascii=False, indent=2), content_type="application/json")
    return HttpResponse("" if value is None else as_text(value, col.kind), content_type="text/plain; charset=utf-8")


@require_GET
def download(request: HttpRequest, tref: str, pk: str, position: int) -> HttpResponse:
    info = _info(request, tref)
    cols = [c for c in info.columns if c.position == position and c.kind == "bytea"]
    if not cols:
        raise BadRequest("No bytea column at this position.", hint="Use the download link of the row page.")
    row = query.fetch_row(info, _pk(info, pk))
    data = bytes(row[cols[0].name] or b"")
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="column{position}.bin"'
    return response
