"""REST API of the Alembic feature (DESIGN.md): history, current, revision, runs."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import target
from core.roles import HasCapability
from core.serializers import ErrorSerializer
from migrations_ui import preview, runs, services
from migrations_ui import serializers as s
from migrations_ui.models import Run


class MigrationsView(APIView):
    """GET every revision with applied/pending/current/head flags, the heads and the current revisions."""

    @extend_schema(responses=s.HistorySerializer)
    def get(self, request: Request) -> Response:
        return Response(services.history_api(force=request.query_params.get("refresh") == "1",
                                             on=target.for_request(request)))


class CurrentView(APIView):
    """GET the revisions in the version table."""

    @extend_schema(responses=s.CurrentSerializer)
    def get(self, request: Request) -> Response:
        return Response({"current": services.current_revisions(target.for_request(request))})


class RevisionView(APIView):
    """GET one revision: file, upgrade/downgrade SQL (offline mode) and safety findings."""

    @extend_schema(responses=s.RevisionDetailSerializer)
    def get(self, request: Request, rev: str) -> Response:
        detail = preview.revision_detail(rev, with_sql=request.query_params.get("sql", "1") != "0",
                                         on=target.for_request(request))
        return Response(detail)


class RunRequest(serializers.Serializer):
    target = serializers.CharField(max_length=200, required=False, allow_blank=True)
    backup = serializers.BooleanField(required=False, default=True)


class _StartRun(APIView):
    permission_classes = [HasCapability.of("run_migrations")]
    kind = "upgrade"

    @extend_schema(request=RunRequest, responses={202: s.RunStarted, 409: ErrorSerializer})
    def post(self, request: Request) -> Response:
        data = RunRequest(data=request.data)
        data.is_valid(raise_exception=True)
        run = runs.start_run(request, self.kind, data.validated_data.get("target", ""),
                             backup=data.validated_data["backup"])
        return Response({"run_id": run.pk, "status": run.status, "url": f"/api/alembic/runs/{run.pk}"}, status=202)


class UpgradeView(_StartRun):
    """POST {target: "heads"|rev|"+1", backup: true} -> 202 {run_id}; 409 while another run holds the lock."""

    kind = "upgrade"


class DowngradeView(_StartRun):
    """POST {target: "-1"|rev|"base", backup: true} -> 202 {run_id}; 409 while another run holds the lock."""

    kind = "downgrade"


class StampView(_StartRun):
    """POST {target: "heads"|rev|"base", backup: true} -> 202 {run_id}: set the version table, run nothing."""

    kind = "stamp"


class RunsView(APIView):
    """GET the runs, newest first (?limit=, max 200)."""

    @extend_schema(responses=s.RunList, operation_id="alembic_runs_list")
    def get(self, request: Request) -> Response:
        try:
            limit = max(1, min(200, int(request.query_params.get("limit", 50))))
        except ValueError:
            limit = 50
        return Response(s.RunList({"runs": runs.runs_of(request)[:limit]}).data)


class RunView(APIView):
    """GET one run: status, log lines, backup, timings, post-run check."""

    @extend_schema(responses=s.RunDetailSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        return Response(s.RunDetailSerializer(get_object_or_404(Run, pk=run_id)).data)


class CancelView(APIView):
    """POST -> 202 {run_id, status}: kill the run's child; it ends failed "cancelled by <user>" (admin)."""

    permission_classes = [HasCapability.of("run_migrations")]

    @extend_schema(request=None, responses={202: s.RunStarted})
    def post(self, request: Request, run_id: int) -> Response:
        run = runs.cancel_run(request, run_id)
        return Response({"run_id": run.pk, "status": "cancelling", "url": f"/api/alembic/runs/{run.pk}"}, status=202)


class DriftView(APIView):
    """GET the differences between the project's models and the database (autogenerate compare; cached
    until the model files or the schema change, ``?refresh=1`` compares again)."""

    @extend_schema(parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL)], responses=s.DriftSerializer)
    def get(self, request: Request) -> Response:
        from migrations_ui.drift import compute_drift

        return Response(compute_drift(force=request.query_params.get("refresh") == "1",
                                      on=target.for_request_or_none(request)))


class BackupsView(APIView):
    """GET the backups (newest first): name, bytes, created_at, revisions at backup time, run."""

    @extend_schema(responses=s.BackupList)
    def get(self, request: Request) -> Response:
        from migrations_ui import backups

        return Response(s.BackupList({"backups": backups.list_backups(), "keep": backups.keep_count()}).data)


class RestoreRequest(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    backup = serializers.BooleanField(required=False, default=True)


class RestoreView(APIView):
    """POST {name, backup: true} -> 202 {run_id}: restore an archive as a locked, streamed run (admin)."""

    permission_classes = [HasCapability.of("run_migrations")]

    @extend_schema(request=RestoreRequest, responses={202: s.RunStarted, 409: ErrorSerializer})
    def post(self, request: Request) -> Response:
        from migrations_ui import backups

        data = RestoreRequest(data=request.data)
        data.is_valid(raise_exception=True)
        run = backups.start_restore(request, data.validated_data["name"], backup=data.validated_data["backup"])
        return Response({"run_id": run.pk, "status": run.status, "url": f"/api/alembic/runs/{run.pk}"}, status=202)


class DryRunRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["upgrade", "downgrade"], default="upgrade")
    target = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DryRunView(APIView):
    """POST {kind, target} -> the statements the run would execute (online, always rolled back)."""

    permission_classes = [HasCapability.of("run_migrations")]

    @extend_schema(request=DryRunRequest, responses=s.DryRunSerializer)
    def post(self, request: Request) -> Response:
        data = DryRunRequest(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(runs.dry_run(request, data.validated_data["kind"], data.validated_data.get("target", "")))
