"""The grid reads calmly: bad filters marked in place, a position line, one number style, labels not
bare keys, clean error sentences, no emoji glyphs (issue 12, items 1, 6 and 10 and the defects list).

Server-side stories on the hostile fixture schema; the browser part (density, one scroll, the
disabled "Delete selected…") is in ``test_grid_calm_browser``.
"""

from __future__ import annotations

import re

from tests.databrowser.conftest import sql, tpath
from tests.databrowser.test_pages import _form_fields, chips, visible

USERS = ("Odd Schema.v2", 'Üser "Accounts" 100%')
EMOJI = "⏮⏭↻✕⚠⤢"


def test_a_bad_filter_value_is_marked_in_place_and_the_other_filters_still_apply(hostile, client_as, carol):
    client = client_as(carol)
    r = client.get(f"/data/{tpath(*USERS)}", {"f.gte.order": "lots", "f.lte.order": "20"})
    body = r.content.decode()
    assert r.status_code == 200 and 'id="grid"' in body  # the grid stays
    bad = re.search(r'<span class="chip chip-bad" role="alert">(.*?)</span></span>', body, re.S)
    assert bad and "order ≥ lots" in visible(bad.group(1)) and "lots" in visible(bad.group(1)).split("order ≥ lots")[1]
    assert "not applied" in visible(bad.group(1))
    assert chips(body) == ["order ≤ 20"]  # the good filter: applied, a normal chip
    expected = sql(hostile, 'SELECT count(*) FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" WHERE "order" <= 20')[0][0]
    rows = re.findall(r"<tr[ >].*?</tr>", body.split("<tbody>")[1].split("</tbody>")[0], re.S)
    assert len(rows) == min(expected, 25)


def test_a_filter_bad_in_shape_is_marked_too_and_a_query_of_only_good_filters_is_unchanged(hostile, client_as, carol):
    client = client_as(carol)
    body = client.get(f"/data/{tpath(*USERS)}", {"f.null.mood": "maybe", "f.gte.order": "3"}).content.decode()
    assert "chip-bad" in body and "takes 1 (is null) or 0" in body and chips(body) == ["order ≥ 3"]
    assert "chip-bad" not in client.get(f"/data/{tpath(*USERS)}", {"f.gte.order": "3"}).content.decode()


def test_the_api_still_refuses_a_bad_filter_with_400(hostile, api_as, carol):
    r = api_as(carol).get(f"/api/tables/{tpath(*USERS)}/data", {"f.gte.order": "lots"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_value"


def test_the_position_line_says_which_rows_of_how_many(hostile, client_as, carol):
    client = client_as(carol)
    total = sql(hostile, 'SELECT count(*) FROM "Odd Schema.v2"."Üser ""Accounts"" 100%"')[0][0]
    assert total > 50
    first = client.get(f"/data/{tpath(*USERS)}", {"count": "1", "page_size": "25"}).content.decode()
    line = visible(re.search(r'<span class="muted" id="position">(.*?)</span>\s*\n', first, re.S).group(1))
    assert line == f"rows 1–25 of {total:,}"
    nxt = re.search(r'id="page-next"', first) and re.search(r'href="([^"]+)" id="page-next"', first).group(1)
    assert "at=25" in nxt
    second = client.get(f"/data/{tpath(*USERS)}" + nxt.replace("&amp;", "&")).content.decode()
    assert visible(re.search(r'id="position">(.*?)</span>\s*\n', second, re.S).group(1)).startswith("rows 26–50")


def test_counts_have_one_style_and_no_emoji_glyphs_remain(hostile, client_as, bob):
    body = client_as(bob).get(f"/data/{tpath(*USERS)}", {"count": "1"}).content.decode()
    assert not any(ch in body for ch in EMOJI), [ch for ch in EMOJI if ch in body]
    assert '<svg class="icon"' in body
    assert re.search(r'<span data-n="\d+">[\d,]+</span> rows', body)  # the browser regroups [data-n]
    assert "data-needs-selection" in re.search(r'<button[^>]*id="bulk-delete"[^>]*>', body).group(0)


def test_the_row_link_sits_on_the_key_cell_and_viewers_get_no_selection_column(hostile, client_as, carol, bob):
    viewer = client_as(carol).get("/data/public.parent").content.decode()
    assert 'class="rowlink"' not in viewer and 'name="pk"' not in viewer
    assert re.search(r'<td class="num key"><a href="/data/public\.parent/row/1" class="rowkey"', viewer)
    assert ">open</a>" not in viewer
    editor = client_as(bob).get("/data/public.parent").content.decode()
    assert '<td class="rowlink"><input type="checkbox" name="pk" value="1"' in editor


def test_number_fields_keep_what_was_typed_and_refuse_letters(hostile, client_as, bob):
    client = client_as(bob)
    form = client.get(f"/data/{tpath(*USERS)}/new").content.decode()
    order = re.search(r'data-column="order".*?(<input[^>]*>)', form, re.S).group(1)
    assert 'type="text"' in order and 'inputmode="numeric"' in order  # no type=number dropping the "x"
    fields = _form_fields(form)
    user_key = re.search(r'data-column="user".*?name="(c\d+)"', form, re.S).group(1)
    order_key = re.search(r'name="(c\d+)"', order).group(1)
    r = client.post(f"/data/{tpath(*USERS)}/new", {**fields, user_key: "numbers test", order_key: "12x4"})
    assert r.status_code == 400 and "Enter a whole number." in r.content.decode()
    table = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'
    assert sql(hostile, f"SELECT count(*) FROM {table} WHERE \"user\" = 'numbers test'") == [(0,)]


def test_database_refusals_read_as_one_sentence_plus_a_hint(hostile, api_as, bob):
    api = api_as(bob)
    r = api.post("/api/tables/public.child/rows", {"id": 9001, "parent_id": 999, "label": "x"}, format="json")
    error = r.json()["error"]
    assert r.status_code == 400 and error["message"].endswith('"parent".') and ".." not in error["message"]
    assert error["hint"] and "row" in error["hint"]
    r = api.post("/api/tables/public.parent/rows", {"id": 9002, "name": "parent 1"}, format="json")
    error = r.json()["error"]
    assert r.status_code == 409 and error["message"].endswith("already exists.") and ".)." not in error["message"]


def test_the_delete_preview_names_the_row_by_its_label(hostile, client_as, bob):
    body = client_as(bob).get("/data/public.parent/row/3/delete").content.decode()
    label = sql(hostile, "SELECT name FROM parent WHERE id = 3")[0][0]
    assert re.search(r'id="delete-rows">Row \(name, key\): <code>' + label + r" \(3\)</code>", body)


def test_the_row_page_shows_a_foreign_key_with_its_rows_label(hostile, client_as, carol):
    parent_id, = sql(hostile, "SELECT parent_id FROM child WHERE id = 7")[0]
    name, = sql(hostile, "SELECT name FROM parent WHERE id = %s", parent_id)[0]
    body = client_as(carol).get("/data/public.child/row/7").content.decode()
    assert re.search(r'<a href="/data/public\.parent/row/' + str(parent_id) + r'" class="fk">.*?</a> '
                     r'<span class="fk-label" data-fk-label>' + name + "</span>", body, re.S)
