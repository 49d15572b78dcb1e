"""A row write must name the version it changes: no silent overwrite of someone else's change.

GET of a row answers an ``ETag``; PUT and DELETE without ``If-Match`` are refused with 428 and a hint
(unless ``?force=true``, written and audited as forced); a stale ``If-Match`` is a 409; the HTML edit
form posted without its version is a 400. Every refusal leaves the row as it was and is audited.
Played as a limited application role and as a superuser.
"""

from __future__ import annotations

import psycopg
import pytest

from core.models import AuditEntry

pytestmark = pytest.mark.django_db

T = "public.sec_notes"


@pytest.fixture(scope="module")
def notes(security_roles: dict[str, str]) -> str:
    url = security_roles["app"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sec_notes (id int PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO sec_notes SELECT g, 'note ' || g FROM generate_series(1, 200) g")
    return url


def k(role_target: str, n: int) -> int:
    """Each role plays on its own rows (both runs share the module's database)."""
    return n + (100 if role_target == "superuser" else 0)


def body_of(url: str, key: int) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT body FROM sec_notes WHERE id = %s", (key,)).fetchone()
    return row[0] if row else None


def test_get_of_a_row_answers_its_version_as_an_etag(role_target, notes, api_as, carol):
    r = api_as(carol).get(f"/api/tables/{T}/rows/{k(role_target, 1)}")
    assert r.status_code == 200
    assert r["ETag"] == f'"{r.json()["version"]}"' and r.json()["version"].isdigit()


def test_a_put_without_if_match_is_a_428_with_a_hint_and_nothing_changes(role_target, notes, api_as, bob):
    r = api_as(bob).put(f"/api/tables/{T}/rows/{k(role_target, 2)}", {"body": "blind overwrite"}, format="json")
    assert r.status_code == 428
    error = r.json()["error"]
    assert error["code"] == "precondition_required" and "If-Match" in error["hint"] and "force" in error["hint"]
    assert body_of(notes, k(role_target, 2)) == f"note {k(role_target, 2)}"
    entry = AuditEntry.objects.filter(action="data.update", outcome="denied").latest("id")
    assert entry.username == "bob" and "If-Match" in entry.message


def test_a_delete_without_if_match_is_a_428_and_the_row_stays(role_target, notes, api_as, bob):
    r = api_as(bob).delete(f"/api/tables/{T}/rows/{k(role_target, 3)}")
    assert r.status_code == 428 and r.json()["error"]["hint"]
    assert body_of(notes, k(role_target, 3)) == f"note {k(role_target, 3)}"
    assert AuditEntry.objects.filter(action="data.delete", outcome="denied", username="bob").exists()


def test_a_stale_if_match_is_a_409_and_the_other_change_survives(role_target, notes, api_as, alice, bob):
    api_b, api_a = api_as(bob), api_as(alice)
    etag = api_b.get(f"/api/tables/{T}/rows/{k(role_target, 4)}")["ETag"]
    r = api_a.put(f"/api/tables/{T}/rows/{k(role_target, 4)}", {"body": "alice was first"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 200 and r["ETag"] != etag
    r = api_b.put(f"/api/tables/{T}/rows/{k(role_target, 4)}", {"body": "bob overwrites"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 409 and r.json()["error"]["detail"]["current"]["body"] == "alice was first"
    r = api_b.delete(f"/api/tables/{T}/rows/{k(role_target, 4)}", HTTP_IF_MATCH=etag)
    assert r.status_code == 409
    assert body_of(notes, k(role_target, 4)) == "alice was first"
    fresh = api_b.get(f"/api/tables/{T}/rows/{k(role_target, 4)}")["ETag"]
    assert api_b.delete(f"/api/tables/{T}/rows/{k(role_target, 4)}", HTTP_IF_MATCH=fresh).status_code == 200
    assert body_of(notes, k(role_target, 4)) is None


def test_force_true_writes_without_a_version_and_the_audit_says_forced(role_target, notes, api_as, bob):
    r = api_as(bob).put(f"/api/tables/{T}/rows/{k(role_target, 5)}?force=true", {"body": "forced"}, format="json")
    assert r.status_code == 200 and r["ETag"]
    assert body_of(notes, k(role_target, 5)) == "forced"
    entry = AuditEntry.objects.filter(action="data.update", outcome="ok").latest("id")
    assert "forced" in entry.message
    r = api_as(bob).delete(f"/api/tables/{T}/rows/{k(role_target, 5)}?force=true")
    assert r.status_code == 200 and body_of(notes, k(role_target, 5)) is None
    assert "forced" in AuditEntry.objects.filter(action="data.delete", outcome="ok").latest("id").message


def test_a_malformed_if_match_is_a_400(role_target, notes, api_as, bob):
    r = api_as(bob).put(f"/api/tables/{T}/rows/{k(role_target, 6)}", {"body": "x"}, format="json", HTTP_IF_MATCH='"abc"')
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_if_match"
    assert body_of(notes, k(role_target, 6)) == f"note {k(role_target, 6)}"


def test_a_viewer_is_refused_for_the_role_before_the_precondition(role_target, notes, api_as, carol):
    r = api_as(carol).put(f"/api/tables/{T}/rows/{k(role_target, 7)}", {"body": "x"}, format="json")
    assert r.status_code == 403
    assert body_of(notes, k(role_target, 7)) == f"note {k(role_target, 7)}"
    assert AuditEntry.objects.filter(username="carol", outcome="denied", action="data.update").exists()


def test_the_edit_form_posted_without_its_version_is_a_400_and_nothing_is_written(role_target, notes, client_as, bob):
    client = client_as(bob)
    path = f"/data/{T}/row/{k(role_target, 8)}/edit"
    assert client.get(path).status_code == 200
    r = client.post(path, {"c1": "no version"})
    assert r.status_code == 400
    assert b"without the row" in r.content and b'name="__xmin" value="' in r.content
    assert body_of(notes, k(role_target, 8)) == f"note {k(role_target, 8)}"
    assert AuditEntry.objects.filter(username="bob", outcome="denied", action="data.update").exists()
    r = client.post(path, {"c1": "bad version", "__xmin": "not-a-number"})
    assert r.status_code == 400 and body_of(notes, k(role_target, 8)) == f"note {k(role_target, 8)}"
