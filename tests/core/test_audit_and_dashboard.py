"""The audit page filters entries; the dashboard and health report the target truthfully."""

from __future__ import annotations

import pytest

from core import audit
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_audit_page_filters_by_user_action_and_outcome(client_as, alice, bob):
    audit.record(None, "rows.delete", "public.clients", user=bob, before={"id": 1}, after=None)
    audit.record(None, "rows.update", "public.brokers", user=alice, before={"name": "a"}, after={"name": "b"})
    audit.record(None, "login.failed", "mallory", outcome=AuditEntry.Outcome.FAILED, username="mallory")
    web = client_as(alice)
    page = web.get("/audit", {"user": "bob"}).content.decode()
    assert "public.clients" in page and "public.brokers" not in page
    page = web.get("/audit", {"outcome": "failed"}).content.decode()
    assert "mallory" in page and "public.clients" not in page
    page = web.get("/audit", {"action": "rows.update"}).content.decode()
    assert "public.brokers" in page and "public.clients" not in page


def test_audit_api_lists_before_and_after(api_as, alice):
    audit.record(None, "rows.update", "public.brokers", user=alice, before={"name": "a"}, after={"name": "b"})
    entries = api_as(alice).get("/api/audit", {"action": "rows."}).json()["entries"]
    assert [(e["before"], e["after"]) for e in entries] == [({"name": "a"}, {"name": "b"})]


def test_dashboard_shows_pending_count_tables_and_models_of_the_demo(client_as, carol, demo_url, settings):
    from core import target

    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    page = client_as(carol).get("/").content.decode()
    assert 'data-pending="2"' in page
    assert "Connected" in page
    assert "brokerbot.models:Base" in page
    target.dispose()


def test_health_reports_revision_pending_and_model_count_without_details(client, demo_url, settings):
    from core import target

    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    body = client.get("/api/health").json()
    target.dispose()
    assert body["status"] == "ok"
    assert body["alembic"]["migration"]["current"] == ["0007_clients_telegram_id"]
    assert body["alembic"]["migration"]["pending"] == 2
    assert body["models"]["count"] == 4
    assert "examples" not in str(body)  # no paths on the public endpoint


def test_unexpected_error_page_has_no_traceback_and_says_what_to_do(client_as, alice, settings, monkeypatch):
    from core import views

    def boom(*args, **kwargs):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(views, "project_status", boom)
    settings.DEBUG = False
    response = client_as(alice).get("/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "internal detail" not in body and "Traceback" not in body


def test_oversized_request_body_gets_413_with_a_hint_not_a_500(api_as, alice, settings):
    # found by fuzzing the OpenAPI schema: a 3 MB body made Django raise RequestDataTooBig
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api_as(alice).post("/api/users", {"username": "x" * 5000, "role": "viewer"}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["error"]["hint"]
