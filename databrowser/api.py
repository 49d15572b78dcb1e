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
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import target
from core.exceptions import BadRequest
from core.roles import HasCapability, can
from databrowser import actions, bulk, catalog, columns, forms, importer, models_info, query
from databrowser import serializers as s
from databrowser.formatting import jsonable
from databrowser.pages import fetch_page
from databrowser.query import TableInfo
from databrowser.refs import TableRef, decode_pk
from databrowser.tables import row_cells


def _info(request: Any, tref: str) -> TableInfo:
    """The table ``tref`` of the request's target (the operations on it follow ``TableInfo.on``)."""
    return query.get_table(TableRef.parse(tref), on=target.for_request(request))


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
    with target.connect(target=info.on) as conn:
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
        rows = query.list_tables(target.for_request(request))
        mapped = models_info.mapped_tables()
        for r in rows:
            r["slug"] = TableRef(r["schema"], r["name"]).slug
            r["models"] = mapped.get((r["schema"], r["name"]), [])
            r["has_model"] = bool(r["models"])
        return Response({"tables": rows})


class TableSchemaView(ReadView):
    @extend_schema(responses=s.TableSchema)
    def get(self, request: Request, tref: str) -> Response:
        return Response(schema_of(_info(request, tref)))


class TableColumnsView(ReadView):
    """The caller's column layout of the grid (order, hidden, widths): PUT replaces the parts it names,
    DELETE resets. Any role may arrange its own grid (a preference, not a target write: not audited)."""

    @extend_schema(responses=s.ColumnLayout, operation_id="table_columns")
    def get(self, request: Request, tref: str) -> Response:
        return Response(columns.load(request.user, _info(request, tref)).as_json())

    @extend_schema(request=s.ColumnLayoutUpdate, responses=s.ColumnLayout, operation_id="table_columns_save")
    def put(self, request: Request, tref: str) -> Response:
        return Response(columns.save(request.user, _info(request, tref), request.data).as_json())

    @extend_schema(responses=s.ColumnLayout, operation_id="table_columns_reset")
    def delete(self, request: Request, tref: str) -> Response:
        return Response(columns.reset(request.user, _info(request, tref)).as_json())


class TableDataView(ReadView):
    @extend_schema(responses=s.DataPage)
    def get(self, request: Request, tref: str) -> Response:
        info = _info(request, tref)
        page = fetch_page(info, query.parse_request(info, request.query_params))
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
        info = _info(request, tref)
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


CELLS = OpenApiParameter("cells", bool, description="true: also answer `cells`, each column's grid cell as the "
                         "grid's HTML (the FK link and all), for a client that shows the row in the grid.")


def _row_answer(request: Request, info: TableInfo, row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API answers it; with ``?cells=true`` also its grid cells as the server renders them
    (the inline editor puts a saved cell back from these instead of rendering values itself)."""
    body = {"row": actions.public(row), "version": row.get("__xmin")}
    if (request.query_params.get("cells") or "").lower() in ("1", "true", "yes"):
        body["cells"] = row_cells(info, row)
    return body


class RowView(ReadView):
    """One row. GET answers an ``ETag`` (the row version); PUT and DELETE require it back as
    ``If-Match`` (428 without it, 409 when the row changed since), unless ``?force=true``."""

    @extend_schema(responses=s.RowAnswer, parameters=[CELLS])
    def get(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(request, tref)
        row = query.fetch_row(info, _pk(info, pk))
        return _with_etag(Response(_row_answer(request, info, row)), row)

    @extend_schema(request=OpenApiTypes.OBJECT, responses=s.RowAnswer, parameters=[CELLS])
    def put(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(request, tref)
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
        return _with_etag(Response(_row_answer(request, info, row)), row)

    @extend_schema(responses={200: s.DeleteAnswer})
    def delete(self, request: Request, tref: str, pk: str) -> Response:
        info = _info(request, tref)
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

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): s.EXPORT_ROWS},
                   parameters=[OpenApiParameter("columns", str, enum=["all", "layout"], description=(
                       "all (default): every column in the table's order; layout: the caller's grid layout "
                       "(saved column order, hidden columns left out)"))])
    def get(self, request: Request, tref: str) -> HttpResponseBase:
        info = _info(request, tref)
        return export_response_for(request, info)


def export_response_for(request: Request, info: TableInfo) -> HttpResponseBase:
    from databrowser.export import export_response

    return export_response(info, request.query_params, asgi=isinstance(request._request, ASGIRequest),
                           user=request.user, request=request, columns="all")


class BulkUpdateRequest(serializers.Serializer):
    column = serializers.CharField(help_text="The column to set (not a key or identity column).")
    value = serializers.JSONField(allow_null=True, help_text="The new value, as for PUT …/rows/{pk}; null is NULL.")
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()), required=False,
                                 help_text="The rows to change: each one the list of its key values. Or use `where`.")
    where = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                  help_text="The grid's filters and search: {\"f.eq.kind\": \"buy\", \"q\": \"…\"}; "
                                            "{} means every row of the table.")
    preview = serializers.BooleanField(default=False, help_text="Only count and sample the rows; write nothing.")
    expected_count = serializers.IntegerField(required=False, min_value=0,
                                              help_text="Required to apply: the count the preview answered. "
                                                        "A different count at write time is a 409 and nothing is written.")


_SAMPLE = inline_serializer("BulkUpdateSampleRow", {"key": serializers.ListField(child=serializers.JSONField()),
                                                     "old": serializers.JSONField(), "new": serializers.JSONField()})


class BulkUpdateView(ReadView):
    """Set one column to one value on the listed rows or on every row the filters match.

    First ``preview: true`` (the count and up to 10 rows, old and new value), then the same body
    with ``expected_count`` set to that count applies it in one transaction (editors and admins,
    not in READ_ONLY mode; audited once with the count)."""

    @extend_schema(request=BulkUpdateRequest, responses={200: inline_serializer("BulkUpdateResponse", {
        "column": serializers.CharField(), "value": serializers.JSONField(allow_null=True),
        "count": serializers.IntegerField(help_text="Rows matched (preview) or updated (apply)."),
        "updated": serializers.BooleanField(help_text="False for a preview."),
        "sample": serializers.ListField(child=_SAMPLE, required=False, help_text="Preview only."),
        "can_apply": serializers.BooleanField(required=False, help_text="Preview only: may this user apply it?")})})
    def post(self, request: Request, tref: str) -> Response:
        info = _info(request, tref)
        body = BulkUpdateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if ("rows" in data) == ("where" in data):
            raise BadRequest("Say which rows to change: either `rows` (their keys) or `where` (the filters).",
                             hint='Send "rows": [[1], [2]] or "where": {"f.eq.kind": "buy"} ({} for every row).')
        scope = (bulk.selection_scope(info, data["rows"]) if "rows" in data
                 else bulk.filter_scope(info, [(k, str(v)) for k, v in data["where"].items()]))
        if not data["preview"]:
            bulk.require_bulk_writer(request, info)
        col = bulk.pick_column(info, data["column"])
        value = bulk.value_from_json(info, col, data["value"])
        if data["preview"]:
            preview = bulk.bulk_preview(info, scope, col, value)
            return Response({**preview.as_dict(), "updated": False,
                             "can_apply": info.writable and can(request.user, "write_rows")})
        changed = bulk.do_bulk_update(request, info, scope, col, value, data.get("expected_count"))
        return Response({"column": col.name, "value": data["value"], "count": changed, "updated": True})


class ImportRowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(allow_null=True, help_text="line in the file (the header is line 1); null: the whole file")
    column = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ImportMappingSerializer(serializers.Serializer):
    csv = serializers.CharField()
    column = serializers.CharField(allow_null=True)


class ImportJobSerializer(serializers.Serializer):
    """An import job: its state, progress, the failing rows with reasons, and what was written."""

    id = serializers.CharField()
    table = serializers.CharField()
    state = serializers.ChoiceField(choices=["mapping", "validating", "invalid", "valid", "importing", "done", "failed"])
    phase = serializers.CharField(allow_blank=True)
    progress = serializers.FloatField()
    file_name = serializers.CharField()
    size = serializers.IntegerField()
    delimiter = serializers.CharField()
    null_style = serializers.CharField()
    mode = serializers.CharField()
    headers = serializers.ListField(child=serializers.CharField())
    mapping = ImportMappingSerializer(many=True)
    rows = serializers.IntegerField()
    errors = ImportRowErrorSerializer(many=True)
    error_count = serializers.IntegerField()
    errors_truncated = serializers.BooleanField()
    would_update = serializers.IntegerField()
    written = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)
    hint = serializers.CharField(allow_blank=True)


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="the CSV (multipart); or send text")
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    upload = serializers.CharField(required=False, max_length=32, help_text="a file sent in pieces (POST …/import/chunks)")
    name = serializers.CharField(required=False, max_length=200, help_text="the file name shown for an upload")
    mapping = serializers.JSONField(required=False, help_text='{"CSV header": "column" | null}; default: by name')
    mode = serializers.ChoiceField(choices=["insert", "upsert"], default="insert")
    delimiter = serializers.CharField(required=False, max_length=1)
    null_style = serializers.ChoiceField(choices=["empty", "marker"], required=False)
    confirm = serializers.BooleanField(default=False, help_text="false: validate only; true: validate and import")
    wait = serializers.FloatField(default=5.0, min_value=0, max_value=30, help_text="seconds to wait for the job")


def _job_body(job: Any) -> dict[str, Any]:
    return ImportJobSerializer(job.as_dict()).data


class ImportView(APIView):
    """POST a CSV (multipart ``file`` or ``text``) → 202 with the job; ``confirm=false`` (default)
    only validates every row (nothing written), ``confirm=true`` validates and imports in one
    transaction. Poll ``GET …/import/{job}`` until ``state`` is valid/invalid/done/failed."""

    permission_classes = [HasCapability.of("write_rows")]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # the upload streams into the internal DB before anything (DRF's CSRF check too) reads the body
        self.handler = importer.UploadHandler(request)
        if request.method == "POST":
            request.upload_handlers = [self.handler]
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            job = getattr(self, "job", None)
            if job is None:
                self.handler.discard()

    @extend_schema(request=ImportRequestSerializer, responses={202: ImportJobSerializer})
    def post(self, request: Request, tref: str) -> Response:
        info = _info(request, tref)
        actions.require_writer(request, "data.import", info)
        data = ImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        opts = data.validated_data
        if self.handler.exceeded:
            raise importer.too_big()
        if self.handler.job_id is not None and self.handler.size:
            file_id, name = self.handler.job_id, self.handler.file_name or "upload.csv"
        elif opts.get("upload"):
            file_id, name = importer.adopt_upload(request, info, opts["upload"]), opts.get("name") or "upload.csv"
        elif (opts.get("text") or "").strip():
            file_id, name = importer.save_text(opts["text"]), "pasted.csv"
        else:
            raise BadRequest("Send the CSV as a multipart file (field 'file') or as 'text'.", code="no_file",
                             hint="The first line must name the columns.")
        job = importer.new_job(request, info, file_id, name)
        self.job = job
        importer.set_options(info, job, mapping=importer.mapping_from_json(job, opts["mapping"]) if "mapping" in opts
                             else None, mode=opts["mode"], delimiter=opts.get("delimiter"),
                             null_style=opts.get("null_style"))
        if opts.get("delimiter"):  # the header was re-read: apply the mapping to it
            if "mapping" in opts:
                importer.set_options(info, job, mapping=importer.mapping_from_json(job, opts["mapping"]), mode=None,
                                     delimiter=None, null_style=None)
        if opts["confirm"]:
            importer.do_import_csv(request, info, job, confirmed=True)
        else:
            importer.start_validation(request, info, job)
        importer.wait(job, opts["wait"])
        return Response(_job_body(job), status=202)


class ImportJobView(APIView):
    """GET an import job (its progress, failing rows, result); POST ``…/run`` imports a valid one."""

    permission_classes = [HasCapability.of("write_rows")]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request: Request, tref: str, job_id: str) -> Response:
        info = _info(request, tref)
        return Response(_job_body(importer.get_job(request, job_id, info)))


class ImportRunView(APIView):
    """POST: import a job whose validation passed (state ``valid``), in one transaction."""

    permission_classes = [HasCapability.of("write_rows")]

    @extend_schema(request=None, responses={202: ImportJobSerializer})
    def post(self, request: Request, tref: str, job_id: str) -> Response:
        info = _info(request, tref)
        job = importer.get_job(request, job_id, info)
        importer.do_import_csv(request, info, job)
        importer.wait(job, 5.0)
        return Response(_job_body(job), status=202)


class ImportChunkView(APIView):
    """POST one piece of a big file as the raw body (``?upload=<id>&offset=<bytes so far>``; the
    first piece without ``upload``) → {upload, size}; then POST …/import with ``upload=<id>``.
    Pieces of at most 4 MB keep the server's memory flat whatever the file's size."""

    permission_classes = [HasCapability.of("write_rows")]
    parser_classes: list[Any] = []  # the body is the piece itself: read as a stream, never parsed

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses={200: inline_serializer(
        "ImportChunkAnswer", {"upload": serializers.CharField(help_text="the upload's id: send it with the next piece"),
                              "size": serializers.IntegerField(help_text="bytes received so far")})})
    def post(self, request: Request, tref: str) -> Response:
        info = _info(request, tref)
        offset = request.query_params.get("offset", "0")
        if not offset.isdigit():
            raise BadRequest("offset must be a byte count.", hint="Send ?offset=<bytes already sent>.")
        upload_id, size = importer.append_chunk(request, info, request.query_params.get("upload", ""), int(offset),
                                                request._request)
        return Response({"upload": upload_id, "size": size})
