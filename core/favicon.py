"""``/favicon.ico``: the tool's icon (``static/core/favicon.svg``, drawn for it) for every client that
asks the conventional address — browsers on pages without the ``<link rel="icon">`` of base.html
(JSON answers, the API schema), bookmarks, feed readers — instead of a 404 in every log."""

from __future__ import annotations

from functools import cache

from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

ICON = "core/favicon.svg"


@cache
def _icon() -> bytes:
    path = finders.find(ICON)
    if not path:  # pragma: no cover - the file ships with the code
        raise FileNotFoundError(ICON)
    with open(path, "rb") as handle:
        return handle.read()


@login_not_required  # the login page asks for it too
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    # SVG served at the .ico address: every current browser reads the type from Content-Type.
    return HttpResponse(_icon(), content_type="image/svg+xml")
