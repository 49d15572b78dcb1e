"""CSV import on a real PostgreSQL: a clean import, bad rows reported before anything is written,
upsert on the key, and who may import (viewer no, PGADMIN_READ_ONLY no one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import AuditEntry
from tests.databrowser.conftest import settled_import, sql, with_schema

with_db = pytest.mark.django_db(transaction=True)  # not on the browser story (its server has its own DB)

SCHEMA = """
DROP TABLE IF EXISTS imp_item, imp_client;
CREATE TABLE imp_client (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE imp_item (id integer PRIMARY KEY, client_id integer NOT NULL REFERENCES imp_client (id),
                       qty integer NOT NULL CHECK (qty >= 0), note varchar(10), created date DEFAULT current_date);
INSERT INTO imp_client VALUES (1, 'Ada'), (2, 'Grace');
INSERT INTO imp_item VALUES (1, 1, 5, 'first', '2024-01-01');
"""


@pytest.fixture
def shop(target: str) -> Iterator[str]:
    yield from with_schema(target, SCHEMA)


def _imports() -> list[tuple[str, int]]:
    """The stored files: (job id, pieces) of each job holding one (the files live in the internal DB)."""
    from django.db.models import Count

    from databrowser.models import ImportJob

    return sorted(ImportJob.objects.annotate(n=Count("chunks")).filter(n__gt=0).values_list("id", "n"))


def _settled(api: Any, job: dict) -> dict:
    return settled_import(api, "/api/tables/public.imp_item", job)


def _job_page_settled(client, url: str) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while True:
        html = client.get(url).content.decode()
        if 'id="import-progress-card"' not in html:
            return html
        assert time.monotonic() < deadline
        time.sleep(0.05)


@with_db
def test_editor_maps_validates_confirms_and_imports_a_clean_csv_in_the_pages(shop, client_as, bob, settings):
    client = client_as(bob)
    assert 'id="import-csv"' in client.get("/data/public.imp_item").content.decode()
    upload = SimpleUploadedFile("items.csv", b"ID;Client_ID;qty;Note\r\n2;1;3;two\r\n3;2;0;\r\n")
    r = client.post("/data/public.imp_item/import", {"file": upload})
    assert r.status_code == 302
    job_url = r["Location"]
    mapping = client.get(job_url).content.decode()
    # matched by name, case and underscores aside; the delimiter sniffed
    assert '<option value="client_id" selected>' in mapping and '<option value=";" selected>' in mapping
    assert len(_imports()) == 1  # the upload streamed into the internal DB, under an id of our own
    r = client.post(job_url, {"map0": "id", "map1": "client_id", "map2": "qty", "map3": "note", "delimiter": ";",
                              "null_style": "empty", "mode": "insert", "step": "validate"})
    assert r.status_code == 302
    page = _job_page_settled(client, job_url)
    assert 'id="import-confirm"' in page and "All 2 row(s) are valid." in page
    assert sql(shop, "SELECT count(*) FROM imp_item") == [(1,)]  # validation wrote nothing
    r = client.post(job_url + "/run")
    assert r.status_code == 302
    page = _job_page_settled(client, job_url)
    assert 'id="import-done"' in page
    assert sql(shop, "SELECT id, client_id, qty, note, created IS NOT NULL FROM imp_item ORDER BY id") == [
        (1, 1, 5, "first", True), (2, 1, 3, "two", True), (3, 2, 0, None, True)]
    entry = AuditEntry.objects.get(action="data.import", outcome="ok")
    assert entry.username == "bob" and entry.after["written"] == 2 and entry.target == "public.imp_item"


@with_db
def test_three_bad_rows_are_each_reported_with_line_column_and_reason_and_nothing_is_written(shop, api_as, bob,
                                                                                              monkeypatch):
    from databrowser import importer_validate

    monkeypatch.setattr(importer_validate, "CHUNK_ROWS", 3)  # bad rows in several chunks, found by bisection
    lines = ["id,client_id,qty,note"] + [f"{i},1,{i},ok" for i in range(10, 17)]
    lines.insert(3, "20,1,lots,bad type")  # line 4
    lines.insert(6, "21,,2,no client")  # line 7
    lines.insert(8, "22,99,2,ghost")  # line 9: no client 99
    lines.append("1,2,2,dup")  # line 12: key 1 exists in the table
    lines.append("23,1,-1,neg")  # line 13: breaks the CHECK
    api = api_as(bob)
    upload = SimpleUploadedFile("bad.csv", ("\n".join(lines) + "\n").encode())
    r = api.post("/api/tables/public.imp_item/import", {"file": upload, "confirm": True}, format="multipart")
    assert r.status_code == 202
    job = _settled(api, r.json())
    assert job["state"] == "invalid" and job["written"] == 0
    got = {(e["row"], e["column"]): e["message"] for e in job["errors"]}
    assert set(got) == {(4, "qty"), (7, "client_id"), (9, "client_id"), (12, "id"), (13, "qty")}, got
    assert 'invalid input syntax for type integer: "lots"' in got[(4, "qty")]
    assert "NOT NULL" in got[(7, "client_id")]
    assert "no such row in imp_client" in got[(9, "client_id")]
    assert "already exists" in got[(12, "id")]
    assert "imp_item_qty_check" in got[(13, "qty")]
    assert sql(shop, "SELECT count(*) FROM imp_item") == [(1,)]
    failed = AuditEntry.objects.get(action="data.import", outcome="failed")
    assert "line 4 qty" in failed.message


@with_db
def test_upsert_on_the_primary_key_updates_existing_rows_and_inserts_new_ones(shop, api_as, bob):
    api = api_as(bob)
    data = b"id,client_id,qty,note\n1,2,50,updated\n5,1,1,new\n"
    # sent in two pieces, as the page's script does with big files
    first = api.post("/api/tables/public.imp_item/import/chunks?offset=0", data[:30],
                     content_type="application/octet-stream").json()
    url = f"/api/tables/public.imp_item/import/chunks?upload={first['upload']}"
    assert api.post(url + "&offset=0", data[30:], content_type="application/octet-stream").status_code == 409
    assert api.post(url + "&offset=30", data[30:], content_type="application/octet-stream").json()["size"] == len(data)
    r = api.post("/api/tables/public.imp_item/import", {"upload": first["upload"], "mode": "upsert"}, format="json")
    job = _settled(api, r.json())
    assert job["state"] == "valid" and job["would_update"] == 1, job
    r = api.post(f"/api/tables/public.imp_item/import/{job['id']}/run")
    job = _settled(api, r.json())
    assert job["state"] == "done" and job["written"] == 2
    assert sql(shop, "SELECT id, client_id, qty, note FROM imp_item ORDER BY id") == [
        (1, 2, 50, "updated"), (5, 1, 1, "new")]
    # a plain insert of the same key is refused before anything is written
    r = api.post("/api/tables/public.imp_item/import", {"text": "id,client_id,qty\n5,1,9\n", "confirm": True},
                 format="multipart")
    job = _settled(api, r.json())
    assert job["state"] == "invalid" and job["errors"][0]["row"] == 2
    assert sql(shop, "SELECT qty FROM imp_item WHERE id = 5") == [(1,)]


@with_db
def test_viewer_cannot_import_and_read_only_mode_refuses_everyone(shop, client_as, api_as, carol, alice, settings):
    text = "id,client_id,qty\n7,1,1\n"
    files_before = _imports()
    r = client_as(carol).post("/data/public.imp_item/import", {"file": SimpleUploadedFile("a.csv", text.encode())})
    assert r.status_code == 403
    assert client_as(carol).get("/data/public.imp_item/import").status_code == 403
    assert api_as(carol).post("/api/tables/public.imp_item/import", {"text": text, "confirm": True},
                              format="multipart").status_code == 403
    settings.READ_ONLY = True
    r = api_as(alice).post("/api/tables/public.imp_item/import", {"text": text, "confirm": True}, format="multipart")
    assert r.status_code == 403 and r.json()["error"]["code"] == "read_only"
    assert client_as(alice).post("/data/public.imp_item/import", {"text": text}).status_code == 403
    assert sql(shop, "SELECT count(*) FROM imp_item") == [(1,)]
    assert _imports() == files_before  # a refused upload leaves no file behind
    assert AuditEntry.objects.filter(outcome="denied").count() >= 4


@pytest.mark.browser
def test_bob_uploads_a_csv_with_three_bad_rows_sees_why_fixes_it_and_imports(served_demo, demo_url, browser):
    from tests.conftest import PASSWORD, REPO
    from tests.serving import add_user

    add_user(served_demo, "bob", "editor", PASSWORD)
    base = served_demo.base_url
    client, broker = sql(demo_url, "SELECT min(id) FROM clients")[0][0], sql(demo_url, "SELECT min(id) FROM brokers")[0][0]
    good = [f"{client},{broker},deposit,98765{i}.25" for i in range(5)]  # amounts no demo row has
    bad = list(good)
    bad[1] = f"{client},{broker},deposit,lots"  # line 3: not a number
    bad[2] = f"{client},{broker},,987652.25"  # line 4: kind is NOT NULL
    bad[4] = f"999999,{broker},deposit,987654.25"  # line 6: no such client
    header = "Client ID,Broker_ID,KIND,amount"
    before = sql(demo_url, "SELECT count(*) FROM operations")[0][0]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    try:
        tab.goto(base + "/login")
        tab.get_by_label("Username").fill("bob")
        tab.get_by_label("Password").fill(PASSWORD)
        tab.get_by_role("button", name="Log in").click()
        tab.wait_for_url(base + "/")
        tab.goto(base + "/data/public.operations")
        tab.locator("#more-menu summary").click()  # Import CSV… sits in the grid's More menu
        tab.locator("#import-csv").click()
        for attempt, rows in (("bad", bad), ("fixed", good)):
            tab.set_input_files("#import-file", files=[{"name": f"{attempt}.csv", "mimeType": "text/csv",
                                                        "buffer": "\n".join([header, *rows, ""]).encode()}])
            tab.locator("#import-upload-btn").click()
            tab.locator("#import-mapping").wait_for()  # the columns matched by name
            assert tab.locator('tr[data-header="Client ID"] select').input_value() == "client_id"
            assert tab.locator('tr[data-header="KIND"] select').input_value() == "kind"
            tab.locator("#import-validate").click()
            if attempt == "bad":
                tab.locator("#import-errors").wait_for()
                reasons = {int(r.get_attribute("data-row")): r.inner_text()
                           for r in tab.locator("#import-errors tbody tr").all()}
                assert sorted(reasons) == [3, 4, 6]
                assert "lots" in reasons[3] and "NOT NULL" in reasons[4] and "no such row in clients" in reasons[6]
                assert sql(demo_url, "SELECT count(*) FROM operations")[0][0] == before
                tab.screenshot(path=str(REPO / "docs" / "screenshots" / "data-import-errors.png"), full_page=True)
                tab.locator("#import-again").click()
        tab.locator("#import-run").wait_for()
        assert "All 5 row(s) are valid." in tab.locator("#import-message").inner_text()
        tab.locator("#import-run").click()
        tab.locator("#import-done").wait_for()
        tab.locator("#import-see-rows").click()
        tab.wait_for_url(base + "/data/public.operations")
        tab.goto(base + "/data/public.operations?f.gte.amount=987650&f.lte.amount=987655")
        assert tab.locator("#grid tbody tr").count() == 5
        assert sql(demo_url, "SELECT count(*) FROM operations")[0][0] == before + 5
    finally:
        context.close()


@with_db
def test_a_file_over_the_size_limit_is_refused_while_it_streams_and_leaves_nothing(shop, client_as, bob, settings):
    settings.IMPORT_MAX_MB = 1
    files_before = _imports()
    big = b"id,client_id,qty\n" + b"".join(b"%d,1,1\n" % i for i in range(10, 200_000))
    assert len(big) > 1024 * 1024
    r = client_as(bob).post("/data/public.imp_item/import", {"file": SimpleUploadedFile("big.csv", big)})
    assert r.status_code == 413 and "PGADMIN_IMPORT_MAX_MB" in r.content.decode()
    assert _imports() == files_before
