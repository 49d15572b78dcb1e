"""The OpenAPI schema generator of the API: drf-spectacular's, plus the error vocabulary.

Every operation answers its errors as ``core.serializers.ErrorSerializer``
(``{"error": {code, message, hint, detail?}}``, see ``core.exceptions``), so each one declares
``4XX`` and ``5XX`` with that shape.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema with the shared error responses on every operation."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        from core.serializers import ErrorSerializer

        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in ("4XX", "5XX"):
            if code not in responses:  # an exact code an endpoint names (e.g. 409) still wins over the range
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
