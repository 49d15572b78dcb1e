"""Grid columns arranged per user and table (order, hidden, widths): the API, the menu's form
without JS, and the grid the server renders from them — on the hostile schema's odd names."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import USERS, sql, tpath

pytestmark = pytest.mark.django_db

U = tpath(*USERS)
API = f"/api/tables/{U}/columns"
GRID = f"/data/{U}"


def header_names(html: str) -> list[str]:
    import html as htmllib

    return [htmllib.unescape(n) for n in re.findall(r'<th[^>]* data-col="([^"]*)"', html)]


def first_row_cells(html: str) -> int:
    body = html.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    return body.count("<td")


def test_a_viewer_reorders_hides_and_sizes_her_columns_and_nobody_else_sees_it(hostile, api_as, client_as, carol, bob):
    table_order = api_as(carol).get(API).json()["order"]
    assert table_order[:3] == ["id", "user", "order"] and 'it\'s "quoted"' in table_order
    audited = AuditEntry.objects.count()

    wanted = ['it\'s "quoted"', "per%cent", "user", "id"]
    r = api_as(carol).put(API, {"order": wanted, "hidden": ["payload", "blob"], "widths": {"user": 240}}, format="json")
    assert r.status_code == 200, r.content
    saved = r.json()
    # the named columns first, the others after them in the table's order; nothing lost, nothing twice
    assert saved["order"][:4] == wanted and sorted(saved["order"]) == sorted(table_order)
    assert saved["hidden"] == ["payload", "blob"] and saved["widths"] == {"user": 240}
    # a PUT of one part keeps the others
    assert api_as(carol).put(API, {"widths": {"order": 90.4}}, format="json").json()["widths"] == {"user": 240, "order": 90}
    assert api_as(carol).get(API).json()["hidden"] == ["payload", "blob"]
    assert AuditEntry.objects.count() == audited  # a display preference, not a target write

    # The grid the server sends is already in her order, without the hidden columns, with her widths.
    html = client_as(carol).get(GRID).content.decode()
    shown = header_names(html)
    assert shown == [n for n in saved["order"] if n not in ("payload", "blob")]
    assert first_row_cells(html) == len(shown)  # a viewer has no selection column: body and header agree
    assert re.search(r'data-col="user" style="width:240px', html)
    assert "(2 hidden)" in html

    # bob (another user) still sees the table's own order, and his API answer says so
    assert api_as(bob).get(API).json() == {"order": table_order, "hidden": [], "widths": {}}
    assert header_names(client_as(bob).get(GRID).content.decode()) == table_order

    # a column dropped by a migration since is ignored, not an error
    from databrowser.models import ColumnPrefs

    ColumnPrefs.objects.filter(user=carol).update(order=["gone", "per%cent"], hidden=["gone"])
    after = api_as(carol).get(API).json()
    assert after["order"][0] == "per%cent" and "gone" not in after["order"] and after["hidden"] == []

    assert api_as(carol).delete(API).json()["order"] == table_order
    assert header_names(client_as(carol).get(GRID).content.decode()) == table_order


def test_the_columns_menu_works_without_javascript_and_needs_the_csrf_token(hostile, bob):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)
    page = browser.get(GRID + "?sort=-id").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*id="col-form"', page).group(1)  # type: ignore[union-attr]
    assert unquote(form).endswith("/columns")
    assert browser.post(form, {"move": "user:left"}).status_code == 403  # no token: refused

    everyone = header_names(page)
    shown = [n for n in everyone if n not in ("tags", "mood")]
    r = browser.post(form, {"csrfmiddlewaretoken": token, "columns": "1", "show": shown, "move": "user:left",
                            "next": GRID + "?sort=-id"})
    assert r.status_code == 302 and r["Location"] == GRID + "?sort=-id"  # back to the same grid view
    after = header_names(browser.get(r["Location"]).content.decode())
    assert after[:2] == ["user", "id"] and "tags" not in after and "mood" not in after

    # another site as "next" is refused: back to the grid
    r = browser.post(form, {"csrfmiddlewaretoken": token, "move": "user:right", "next": "https://evil.example/"})
    assert r["Location"] == GRID
    assert header_names(browser.get(GRID).content.decode())[:2] == ["id", "user"]
    # ticking nothing would leave an empty grid: refused with a message
    r = browser.post(form, {"csrfmiddlewaretoken": token, "columns": "1"})
    assert r.status_code == 400 and b"At least one column" in r.content
    r = browser.post(form, {"csrfmiddlewaretoken": token, "reset": "1"})
    assert "tags" in header_names(browser.get(GRID).content.decode())


@pytest.mark.parametrize("body", [[], {}, {"order": "id"}, {"order": ["id", "id"]}, {"order": ["nope"]},
                                  {"hidden": ["nope"]}, {"widths": {"user": 5}}, {"widths": {"user": "wide"}},
                                  {"widths": {"user": True}}, {"widths": ["user"]}, {"colour": "red"}])
def test_bad_column_layouts_are_a_400_with_a_hint(hostile, body, carol, api_as):
    response = api_as(carol).put(API, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["message"] and "order" in error["hint"]


LONG = "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx"


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    import csv
    import io

    assert response.status_code == 200, response.content
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def test_exports_follow_her_column_layout_and_every_column_is_one_choice_away(hostile, api_as, client_as, carol):
    """carol arranges her grid, then exports it: the file has her columns in her order, the hidden ones
    left out (a sort by a hidden column still holds); the menu's "all columns" links give every column
    in the table's order; NULL stays \\N and the empty string "" either way."""
    import json

    table_order = api_as(carol).get(API).json()["order"]
    mine = [LONG, "user", "id"]
    hidden = ["payload", "blob", "order", "doc"]
    assert api_as(carol).put(API, {"order": mine, "hidden": hidden}, format="json").status_code == 200
    shown = [n for n in mine + [n for n in table_order if n not in mine] if n not in hidden]

    page = client_as(carol).get(GRID, {"sort": "-order"}).content.decode()
    links = {m.group(2): m.group(1).replace("&amp;", "&")
             for m in re.finditer(r'<a[^>]*href="([^"]+)"[^>]*id="(export-(?:csv|json)(?:-all)?)"', page)}
    assert set(links) == {"export-csv", "export-json", "export-csv-all", "export-json-all"}
    # the menu says which columns each one writes
    assert re.search(rf'id="export-csv">Export CSV <span class="muted">\({len(shown)} of {len(table_order)} columns\)', page)
    assert f"all {len(table_order)} columns, table order" in page and "4 hidden left out" in page

    records = _csv(client_as(carol).get(links["export-csv"]))
    assert records[0] == shown
    ids = [int(r[shown.index("id")]) for r in records[1:]]
    assert ids == [r[0] for r in sql(hostile, 'SELECT id FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" ORDER BY "order" DESC')]
    by_id = {int(r[shown.index("id")]): r[shown.index(LONG)] for r in records[1:]}
    assert by_id[5] == "\\N" and by_id[7] == ""  # NULL and the empty string stay apart
    rows = json.loads(b"".join(client_as(carol).get(links["export-json"]).streaming_content))
    assert list(rows[0]) == shown

    every = _csv(client_as(carol).get(links["export-csv-all"]))
    assert every[0] == table_order and len(every) == len(records)
    assert list(json.loads(b"".join(client_as(carol).get(links["export-json-all"]).streaming_content))[0]) == table_order

    # the API is for scripts: every column unless asked for the layout (a file that does not change
    # when its user hides a column in the grid); an unknown choice is a 400 with a hint
    assert _csv(api_as(carol).get(f"/api/tables/{U}/export", {"format": "csv"}))[0] == table_order
    assert _csv(api_as(carol).get(f"/api/tables/{U}/export", {"format": "csv", "columns": "layout"}))[0] == shown
    bad = api_as(carol).get(f"/api/tables/{U}/export", {"format": "csv", "columns": "some"})
    assert bad.status_code == 400 and "columns=all" in bad.json()["error"]["hint"]


def test_without_a_layout_the_export_menu_says_every_column_is_written(hostile, client_as, bob):
    """bob never arranged this grid: its exports already write every column, so the menu offers no second pair."""
    page = client_as(bob).get(GRID).content.decode()
    assert re.search(r'title="All \d+ columns, in the table&#x27;s order" id="export-csv">Export CSV</a>', page)
    assert 'id="export-json">Export JSON <span class="muted small">all columns</span>' in page
    assert "export-csv-all" not in page and "export-json-all" not in page
