"""The data browser's REST API (DESIGN.md): tables, schema, data pages, row writes, export.

The same service functions as the pages: ``query`` for reads, ``actions`` for writes (which
check the role and audit), ``export`` for streaming. ``{tref}`` and ``{pk}`` are spelled as in
``databrowser.refs``.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import BadRequest
from core.roles import HasCapability
from databrowser import actions, catalog, forms, models_info, query
from databrowser import serializers as s
from databrowser.formatting import jsonable
from databrowser.query import TableInfo
from databrowser.refs import TableRef, decode_pk


def _info(tref: str) -> TableInfo:
    return query.get_table(TableRef.parse(tref))


def _pk(info: TableInfo, pk: str) -> list[str]:
    if not info.pk:
        raise BadRequest(info.read_only_reason, hint="Tables without a primary key are browse-only.",
                         code="no_primary_key", status=405)
    return decode_pk(pk, len(info.pk))


def _invalid(errors: dict[str, list[str]]) -> BadRequest:
    first = next(iter(errors.items()))
    return BadRequest(f"{first[0]}: {first[1][0]}" if first[0] != "__all__" else first[1][0],
                      hint="Fix the fields listed in detail.fields and send the request again.", code="invalid",
                      detail={"fields": errors})


def schema_of(info: TableInfo) -> dict[str, Any]:
    from core import target

    with target.connect() as conn:
        referenced_by = catalog.referencing(conn, info.ref)
    return {
        "schema": info.ref.schema, "name": info.ref.name, "kind": info.kind_label, "primary_key": list(info.pk),
        "writable": info.writable, "read_only_reason": info.read_only_reason, "label_column": info.label_column,
        "estimated_rows": info.estimate,
        "columns": [{"name": c.name, "type": c.type_label, "kind": c.kind, "nullable": c.nullable,
                     "has_default": c.has_default, "identity_always": c.identity_always, "primary_key": c.is_pk,
                     "enum_values": c.enum_values or None, "max_length": c.max_length, "sortable_indexed": c.name in info.indexed,
                     "references": {"table": c.fk.ref.slug, "columns": list(c.fk.ref_columns)} if c.fk else None}
                    for c in info.columns],
        "referenced_by": [{"table": fk.ref.slug, "columns": list(fk.columns), "ref_columns": list(fk.ref_columns),
                           "on_delete": fk.on_delete, "constraint": fk.name} for fk in referenced_by],
    }


class ReadView(APIView):
    permission_classes = [HasCapability.of("view_target")]


class TablesView(ReadView):
    @extend_schema(responses=s.TableList)
    def get(self, request: Request) -> Response:
        rows = query.list_tables()
        mapped = models_info.mapped_tables()
        for r in rows:
            r["slug"] = TableRef(r["schema"], r["name"]).slug
            r["models"] = mapped.get((r["schema"], r["name"]), [])
            r["has_model"] = bool(r["models"])
        return Response({"tables": rows})


class TableSchemaView(ReadView):
    @extend_schema(responses=s.TableSchema)
    def get(self, request: Request, tref: str) -> Response:
        return Response(schema_of(_info(tref)))


class TableDataView(ReadView):
    @extend_schema(responses=s.DataPage)
    def get(self, request: Request, tref: str) -> Response:
        info = _info(tref)
        page = query.fetch_page(info, query.parse_request(info, request.query_params))
        body: dict[str, Any] = {
            "columns": [c.name for c in info.columns],
            "rows": [{c.name: jsonable(r[c.name]) for c in info.columns} for r in page.rows],
            "row_versions": [r.get("__xmin") for r in page.rows] if info.has_xmin else None,
            "paging": page.mode, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor,
            "page": page.page_no, "has_next": page.has_next, "has_prev": page.has_prev,
            "page_size": page.request.page_size, "total_estimate": page.total_estimate,
            "table_estimate": info.estimate,
        }
        if page.total_exact is not None:
            body["total_exact"] = page.total_exact
        if page.search is not None:
            body["search"] = page.search.as_dict()
        if page.sort_hint:
            body["hint"] = page.sort_hint
            body["hint_sql"] = page.sort_sql or None
        return Response(body)


class RowsView(ReadView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: s.RowAnswer})
    def post(self, request: Request, tref: str) -> Response:
        info = _info(tref)
        values, errors = forms.values_from_json(info, request.data, creating=True,
                                                  model=models_info.form_model(info.ref))
        if errors:
            raise _invalid(errors)
        row = actions.do_create_row(request, info, values)
        return _with_etag(Response({"row": actions.public(row), "version": row.get("__xmin")}, status=201), row)


def etag(version: object) -> str:
    """The row version (its ``xmin``) as a strong ETag."""
    return f'"{version}"'


def if_match(request: Request) -> str | None:
    """The version an ``If-Match`` header names (``"123"``, ``W/"123"`` or ``123``); ``*`` means any."""
    raw = (request.headers.get("If-Match") or "").strip()
    if not raw:
        return None
    if raw == "*":
        return "*"
    first = raw.split(",")[0].strip()
    if first.startswith("W/"):
        first = first[2:]
    value = first.strip('"')
    if not value.isdigit():
        raise BadRequest(f"If-Match {raw[:40]!r} is not a row version.", code="invalid_if_match",
                         hint="Send back the ETag header of GET /api/tables/{table}/rows/{pk} as it was given.")
    return value


def _forced(request: Request) -> bool:
    return (request.query_params.get("force") or "").lower() in ("1", "true", "yes")


def _with_etag(response: Response, row: dict[str, Any]) -> Response:
    if row.get("__xmin") is not None:
        response["ETag"] = etag(row["__xmin"])
    return response


class RowView(ReadView):
    """One row. GET answers an ``ETag`` (the row version); PUT and DELETE require it back as
    ``If-Match`` (428 without it, 409 when the row changed since), unless ``?force=true``."""

    @extend_schema(responses=s.RowAnswer)
    def get(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(tref)
        row = query.fetch_row(info, _pk(info, pk))
        return _with_etag(Response({"row": actions.public(row), "version": row.get("__xmin")}), row)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=s.RowAnswer)
    def put(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(tref)
        pk_values = _pk(info, pk)
        actions.require_writer(request, "data.update", info, pk_values)
        body = dict(request.data) if isinstance(request.data, dict) else request.data
        version = if_match(request)
        if isinstance(body, dict) and "__version" in body:
            version = str(body.pop("__version")).strip('"')
        actions.require_version(request, "data.update", info, pk_values, version, _forced(request), "If-Match header")
        values, errors = forms.values_from_json(info, body, creating=False,
                                                  model=models_info.form_model(info.ref))
        if errors:
            raise _invalid(errors)
        forced = version in (None, "*")
        row = actions.do_update_row(request, info, pk_values, values, None if forced else version, forced=forced)
        return _with_etag(Response({"row": actions.public(row), "version": row.get("__xmin")}), row)

    @extend_schema(responses={200: s.DeleteAnswer})
    def delete(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(tref)
        pk_values = _pk(info, pk)
        if request.query_params.get("preview") in ("1", "true"):
            return Response({**actions.cascade_preview(info, [pk_values]).as_dict(),
                             "orm_cascades": models_info.orm_cascades(info.ref)})
        actions.require_writer(request, "data.delete", info, pk_values)
        version = if_match(request)
        actions.require_version(request, "data.delete", info, pk_values, version, _forced(request), "If-Match header")
        forced = version in (None, "*")
        deleted = actions.do_delete_rows(request, info, [pk_values], None if forced else version, forced=forced)
        return Response({"deleted": len(deleted), "rows": [actions.public(r) for r in deleted]})


class ExportView(ReadView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ?format=csv|json names the export format, not a DRF renderer.
        return JSONRenderer(), "application/json"

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): s.EXPORT_ROWS})
    def get(self, request: Request, tref: str) -> HttpResponseBase:
        info = _info(tref)
        return export_response_for(request, info)


def export_response_for(request: Request, info: TableInfo) -> HttpResponseBase:
    from databrowser.export import export_response

    return export_response(info, request.query_params, asgi=isinstance(request._request, ASGIRequest),
                           user=request.user, request=request)
