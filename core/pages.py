"""Pages first, details after: what the views share to render at once and fill the slow parts later.

A page that needs the project (the dashboard, /alembic, a revision, /models, the ER diagram) renders
what is cached (``core.cache``) at once; every part still to be computed is the placeholder
``core/_fill.html``: a sentence that says what it waits for, a ``data-fill`` URL that
``static/core/fill.js`` fetches, and a ``<noscript>`` link to the same page with ``?wait=1``, which
computes everything before answering (as every page does with ``PGADMIN_PAGES_FIRST=0``).

The fragment views answer HTML whose top-level elements carry the placeholders' ids; a failure
(``AppError``: a child that crashed, no database) answers the same ids with the message and the hint,
so the error shows in place with the status of the error, never as a 500 page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from core.exceptions import AppError


def pages_first(request: HttpRequest) -> bool:
    """Render at once with what is cached (else wait: ``?wait=1``, ``?refresh=1``, PGADMIN_PAGES_FIRST=0)."""
    return bool(getattr(settings, "PAGES_FIRST", True)) and request.GET.get("wait") != "1" \
        and request.GET.get("refresh") != "1"


def wait_url(request: HttpRequest, path: str | None = None) -> str:
    """The page (``path``, else the request's) with ``?wait=1``: the no-JS way to get it whole."""
    query = request.GET.copy()
    query.pop("refresh", None)
    query["wait"] = "1"
    return f"{path or request.path}?{query.urlencode()}"


def fill_url(path: str, request: HttpRequest | None = None, keep: tuple[str, ...] = ()) -> str:
    """A fragment URL carrying the page's parameters named in ``keep`` (e.g. the search ``q``)."""
    if request is None or not keep:
        return path
    query = request.GET.copy()
    for name in list(query):
        if name not in keep:
            query.pop(name)
    return f"{path}?{query.urlencode()}" if query else path


def fragment(request: HttpRequest, ids: list[str], build: Callable[[], tuple[str, dict[str, Any]]],
             page: str | None = None) -> HttpResponse:
    """Render ``build()``'s (template, context) as a fragment; an ``AppError`` as that error in place."""
    try:
        template, context = build()
        response = render(request, template, context)
    except AppError as exc:
        response = render(request, "core/_fill_error.html",
                          {"ids": ids, "error": exc, "sync": wait_url(request, page) if page else ""},
                          status=exc.status)
    add_never_cache_headers(response)  # a fragment is an answer of this moment, never one to reuse
    return response
