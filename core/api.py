"""REST API of `core`: tokens (issue, list, revoke, logout), health, who am I, users, audit, connection."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, logout
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import actions, audit, target, tokens
from core import serializers as s
from core.models import ApiToken
from core.project import project_status, status_as_json
from core.roles import CAPABILITIES, Authenticated, HasCapability, can, role_of


class TokenRequest(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=512, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TokenView(APIView):
    """POST {username, password, name?} -> {token, id, expires_at}: for CI jobs and scripts.

    Each call issues a new token (shown once; only its hash is kept) valid for PGADMIN_TOKEN_TTL.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=TokenRequest, responses=s.TokenIssued)
    def post(self, request: Request) -> Response:
        data = TokenRequest(data=request.data)
        data.is_valid(raise_exception=True)
        user = actions.do_authenticate(request, data.validated_data["username"], data.validated_data["password"])
        token, key = tokens.issue(user, data.validated_data.get("name") or "API")
        audit.record(request, "token.issue", f"{token.name} ({tokens.PREFIX}{token.prefix}…)", user=user,
                     after={"id": token.pk, "expires_at": token.expires_at.isoformat()})
        return Response({"token": key, "id": token.pk, "expires_at": token.expires_at.isoformat()})


class TokensView(APIView):
    """GET my live API tokens (name, prefix, dates; never the key)."""

    permission_classes = [Authenticated]  # one's own account: no role needed

    @extend_schema(responses=s.TokenList)
    def get(self, request: Request) -> Response:
        return Response(s.TokenList({"tokens": tokens.live_tokens(request.user)}).data)


class TokenDetailView(APIView):
    """DELETE one of my tokens (revoke). Admins may revoke anyone's."""

    permission_classes = [Authenticated]  # one's own account: no role needed

    @extend_schema(responses={200: s.TokenRevoked})
    def delete(self, request: Request, token_id: int) -> Response:
        token = actions.do_revoke_token(request, token_id)
        return Response(s.TokenRevoked({"revoked": token}).data)


class LogoutView(APIView):
    """POST: revoke the token this call is authenticated with (or end the session)."""

    permission_classes = [Authenticated]  # one's own account: no role needed

    @extend_schema(request=None, responses=s.LogoutAnswer)
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            tokens.revoke(request.auth)
            audit.record(request, "token.revoke", f"{request.auth.name} ({tokens.PREFIX}{request.auth.prefix}…)",
                         message="logout")
            return Response({"revoked": request.auth.pk})
        logout(request._request)  # session: Django's logout (audited by core.signals)
        return Response({"logged_out": True})


class HealthView(APIView):
    """Public health: {status, database, alembic, models, version}; 200 while the tool serves."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses=s.HealthSerializer)
    def get(self, request: Request) -> Response:
        checks = project_status(on=target.for_request_or_none(request))
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
            "workers": _workers(),
        })


def _workers() -> dict[str, Any]:
    """The warm project workers: how many, how busy, how big (pids and counts only: health is public)."""
    from core.runner import queue_state

    state = queue_state()
    workers = state["workers"]
    return {"running": workers["running"], "max": workers["max"], "waiting": state["pages"],
            "runs_waiting": state["runs"], "protocol": workers["protocol"],
            "processes": [{k: p[k] for k in ("pid", "started", "requests", "busy", "rss_mb")}
                          for p in workers["processes"]]}


class StatusView(APIView):
    """The full startup report (every check with message and hint), for logged-in users."""

    @extend_schema(responses=s.StatusSerializer)
    def get(self, request: Request) -> Response:
        return Response(status_as_json(project_status(force=request.query_params.get("refresh") == "1",
                                                      on=target.for_request_or_none(request))))


class MeView(APIView):
    permission_classes = [Authenticated]  # one's own account: no role needed

    @extend_schema(responses=s.MeSerializer)
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

    @extend_schema(responses=s.UserList)
    def get(self, request: Request) -> Response:
        return Response(s.UserList({"users": get_user_model().objects.order_by("username")}).data)

    @extend_schema(request=UserSerializer, responses={201: s.UserCreated})
    def post(self, request: Request) -> Response:
        data = UserSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = actions.do_create_user(request, data.validated_data["username"], data.validated_data["role"],
                                      data.validated_data.get("password", ""))
        return Response({"username": user.username, "role": role_of(user)}, status=201)


class AuditView(APIView):
    """GET the audit log, newest first; ?user=&action=&outcome=&limit= (max 500).

    Admins see every entry; viewers and editors only their own.
    """

    @extend_schema(responses=s.AuditList)
    def get(self, request: Request) -> Response:
        entries = audit.visible_entries(request.user)
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
        return Response(s.AuditList({"entries": entries[:limit]}).data)


class ConnectionView(APIView):
    """GET the target connection: masked URL, server version, database, user, timeout."""

    @extend_schema(responses=s.ConnectionSerializer)
    def get(self, request: Request) -> Response:
        on = target.for_request(request)
        url = on.url
        info = target.server_info(on)
        return Response({"url": target.mask_url(url), "target": target.describe(url), "version": info.version,
                         "database": info.database, "user": info.user,
                         "statement_timeout_ms": settings.STATEMENT_TIMEOUT_MS, "read_only": settings.READ_ONLY})
