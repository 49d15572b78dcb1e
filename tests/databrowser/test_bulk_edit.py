"""Bulk edit (issue 12 item 7): preview then apply, one transaction, one audit entry, roles, drift.

On the hostile schema's ``public.child`` (id, parent_id NOT NULL → parent, label text NULL); the
form fields are positional: c1 = parent_id, c2 = label. One browser story at the end.
"""

from __future__ import annotations

import re

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import sql

db = pytest.mark.django_db(transaction=True)  # not on the browser story (Playwright runs an event loop)
PAGE = "/data/public.child/bulk"
API = "/api/tables/public.child/bulk-update"


def _labels(url: str, where: str, *params: object) -> list[tuple]:
    return sql(url, f"SELECT id, label FROM child WHERE {where} ORDER BY id", *params)


@db
def test_editor_previews_then_applies_to_ticked_rows_and_to_the_filtered_rows(hostile, client_as, bob):
    client = client_as(bob)
    grid = client.get("/data/public.child?f.eq.parent_id=2").content.decode()
    assert 'id="bulk-edit"' in grid and "scope=filter&amp;f.eq.parent_id=2" in grid
    before = _labels(hostile, "id IN (1, 2, 3)")

    # ticked rows: the page offers the column's own widget, the preview shows count and old → new
    page = client.get(PAGE, {"pk": ["1", "2", "3"], "column": "label"})
    assert page.status_code == 200 and 'name="c2"' in page.content.decode()
    preview = client.get(PAGE, {"pk": ["1", "2", "3"], "column": "label", "c2": "bulk ticked", "preview": "1"})
    html = preview.content.decode()
    assert preview.status_code == 200 and '<span id="bulk-count">3</span>' in html
    assert all(f"<code>{old}</code>" in html for _id, old in before) and html.count("<code>bulk ticked</code>") == 3
    assert _labels(hostile, "id IN (1, 2, 3)") == before  # a preview writes nothing
    r = client.post(PAGE, {"pk": ["1", "2", "3"], "column": "label", "c2": "bulk ticked", "expected": "3"})
    assert r.status_code == 302 and r["Location"] == "/data/public.child"
    assert _labels(hostile, "id IN (1, 2, 3)") == [(1, "bulk ticked"), (2, "bulk ticked"), (3, "bulk ticked")]
    assert sql(hostile, "SELECT count(*) FROM child WHERE label = 'bulk ticked'") == [(3,)]

    # every row the filter matches, set to NULL with the NULL box
    matching = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2")[0][0]
    params = {"scope": "filter", "f.eq.parent_id": "2", "column": "label", "c2": "", "c2__null": "on"}
    html = client.get(PAGE, {**params, "preview": "1"}).content.decode()
    assert f'<span id="bulk-count">{matching}</span>' in html and '<code id="bulk-new-value">NULL</code>' in html
    r = client.post(PAGE, {**params, "expected": str(matching)})
    assert r.status_code == 302 and r["Location"] == "/data/public.child?f.eq.parent_id=2"
    assert sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2 AND label IS NULL") == [(matching,)]
    assert sql(hostile, "SELECT count(*) FROM child WHERE parent_id <> 2 AND label IS NULL") == [(0,)]

    # a cross-site POST (no CSRF token) is refused before anything is read or written
    from django.test import Client

    forged = Client(enforce_csrf_checks=True)
    forged.force_login(bob)
    assert forged.post(PAGE, {"pk": ["4"], "column": "label", "c2": "forged", "expected": "1"}).status_code == 403
    assert sql(hostile, "SELECT count(*) FROM child WHERE label = 'forged'") == [(0,)]

    entries = list(AuditEntry.objects.filter(action="data.bulk_update").order_by("id"))
    assert [(e.username, e.outcome) for e in entries] == [("bob", "ok"), ("bob", "ok")]
    assert entries[0].message.startswith("3 row(s) updated") and entries[0].after == {"label": "bulk ticked"}
    assert entries[1].message.startswith(f"{matching} row(s) updated") and entries[1].after == {"label": None}
    assert entries[1].before == {"where": {"f.eq.parent_id": "2"}}


@db
def test_the_api_previews_and_applies_and_its_schema_describes_it(hostile, api_as, bob):
    api = api_as(bob)
    body = {"column": "label", "value": "via api", "where": {"f.eq.parent_id": "4"}}
    preview = api.post(API, {**body, "preview": True}, format="json").json()
    expected = sql(hostile, "SELECT id, label FROM child WHERE parent_id = 4 ORDER BY id")
    assert preview["count"] == len(expected) and preview["can_apply"] is True
    assert [(s["key"][0], s["old"], s["new"]) for s in preview["sample"]] == [(i, old, "via api") for i, old in expected]
    r = api.post(API, {**body, "expected_count": preview["count"]}, format="json")
    assert r.status_code == 200 and r.json()["count"] == len(expected)
    assert sql(hostile, "SELECT DISTINCT label FROM child WHERE parent_id = 4") == [("via api",)]
    r = api.post(API, {"column": "label", "value": "x", "rows": [[5]]}, format="json")  # no previewed count
    assert r.status_code == 400 and r.json()["error"]["code"] == "count_required" and r.json()["error"]["hint"]
    schema = api.get("/api/schema").content
    assert b"/api/tables/{tref}/bulk-update" in schema and b"BulkUpdateResponse" in schema


@db
def test_viewer_cannot_apply_a_bulk_edit_in_the_page_or_the_api(hostile, client_as, api_as, carol):
    before = _labels(hostile, "id IN (6, 7)")
    client = client_as(carol)
    assert 'id="bulk-edit"' not in client.get("/data/public.child").content.decode()
    html = client.get(PAGE, {"pk": ["6", "7"], "column": "label", "c2": "carol's", "preview": "1"}).content.decode()
    assert 'id="bulk-refusal"' in html and "viewer" in html and 'id="bulk-apply"' not in html
    r = client.post(PAGE, {"pk": ["6", "7"], "column": "label", "c2": "carol's", "expected": "2"})
    assert r.status_code == 403 and "editor" in r.content.decode()
    r = api_as(carol).post(API, {"column": "label", "value": "carol's", "rows": [[6], [7]], "expected_count": 2},
                           format="json")
    assert r.status_code == 403 and r.json()["error"]["message"]
    assert _labels(hostile, "id IN (6, 7)") == before
    assert AuditEntry.objects.filter(username="carol", action="data.bulk_update", outcome="denied").count() == 2


@db
def test_read_only_mode_refuses_bulk_edit_even_for_an_admin(hostile, client_as, api_as, alice, settings):
    settings.READ_ONLY = True
    before = _labels(hostile, "id = 8")
    html = client_as(alice).get(PAGE, {"pk": ["8"], "column": "label", "c2": "ro", "preview": "1"}).content.decode()
    assert "read-only mode" in html and 'id="bulk-apply"' not in html
    assert client_as(alice).post(PAGE, {"pk": ["8"], "column": "label", "c2": "ro", "expected": "1"}).status_code == 403
    r = api_as(alice).post(API, {"column": "label", "value": "ro", "rows": [[8]], "expected_count": 1}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "read_only"
    assert _labels(hostile, "id = 8") == before


@db
def test_a_bad_value_is_refused_in_place_and_nothing_is_written(hostile, client_as, api_as, bob):
    before = sql(hostile, "SELECT id, parent_id FROM child WHERE id IN (9, 10) ORDER BY id")
    client = client_as(bob)
    for send in (client.get, client.post):  # the preview and the apply alike
        r = send(PAGE, {"pk": ["9", "10"], "column": "parent_id", "c1": "12x4", "preview": "1", "expected": "2"})
        html = r.content.decode()
        assert r.status_code == 400 and 'class="field-error"' in html and "whole number" in html
        assert "Enter a value of type integer" in html  # the hint next to the message
    # a value the form accepts but the database refuses (no such parent): the message in place too
    r = client.post(PAGE, {"pk": ["9", "10"], "column": "parent_id", "c1": "999", "expected": "2"})
    assert r.status_code == 400 and "referenced row does not exist" in r.content.decode()
    r = api_as(bob).post(API, {"column": "parent_id", "value": "lots", "rows": [[9]], "expected_count": 1},
                         format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid" and r.json()["error"]["hint"]
    assert sql(hostile, "SELECT id, parent_id FROM child WHERE id IN (9, 10) ORDER BY id") == before
    failed = AuditEntry.objects.get(action="data.bulk_update")
    assert failed.outcome == "failed" and "referenced row" in failed.message


@db
def test_rows_changing_between_preview_and_apply_refuse_the_apply(hostile, client_as, api_as, bob):
    api = api_as(bob)
    body = {"column": "label", "value": "drifted", "where": {"f.eq.parent_id": "5"}}
    count = api.post(API, {**body, "preview": True}, format="json").json()["count"]
    sql(hostile, "INSERT INTO child VALUES (101, 5, 'arrived after the preview')")
    r = api.post(API, {**body, "expected_count": count}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "count_changed"
    assert r.json()["error"]["detail"] == {"expected": count, "now": count + 1}
    assert sql(hostile, "SELECT count(*) FROM child WHERE label = 'drifted'") == [(0,)]
    # the page: the stale count is refused with the reason and a fresh preview to apply instead
    params = {"scope": "filter", "f.eq.parent_id": "5", "column": "label", "c2": "drifted"}
    r = client_as(bob).post(PAGE, {**params, "expected": str(count)})
    html = r.content.decode()
    assert r.status_code == 409 and 'id="bulk-drift"' in html and "preview" in html.lower()
    assert re.search(rf'name="expected" value="{count + 1}"', html)
    assert sql(hostile, "SELECT count(*) FROM child WHERE label = 'drifted'") == [(0,)]
    assert AuditEntry.objects.filter(action="data.bulk_update", outcome="failed").count() == 2


@pytest.mark.browser
def test_editor_ticks_rows_previews_a_bulk_edit_and_sees_the_grid_updated(served_demo, demo_url, page):
    from tests.conftest import PASSWORD, REPO
    from tests.serving import add_user

    base = served_demo.base_url
    add_user(served_demo, "bob", "editor", PASSWORD)
    page.goto(base + "/login")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")

    page.goto(base + "/data/public.operations")
    rows = page.locator("#grid tbody tr")
    ids = [int(rows.nth(i).locator("td:nth-child(2)").inner_text()) for i in range(3)]
    for i in range(3):
        rows.nth(i).locator('input[name="pk"]').check()
    page.locator("#bulk-edit").click()
    page.wait_for_url(re.compile(r"/data/public\.operations/bulk\?pk="))
    page.select_option("#bulk-column", "kind")  # the page reloads with the column's own widget (an enum select)
    page.wait_for_url(re.compile(r"column=kind"))
    page.get_by_label("New value of kind").select_option("withdrawal")
    page.locator("#bulk-preview-button").click()
    page.wait_for_url(re.compile(r"preview=1"))

    old = dict(sql(demo_url, "SELECT id, kind::text FROM operations WHERE id = ANY(%s)", ids))
    assert page.locator("#bulk-count").inner_text() == "3"
    sample = [r.split("\t") for r in page.locator("#bulk-sample tbody tr").all_inner_texts()]
    assert [(int(s[0]), s[1].removesuffix(" (already)"), s[-1]) for s in sample] == [(i, old[i], "withdrawal") for i in ids]
    page.screenshot(path=str(REPO / "docs" / "screenshots" / "data-bulk-preview.png"))
    page.locator("#bulk-apply").click()
    page.wait_for_url(re.compile(r"/data/public\.operations$"))
    assert "3 rows updated" in page.content()
    assert rows.nth(0).locator("td:nth-child(2)").inner_text() == str(ids[0])
    assert [rows.nth(i).locator("td:nth-child(5)").inner_text() for i in range(3)] == ["withdrawal"] * 3
    assert sql(demo_url, "SELECT DISTINCT kind::text FROM operations WHERE id = ANY(%s)", ids) == [("withdrawal",)]
