"""REST API of the model map: /api/models, /api/models/{name}, .../relationships, /api/erd.

``/api/erd/positions`` (GET, PUT merge, DELETE reset) keeps the caller's dragged ER-diagram
positions; any logged-in role may save its own (a preference, not a target write: not audited).
``/api/erd?format=svg`` draws the server's simple picture (layered placement, straight lines between
the key rows): what the page shows before ELK lays it out in the browser. Saved positions belong to
the browser's ELK layout, so this picture ignores them; the page's own "Export SVG" saves what is on
screen.
"""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import target
from modelmap import erd as erdlib
from modelmap import positions, services
from modelmap import serializers as s


class SVGRenderer(BaseRenderer):
    """``?format=svg``: the picture as is; errors still go out as JSON."""

    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, str):
            return data.encode("utf-8")
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode("utf-8")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


class ModelsView(APIView):
    """Every model with columns, relationships and inheritance; unmapped tables; import errors."""

    @extend_schema(parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL), OpenApiParameter("q", str),
                               OpenApiParameter("drift", OpenApiTypes.BOOL)], responses=s.ModelMapSerializer,
                   operation_id="models_list")
    def get(self, request: Request) -> Response:
        data = services.model_map(force=request.query_params.get("refresh") == "1",
                                  with_drift=request.query_params.get("drift") == "1",
                                  on=target.for_request_or_none(request))
        data["models"] = services.search(data["models"], request.query_params.get("q", ""))
        return Response(data)


class ModelDetailView(APIView):
    """One model by class name: columns, relationships, its table's constraints and indexes."""

    @extend_schema(responses=s.ModelDetailSerializer, operation_id="model_retrieve")
    def get(self, request: Request, name: str) -> Response:
        return Response(services.find_model(name, on=target.for_request_or_none(request)))


class ModelRelationshipsView(APIView):
    """The relationships of one model: target, direction, secondary, cascade, lazy, back_populates."""

    @extend_schema(responses=s.ModelRelationships, operation_id="model_relationships")
    def get(self, request: Request, name: str) -> Response:
        model = services.find_model(name, on=target.for_request_or_none(request))
        return Response({"model": model["key"], "table": model["table"], "relationships": model["relationships"]})


class ErdView(APIView):
    """The ER diagram as JSON {tables, relationships}, or ``?format=svg`` as the picture."""

    renderer_classes = [JSONRenderer, SVGRenderer]

    @extend_schema(parameters=[OpenApiParameter("source", str, enum=["models", "database"]),
                               OpenApiParameter("focus", str), OpenApiParameter("depth", int),
                               OpenApiParameter("hops", int, description="old name of depth"),
                               OpenApiParameter("columns", OpenApiTypes.BOOL),
                               OpenApiParameter("format", str, enum=["json", "svg"])],
                   responses={(200, "application/json"): s.ErdSerializer, (200, "image/svg+xml"): OpenApiTypes.STR},
                   operation_id="erd")
    def get(self, request: Request) -> Response:
        params = request.query_params
        depth = _int(params.get("depth") or params.get("hops"), 1)
        graph = services.erd(params.get("source", ""), params.get("focus", "").strip(), depth,
                             on=target.for_request_or_none(request))
        if request.accepted_renderer.format == "svg":
            svg = erdlib.render_svg(graph, params.get("columns", "1") != "0")
            return Response(svg, headers={"Content-Disposition": 'inline; filename="er-diagram.svg"'})
        return Response(graph)


class ErdPositionsView(APIView):
    """The caller's saved ER-diagram positions {table: {x, y}}: PUT merges (null forgets one), DELETE resets."""

    @extend_schema(responses=s.Positions, operation_id="erd_positions")
    def get(self, request: Request) -> Response:
        return Response({"positions": positions.load(request.user)})

    @extend_schema(request={"application/json": {"type": "object", "additionalProperties": {
        "type": "object", "nullable": True, "required": ["x", "y"],
        "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}}},
                   responses=s.Positions, operation_id="erd_positions_save")
    def put(self, request: Request) -> Response:
        return Response({"positions": positions.merge(request.user, request.data)})

    @extend_schema(responses={200: s.Positions}, operation_id="erd_positions_reset")
    def delete(self, request: Request) -> Response:
        positions.reset(request.user)
        return Response({"positions": {}})
