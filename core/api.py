"""REST API of `core`: token, health, who am I, users, audit, connection."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import actions, audit, target
from core.models import AuditEntry
from core.project import project_status, status_as_json
from core.roles import CAPABILITIES, HasCapability, can, role_of


class TokenRequest(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=512, trim_whitespace=False)


class TokenView(APIView):
    """POST {username, password} -> {token}: for CI jobs and scripts."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=TokenRequest, responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        data = TokenRequest(data=request.data)
        data.is_valid(raise_exception=True)
        user = actions.do_authenticate(request, data.validated_data["username"], data.validated_data["password"])
        token, _ = Token.objects.get_or_create(user=user)
        audit.record(request, "token.issue", user.get_username(), user=user)
        return Response({"token": token.key})


class HealthView(APIView):
    """Public health: {status, database, alembic, models, version}; 200 while the tool serves."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        checks = project_status()
        body = status_as_json(checks)
        # Health is public: keep it to states and counts, no paths, names or hosts.
        def brief(name: str) -> dict[str, Any]:
            check = body[name]
            keep = {"status": check["status"]}
            if name == "database" and check["status"] == "ok":
                keep["version"] = check["data"].get("version")
            if name == "models":
                keep["count"] = check["data"].get("count", 0)
            if name == "migration":
                keep["current"] = check["data"].get("current")
                keep["pending"] = len(check["data"].get("pending") or [])
                if check["data"].get("schemas"):  # schema-per-tenant: each version table's state
                    keep["schemas"] = [{"schema": s["schema"], "current": s["current"], "pending": len(s["pending"])}
                                       for s in check["data"]["schemas"]]
            return keep

        status = "ok" if checks["database"].ok else "degraded"
        return Response({
            "status": status,
            "database": brief("database"),
            "alembic": {**brief("alembic"), "migration": brief("migration")},
            "models": brief("models"),
            "version": settings.VERSION,
        })


class StatusView(APIView):
    """The full startup report (every check with message and hint), for logged-in users."""

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(status_as_json(project_status(force=request.query_params.get("refresh") == "1")))


class MeView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        role = role_of(request.user)
        caps = sorted({c for c in CAPABILITIES.get(role or "", []) if can(request.user, c)})
        return Response({"username": request.user.get_username(), "role": role, "capabilities": caps,
                         "read_only": settings.READ_ONLY})


class UserSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=["viewer", "editor", "admin"])
    password = serializers.CharField(max_length=512, required=False, allow_blank=True, trim_whitespace=False)


class UsersView(APIView):
    """GET the users with their roles; POST {username, role, password?} creates one (admin)."""

    permission_classes = [HasCapability.of("manage_users")]

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response({"users": [{"username": u.username, "role": role_of(u), "active": u.is_active}
                                   for u in get_user_model().objects.order_by("username")]})

    @extend_schema(request=UserSerializer, responses=dict)
    def post(self, request: Request) -> Response:
        data = UserSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = actions.do_create_user(request, data.validated_data["username"], data.validated_data["role"],
                                      data.validated_data.get("password", ""))
        return Response({"username": user.username, "role": role_of(user)}, status=201)


class AuditView(APIView):
    """GET the audit log, newest first; ?user=&action=&outcome=&limit= (max 500)."""

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        entries = AuditEntry.objects.all()
        params = request.query_params
        if params.get("user"):
            entries = entries.filter(username=params["user"])
        if params.get("action"):
            entries = entries.filter(action__startswith=params["action"])
        if params.get("outcome"):
            entries = entries.filter(outcome=params["outcome"])
        try:
            limit = max(1, min(500, int(params.get("limit", 100))))
        except ValueError:
            limit = 100
        return Response({"entries": [
            {"id": e.id, "at": e.created_at.isoformat(), "user": e.username, "action": e.action,
             "target": e.target, "before": e.before, "after": e.after, "outcome": e.outcome,
             "message": e.message, "ip": e.ip}
            for e in entries[:limit]
        ]})


class ConnectionView(APIView):
    """GET the target connection: masked URL, server version, database, user, timeout."""

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        url = target.target_url()
        info = target.server_info()
        return Response({"url": target.mask_url(url), "target": target.describe(url), "version": info.version,
                         "database": info.database, "user": info.user,
                         "statement_timeout_ms": settings.STATEMENT_TIMEOUT_MS, "read_only": settings.READ_ONLY})
