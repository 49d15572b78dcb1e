"""DRF serializers of the SQL console API: results, history and saved queries (internal DB), stats.

A result row's values are whatever PostgreSQL returned, made JSON-safe (``sqlconsole.jsonable``):
they, a plan's raw EXPLAIN output and an SQL error's extra fields stay free-form.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from core.serializers import IsoDateTimeField
from sqlconsole.models import QueryHistory, SavedQuery


class ResultColumn(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    type = serializers.CharField(allow_blank=True, allow_null=True)
    numeric = serializers.BooleanField()


class SqlError(serializers.Serializer):
    """A statement's error (``sqlconsole.held._error_dict``); further keys: position, cancelled_by…"""

    code = serializers.CharField()
    sqlstate = serializers.CharField(allow_blank=True, allow_null=True)
    message = serializers.CharField(allow_blank=True)
    detail = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    hint = serializers.CharField(allow_blank=True, allow_null=True, required=False)


class StatementResult(serializers.Serializer):
    index = serializers.IntegerField()
    sql = serializers.CharField(allow_blank=True)
    start = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=["ok", "error", "cancelled", "timeout", "skipped"])
    command = serializers.CharField(allow_blank=True)
    columns = ResultColumn(many=True)
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField(allow_null=True)))
    row_count = serializers.IntegerField(allow_null=True)
    has_more = serializers.BooleanField()
    cursor = serializers.CharField(allow_null=True)
    duration_ms = serializers.FloatField()
    notices = serializers.ListField(child=serializers.CharField(allow_blank=True))
    error = SqlError(allow_null=True)
    plan = serializers.DictField(allow_null=True, help_text="{raw, tree, analyze, rolled_back, wrote, hints, …}")
    truncated = serializers.BooleanField()


class RunResult(serializers.Serializer):
    query_id = serializers.CharField()
    mode = serializers.ChoiceField(choices=["read", "write"])
    duration_ms = serializers.FloatField()
    outcome = serializers.ChoiceField(choices=["ok", "error", "cancelled", "timeout"])
    messages = serializers.ListField(child=serializers.CharField(allow_blank=True))
    row_cap = serializers.IntegerField()
    max_bytes = serializers.IntegerField()
    results = StatementResult(many=True)


class CancelAnswer(serializers.Serializer):
    query_id = serializers.CharField()
    cancelled = serializers.BooleanField()


class MoreRows(serializers.Serializer):
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField(allow_null=True)))
    has_more = serializers.BooleanField()
    truncated = serializers.BooleanField()
    cursor = serializers.CharField(allow_null=True)
    columns = ResultColumn(many=True)
    duration_ms = serializers.FloatField()


class BiggestTable(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    total_bytes = serializers.IntegerField()
    total_size = serializers.CharField()
    estimated_rows = serializers.IntegerField(allow_null=True)


class RunningQuery(serializers.Serializer):
    pid = serializers.IntegerField()
    user = serializers.CharField(allow_null=True)
    application_name = serializers.CharField(allow_null=True, allow_blank=True)
    state = serializers.CharField(allow_null=True)
    running_ms = serializers.IntegerField(allow_null=True)
    query = serializers.CharField(allow_null=True, allow_blank=True, help_text="admins only (else null)")
    wait_event_type = serializers.CharField(allow_null=True)
    wait_event = serializers.CharField(allow_null=True)


class StatsSerializer(serializers.Serializer):
    database = serializers.CharField()
    size_bytes = serializers.IntegerField()
    size = serializers.CharField()
    max_connections = serializers.IntegerField()
    connections = serializers.IntegerField()
    active = serializers.IntegerField()
    idle_in_transaction = serializers.IntegerField()
    cache_hit_ratio = serializers.FloatField(allow_null=True)
    biggest_tables = BiggestTable(many=True)
    longest_queries = RunningQuery(many=True)
    query_text_shown = serializers.BooleanField()


class CompletionColumn(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    not_null = serializers.BooleanField()
    pk = serializers.BooleanField()
    fk = serializers.CharField(allow_null=True, help_text="the referenced table, if any")


class CompletionTable(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True)
    data_url = serializers.CharField()
    columns = CompletionColumn(many=True)


class CompletionFunction(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    args = serializers.CharField(allow_blank=True)


class CompletionSchema(serializers.Serializer):
    schema = serializers.DictField(child=serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
                                   help_text="{schema: {table: [columns]}}")
    default_schema = serializers.CharField()
    search_path = serializers.ListField(child=serializers.CharField())
    tables = CompletionTable(many=True)
    functions = CompletionFunction(many=True)


class HistoryEntrySerializer(serializers.ModelSerializer):
    """One history entry; ``time``/``when`` in the app's time zone, 24-hour (as every page prints times)."""

    started_at = IsoDateTimeField()
    time = serializers.SerializerMethodField()
    when = serializers.SerializerMethodField()

    class Meta:
        model = QueryHistory
        fields = ["id", "sql", "started_at", "time", "when", "duration_ms", "rows", "outcome", "error", "mode",
                  "explain", "target_name"]

    def get_time(self, entry: QueryHistory) -> str:
        return timezone.localtime(entry.started_at).strftime("%H:%M:%S")

    def get_when(self, entry: QueryHistory) -> str:
        return timezone.localtime(entry.started_at).strftime("%Y-%m-%d %H:%M:%S")


class HistoryList(serializers.Serializer):
    history = HistoryEntrySerializer(many=True)


class SavedQuerySerializer(serializers.ModelSerializer):
    """A saved query; ``mine`` says whether it is the caller's (``context["user"]``)."""

    owner = serializers.SerializerMethodField()
    mine = serializers.SerializerMethodField()
    updated_at = IsoDateTimeField()

    class Meta:
        model = SavedQuery
        fields = ["id", "name", "sql", "shared", "owner", "mine", "updated_at"]

    def get_owner(self, saved: SavedQuery) -> str:
        return str(saved.owner.get_username())

    def get_mine(self, saved: SavedQuery) -> bool:
        user: Any = self.context["user"]
        return bool(saved.owner_id == user.pk)


class SavedList(serializers.Serializer):
    saved = SavedQuerySerializer(many=True)
