"""The DRF exception handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): every API error as ``{"error": …}``.

Kept apart from ``core.exceptions`` because it translates driver errors with ``core.target``, which
itself raises that vocabulary: one module importing the other, never both ways.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.exceptions import AppError
from core.target import translate_error


def _drf_error(exc: drf_exceptions.APIException) -> tuple[int, dict[str, Any]]:
    status = exc.status_code
    code = exc.default_code if isinstance(exc.default_code, str) else "error"
    hint = ""
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        status, code = 401, "not_authenticated"
        hint = "Log in, or send 'Authorization: Token <key>' (get one with POST /api/auth/token)."
    elif isinstance(exc, drf_exceptions.PermissionDenied):
        hint = "Ask an admin for a role that allows this action."
    elif isinstance(exc, drf_exceptions.ValidationError):
        code = "invalid"
        hint = "Fix the fields listed in detail and send the request again."
        return status, {"code": code, "message": "Some fields are not valid.", "hint": hint,
                        "detail": exc.detail}
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return status, {"code": code, "message": str(message), "hint": hint}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes ``{"error": {code, message, hint}}``."""
    if isinstance(exc, AppError):
        return Response({"error": exc.as_dict()}, status=exc.status)
    if isinstance(exc, DBAPIError | PoolTimeout):  # a dead or saturated database is a 503, never a 500
        translated = translate_error(exc)
        if isinstance(translated, AppError):
            return Response({"error": translated.as_dict()}, status=translated.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, drf_exceptions.APIException):
        status, body = _drf_error(exc)
        response = Response({"error": body}, status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Token realm="api"'
        return response
    # Unexpected: let DRF's default (None -> Django's 500 handling) apply, but log it scrubbed.
    return exception_handler(exc, context)
