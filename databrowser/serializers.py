"""DRF serializers of the data browser API: tables, a table's schema, data pages, rows, deletes.

A row is the target table's own data: ``{column: value}`` with JSON-safe values
(``databrowser.formatting.jsonable``), so rows stay free-form JSON objects here.
"""

from __future__ import annotations

from rest_framework import serializers


def _row() -> serializers.DictField:
    """A row (a new field each time: a DRF field instance belongs to one parent)."""
    return serializers.DictField(help_text="{column: value}: the table's own data")


class TableListItem(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    read_only = serializers.BooleanField()
    estimated_rows = serializers.IntegerField(allow_null=True, help_text="null: unknown (never analysed)")
    size_bytes = serializers.IntegerField(allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    slug = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField(), help_text="the models mapped to the table")
    has_model = serializers.BooleanField()


class TableList(serializers.Serializer):
    tables = TableListItem(many=True)


class ColumnReference(serializers.Serializer):
    table = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())


class ColumnSchema(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    kind = serializers.CharField()
    nullable = serializers.BooleanField()
    has_default = serializers.BooleanField()
    identity_always = serializers.BooleanField()
    primary_key = serializers.BooleanField()
    enum_values = serializers.ListField(child=serializers.CharField(), allow_null=True)
    max_length = serializers.IntegerField(allow_null=True)
    sortable_indexed = serializers.BooleanField()
    references = ColumnReference(allow_null=True)


class ReferencedBy(serializers.Serializer):
    table = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    ref_columns = serializers.ListField(child=serializers.CharField())
    on_delete = serializers.CharField()
    constraint = serializers.CharField()


class TableSchema(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    primary_key = serializers.ListField(child=serializers.CharField())
    writable = serializers.BooleanField()
    read_only_reason = serializers.CharField(allow_blank=True, allow_null=True)
    label_column = serializers.CharField(allow_null=True)
    estimated_rows = serializers.IntegerField(allow_null=True)
    columns = ColumnSchema(many=True)
    referenced_by = ReferencedBy(many=True)


class DataPage(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=_row())
    row_versions = serializers.ListField(child=serializers.CharField(allow_null=True), allow_null=True,
                                         help_text="each row's xmin (null for views)")
    paging = serializers.ChoiceField(choices=["keyset", "offset", "scan"])
    next_cursor = serializers.CharField(allow_null=True)
    prev_cursor = serializers.CharField(allow_null=True)
    page = serializers.IntegerField(allow_null=True)
    has_next = serializers.BooleanField()
    has_prev = serializers.BooleanField()
    page_size = serializers.IntegerField()
    total_estimate = serializers.IntegerField(allow_null=True)
    table_estimate = serializers.IntegerField(allow_null=True)
    total_exact = serializers.IntegerField(required=False, help_text="with ?exact_count=1")
    search = serializers.DictField(required=False, help_text="with ?q=: the search plan and its progress")
    hint = serializers.CharField(required=False, help_text="a sort no index serves")
    hint_sql = serializers.CharField(required=False, allow_null=True)


class RowAnswer(serializers.Serializer):
    row = _row()
    version = serializers.CharField(allow_null=True, help_text="the row's xmin, also sent as ETag")
    cells = serializers.DictField(child=serializers.CharField(), required=False,
                                  help_text="with ?cells=true: {column: its grid cell as HTML}")


class CascadeStep(serializers.Serializer):
    table = serializers.CharField()
    schema = serializers.CharField()
    name = serializers.CharField()
    action = serializers.CharField()
    count = serializers.IntegerField(allow_null=True)
    via = serializers.CharField()
    depth = serializers.IntegerField()


class OrmCascade(serializers.Serializer):
    model = serializers.CharField(allow_null=True)
    relationship = serializers.CharField(allow_null=True)
    target = serializers.CharField(allow_null=True)
    target_table = serializers.CharField(allow_null=True)
    cascade = serializers.CharField(allow_blank=True)
    db_cascades = serializers.BooleanField()


class DeleteAnswer(serializers.Serializer):
    """``?preview=1``: what a delete would cascade to; otherwise the deleted rows."""

    deleted = serializers.IntegerField(required=False)
    rows = serializers.JSONField(help_text="preview: the count of rows; delete: the deleted rows")
    blocked = serializers.BooleanField(required=False)
    steps = CascadeStep(many=True, required=False)
    orm_cascades = OrmCascade(many=True, required=False)



# ?format=json of the export: every matching row (a raw schema: drf-spectacular takes no bare ListField)
EXPORT_ROWS = {"type": "array", "items": {"type": "object", "additionalProperties": {},
                                          "description": "{column: value}: the table's own data"}}


class ColumnLayout(serializers.Serializer):
    """The caller's grid layout of a table: every column in display order, the hidden ones, saved widths."""

    order = serializers.ListField(child=serializers.CharField())
    hidden = serializers.ListField(child=serializers.CharField())
    widths = serializers.DictField(child=serializers.IntegerField(), help_text="{column: width in px}")


class ColumnLayoutUpdate(serializers.Serializer):
    """A PUT names only the parts it replaces."""

    order = serializers.ListField(child=serializers.CharField(), required=False)
    hidden = serializers.ListField(child=serializers.CharField(), required=False)
    widths = serializers.DictField(child=serializers.FloatField(), required=False)
