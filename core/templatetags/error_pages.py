"""``{% error_actions status as actions %}``: the way out an error page offers, chosen by what failed.

A "Try again" that reloads the same address only helps when the failure can pass (a busy or
unreachable database, a timeout, a conflict with a run): for a refusal (403) or a missing page (404)
it loads the same answer again. Those get the page the user came from (the ``Referer``, when it is
this site and another page), the list of the section the address belongs to ("Back to the table
list" for a missing table) and the dashboard.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import template
from django.utils.http import url_has_allowed_host_and_scheme

register = template.Library()

RETRYABLE = {408, 409, 423, 429, 500, 502, 503, 504}
# (path prefix, the section's list page, its label): the most specific prefix first
SECTIONS = [
    ("/data", "/data", "Back to the table list"),
    ("/alembic", "/alembic", "Back to the migrations"),
    ("/models", "/models", "Back to the models"),
    ("/er-diagram", "/er-diagram", "Back to the ER diagram"),
    ("/sql", "/sql", "Back to the SQL console"),
    ("/audit", "/audit", "Back to the audit log"),
    ("/users", "/users", "Back to the users"),
]


def _back(request: Any) -> str:
    """The same-site page the browser came from, as a path (never another site, never this page)."""
    referer = request.headers.get("Referer", "")
    if not referer or not url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                          require_https=request.is_secure()):
        return ""
    parts = urlsplit(referer)
    path = parts.path or "/"
    if path == request.path or path.startswith(("/login", "/logout")):
        return ""
    return path + (f"?{parts.query}" if parts.query else "")


@register.simple_tag(takes_context=True)
def error_actions(context: Any, status: int | str) -> list[dict[str, str]]:
    request = context.get("request")
    if request is None:
        return [{"label": "Go to the dashboard", "href": "/", "kind": "primary"}]
    status = int(status or 0)
    actions: list[dict[str, str]] = []
    if status in RETRYABLE and request.method == "GET":
        actions.append({"label": "Try again", "href": request.get_full_path(), "kind": "primary"})
    back = _back(request)
    if back:
        actions.append({"label": "Back", "href": back, "kind": "" if actions else "primary"})
    if status != 403:  # the section of a refused page is usually refused too
        for prefix, href, label in SECTIONS:
            if (request.path == prefix or request.path.startswith(prefix + "/")) and request.path != href \
                    and href != back:
                actions.append({"label": label, "href": href, "kind": "" if actions else "primary"})
                break
    if request.path != "/":
        actions.append({"label": "Go to the dashboard", "href": "/", "kind": "" if actions else "primary"})
    return actions
