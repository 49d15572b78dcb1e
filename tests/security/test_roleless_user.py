"""dave logged in without a role: every page and endpoint refuses him at the source, except his account.

The check is the login middleware's (HTML) and the API's default permission, so a new view that forgets
its own ``require()`` is still covered: the test walks every URL pattern the site has, including the ones
added after it was written, and fills their arguments with placeholders (the refusal comes before the
view, so the placeholders never reach a database).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Pages and endpoints of one's own account, and the public ones: reachable without a role.
OPEN_TO_ANY_LOGIN = {"login", "logout", "account", "tokens", "favicon", "api-schema",
                     "api-token", "api-tokens", "api-token-detail", "api-logout", "api-me", "api-health"}
PLACEHOLDER = {"int": "1", "str": "x", "path": "x", "slug": "x"}


def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def _concrete(route: str) -> str:
    """``api/tables/<str:schema>/<int:pk>`` → ``/api/tables/x/1`` (placeholders by converter)."""
    out, rest = "", route
    while "<" in rest:
        before, _, after = rest.partition("<")
        spec, _, rest = after.partition(">")
        converter = spec.split(":")[0] if ":" in spec else "str"
        out += before + PLACEHOLDER.get(converter, "x")
    return "/" + (out + rest).lstrip("^").rstrip("$")


def _routes() -> list[tuple[str, str]]:
    routes = []
    for route, pattern in _patterns(get_resolver()):
        if pattern.name in OPEN_TO_ANY_LOGIN or "(?P" in route:
            continue
        routes.append((pattern.name or route, _concrete(route)))
    return routes


@pytest.fixture
def dave(db):  # type: ignore[no-untyped-def]
    """dave: an account an admin created, before giving it a role."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("dave", password="a long enough password 1")


def test_every_page_refuses_a_user_without_a_role(dave, client_as) -> None:  # type: ignore[no-untyped-def]
    client = client_as(dave)
    routes = [(name, url) for name, url in _routes() if not url.startswith("/api/")]
    assert len(routes) > 15, routes  # the walk found the site's pages
    for name, url in routes:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 403, (name, method, url, response.status_code)
            if method == "get":
                assert b"This needs the" in response.content, (name, url)


def test_every_endpoint_refuses_a_user_without_a_role(dave, api_as) -> None:  # type: ignore[no-untyped-def]
    api = api_as(dave)
    routes = [(name, url) for name, url in _routes() if url.startswith("/api/")]
    assert len(routes) > 15, routes
    for name, url in routes:
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(api, method)(url, format="json")
            # 403 with the role message; 405 where the endpoint has no such method (refused first
            # anyway: DRF checks permissions before dispatching on the method)
            assert response.status_code in (403, 405), (name, method, url, response.status_code)
            if response.status_code == 403:
                assert "This needs the" in response.json()["error"]["message"], (name, url)


def test_a_user_without_a_role_still_has_his_account(dave, client_as, api_as) -> None:  # type: ignore[no-untyped-def]
    client = client_as(dave)
    assert client.get("/account").status_code == 200
    assert client.get("/tokens").status_code == 200
    me = api_as(dave).get("/api/me").json()
    assert me["role"] is None and me["capabilities"] == []


def test_the_refusal_is_audited(dave, client_as) -> None:  # type: ignore[no-untyped-def]
    from core.models import AuditEntry

    client_as(dave).get("/")
    entry = AuditEntry.objects.filter(username="dave", action="refused").latest("pk")
    assert "view_target" in entry.target and "viewer role" in entry.message


def test_viewer_carol_still_reads_and_is_refused_users(carol, client_as) -> None:  # type: ignore[no-untyped-def]
    client = client_as(carol)
    assert client.get("/users").status_code == 403
    assert client.get("/account").status_code == 200
