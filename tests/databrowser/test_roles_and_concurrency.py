"""Who may write (viewer no, PGADMIN_READ_ONLY no one), audit of refusals, and concurrent edits."""

from __future__ import annotations

import threading

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import pkpath, sql

pytestmark = pytest.mark.django_db(transaction=True)


def test_viewer_cannot_write_rows_in_the_ui_or_the_api(hostile, client_as, api_as, carol):
    grid = client_as(carol).get("/data/public.parent").content.decode()
    assert 'id="add-row"' not in grid and 'id="bulk-delete"' not in grid
    row = client_as(carol).get("/data/public.parent/row/1").content.decode()
    assert 'id="edit-row"' not in row and 'id="delete-row"' not in row
    client = client_as(carol)
    assert client.post("/data/public.parent/new", {"c0": "77", "c1": "carol's"}).status_code == 403
    assert client.post("/data/public.parent/row/1/edit", {"c1": "carol's"}).status_code == 403
    assert client.post("/data/public.parent/row/1/delete").status_code == 403
    api = api_as(carol)
    assert api.post("/api/tables/public.parent/rows", {"id": 77, "name": "x"}, format="json").status_code == 403
    assert api.put(f"/api/tables/public.parent/rows/{pkpath(1)}", {"name": "x"}, format="json").status_code == 403
    assert api.delete(f"/api/tables/public.parent/rows/{pkpath(1)}").status_code == 403
    assert sql(hostile, "SELECT name FROM parent WHERE id = 1") == [("parent 1",)]
    assert AuditEntry.objects.filter(username="carol", outcome="denied", action__startswith="data.").count() == 6


def test_viewer_posting_a_broken_form_is_refused_not_told_what_to_fix(hostile, client_as, carol):
    """The refusal comes before validation: a viewer learns nothing about the form's rules."""
    client = client_as(carol)
    created = client.post("/data/public.parent/new", {"c1": ""})
    edited = client.post("/data/public.parent/row/1/edit", {"c1": ""})
    assert (created.status_code, edited.status_code) == (403, 403)
    assert "This field is required" not in created.content.decode() + edited.content.decode()
    assert AuditEntry.objects.filter(username="carol", outcome="denied", action__in=["data.create", "data.update"]).count() == 2


def test_read_only_mode_refuses_every_write_even_for_an_admin(hostile, client_as, api_as, alice, settings):
    settings.READ_ONLY = True
    grid = client_as(alice).get("/data/public.parent").content.decode()
    assert 'id="add-row"' not in grid
    r = api_as(alice).post("/api/tables/public.parent/rows", {"id": 78, "name": "x"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "read_only"
    assert client_as(alice).post("/data/public.parent/row/1/delete").status_code == 403
    assert sql(hostile, "SELECT count(*) FROM parent WHERE id IN (1, 78)") == [(1,)]


def test_ten_clients_editing_the_same_row_lose_no_update_and_each_conflict_is_reported(hostile, api_as, bob):
    """Each client read the same version and adds its mark; exactly one wins, nine get a 409."""
    api = api_as(bob)
    start = api.get(f"/api/tables/public.parent/rows/{pkpath(1)}").json()
    version = start["version"]
    results: list[int] = []
    barrier = threading.Barrier(10)
    from django.db import connections

    from core.tokens import issue

    _token, key = issue(bob, "ten editors")

    def edit(i: int) -> None:
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        barrier.wait()
        r = client.put(f"/api/tables/public.parent/rows/{pkpath(1)}", {"name": f"edit {i}", "__version": version},
                       format="json")
        results.append(r.status_code)
        connections.close_all()

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [409] * 9
    winner = sql(hostile, "SELECT name FROM parent WHERE id = 1")[0][0]
    ok = AuditEntry.objects.filter(action="data.update", outcome="ok")
    assert [e.after["name"] for e in ok] == [winner]
    assert AuditEntry.objects.filter(action="data.update", outcome="failed", message__contains="conflict").count() == 9


def test_sequential_edits_with_fresh_versions_all_apply(hostile, api_as, bob):
    api = api_as(bob)
    for i in range(3):
        version = api.get(f"/api/tables/public.parent/rows/{pkpath(2)}").json()["version"]
        r = api.put(f"/api/tables/public.parent/rows/{pkpath(2)}", {"name": f"round {i}"}, format="json",
                    HTTP_IF_MATCH=version)
        assert r.status_code == 200
    assert sql(hostile, "SELECT name FROM parent WHERE id = 2") == [("round 2",)]
