"""DRF serializers of `core`: the internal-DB resources (tokens, audit entries, users) and the API's
response shapes, so that ``/api/schema`` describes every answer and schemathesis can check them.

``IsoDateTimeField`` keeps the timestamps exactly as the API always wrote them (``isoformat()``,
``+00:00``), not DRF's ``Z`` spelling: the UI and scripts already read these values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from core import tokens
from core.models import ApiToken, AuditEntry
from core.roles import role_of


class IsoDateTimeField(serializers.DateTimeField):
    """A read-only timestamp written with ``datetime.isoformat()`` (the API's format since its start)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: datetime | str | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return value.isoformat()


class ErrorBody(serializers.Serializer):
    """``core.exceptions.AppError.as_dict()``: a stable code, a plain message and how to fix it."""

    code = serializers.CharField()
    message = serializers.CharField()
    hint = serializers.CharField(allow_blank=True)
    detail = serializers.JSONField(required=False, help_text="free-form: e.g. the invalid fields")


class ErrorSerializer(serializers.Serializer):
    """Every 4xx/5xx answer of the API: ``{"error": {code, message, hint, detail?}}``."""

    error = ErrorBody()


class MessageHint(serializers.Serializer):
    message = serializers.CharField(allow_blank=True)
    hint = serializers.CharField(allow_blank=True)


# --- tokens ------------------------------------------------------------------------------------

class TokenIssued(serializers.Serializer):
    token = serializers.CharField(help_text="the key, shown once")
    id = serializers.IntegerField()
    expires_at = IsoDateTimeField()


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token for lists: never the key or its hash."""

    prefix = serializers.SerializerMethodField()
    created_at = IsoDateTimeField()
    expires_at = IsoDateTimeField()
    last_used_at = IsoDateTimeField(allow_null=True)
    revoked_at = IsoDateTimeField(allow_null=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_prefix(self, token: ApiToken) -> str:
        return f"{tokens.PREFIX}{token.prefix}…"


class TokenList(serializers.Serializer):
    tokens = ApiTokenSerializer(many=True)


class TokenRevoked(serializers.Serializer):
    revoked = ApiTokenSerializer()


class LogoutAnswer(serializers.Serializer):
    revoked = serializers.IntegerField(required=False, help_text="the token's id (token authentication)")
    logged_out = serializers.BooleanField(required=False, help_text="true (session authentication)")


# --- users -------------------------------------------------------------------------------------

ROLES = ["viewer", "editor", "admin"]


class UserWithRole(serializers.Serializer):
    """A user with its role (None: no role yet) and whether it may log in."""

    username = serializers.CharField()
    role = serializers.SerializerMethodField()
    active = serializers.BooleanField(source="is_active")

    def get_role(self, user: Any) -> str | None:
        return role_of(user)


class UserList(serializers.Serializer):
    users = UserWithRole(many=True)


class UserCreated(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=ROLES)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=ROLES, allow_null=True)
    capabilities = serializers.ListField(child=serializers.CharField())
    read_only = serializers.BooleanField()


# --- audit -------------------------------------------------------------------------------------

class AuditEntrySerializer(serializers.ModelSerializer):
    """One audit row (``at`` and ``user`` are the API's names of ``created_at`` and ``username``)."""

    at = IsoDateTimeField(source="created_at")
    user = serializers.CharField(source="username", allow_blank=True)
    before = serializers.JSONField(allow_null=True, help_text="free-form: the state before the change")
    after = serializers.JSONField(allow_null=True, help_text="free-form: the state after the change")
    ip = serializers.CharField(allow_null=True)
    target_name = serializers.CharField(allow_blank=True, help_text="the target database it was on; empty for "
                                        "tool-level events (logins, users, tokens)")

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "user", "action", "target", "target_name", "before", "after", "outcome", "message", "ip"]


class AuditList(serializers.Serializer):
    entries = AuditEntrySerializer(many=True)


# --- health, status, connection -------------------------------------------------------------------

class CheckState(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "warning", "error"])


class DatabaseHealth(CheckState):
    version = serializers.CharField(required=False, allow_null=True, help_text="only when the database answers")


class ModelsHealth(CheckState):
    count = serializers.IntegerField()


class SchemaMigrationHealth(serializers.Serializer):
    schema = serializers.CharField(allow_null=True)
    current = serializers.ListField(child=serializers.CharField())
    pending = serializers.IntegerField()


class MigrationHealth(CheckState):
    current = serializers.ListField(child=serializers.CharField(), allow_null=True)
    pending = serializers.IntegerField()
    schemas = SchemaMigrationHealth(many=True, required=False, help_text="schema-per-tenant projects only")


class AlembicHealth(CheckState):
    migration = MigrationHealth()


class WorkerProcess(serializers.Serializer):
    pid = serializers.IntegerField()
    started = serializers.FloatField()
    requests = serializers.IntegerField()
    busy = serializers.BooleanField()
    rss_mb = serializers.FloatField()


class WorkersHealth(serializers.Serializer):
    running = serializers.IntegerField()
    max = serializers.IntegerField()
    waiting = serializers.IntegerField()
    runs_waiting = serializers.IntegerField()
    protocol = serializers.IntegerField()
    processes = WorkerProcess(many=True)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = DatabaseHealth()
    alembic = AlembicHealth()
    models = ModelsHealth()
    version = serializers.CharField()
    workers = WorkersHealth()


class CheckSerializer(serializers.Serializer):
    """One line of the startup report (``core.project.Check``)."""

    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "warning", "error"])
    message = serializers.CharField(allow_blank=True)
    hint = serializers.CharField(allow_blank=True)
    data = serializers.DictField(help_text="free-form: what the check found (versions, counts, paths)")


class StatusSerializer(serializers.Serializer):
    """The startup report: every check by name."""

    interpreter = CheckSerializer()
    database = CheckSerializer()
    alembic = CheckSerializer()
    models = CheckSerializer()
    migration = CheckSerializer()


class ConnectionSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="the target URL, password masked")
    target = serializers.CharField(help_text="host:port/database")
    version = serializers.CharField()
    database = serializers.CharField()
    user = serializers.CharField()
    statement_timeout_ms = serializers.IntegerField()
    read_only = serializers.BooleanField()
