"""Grid columns arranged per user and table (order, hidden, widths): the API, the menu's form
without JS, and the grid the server renders from them — on the hostile schema's odd names."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import USERS, tpath

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
