"""The small error vocabulary shared by the HTML views and the API.

Every expected failure is an ``AppError`` with a stable ``code``, an HTTP ``status``, a plain
``message`` and a ``hint`` that says how to fix it. The DRF exception handler
(``core.api_errors``) renders it as ``{"error": {"code", "message", "hint"}}``;
``core.middleware.AppErrorMiddleware`` renders the same error as a page. Nothing here ever shows a
traceback unless ``PGADMIN_DEBUG=1``.
"""

from __future__ import annotations

import logging
from typing import Any

from core.logging import scrub

log = logging.getLogger(__name__)


class AppError(Exception):
    """An expected failure with a code, an HTTP status, a message and a hint."""

    code = "error"
    status = 400
    default_message = "The request could not be completed."
    default_hint = ""

    def __init__(self, message: str | None = None, *, hint: str | None = None, code: str | None = None,
                 status: int | None = None, detail: dict[str, Any] | None = None) -> None:
        self.message = scrub(message or self.default_message)
        self.hint = scrub(hint if hint is not None else self.default_hint)
        if code:
            self.code = code
        if status:
            self.status = status
        self.detail = detail or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.detail:
            body["detail"] = self.detail
        return body


class BadRequest(AppError):
    code, status = "bad_request", 400


class NotFound(AppError):
    code, status = "not_found", 404
    default_message = "Not found."


class Forbidden(AppError):
    code, status = "forbidden", 403
    default_message = "Your role does not allow this action."
    default_hint = "Ask an admin to give you the editor or admin role."


class ReadOnlyMode(AppError):
    code, status = "read_only", 403
    default_message = "The tool runs in read-only mode (PGADMIN_READ_ONLY=1): every write is disabled."
    default_hint = "Restart without PGADMIN_READ_ONLY=1 to allow changes."


class Conflict(AppError):
    code, status = "conflict", 409


class TargetUnavailable(AppError):
    code, status = "database_unavailable", 503
    default_message = "The target PostgreSQL database cannot be reached."
    default_hint = "Check DATABASE_URL and that the server is running; the page recovers by itself once it answers."


class TargetNotConfigured(TargetUnavailable):
    """No target database is known (or its URL is not a PostgreSQL URL): raised by
    ``core.target.connect()`` and ``target_url()``, so every page and endpoint answers 503 with the fix."""

    default_message = "No target database is configured: DATABASE_URL is not set and no embedded server was started."
    default_hint = ("Set PGADMIN_DATABASE_URL (or DATABASE_URL)=postgresql://user:password@host:5432/db and restart, "
                    "or start with `python manage.py serve` for the embedded server.")


class TargetBusy(AppError):
    code, status = "database_busy", 503
    default_message = "Every connection to the target database is in use right now."
    default_hint = ("Try again in a moment. Long exports or console results hold connections; "
                    "an admin can see them on the dashboard (connections) and in /sql stats.")


class QueryTimeout(AppError):
    code, status = "statement_timeout", 408
    default_message = "The query was cancelled by the statement timeout."
    default_hint = "Narrow the query (filters, an index) or raise PGADMIN_STATEMENT_TIMEOUT."


class AuditUnavailable(AppError):
    """The internal database refused the audit entry of a write: the write is rolled back (or, in
    the SQL console, never started), so no change is ever left unaudited (``core.audit.audited_write``)."""

    code, status = "audit_unavailable", 503
    default_message = "The change was not made: its audit entry could not be written."
    default_hint = ("The tool's own database refused the audit entry; nothing was changed. Check the internal "
                    "database (disk space, PGADMIN_INTERNAL_DATABASE_URL) and try again.")


class Throttled(AppError):
    code, status = "throttled", 429
