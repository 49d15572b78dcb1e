"""DRF serializers of the model map API: models, tables, the ER graph and saved diagram positions.

Models and tables are described by the project's child process (``core.child.pgadmin_protocol``:
``ModelInfo``, ``TableInfo``, ``RelationshipInfo``, where most keys are optional); their columns,
properties and constraints vary with the project's SQLAlchemy and stay JSON objects here.
"""

from __future__ import annotations

from rest_framework import serializers

from core.serializers import ErrorBody


def _objects(**kwargs: object) -> serializers.ListField:
    """A list of JSON objects (a new field each time: a DRF field instance belongs to one parent)."""
    return serializers.ListField(child=serializers.DictField(), **kwargs)  # type: ignore[arg-type]


class RelationshipSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(required=False)
    target = serializers.CharField(allow_null=True)
    target_table = serializers.CharField(allow_null=True, required=False)
    direction = serializers.CharField(allow_null=True, required=False, help_text="1:N | N:1 | 1:1 | N:M")
    secondary = serializers.CharField(allow_null=True, required=False)
    back_populates = serializers.CharField(allow_null=True, required=False)
    cascade = serializers.ListField(child=serializers.CharField(), required=False)
    lazy = serializers.CharField(required=False)


class ModelSerializer(serializers.Serializer):
    """One mapped class (``ModelInfo``)."""

    name = serializers.CharField()
    qualname = serializers.CharField()
    key = serializers.CharField()
    module = serializers.CharField(required=False)
    table = serializers.CharField(allow_null=True)
    columns = _objects()
    relationships = RelationshipSerializer(many=True)
    properties = _objects(required=False)
    inheritance = serializers.DictField(allow_null=True, required=False)
    errors = _objects(required=False)
    partial = serializers.BooleanField(required=False)
    drift = _objects(required=False, help_text="this table's drift (?drift=1)")


class TableSerializer(serializers.Serializer):
    """One table of the models' metadata or of the database (``TableInfo``)."""

    id = serializers.CharField()
    schema = serializers.CharField(allow_null=True, required=False)
    name = serializers.CharField()
    columns = _objects()
    primary_key = serializers.ListField(child=serializers.CharField(), required=False)
    constraints = _objects(required=False)
    indexes = _objects(required=False)
    in_database = serializers.BooleanField(allow_null=True, required=False)


class ModelDrift(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.JSONField(allow_null=True)
    source = serializers.CharField(allow_null=True)
    note = serializers.CharField(allow_null=True, allow_blank=True)
    pending = serializers.BooleanField()


class ModelMapSerializer(serializers.Serializer):
    found_by = serializers.CharField(allow_null=True)
    base = serializers.CharField(allow_null=True)
    sqlalchemy_version = serializers.CharField(allow_null=True)
    models = ModelSerializer(many=True)
    partial = serializers.IntegerField()
    tables = TableSerializer(many=True)
    unmapped_tables = TableSerializer(many=True)
    errors = _objects()
    runner_error = serializers.DictField(allow_null=True)
    database_error = ErrorBody(allow_null=True)
    drift = ModelDrift()
    elapsed_ms = serializers.FloatField(allow_null=True)


class ModelDetailSerializer(ModelSerializer):
    table_detail = TableSerializer(allow_null=True)


class ModelRelationships(serializers.Serializer):
    model = serializers.CharField()
    table = serializers.CharField(allow_null=True)
    relationships = RelationshipSerializer(many=True)


class ErdColumn(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(allow_blank=True)
    pk = serializers.BooleanField()
    fk = serializers.BooleanField()
    nullable = serializers.BooleanField()
    key = serializers.CharField(allow_blank=True)


class ErdTable(serializers.Serializer):
    id = serializers.CharField()
    schema = serializers.CharField()
    name = serializers.CharField()
    data_id = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    mapped = serializers.BooleanField()
    association = serializers.BooleanField()
    external = serializers.BooleanField()
    columns = ErdColumn(many=True)


class ErdEdgeRelationship(serializers.Serializer):
    model = serializers.CharField()
    name = serializers.CharField()
    target = serializers.CharField(allow_null=True)
    direction = serializers.CharField(allow_null=True)
    secondary = serializers.CharField(allow_null=True)
    cascade = serializers.CharField(allow_null=True, allow_blank=True)
    passive_deletes = serializers.JSONField(allow_null=True, help_text="true, false or 'all'")


class ErdEdge(serializers.Serializer):
    id = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    ref_columns = serializers.ListField(child=serializers.CharField())
    constraint = serializers.CharField(allow_null=True)
    ondelete = serializers.CharField(allow_null=True)
    onupdate = serializers.CharField(allow_null=True)
    cardinality = serializers.ChoiceField(choices=["1:1", "N:1"])
    relationships = ErdEdgeRelationship(many=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField()  # a Python keyword: added by name
        fields["to"] = serializers.CharField()
        return fields


class ErdTableRef(serializers.Serializer):
    id = serializers.CharField()
    data_id = serializers.CharField()


class ErdSerializer(serializers.Serializer):
    tables = ErdTable(many=True)
    relationships = ErdEdge(many=True)
    focus = serializers.CharField(required=False, help_text="with ?focus=")
    hops = serializers.IntegerField(required=False, help_text="with ?focus=")
    source = serializers.ChoiceField(choices=["models", "database"])
    all_tables = ErdTableRef(many=True)


class Position(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()


class Positions(serializers.Serializer):
    positions = serializers.DictField(child=Position(), help_text="{schema.table: {x, y}}")
