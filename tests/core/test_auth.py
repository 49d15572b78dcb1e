"""Login is required everywhere; roles decide writes; tokens work; failed logins are throttled."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["/", "/audit", "/alembic", "/data", "/sql", "/models", "/er-diagram", "/users"])
def test_anonymous_visitor_is_sent_to_login(client, page):
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


@pytest.mark.parametrize("endpoint", ["/api/me", "/api/status", "/api/users", "/api/audit", "/api/database/connection"])
def test_anonymous_api_call_gets_401_json_with_a_hint(client, endpoint):
    response = client.get(endpoint)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "not_authenticated"
    assert "Token" in error["hint"]


def test_health_is_public(client, target):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["database"]["status"] == "ok"


def test_password_login_lands_on_the_dashboard_and_is_audited(client, alice, target):
    response = client.post("/login", {"username": "alice", "password": PASSWORD, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert AuditEntry.objects.filter(action="login", username="alice", outcome="ok").exists()
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_in_plain_words_and_audited(client, alice):
    response = client.post("/login", {"username": "alice", "password": "nope"})
    assert response.status_code == 400
    assert b"Wrong username or password" in response.content
    entry = AuditEntry.objects.get(action="login.failed")
    assert (entry.username, entry.outcome, entry.ip) == ("alice", "failed", "127.0.0.1")


def test_open_redirect_after_login_is_refused(client, alice):
    response = client.post("/login", {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/"


@override_settings(LOGIN_FAILURE_LIMIT=5)
def test_sixth_attempt_after_five_failures_is_locked_out_even_with_the_right_password(client, alice):
    for _ in range(5):
        assert client.post("/login", {"username": "alice", "password": "bad"}).status_code == 400
    response = client.post("/login", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert AuditEntry.objects.filter(action="login.locked", username="alice").exists()
    # another user from the same address is not locked out
    from core.accounts import create_user

    create_user("dave", "viewer", PASSWORD)
    assert client.post("/login", {"username": "dave", "password": PASSWORD}).status_code == 302


def test_token_endpoint_issues_a_token_that_authenticates_api_calls(client, bob):
    response = client.post("/api/auth/token", {"username": "bob", "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 200
    token = response.json()["token"]
    me = client.get("/api/me", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200
    assert me.json()["role"] == "editor"
    assert "write_rows" in me.json()["capabilities"]


def test_token_endpoint_refuses_bad_credentials_with_json_error(client, bob):
    response = client.post("/api/auth/token", {"username": "bob", "password": "x"}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_token_endpoint_validates_its_input(client):
    response = client.post("/api/auth/token", {"username": ""}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_bogus_token_gets_401(client):
    assert client.get("/api/me", HTTP_AUTHORIZATION="Token deadbeef").status_code == 401


def test_viewer_cannot_manage_users_in_ui_or_api(client_as, api_as, carol):
    page = client_as(carol).get("/users")
    assert page.status_code == 403
    assert b"admin role" in page.content
    response = api_as(carol).post("/api/users", {"username": "mallory", "role": "admin"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_editor_cannot_create_users_either(api_as, bob):
    response = api_as(bob).post("/api/users", {"username": "mallory", "role": "viewer"}, format="json")
    assert response.status_code == 403


def test_admin_creates_a_user_and_the_write_is_audited(api_as, alice):
    response = api_as(alice).post("/api/users", {"username": "erin", "role": "editor", "password": PASSWORD}, format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="user.create")
    assert (entry.username, entry.target, entry.after) == ("alice", "erin", {"username": "erin", "role": "editor"})


def test_admin_changes_a_role_through_the_form_with_csrf(alice, carol):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post("/users", {"op": "role", "username": "carol", "role": "editor"}).status_code == 403  # no token
    page = browser.get("/users")
    token = page.cookies["csrftoken"].value
    response = browser.post("/users", {"op": "role", "username": "carol", "role": "editor", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    from core.roles import role_of

    carol.refresh_from_db()
    assert role_of(carol) == "editor"
    entry = AuditEntry.objects.get(action="user.role")
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "editor"})


def test_one_time_login_link_works_once(client, db):
    from core.accounts import create_login_link, ensure_bootstrap_admin

    admin, uses_link = ensure_bootstrap_admin()
    assert uses_link
    token = create_login_link(admin)
    assert client.get(f"/login?token={token}")["Location"] == "/"
    client.logout()
    second = client.get(f"/login?token={token}")
    assert second["Location"] == "/login"
    assert AuditEntry.objects.filter(action="login.failed", target="one-time link").exists()


@override_settings(LOGIN_FAILURE_LIMIT=2, LOGIN_LOCKOUT_SECONDS=60)
def test_the_lockout_ends_when_its_window_has_passed_and_says_how_long_to_wait(client, alice):
    from datetime import timedelta

    from django.utils import timezone

    from core.models import LoginThrottle

    for _ in range(2):
        client.post("/login", {"username": "alice", "password": "bad"})
    locked = client.post("/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json")
    assert locked.status_code == 429 and "Wait 1 minute" in locked.json()["error"]["hint"]
    LoginThrottle.objects.filter(username="alice").update(last_attempt_at=timezone.now() - timedelta(seconds=61))
    assert client.post("/login", {"username": "alice", "password": PASSWORD}).status_code == 302
    assert LoginThrottle.objects.get(username="alice").failures == 0  # a right password clears the count


def test_adduser_without_a_password_prints_a_link_dave_logs_in_with_once(client, db):
    """An admin adds dave from a shell without typing his password anywhere `ps` could see it."""
    import io
    import re

    from django.core.management import call_command

    out = io.StringIO()
    call_command("adduser", "dave", "--role", "editor", stdout=out)
    link = re.search(r"/login\?token=(\S+)", out.getvalue())
    assert link, out.getvalue()
    assert client.get(f"/login?token={link.group(1)}")["Location"] == "/"
    assert client.get("/account").context["has_password"] is False
    client.logout()
    assert client.get(f"/login?token={link.group(1)}")["Location"] == "/login"


def test_adduser_reads_a_password_from_stdin(client, db, monkeypatch):
    import io

    from django.core.management import call_command

    monkeypatch.setattr("sys.stdin", io.StringIO("erin-secret-9\n"))
    out = io.StringIO()
    call_command("adduser", "erin", "--role", "viewer", "--password-stdin", stdout=out)
    assert "login?token" not in out.getvalue() and "erin-secret-9" not in out.getvalue()
    assert client.login(username="erin", password="erin-secret-9")
