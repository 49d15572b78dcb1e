"""The audit entry of a write is written inside the target's transaction (issue 14 item 4).

On a real PostgreSQL target: when the internal database refuses the audit entry (simulated by
``AuditEntry.objects.create`` raising ``DatabaseError``, as a full disk or a dead internal
PostgreSQL would), a row insert, update, delete, a bulk edit, a CSV import and a console
write-mode run change nothing on the target and answer 503 ``audit_unavailable`` with its hint.
On success each write leaves exactly one audit entry with its count. A COMMIT that fails after
the entry was written (a deferred foreign key) leaves the entry marked "not applied".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError

from core.exceptions import AuditUnavailable
from core.models import AuditEntry
from tests.databrowser.conftest import pkpath, settled_import, sql, with_schema

db = pytest.mark.django_db(transaction=True)  # the import runs in a thread with its own connection
BASE = "/api/tables/public.aud_item"

SCHEMA = """
DROP TABLE IF EXISTS aud_child, aud_item;
CREATE TABLE aud_item (id integer PRIMARY KEY, qty integer NOT NULL, note text);
CREATE TABLE aud_child (id integer PRIMARY KEY,
                        item_id integer NOT NULL REFERENCES aud_item (id) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO aud_item VALUES (1, 10, 'one'), (2, 20, 'two'), (3, 30, 'three');
"""


@pytest.fixture
def shop(target: str) -> Iterator[str]:
    yield from with_schema(target, SCHEMA)


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise DatabaseError("disk full (simulated)")


@pytest.fixture
def audit_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The internal database refuses every new audit entry (the target is untouched)."""
    monkeypatch.setattr(AuditEntry.objects, "create", _refuse)


def _items(url: str) -> list[tuple]:
    return sql(url, "SELECT id, qty, note FROM aud_item ORDER BY id")


def _refused(r: Any) -> None:
    assert r.status_code == 503, (r.status_code, r.content[:500])
    err = r.json()["error"]
    assert err["code"] == "audit_unavailable"
    assert err["message"] == AuditUnavailable.default_message
    assert "the tool's own database refused the audit entry; nothing was changed" in err["hint"].lower()


def _settled(api: Any, job: dict) -> dict:
    return settled_import(api, BASE, job)


@db
def test_row_insert_update_delete_change_nothing_when_the_audit_is_refused(shop, api_as, bob, audit_refused):
    api = api_as(bob)
    before = _items(shop)
    _refused(api.post(f"{BASE}/rows", {"id": 9, "qty": 1, "note": "new"}, format="json"))
    _refused(api.put(f"{BASE}/rows/{pkpath(1)}?force=true", {"qty": 11}, format="json"))
    _refused(api.delete(f"{BASE}/rows/{pkpath(2)}?force=true"))
    assert _items(shop) == before  # read back with psycopg: nothing committed
    assert not AuditEntry.objects.filter(action__startswith="data.").exists()


@db
def test_row_writes_leave_one_audit_entry_each(shop, api_as, bob):
    api = api_as(bob)
    assert api.post(f"{BASE}/rows", {"id": 9, "qty": 1, "note": "new"}, format="json").status_code == 201
    assert api.put(f"{BASE}/rows/{pkpath(1)}?force=true", {"qty": 11}, format="json").status_code == 200
    assert api.delete(f"{BASE}/rows/{pkpath(2)}?force=true").status_code == 200
    assert _items(shop) == [(1, 11, "one"), (3, 30, "three"), (9, 1, "new")]
    entries = {e.action: e for e in AuditEntry.objects.filter(action__startswith="data.")}
    assert sorted(entries) == ["data.create", "data.delete", "data.update"]
    assert all(e.outcome == "ok" and e.username == "bob" for e in entries.values())
    assert entries["data.create"].after == {"id": 9, "qty": 1, "note": "new"}
    assert entries["data.update"].before == {"qty": 10} and entries["data.update"].after == {"qty": 11}
    assert entries["data.delete"].message.startswith("1 row(s) deleted")


@db
def test_a_commit_that_fails_after_the_entry_was_written_marks_it_not_applied(shop, api_as, bob):
    """A deferred foreign key is checked at COMMIT: the entry exists (written first) but says so."""
    r = api_as(bob).post("/api/tables/public.aud_child/rows", {"id": 1, "item_id": 404}, format="json")
    assert r.status_code == 400 and "referenced row does not exist" in r.json()["error"]["message"]
    assert sql(shop, "SELECT count(*) FROM aud_child") == [(0,)]
    [entry] = AuditEntry.objects.filter(action="data.create")
    assert entry.outcome == "failed" and entry.message.startswith("not applied:")


@db
def test_bulk_update_changes_nothing_when_the_audit_is_refused_and_audits_once_with_the_count(
        shop, api_as, client_as, bob, monkeypatch):
    api, client = api_as(bob), client_as(bob)
    body = {"column": "note", "value": "bulk", "where": {"f.gte.qty": "20"}, "expected_count": 2}
    before = _items(shop)
    with monkeypatch.context() as m:
        m.setattr(AuditEntry.objects, "create", _refuse)
        _refused(api.post(f"{BASE}/bulk-update", body, format="json"))
        # the page answers the same error as a page (503), never a 500
        page = client.post("/data/public.aud_item/bulk", {"pk": ["1"], "column": "note", "c3": "page", "expected": "1"})
        assert page.status_code == 503 and AuditUnavailable.default_message in page.content.decode()
    assert _items(shop) == before
    assert not AuditEntry.objects.filter(action="data.bulk_update").exists()

    r = api.post(f"{BASE}/bulk-update", body, format="json")
    assert r.status_code == 200 and r.json()["count"] == 2
    assert _items(shop) == [(1, 10, "one"), (2, 20, "bulk"), (3, 30, "bulk")]
    [entry] = AuditEntry.objects.filter(action="data.bulk_update")
    assert entry.outcome == "ok" and entry.message.startswith("2 row(s) updated") and entry.after == {"note": "bulk"}


@db
def test_csv_import_writes_nothing_when_the_audit_is_refused_and_audits_once_with_the_count(
        shop, api_as, bob, monkeypatch, settings, tmp_path):
    settings.DATA_DIR = str(tmp_path)  # the refused import's file stays behind: not in the shared data dir
    api = api_as(bob)
    csv_text = "id,qty,note\n7,70,seven\n8,80,eight\n"
    before = _items(shop)
    with monkeypatch.context() as m:
        m.setattr(AuditEntry.objects, "create", _refuse)
        job = _settled(api, api.post(f"{BASE}/import", {"text": csv_text, "confirm": True}, format="multipart").json())
    # the import is a background job: its answer is the job, failed with the error's message and hint
    assert job["state"] == "failed" and job["message"] == AuditUnavailable.default_message, job
    assert "nothing was changed" in job["hint"]
    assert _items(shop) == before
    assert not AuditEntry.objects.filter(action="data.import").exists()

    job = _settled(api, api.post(f"{BASE}/import", {"text": csv_text, "confirm": True}, format="multipart").json())
    assert job["state"] == "done" and job["written"] == 2, job
    assert _items(shop)[-2:] == [(7, 70, "seven"), (8, 80, "eight")]
    [entry] = AuditEntry.objects.filter(action="data.import")
    assert entry.outcome == "ok" and (entry.after or {})["written"] == 2 and entry.message.startswith("2 row(s)")


@db
def test_console_write_mode_runs_nothing_when_the_audit_is_refused(shop, api_as, alice, monkeypatch):
    api = api_as(alice)
    body = {"sql": "UPDATE aud_item SET qty = qty + 1; DELETE FROM aud_item WHERE id = 3", "write": True}
    before = _items(shop)
    with monkeypatch.context() as m:
        m.setattr(AuditEntry.objects, "create", _refuse)
        _refused(api.post("/api/database/query", body, format="json"))
    assert _items(shop) == before
    assert not AuditEntry.objects.filter(action="sql.execute").exists()

    r = api.post("/api/database/query", body, format="json")
    assert r.status_code == 200, r.content[:500]
    assert _items(shop) == [(1, 11, "one"), (2, 21, "two")]
    [entry] = AuditEntry.objects.filter(action="sql.execute")  # written as pending, then completed
    assert entry.outcome == "ok" and entry.username == "alice"
    assert [(s["command"], s["rows"]) for s in (entry.after or {})["statements"]] == [("UPDATE 3", 3), ("DELETE 1", 1)]
