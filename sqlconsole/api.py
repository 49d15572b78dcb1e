"""REST API of the SQL console (mounted under /api/): run, cancel, fetch more, stats, history."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import target
from core.roles import HasCapability, role_of
from sqlconsole import actions, catalog, services
from sqlconsole import serializers as s


class QueryRequest(serializers.Serializer):
    sql = serializers.CharField(max_length=actions.MAX_SQL, trim_whitespace=False)
    explain = serializers.BooleanField(required=False, default=False)
    analyze = serializers.BooleanField(required=False, default=False)
    write = serializers.BooleanField(required=False, default=False)
    query_id = serializers.RegexField(services.QUERY_ID.pattern, required=False, allow_blank=True)
    at = serializers.IntegerField(required=False, min_value=0, allow_null=True,
                                  help_text="run only the statement under this character offset")


class QueryView(APIView):
    """POST {sql, explain?, analyze?, write?, query_id?}: run a script (read-only unless an admin asks for write)."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(request=QueryRequest, responses=s.RunResult)
    def post(self, request: Request) -> Response:
        data = QueryRequest(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        analyze = bool(v["analyze"])
        return Response(actions.run(request, v["sql"], write=v["write"], explain=bool(v["explain"]) or analyze,
                                    analyze=analyze, query_id=v.get("query_id") or None, at=v.get("at")))


class CancelRequest(serializers.Serializer):
    query_id = serializers.RegexField(services.QUERY_ID.pattern)


class CancelView(APIView):
    """POST {query_id}: cancel a running query (its owner or an admin). Accepts a sendBeacon body too."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(request=CancelRequest, responses=s.CancelAnswer)
    def post(self, request: Request) -> Response:
        data = CancelRequest(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(actions.cancel(request, data.validated_data["query_id"]))


class MoreRequest(serializers.Serializer):
    cursor = serializers.CharField(max_length=200)
    count = serializers.IntegerField(required=False, min_value=1, max_value=services.ROW_CAP, default=services.ROW_CAP)
    query_id = serializers.RegexField(services.QUERY_ID.pattern, required=False, allow_blank=True)


class MoreView(APIView):
    """POST {cursor, count?}: the next rows of a capped result (same cursor and snapshot)."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(request=MoreRequest, responses=s.MoreRows)
    def post(self, request: Request) -> Response:
        data = MoreRequest(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return Response(actions.fetch_more(request, v["cursor"], v["count"], v.get("query_id") or None))


class StatsView(APIView):
    """GET size, connections, cache hit ratio, biggest tables, longest-running queries."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(responses=s.StatsSerializer)
    def get(self, request: Request) -> Response:
        return Response(catalog.database_stats(show_queries=role_of(request.user) == "admin",
                                               on=target.for_request(request)))


class SchemaView(APIView):
    """GET {schema: {schema: {table: [columns]}}, default_schema} for the editor's autocompletion."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(responses=s.CompletionSchema)
    def get(self, request: Request) -> Response:
        return Response(catalog.completion_schema(target.for_request(request)))


class HistoryView(APIView):
    """GET the caller's history, newest first: ?q=&outcome=&limit= (max 500)."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(responses=s.HistoryList)
    def get(self, request: Request) -> Response:
        p = request.query_params
        try:
            limit = int(p.get("limit", 100))
        except ValueError:
            limit = 100
        entries = actions.history(request.user, p.get("q", ""), p.get("outcome", ""), limit,
                                  on=target.for_request_or_none(request))
        return Response(s.HistoryList({"history": entries}).data)


class SaveRequest(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    sql = serializers.CharField(max_length=actions.MAX_SQL, trim_whitespace=False)
    shared = serializers.BooleanField(required=False, default=False)


class SavedView(APIView):
    """GET the caller's saved queries and the shared ones; POST {name, sql, shared?} saves one."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(responses=s.SavedList)
    def get(self, request: Request) -> Response:
        return Response(s.SavedList({"saved": actions.saved_for(request.user)}, context={"user": request.user}).data)

    @extend_schema(request=SaveRequest, responses={201: s.SavedQuerySerializer})
    def post(self, request: Request) -> Response:
        data = SaveRequest(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        saved = actions.save_query(request, v["name"], v["sql"], v["shared"])
        return Response(actions.saved_as_dict(saved, request.user), status=201)


class SavedDetailView(APIView):
    """DELETE one of the caller's saved queries."""

    permission_classes = [HasCapability.of("view_target")]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, saved_id: int) -> Response:
        actions.delete_saved(request, saved_id)
        return Response(status=204)



