"""DRF serializers of the Alembic API: runs (internal DB) and the answers of ``migrations_ui.services``.

Revision metadata comes from the project's child process (``core.child.pgadmin_protocol``); its
shape is described here field by field, and only the parts that are free-form by nature (a post-run
check, a safety finding's extra keys) are left as JSON.
"""

from __future__ import annotations

from rest_framework import serializers

from core.serializers import IsoDateTimeField, MessageHint
from migrations_ui.liveness import waiting_note
from migrations_ui.models import Run, RunLine


class RunLineSerializer(serializers.ModelSerializer):
    at = IsoDateTimeField()

    class Meta:
        model = RunLine
        fields = ["seq", "at", "kind", "text"]


class RunBackup(serializers.Serializer):
    requested = serializers.BooleanField(source="backup_requested")
    path = serializers.SerializerMethodField()
    bytes = serializers.IntegerField(source="backup_bytes", allow_null=True)
    duration_ms = serializers.FloatField(source="backup_ms", allow_null=True)

    def get_path(self, run: Run) -> str | None:
        return run.backup_path or None


class RunSerializer(serializers.ModelSerializer):
    """A run as ``/api/alembic/runs`` lists it (``RunDetailSerializer`` adds the log lines)."""

    user = serializers.CharField(source="username", allow_blank=True)
    created_at = IsoDateTimeField()
    started_at = IsoDateTimeField(allow_null=True)
    finished_at = IsoDateTimeField(allow_null=True)
    from_revisions = serializers.ListField(child=serializers.CharField())
    to_revisions = serializers.ListField(child=serializers.CharField(), allow_null=True)
    backup = RunBackup(source="*")
    duration_ms = serializers.FloatField(allow_null=True, read_only=True)
    steps = serializers.ListField(child=serializers.DictField(), help_text="[{revision, direction, status, duration_ms}]")
    check = serializers.JSONField(source="post_check", allow_null=True, help_text="free-form: the post-run check")
    error = serializers.SerializerMethodField()
    hint = serializers.SerializerMethodField()
    traceback = serializers.SerializerMethodField()
    executor = serializers.SerializerMethodField(help_text='who executes it: "web pid 41 on host", "worker pid 57 on host"')
    executor_pid = serializers.IntegerField(allow_null=True, read_only=True)
    waiting = serializers.SerializerMethodField(help_text="a run queued for a worker: what it waits for (else null)")

    class Meta:
        model = Run
        fields = ["id", "kind", "target", "status", "user", "database", "target_name", "created_at", "started_at", "finished_at",
                  "from_revisions", "to_revisions", "backup", "duration_ms", "migrate_ms", "steps", "check",
                  "error", "hint", "traceback", "executor", "executor_pid", "waiting"]

    def get_error(self, run: Run) -> str | None:
        return run.error or None

    def get_hint(self, run: Run) -> str | None:
        return run.hint or None

    def get_traceback(self, run: Run) -> str | None:
        return run.traceback or None

    def get_executor(self, run: Run) -> str | None:
        return run.executor or None

    def get_waiting(self, run: Run) -> str | None:
        return waiting_note(run)


class RunDetailSerializer(RunSerializer):
    lines = RunLineSerializer(many=True, source="lines.all")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "lines"]


class RunList(serializers.Serializer):
    runs = RunSerializer(many=True)


class RunStarted(serializers.Serializer):
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.CharField()


# --- history -----------------------------------------------------------------------------------

class RevisionSerializer(serializers.Serializer):
    revision = serializers.CharField()
    down_revisions = serializers.ListField(child=serializers.CharField())
    depends_on = serializers.ListField(child=serializers.CharField())
    branch_labels = serializers.ListField(child=serializers.CharField())
    doc = serializers.CharField(allow_blank=True)
    create_date = serializers.CharField(allow_null=True)
    author = serializers.CharField(allow_null=True, required=False)
    module_path = serializers.CharField()
    is_head = serializers.BooleanField()
    is_base = serializers.BooleanField()
    is_branch_point = serializers.BooleanField()
    is_merge = serializers.BooleanField()
    is_current = serializers.BooleanField()
    is_applied = serializers.BooleanField()
    is_pending = serializers.BooleanField()


class SchemaState(serializers.Serializer):
    schema = serializers.CharField(allow_null=True)
    version_table = serializers.CharField()
    current = serializers.ListField(child=serializers.CharField())
    pending_count = serializers.IntegerField()
    shown = serializers.BooleanField()


class StrayState(MessageHint):
    files = serializers.ListField(child=serializers.CharField())
    count = serializers.IntegerField()


class HistorySerializer(serializers.Serializer):
    revisions = RevisionSerializer(many=True)
    heads = serializers.ListField(child=serializers.CharField())
    current = serializers.ListField(child=serializers.CharField())
    state_error = MessageHint(allow_null=True)
    applied_count = serializers.IntegerField()
    pending_count = serializers.IntegerField()
    version_table = serializers.CharField()
    schemas = SchemaState(many=True)
    stray = StrayState(allow_null=True)
    multiple_heads = serializers.BooleanField()
    merge_command = serializers.CharField(allow_blank=True)


class CurrentSerializer(serializers.Serializer):
    current = serializers.ListField(child=serializers.CharField())


class RevisionSql(serializers.Serializer):
    ok = serializers.BooleanField()
    sql = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    range = serializers.CharField()
    note = serializers.CharField(allow_blank=True, allow_null=True)
    findings = serializers.ListField(child=serializers.DictField())


class RevisionDetailSerializer(serializers.Serializer):
    revision = serializers.DictField(help_text="the revision as in the history, with its graph row")
    source = serializers.CharField(allow_blank=True)
    current = serializers.ListField(child=serializers.CharField())
    body_warnings = serializers.ListField(child=serializers.DictField())
    diff = serializers.JSONField(help_text="free-form: the revision's diffs against its parents")
    sql_pending = serializers.BooleanField()
    upgrade_sql = RevisionSql(required=False, help_text="absent with ?sql=0")
    downgrade_sql = RevisionSql(required=False, help_text="absent with ?sql=0")


class DryRunSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    hint = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    statements = serializers.ListField(child=serializers.CharField())
    skipped = serializers.ListField(child=serializers.JSONField(), required=False)
    version_table_unchanged = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=["upgrade", "downgrade"])
    target = serializers.CharField()
    before = serializers.ListField(child=serializers.CharField())
    after = serializers.ListField(child=serializers.CharField())
    findings = serializers.ListField(child=serializers.DictField())


# --- drift and backups -------------------------------------------------------------------------------

class DriftDifference(serializers.Serializer):
    kind = serializers.CharField()
    schema = serializers.CharField(allow_null=True)
    table = serializers.CharField(allow_null=True)
    column = serializers.CharField(allow_null=True, required=False)
    detail = serializers.CharField(allow_blank=True)


class DriftFallback(MessageHint):
    found_by = serializers.CharField(allow_null=True)
    base = serializers.CharField(allow_null=True)
    models = serializers.IntegerField()
    tables = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True)
    errors = serializers.ListField(child=serializers.JSONField())


class DriftSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = MessageHint(allow_null=True)
    differences = DriftDifference(many=True)
    script = serializers.CharField(allow_blank=True)
    fallback = DriftFallback(allow_null=True)


class BackupSerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField()
    bytes = serializers.IntegerField()
    created_at = IsoDateTimeField()
    revisions = serializers.ListField(child=serializers.CharField(), allow_null=True)
    run_id = serializers.IntegerField(allow_null=True)
    user = serializers.CharField(allow_null=True, allow_blank=True)


class BackupList(serializers.Serializer):
    backups = BackupSerializer(many=True)
    keep = serializers.IntegerField()
