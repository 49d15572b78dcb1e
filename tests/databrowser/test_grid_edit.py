"""What the grid's inline editor and side panel need from the server (issue 12, items 2 and 3).

Rows carry their key and version (the inline save's If-Match), headers their kind and whether this
user may change the column; the row page has a panel fragment. The browser story is in test_browser.
"""

from __future__ import annotations

import html
import re

from tests.databrowser.conftest import pkpath, sql, tpath

USERS = ("Odd Schema.v2", 'Üser "Accounts" 100%')


def _rows(body: str) -> list[dict[str, str]]:
    tbody = body.split("<tbody>")[1].split("</tbody>")[0]
    return [dict(re.findall(r'data-(pk|version)="([^"]*)"', tr)) for tr in re.findall(r"<tr([^>]*)>", tbody)]


def test_grid_rows_carry_their_key_and_version_so_a_cell_can_be_saved_in_place(hostile, client_as, api_as, bob):
    body = client_as(bob).get(f"/data/{tpath(*USERS)}", {"sort": "id"}).content.decode()
    rows = _rows(body)
    versions = dict(sql(hostile, 'SELECT t.id::text, t.xmin::text FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" t '
                                 "ORDER BY t.id LIMIT " + str(len(rows))))
    assert rows and [r["pk"] for r in rows] == list(versions)
    assert all(r["version"] == versions[r["pk"]] for r in rows)
    # that version is what the row API takes as If-Match
    pk = rows[0]["pk"]
    ok = api_as(bob).put(f"/api/tables/{tpath(*USERS)}/rows/{pkpath(pk)}", {"order": 7}, format="json",
                          HTTP_IF_MATCH=f'"{rows[0]["version"]}"')
    assert ok.status_code == 200, ok.content
    stale = api_as(bob).put(f"/api/tables/{tpath(*USERS)}/rows/{pkpath(pk)}", {"order": 8}, format="json",
                             HTTP_IF_MATCH=f'"{rows[0]["version"]}"')
    assert stale.status_code == 409 and stale.json()["error"]["detail"]["current"]["order"] == 7


def test_headers_say_each_columns_kind_and_only_editors_get_editable_columns(hostile, client_as, bob, carol):
    page = client_as(bob).get(f"/data/{tpath(*USERS)}").content.decode()
    heads = dict(re.findall(r'<th[^>]* data-col="([^"]+)"([^>]*)>', page))
    heads = {html.unescape(k): v for k, v in heads.items()}
    assert 'data-kind="json"' in heads["payload"] and 'data-kind="int"' in heads["order"]
    assert "data-enum=" in heads["mood"] and "data-nullable" in heads["mood"]
    assert "data-editable" in heads["user"] and "data-editable" not in heads["id"]  # the key is not edited in place
    child = client_as(bob).get("/data/public.child").content.decode()
    assert re.search(r'data-col="parent_id"[^>]*data-fk-lookup="/data/public.parent/lookup\?column=id"', child)
    viewer = client_as(carol).get(f"/data/{tpath(*USERS)}").content.decode()
    assert "data-editable" not in viewer and 'data-readonly="Read-only: you are a viewer."' in viewer


def test_the_row_panel_is_a_fragment_with_fk_labels_related_counts_and_json(hostile, client_as, carol):
    client = client_as(carol)
    child = client.get("/data/public.child/row/3", {"panel": "1"}).content.decode()
    assert "<html" not in child and 'id="panel-values"' in child
    label = sql(hostile, "SELECT p.name FROM child c JOIN parent p ON p.id = c.parent_id WHERE c.id = 3")[0][0]
    assert re.search(rf"data-fk-label>{label}<", child)
    parent = client.get("/data/public.parent/row/1", {"panel": "1"}).content.decode()
    children = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 1")[0][0]
    assert re.search(r"public\.child via parent_id:\s*<strong data-related-count>" + str(children) + "<", parent)
    assert "open filtered" in parent and "panel-edit" not in parent  # a viewer gets no edit action
    first = sql(hostile, 'SELECT id FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" '
                         "WHERE payload IS NOT NULL ORDER BY id LIMIT 1")[0][0]
    user = client.get(f"/data/{tpath(*USERS)}/row/{first}", {"panel": "1"}).content.decode()
    assert 'class="json-view" data-json="' in user


def test_in_read_only_mode_even_an_admin_is_told_why_cells_cannot_be_edited(hostile, client_as, alice, settings):
    settings.READ_ONLY = True
    body = client_as(alice).get(f"/data/{tpath(*USERS)}").content.decode()
    assert "data-editable" not in body and "PGADMIN_READ_ONLY=1" in re.search(r'data-readonly="([^"]*)"', body).group(1)


def test_a_cell_saved_by_the_grid_is_audited_and_a_forced_overwrite_says_so(hostile, api_as, bob):
    from core.models import AuditEntry

    pk = sql(hostile, 'SELECT min(id) FROM "Odd Schema.v2"."Üser ""Accounts"" 100%"')[0][0]
    url = f"/api/tables/{tpath(*USERS)}/rows/{pkpath(pk)}"
    r = api_as(bob).put(url + "?force=true", {"Mixed Case": "overwritten"}, format="json")
    assert r.status_code == 200, r.content
    entry = AuditEntry.objects.filter(action="data.update").latest("created_at")
    assert entry.username == "bob" and "forced" in entry.message and entry.after == {"Mixed Case": "overwritten"}


def test_every_value_the_inline_editor_reads_saves_back_unchanged(hostile, api_as, bob):
    """The editor starts from the API's value of the cell: for every kind it must be a value the PUT takes."""
    client = api_as(bob)
    pk = sql(hostile, 'SELECT min(id) FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" WHERE born IS NOT NULL')[0][0]
    url = f"/api/tables/{tpath(*USERS)}/rows/{pkpath(pk)}"
    refused = {}
    for column in client.get(f"/api/tables/{tpath(*USERS)}/schema").json()["columns"]:
        if column["primary_key"] or column["identity_always"]:
            continue
        got = client.get(url)
        value = got.json()["row"][column["name"]]
        put = client.put(url, {column["name"]: value}, format="json", HTTP_IF_MATCH=got["ETag"])
        if put.status_code != 200:
            refused[column["name"]] = (column["kind"], value, put.json()["error"]["message"])
    assert refused == {}


def _grid_cell(body: str, pk: str, column: str) -> str:
    """The inner HTML of one cell of the grid page (found by the row's key and the column's header)."""
    thead = body.split("<thead>")[1].split("</thead>")[0]
    heads = [html.unescape(m.group(1)) if (m := re.search(r'data-col="([^"]*)"', th)) else ""
             for th in re.findall(r"<th[^>]*>", thead)]
    row = re.search(rf'<tr data-pk="{re.escape(pk)}"[^>]*>(.*?)</tr>', body, re.S).group(1)  # type: ignore[union-attr]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return cells[heads.index(column)]


def test_an_fk_cell_saved_in_place_comes_back_exactly_as_the_grid_renders_it(hostile, client_as, api_as, bob):
    """bob moves child 3 to parent 4 from the grid: the answer carries the cell as the grid's own HTML
    (the link to the parent's row), so the saved cell looks like every other FK cell of the grid."""
    page = client_as(bob).get("/data/public.child", {"sort": "id"}).content.decode()
    version = re.search(r'<tr data-pk="3" data-version="(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert 'class="fk"' in _grid_cell(page, "3", "parent_id")
    r = api_as(bob).put("/api/tables/public.child/rows/3?cells=true", {"parent_id": 4}, format="json",
                        HTTP_IF_MATCH=f'"{version}"')
    assert r.status_code == 200, r.content
    cells = r.json()["cells"]
    assert cells["parent_id"] == '<a href="/data/public.parent/row/4" class="fk">4</a>'
    after = client_as(bob).get("/data/public.child", {"sort": "id"}).content.decode()
    for column, cell in cells.items():  # every cell of the row: the grid's markup, the key's link too
        assert _grid_cell(after, "3", column) == cell, column
    # a plain GET answers the cells too (the editor's "Take theirs" reads the row again with them);
    # without ?cells the answer stays the plain row
    assert api_as(bob).get("/api/tables/public.child/rows/3", {"cells": "true"}).json()["cells"] == cells
    assert "cells" not in api_as(bob).get("/api/tables/public.child/rows/3").json()
    assert sql(hostile, "SELECT parent_id FROM child WHERE id = 3") == [(4,)]
