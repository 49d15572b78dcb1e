"""No target database configured: every page and endpoint says so with the fix, never a 500.

``core.target.connect()`` raises ``TargetNotConfigured`` (a ``TargetUnavailable``, 503) itself, so
the DRF handler answers ``{"error": {code, message, hint}}`` and the HTML views the error page (or
their own card), with no translation at the call sites.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

API = ["/api/tables", "/api/tables/public.orders/schema", "/api/database/connection", "/api/database/schema",
       "/api/database/stats", "/api/erd?source=database"]
PAGES = ["/", "/data", "/data/public.orders", "/models", "/er-diagram", "/sql", "/alembic"]


@pytest.fixture
def no_target(settings):  # type: ignore[no-untyped-def]
    from core import target

    settings.TARGET_DATABASE_URL = ""
    target.set_target_url(None)
    yield
    target.set_target_url(None)


def test_without_a_target_the_api_answers_503_with_code_and_hint(no_target, alice, api_as):
    api = api_as(alice)
    for path in API:
        response = api.get(path)
        assert response.status_code == 503, (path, response.status_code)
        error = response.json()["error"]
        assert error["code"] == "database_unavailable", path
        assert "PGADMIN_DATABASE_URL" in error["hint"] and "DATABASE_URL is not set" in error["message"], path


def test_without_a_target_the_pages_say_so_and_never_fail(no_target, alice, client_as):
    from core.exceptions import TargetNotConfigured

    client = client_as(alice)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code in (200, 503), (path, response.status_code)
        assert "Something went wrong on our side" not in response.content.decode(), path
    page = client.get("/data/public.orders")
    body = page.content.decode()
    assert page.status_code == 503 and 'data-error-code="database_unavailable"' in body
    assert TargetNotConfigured.default_message.split(":")[0] in body and "PGADMIN_DATABASE_URL" in body


def test_a_url_that_is_not_postgresql_is_the_same_503_with_its_own_hint(alice, api_as, settings):
    from core import target

    settings.TARGET_DATABASE_URL = "mysql://u:p@db/app"
    target.set_target_url(None)
    try:
        response = api_as(alice).get("/api/tables")
    finally:
        target.set_target_url(None)
    error = response.json()["error"]
    assert response.status_code == 503 and "not PostgreSQL" in error["message"] and "postgresql://" in error["hint"]
