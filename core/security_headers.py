"""HTTP hardening of every answer: a Content-Security-Policy, ``Cache-Control: no-store``, and
the last line of defence that turns hostile-input crashes into 4xx answers.

* **CSP.** ``script-src 'self'``: every script is a file under ``static/``; templates hold no inline
  script and no ``on…=`` handler (data reaches scripts through ``data-*`` attributes or
  ``<script type="application/json">`` blocks, which are never executed). ``style-src 'self'`` plus
  the hash of the ER diagram's own ``<style>`` (the diagram is a standalone SVG whose exported file
  needs it). Inline ``style="…"`` *attributes* are allowed (``style-src-attr 'unsafe-inline'``):
  the EXPLAIN plan tree and the revision graph size their bars with per-node CSS variables. An
  attribute cannot hold selectors, so it can neither read the page nor load anything that
  ``img-src``/``font-src`` would not allow; ``<style>`` elements and ``<link>`` sheets stay
  ``'self'`` — except on the SQL console (``INLINE_STYLE_ELEMENT_PATHS``), whose editor inserts
  its theme as ``<style>`` elements. ``connect-src 'self'`` covers ``fetch`` and the same-origin WebSocket of the live run
  log (CSP 3: ``'self'`` matches ``ws:``/``wss:`` of the same host and port).
* **no-store.** Pages and API answers show target data (rows, exports, SQL results, the audit
  log): no browser or proxy cache may keep them. Static files (served before this middleware by
  WhiteNoise) keep their own caching.
* **Errors.** A request that makes the JSON parser recurse (``[[[[…]]]]`` 100 000 deep), a value
  holding a NUL byte that reached the driver, a relation the target role may not read, and an
  exhausted connection pool are answered 400 / 400 / 403 / 503 with a hint, whatever view raised
  them. Views map these themselves where they can; this is the net under all of them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.exceptions import AppError, BadRequest

log = logging.getLogger("core.security")

PRIVILEGE_HINT = ("The target role lacks the privilege. Grant it (GRANT SELECT ON … TO <role>), set "
                  "PGADMIN_READER_DATABASE_URL to a role that may read it, or browse another relation.")


def _style_hashes() -> list[str]:
    """``'sha256-…'`` of the inline ``<style>`` blocks the tool itself renders (the ER diagram's)."""
    hashes = []
    try:
        from modelmap.services import erd_style

        style = erd_style()
    except ImportError:  # pragma: no cover - the app is always installed
        style = None
    if isinstance(style, str):
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    return hashes


# Pages whose scripts insert <style> elements: the SQL console's CodeMirror editor (style-mod
# mounts its theme as a <style> tag in a document). Their policy allows inline style *elements*
# ('unsafe-inline' for styles only; scripts stay 'self'). To drop this, the console passes a
# per-request nonce to ``EditorView.cspNonce`` and the policy names that nonce instead.
INLINE_STYLE_ELEMENT_PATHS = ("/sql",)


@cache
def content_security_policy(inline_style_elements: bool = False) -> str:
    """The policy text (built once per variant: it depends only on the code)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # a hash next to 'unsafe-inline' would switch 'unsafe-inline' off: one or the other
        "style-src": ["'self'", "'unsafe-inline'"] if inline_style_elements else ["'self'", *_style_hashes()],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
    extra = getattr(settings, "CSP_EXTRA", "")
    text = "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())
    return f"{text}; {extra}" if extra else text


def _json_or_page(request: HttpRequest, error: AppError) -> HttpResponse:
    from core.middleware import render_error

    return render_error(request, error)


def error_for(exc: BaseException) -> AppError | None:
    """The 4xx/503 an exception stands for, or None when it is a genuine bug (left to the 500 path)."""
    if isinstance(exc, RecursionError):
        return BadRequest("The request body is nested too deeply.", code="too_deep",
                          hint="Send flat JSON: a row is one object of column → value.")
    if isinstance(exc, PoolTimeout):
        return AppError("Every connection to the database is busy; nothing was changed by this request.",
                        code="database_busy", status=503,
                        hint="Try again in a moment. Long exports and held console results use connections: "
                             "finish or cancel them.")
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
        return BadRequest("PostgreSQL text cannot contain NUL (0x00) characters.", code="nul_character",
                          hint="Remove the NUL byte (%00) from the name, key or value.")
    if isinstance(exc, DBAPIError):
        orig = getattr(exc, "orig", None)
        state = getattr(orig, "sqlstate", None) or ""
        if state == "42501":
            first = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else "permission denied"
            return AppError(f"The database refused: {first}.", code="insufficient_privilege", status=403,
                            hint=PRIVILEGE_HINT)
        if not state and "NUL (0x00)" in str(orig or exc):
            return error_for(ValueError("NUL (0x00)"))
    return None


class SecurityHeadersMiddleware:
    """Adds the CSP and ``no-store`` to every answer; maps hostile-input crashes to 4xx.

    Sync and async capable (Daphne serves ASGI: no thread hop just to set two headers)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        response = self.get_response(request)
        add_headers(request, response)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = await self.get_response(request)
        add_headers(request, response)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        error = error_for(exc)
        if error is None:
            return None
        log.warning("Refused %s %s: %s (%s)", request.method, request.path.encode("unicode_escape").decode(),
                    error.code, type(exc).__name__)
        return _json_or_page(request, error)


def add_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    """The CSP everywhere; ``no-store`` on everything that is not a static file."""
    relaxed = any(request.path == p or request.path.startswith(p + "/") for p in INLINE_STYLE_ELEMENT_PATHS)
    response.headers.setdefault("Content-Security-Policy", content_security_policy(relaxed))
    if not request.path.startswith(settings.STATIC_URL):
        # replace, not patch: a max-age set by a view must not survive next to no-store
        response.headers["Cache-Control"] = "no-store, private"
        response.headers.pop("Expires", None)
