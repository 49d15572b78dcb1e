"""Login everywhere, and errors rendered from the shared vocabulary (never a stack trace page).

``LoginRequiredMiddleware`` is Django's, with two exemptions: ``/api/`` (DRF answers 401 JSON
itself, ``/api/health`` is public) and static files. After login it checks the view's capability
(``core.roles.capability``; ``view_target`` by default), so a user without a role, or a page that
forgets its own check, is refused before any view code runs. ``AppErrorMiddleware`` turns an
``AppError`` — or an unexpected exception — into the error page or the JSON error body; the
traceback is shown (folded) only with ``PGADMIN_DEBUG=1`` and always logged with secrets masked.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from sqlalchemy.exc import DBAPIError

from core import request_context
from core.exceptions import AppError
from core.logging import scrub
from core.roles import DEFAULT_CAPABILITY, TARGET_WRITES, require, view_capability
from core.target import translate_error

log = logging.getLogger("core.errors")


class LoginRequiredMiddleware(DjangoLoginRequired):
    def process_view(self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any,
                     view_kwargs: Any) -> HttpResponseBase | None:
        if request.path.startswith(("/api/", settings.STATIC_URL)):
            return None
        response = super().process_view(request, view_func, view_args, view_kwargs)
        if response is not None or not getattr(view_func, "login_required", True):
            return response  # the login redirect, or a public page (login, favicon)
        needed = view_capability(view_func)
        if needed is None or needed in TARGET_WRITES:
            # write capabilities are checked by the view itself: its GET shows the read-only reason
            return None if needed is None else self._check(request, DEFAULT_CAPABILITY)
        return self._check(request, needed)

    @staticmethod
    def _check(request: HttpRequest, needed: str) -> HttpResponse | None:
        try:
            require(request.user, needed)
        except AppError as refused:
            return render_error(request, refused)
        return None


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def render_error(request: HttpRequest, error: AppError, tb: str = "") -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": error.as_dict()}, status=error.status)
    return render(request, "error.html", {"error": error, "traceback": tb if settings.DEBUG else ""},
                  status=error.status)


class AppErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The request in a context variable: a refusal deep in a service is audited with its IP.
        token = request_context.set_current_request(request)
        try:
            return self.get_response(request)
        finally:
            request_context.reset_current_request(token)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DBAPIError):
            translated = translate_error(exc)
            if isinstance(translated, AppError):
                exc = translated
        if isinstance(exc, AppError):
            return render_error(request, exc)
        from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
        from django.http import Http404

        if isinstance(exc, RequestDataTooBig):
            return render_error(request, AppError(
                "The request is too large.", code="too_large", status=413,
                hint=f"Send at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)} MB "
                     "(DATA_UPLOAD_MAX_MEMORY_SIZE); split a long SQL script into parts."))
        if isinstance(exc, SuspiciousOperation):
            log.warning("Refused a suspicious request on %s: %s", request.path, scrub(str(exc)))
            return render_error(request, AppError("The request was refused as malformed.", code="bad_request",
                                                  status=400, hint="Check the request's headers and body."))

        if isinstance(exc, Http404 | PermissionDenied):
            return None  # Django's own 404/403 handlers (our templates) apply
        tb = scrub(traceback.format_exc())
        # exc_info, not the traceback as an argument: arguments are escaped to one line (core.logging)
        log.error("Unexpected error on %s %s", request.method, request.path, exc_info=exc)
        error = AppError("Something went wrong on our side; nothing was changed by this request.",
                         hint="Reload the page. If it happens again, the server log has the details "
                              "(start with PGADMIN_DEBUG=1 to see them here).",
                         code="internal_error", status=500)
        return render_error(request, error, tb)
