"""The weak items of issue 10 (12) about logins and the audit: the API schema behind login,
WebSocket origins including the port, refused actions audited, the audit log private to admins,
no forged log lines."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest
from channels.testing import WebsocketCommunicator

from core.models import AuditEntry
from tests.conftest import PASSWORD, REPO
from tests.serving import Served

# --- /api/schema ---------------------------------------------------------------------------

@pytest.mark.django_db
def test_anonymous_visitor_cannot_read_the_api_schema(client):
    response = client.get("/api/schema")
    assert response.status_code == 401
    assert b"not_authenticated" in response.content and b"/api/auth/tokens" not in response.content


@pytest.mark.django_db
def test_token_holder_reads_the_api_schema(api_as, carol):
    response = api_as(carol).get("/api/schema")
    assert response.status_code == 200
    assert b"/api/auth/tokens" in response.content


# --- WebSocket origin ----------------------------------------------------------------------

async def _ws(origin: str, host: str) -> bool:
    from pgadmin_site.asgi import application

    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    communicator = WebsocketCommunicator(application, "/ws/heartbeat/", headers=headers)
    connected, code = await communicator.connect()
    if connected:
        await communicator.disconnect()
    # 4401 = the consumer refused an anonymous user: the origin check let the handshake through
    return code == 4401


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("origin", "host", "passes"), [
    ("http://localhost:3000", "localhost:3000", True),
    ("http://localhost:8080", "localhost:3000", False),  # another app on the same host
    ("http://localhost", "localhost:3000", False),
    ("https://localhost:3000", "localhost:3000", True),  # TLS proxy in front: same host and port
    ("http://localhost", "localhost", True),
    ("http://evil.example:3000", "localhost:3000", False),
    ("null", "localhost:3000", False),
    ("", "localhost:3000", False),
    ("http://evil.example", "evil.example", False),  # Host not in PGADMIN_ALLOWED_HOSTS
])
async def test_websocket_origin_must_match_scheme_host_and_port(origin, host, passes):
    assert await _ws(origin, host) is passes


@pytest.mark.django_db(transaction=True)
async def test_websocket_from_the_public_url_passes_behind_a_proxy(settings):
    settings.PUBLIC_URL = "https://admin.example.com"
    assert await _ws("https://admin.example.com", "localhost:3000")
    assert not await _ws("https://admin.example.com:8443", "localhost:3000")


# --- refused actions are audited at the source --------------------------------------------

@pytest.mark.django_db
def test_a_viewer_refused_user_management_is_audited(client_as, api_as, carol):
    assert api_as(carol).post("/api/users", {"username": "mallory", "role": "admin"}, format="json").status_code == 403
    assert client_as(carol).get("/users").status_code == 403
    entries = AuditEntry.objects.filter(action="refused", username="carol").order_by("id")
    assert [(e.target, e.outcome, e.ip) for e in entries] == [
        ("manage_users POST /api/users", "denied", "127.0.0.1"), ("manage_users GET /users", "denied", "127.0.0.1")]
    assert "admin role" in entries[0].message


@pytest.mark.django_db
def test_an_editor_refused_a_migration_or_a_restore_is_audited(api_as, bob):
    api = api_as(bob)
    assert api.post("/api/alembic/upgrade", {"target": "head"}, format="json").status_code == 403
    assert api.post("/api/alembic/restore", {"name": "x.dump"}, format="json").status_code in (403, 400)
    targets = list(AuditEntry.objects.filter(action="refused", username="bob").values_list("target", flat=True))
    assert "run_migrations POST /api/alembic/upgrade" in targets


@pytest.mark.django_db
def test_a_write_refused_by_read_only_mode_is_audited(api_as, alice, settings):
    settings.READ_ONLY = True
    assert api_as(alice).post("/api/alembic/upgrade", {"target": "head"}, format="json").status_code == 403
    entry = AuditEntry.objects.get(action="refused", username="alice")
    assert "read-only" in entry.message


# --- the audit log: everything for admins, one's own entries for others --------------------

@pytest.mark.django_db
def test_a_viewer_sees_only_their_own_audit_entries(client_as, api_as, alice, carol):
    from core import audit

    audit.record(None, "sql.write", "DROP TABLE payroll", user=alice, message="admin's write-mode SQL")
    audit.record(None, "row.update", "public.notes", user=carol)
    page = client_as(carol).get("/audit").content.decode()
    assert "public.notes" in page and "DROP TABLE payroll" not in page
    assert "You see your own entries" in page
    entries = api_as(carol).get("/api/audit").json()["entries"]
    assert entries and {e["user"] for e in entries} == {"carol"}
    asked = api_as(carol).get("/api/audit?user=alice").json()["entries"]
    assert asked == []


@pytest.mark.django_db
def test_an_admin_sees_everyones_audit_entries(client_as, api_as, alice, carol):
    from core import audit

    audit.record(None, "row.update", "public.notes", user=carol)
    users = {e["user"] for e in api_as(alice).get("/api/audit").json()["entries"]}
    assert "carol" in users
    assert "public.notes" in client_as(alice).get("/audit").content.decode()


# --- log lines cannot be forged -------------------------------------------------------------

def test_the_log_filter_escapes_control_characters_in_arguments_and_indents_continuations():
    from core.logging import MaskSecretsFilter

    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s",
                               ("/x\n2026-01-01 00:00:00,000 INFO core: forged\r\x1b[2J",), None)
    assert MaskSecretsFilter().filter(record)
    assert record.getMessage() == "Not Found: /x\\n2026-01-01 00:00:00,000 INFO core: forged\\r\\x1b[2J"
    multi = logging.LogRecord("core", logging.ERROR, __file__, 1, "first\nsecond", None, None)
    MaskSecretsFilter().filter(multi)
    assert multi.getMessage() == "first\n    second"


@pytest.mark.slow
def test_a_request_path_with_an_encoded_newline_does_not_forge_a_server_log_line(target_url):
    served = Served({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(REPO / "tests" / "fixtures" / "core_no_alembic")})
    try:
        served.wait_ready()
        forged = "2026-11-26 12:00:00,000 WARNING django.security: FORGED admin logged in"
        path = "/api/nope%0A" + forged.replace(" ", "%20") + "%0D%1B[31m"
        try:
            urllib.request.urlopen(served.base_url + path, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code in (401, 404)
        served.wait_for(r"Not Found: /api/nope", timeout=30)
        lines = served.output.splitlines()
        assert not [line for line in lines if line.startswith("2026-11-26 12:00:00,000")], served.output
        assert any("/api/nope\\n2026-11-26" in line and "\\x1b[31m" in line for line in lines), served.output
    finally:
        served.stop()


# --- users page for admins; my account --------------------------------------------------------

@pytest.mark.django_db
def test_an_admin_sets_a_password_disables_enables_and_deletes_a_user_all_audited(client_as, alice, bob):
    admin = client_as(alice)
    page = admin.get("/users").content.decode()
    assert "bob" in page and "Last login" in page
    assert admin.post("/users", {"op": "password", "username": "bob", "password": "short"}).status_code == 302
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)  # too short: refused with the validator's message
    assert admin.post("/users", {"op": "password", "username": "bob", "password": "correct-horse-9"}).status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("correct-horse-9")
    admin.post("/users", {"op": "disable", "username": "bob"})
    bob.refresh_from_db()
    assert not bob.is_active
    from django.test import Client

    assert not Client().login(username="bob", password="correct-horse-9")
    admin.post("/users", {"op": "enable", "username": "bob"})
    admin.post("/users", {"op": "delete", "username": "bob", "confirm": "wrong"})
    assert type(bob).objects.filter(username="bob").exists()
    admin.post("/users", {"op": "delete", "username": "bob", "confirm": "bob"})
    assert not type(bob).objects.filter(username="bob").exists()
    actions = list(AuditEntry.objects.filter(username="alice", target="bob").values_list("action", flat=True))
    assert {"user.password", "user.disable", "user.enable", "user.delete"} <= set(actions)


@pytest.mark.django_db
def test_an_admin_cannot_disable_or_delete_themselves_so_an_admin_always_remains(client_as, alice):
    from core.accounts import active_admins

    admin = client_as(alice)
    for op in ("disable", "delete"):
        response = admin.post("/users", {"op": op, "username": "alice", "confirm": "alice"}, follow=True)
        assert f"cannot {op} yourself" in response.content.decode()
    alice.refresh_from_db()
    assert alice.is_active and list(active_admins()) == [alice]
    assert not AuditEntry.objects.filter(action__in=["user.disable", "user.delete"]).exists()


@pytest.mark.django_db
def test_the_password_rules_are_enforced_by_the_server_on_my_account_page(client_as, carol):
    page = client_as(carol)
    weak = page.post("/account", {"current": PASSWORD, "new": "password", "confirm": "password"})
    assert weak.status_code == 400 and "too common" in weak.content.decode()
    wrong = page.post("/account", {"current": "not-mine", "new": "fine-pass-77", "confirm": "fine-pass-77"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.content.decode()
    differ = page.post("/account", {"current": PASSWORD, "new": "fine-pass-77", "confirm": "fine-pass-78"})
    assert differ.status_code == 400
    carol.refresh_from_db()
    assert carol.check_password(PASSWORD)
    assert AuditEntry.objects.filter(action="password.change", outcome="failed", username="carol").exists()


@pytest.mark.django_db
def test_the_bootstrap_admin_without_a_password_sets_one_after_the_link(client):
    from core.accounts import create_login_link, ensure_bootstrap_admin

    admin, uses_link = ensure_bootstrap_admin()
    assert uses_link
    landed = client.get(f"/login?token={create_login_link(admin)}", follow=True).content.decode()
    assert "set one on My account" in landed
    form = client.get("/account").content.decode()
    assert "Set a password" in form and 'name="current"' not in form
    assert client.post("/account", {"new": "first-admin-pw-1", "confirm": "first-admin-pw-1"}).status_code == 302
    client.logout()
    assert client.post("/login", {"username": "admin", "password": "first-admin-pw-1"}).status_code == 302
