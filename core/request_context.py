"""The request being served, in a context variable set by ``core.middleware.AppErrorMiddleware``.

A module of its own, importing nothing of the project, so that ``core.target`` (a viewer reads as
the reader role) and ``core.roles`` (refusals are audited with the user's address) can ask for the
request without importing ``core.audit``, which imports them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_current_request: ContextVar[Any] = ContextVar("pgadmin_current_request", default=None)


def set_current_request(request: Any) -> Any:
    """Remember the request this thread/task serves; returns the token to reset it."""
    return _current_request.set(request)


def reset_current_request(token: Any) -> None:
    _current_request.reset(token)


def current_request() -> Any:
    """The request being served, or None (management commands, background work)."""
    return _current_request.get()
