"""The HTML pages on the hostile schema: list, grid (sort, filter, pages), row, forms, delete."""

from __future__ import annotations

import html
import re

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import USERS, pkpath, sql, tpath

pytestmark = pytest.mark.django_db

TABLES = [USERS, ("public", "order"), ("public", "no key log"), ("public", "order line"), ("public", "measurements"),
          ("Odd Schema.v2", "happy view"), ("public", "a_table_name_that_is_exactly_sixty_three_characters_long_xxxxxx")]


def link(body: str, element_id: str) -> str | None:
    tag = re.search(r'<a [^>]*id="' + element_id + '"[^>]*>', body)
    return html.unescape(re.search(r'href="([^"]*)"', tag.group(0)).group(1)) if tag else None


def test_data_page_lists_tables_and_marks_views_read_only(hostile, client_as, carol):
    body = client_as(carol).get("/data").content.decode()
    assert html.escape('Üser "Accounts" 100%') in body and "happy view" in body
    row = re.search(r'<tr data-name="Odd Schema.v2.happy view">.*?</tr>', body, re.S).group(0)
    assert "read-only" in row
    filtered = client_as(carol).get("/data", {"q": "order"}).content.decode()
    assert "order line" in filtered and "measurements" not in filtered


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t[1][:20])
def test_every_hostile_relation_browses_sorts_and_pages(hostile, client_as, carol, table):
    client = client_as(carol)
    path = f"/data/{tpath(*table)}"
    r = client.get(path, {"page_size": "25"})
    assert r.status_code == 200, r.content[:500]
    body = r.content.decode()
    assert '<table class="grid-table" id="grid">' in body or 'id="grid"' in body
    headers = re.findall(r'data-sort="([^"]*)"', body)
    assert headers, "the grid shows its columns"
    for name in headers[:4]:
        name = html.unescape(name)
        for sort in (name, "-" + name):
            from databrowser.refs import format_sort

            r = client.get(path, {"sort": format_sort([(name.lstrip("-"), sort.startswith("-"))]), "page_size": "25"})
            assert r.status_code in (200, 400), (name, r.status_code)
    nxt = link(body, "page-next")
    if nxt:
        page2 = client.get(path + nxt)
        assert page2.status_code == 200 and link(page2.content.decode(), "page-prev")


def test_grid_shows_null_empty_json_bytea_and_long_values_distinctly(hostile, client_as, carol):
    body = client_as(carol).get(f"/data/{tpath(*USERS)}", {"page_size": "25"}).content.decode()
    assert '<span class="null">NULL</span>' in body  # row 5: NULL
    assert '<span class="empty">(empty)</span>' in body  # row 7: empty string
    assert 'class="bytea"' in body and "4 bytes" in body
    assert '<details class="cell-more">' in body  # a long value, cut, full on demand
    assert '<code class="json">{"n": 1, "source": "bot"}</code>' in body  # JSON shown as JSON


def visible(body: str) -> str:
    """The page's text as a reader sees it (tags gone)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body))


def chips(body: str) -> list[str]:
    """The labels of the applied-filter chips."""
    return [visible(c).strip() for c in re.findall(r'<a class="chip"[^>]*>(.*?)</a>', body, re.S)]


def test_filter_form_folds_into_the_url_and_chips_remove_it(hostile, client_as, carol):
    client = client_as(carol)
    path = f"/data/{tpath(*USERS)}"
    r = client.get(path, {"add_col": "mood", "add_op": "eq", "add_val": "sad"})
    assert r.status_code == 302 and "f.eq.mood=sad" in r["Location"]
    body = client.get(r["Location"]).content.decode()
    expected = sql(hostile, "SELECT count(*) FROM \"Odd Schema.v2\".\"Üser \"\"Accounts\"\" 100%\" WHERE mood = 'sad'")[0][0]
    assert f"{expected} rows" in visible(body)
    assert chips(body) == ["mood = sad"]


def test_fk_values_link_to_the_referenced_row_and_rows_show_related_counts(hostile, client_as, carol):
    client = client_as(carol)
    body = client.get("/data/public.child", {"sort": "id"}).content.decode()
    assert 'href="/data/public.parent/row/2" class="fk"' in body
    row = client.get("/data/public.parent/row/1").content.decode()
    children = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 1")[0][0]
    assert re.search(r"public\.child</a> via parent_id:\s*<strong>" + str(children) + "</strong>", row)
    assert "/data/public.child?f.eq.parent_id=1" in row
    composite = client.get("/data/public.order%20line/row/3").content.decode()
    assert 'href="/data/public.order/row/sel%252C3%2525,3"' in composite
    assert client.get("/data/public.order/row/sel%252C3%2525,3").status_code == 200


def test_editor_creates_a_row_through_the_generated_form(hostile, client_as, bob):
    client = client_as(bob)
    path = f"/data/{tpath(*USERS)}/new"
    form = client.get(path).content.decode()
    assert 'name="c1"' in form and "required" in form  # "user" is NOT NULL
    assert 'name="c0"' in form  # identity BY DEFAULT may be given, or left to the database
    bad = client.post(path, {"c1": "", "c2": "abc"})
    assert bad.status_code == 400 and "Enter a whole number." in bad.content.decode()
    dup = client.post(path, {"c1": "user 3", "c5__null": "on"})
    assert dup.status_code == 400 and "Another row already has this value" in dup.content.decode()
    ok = client.post(path, {"c1": "from the form", "c2": "9", "c3": "true", "c8": "sad", "c5": "", "c5__null": "on",
                            "c4": "", "c9": '{"k": 1}'})
    assert ok.status_code == 302, ok.content.decode()[:2000]
    row = sql(hostile, 'SELECT "order", "select", mood::text, "it\'s ""quoted""", "Mixed Case", payload '
                       'FROM "Odd Schema.v2"."Üser ""Accounts"" 100%" WHERE "user" = \'from the form\'')
    assert row == [(9, True, "sad", None, "", {"k": 1})]


def test_edit_form_carries_the_version_and_refuses_a_stale_save(hostile, client_as, bob):
    client = client_as(bob)
    path = f"/data/{tpath('public', 'parent')}/row/3/edit"
    form = client.get(path).content.decode()
    xmin = re.search(r'name="__xmin" value="(\d+)"', form).group(1)
    sql(hostile, "UPDATE parent SET name = 'changed underneath' WHERE id = 3")
    r = client.post(path, {"__xmin": xmin, "c1": "my edit"})
    assert r.status_code == 409
    body = r.content.decode()
    assert "Changed by someone else" in body and "changed underneath" in body and "my edit" in body
    assert sql(hostile, "SELECT name FROM parent WHERE id = 3") == [("changed underneath",)]
    fresh = re.search(r'name="__xmin" value="(\d+)"', body).group(1)
    assert client.post(path, {"__xmin": fresh, "c1": "my edit"}).status_code == 302
    assert sql(hostile, "SELECT name FROM parent WHERE id = 3") == [("my edit",)]


def test_delete_confirms_with_the_cascade_preview_then_deletes_on_post(hostile, client_as, bob):
    client = client_as(bob)
    confirm = client.get("/data/public.parent/row/4/delete")
    body = confirm.content.decode()
    assert confirm.status_code == 200 and 'id="cascade-preview"' in body
    kids = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 4")[0][0]
    assert re.search(r'data-table="public.child">.*?deleted \(cascade\).*?<td class="num">' + str(kids) + "<", body, re.S)
    assert sql(hostile, "SELECT count(*) FROM parent WHERE id = 4") == [(1,)]  # GET changed nothing
    r = client.post("/data/public.parent/row/4/delete")
    assert r.status_code == 302 and sql(hostile, "SELECT count(*) FROM parent WHERE id = 4") == [(0,)]
    blocked = client.get("/data/public.parent/row/5/delete").content.decode()
    assert 'id="blocked"' in blocked and "public.keeper holds 1 referencing row" in blocked


def test_bulk_delete_of_selected_rows_previews_and_deletes_them_all(hostile, client_as, bob):
    client = client_as(bob)
    keys = [pkpath("sel,1%", 1).replace("%25", "%"), "sel%2C2%25,2"]
    r = client.get(f"/data/{tpath('public', 'order')}/delete", {"pk": ["sel%2C1%25,1", "sel%2C2%25,2"]})
    body = r.content.decode()
    assert r.status_code == 200 and "Delete 2 rows" in body and "public.order line" in body
    r = client.post(f"/data/{tpath('public', 'order')}/delete", {"pk": ["sel%2C1%25,1", "sel%2C2%25,2"]})
    assert r.status_code == 302
    assert sql(hostile, "SELECT count(*) FROM \"order\" WHERE \"from\" IN (1, 2)") == [(0,)]
    assert sql(hostile, "SELECT count(*) FROM \"order line\" WHERE frm IN (1, 2)") == [(0,)]
    entry = AuditEntry.objects.get(action="data.bulk_delete")
    assert len(entry.before) == 2 and keys


def test_fk_picker_lookup_pages_the_referenced_table_with_labels(hostile, client_as, bob):
    client = client_as(bob)
    form = client.get("/data/public.child/new").content.decode()
    url = html.unescape(re.search(r'data-fk-lookup="([^"]+)"', form).group(1))
    data = client.get(url + "&q=parent+1").json()
    assert data["items"] == [{"value": "1", "label": "parent 1"}]
    first = client.get(url).json()
    assert first["label_column"] == "name" and first["items"][0]["label"].startswith("parent")


def test_csv_export_link_keeps_the_filters(hostile, client_as, carol):
    client = client_as(carol)
    body = client.get(f"/data/{tpath(*USERS)}", {"f.eq.mood": "happy", "sort": "-order"}).content.decode()
    url = link(body, "export-csv")
    r = client.get(url)
    text = b"".join(r.streaming_content).decode()
    lines = text.strip().splitlines()
    happy = sql(hostile, "SELECT count(*) FROM \"Odd Schema.v2\".\"Üser \"\"Accounts\"\" 100%\" WHERE mood = 'happy'")[0][0]
    assert len(lines) - 1 >= happy > 0 and "sad" not in text.split("\n", 1)[1].replace("it's complicated", "")


def test_row_page_shows_full_values_and_downloads_bytea(hostile, client_as, carol):
    client = client_as(carol)
    body = client.get(f"/data/{tpath(*USERS)}/row/12").content.decode()
    assert ("long " * 40).strip() in body  # the full value, not the grid's cut
    assert "&quot;source&quot;: &quot;web&quot;" in body or '"source": "web"' in body
    url = html.unescape(re.search(r'href="([^"]*/download/\d+)"', body).group(1))
    r = client.get(url)
    assert r.status_code == 200 and r.content == bytes.fromhex("0000000c")
    assert client.get(f"/data/{tpath(*USERS)}/row/99999").status_code == 404
    assert client.get(f"/data/{tpath('public', 'no key log')}/row/1").status_code == 400


def test_a_second_filter_keeps_the_first_even_on_the_same_column(hostile, client_as, carol):
    client = client_as(carol)
    path = f"/data/{tpath(*USERS)}"
    body = client.get(path, {"f.gte.order": "10", "sort": "-order"}).content.decode()
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body.split('id="filter-form"')[1]
                             .split("</form>")[0]))
    assert hidden == {"f.gte.order": "10", "sort": "-order"}
    r = client.get(path, {**hidden, "add_col": "order", "add_op": "lte", "add_val": "20"})
    body = client.get(r["Location"]).content.decode()
    assert "11 rows" in visible(body) and chips(body) == ["order ≥ 10", "order ≤ 20"]


def _form_fields(body: str) -> dict[str, str]:
    """The values a browser would submit from the row form (inputs, textareas, selects, checkboxes)."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.fields: dict[str, str] = {}
            self._text: str | None = None
            self._select: str | None = None

        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            a = dict(attrs)
            if tag == "input" and a.get("name") and a.get("type") != "checkbox":
                self.fields[a["name"]] = a.get("value") or ""
            elif tag == "input" and a.get("type") == "checkbox" and "checked" in a:
                self.fields[a["name"]] = "on"
            elif tag == "textarea":
                self._text = a["name"]
                self.fields[self._text] = ""
            elif tag == "select":
                self._select = a["name"]
            elif tag == "option" and self._select and "selected" in a:
                self.fields[self._select] = a.get("value") or ""

        def handle_data(self, data):  # type: ignore[no-untyped-def]
            if self._text:
                self.fields[self._text] += data

        def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
            if tag == "textarea":
                if self.fields[self._text].startswith("\n"):
                    self.fields[self._text] = self.fields[self._text][1:]  # the newline Django adds after <textarea>
                self._text = None
            elif tag == "select":
                self._select = None

    parser = Parser()
    parser.feed(body.split('id="row-form"')[1].split("</form>")[0])
    return parser.fields


def test_saving_an_edit_form_unchanged_keeps_every_value_of_every_type(hostile, client_as, bob):
    client = client_as(bob)
    path = f"/data/{tpath(*USERS)}/row/14/edit"
    table = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'  # no parameters: % is literal
    before = sql(hostile, f"SELECT * FROM {table} WHERE id = 14")
    fields = _form_fields(client.get(path).content.decode())
    assert fields["c15"] == "14:00:00"  # span (interval) as text
    r = client.post(path, fields)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert sql(hostile, f"SELECT * FROM {table} WHERE id = 14") == before
    fields["c5"], fields["c21"] = "changed", "[1,9)"
    fields.pop("c5__null", None)
    fields["__xmin"] = _form_fields(client.get(path).content.decode())["__xmin"]
    assert client.post(path, fields).status_code == 302
    after = sql(hostile, f"SELECT \"it's \"\"quoted\"\"\", range::text FROM {table} WHERE id = 14")
    assert after == [("changed", "[1,9)")]


def test_an_export_keeps_its_pace_and_the_grid_then_says_how_long_the_next_one_takes(hostile, client_as, carol,
                                                                                      settings, tmp_path, monkeypatch,
                                                                                      request):
    from core import durations
    from databrowser import export

    settings.DATA_DIR = tmp_path
    durations.reset()
    request.addfinalizer(durations.reset)  # the next test reads its own data dir's durations
    monkeypatch.setattr(export, "RATE_MIN_ROWS", 1)  # the fixture's tables are small
    client = client_as(carol)
    path = f"/data/{tpath(*USERS)}"
    body = client.get(path).content.decode()
    assert 'id="export-estimate"' not in body and "data-eta=" not in body  # nothing to go by yet
    rows = len(b"".join(client.get(link(body, "export-csv")).streaming_content).decode().strip().splitlines()) - 1
    from databrowser.refs import TableRef

    table = ("csv", TableRef(*USERS).slug)
    pace = durations.typical("export.s_per_row", table)
    assert rows > 0 and pace is not None and pace > 0
    assert durations.typical("export.s_per_row", "csv") == pace  # the first of any table, too
    assert (tmp_path / "durations.json").exists()  # kept for the next start too
    # other tables exported slowly: this table's own (fast) pace still counts, no estimate worth saying
    for _ in range(durations.KEEP):
        durations.remember("export.s_per_row", "csv", 30 / rows)
    assert 'id="export-estimate"' not in client.get(path).content.decode()
    # this table exported slowly (a busy server): the grid says the time before the click
    for _ in range(durations.KEEP):
        durations.remember("export.s_per_row", table, 30 / rows)
    body = client.get(path).content.decode()
    total = int(re.search(r'data-total="(\d+)"[^>]*id="export-csv"', body).group(1))
    expected = durations.duration(total * durations.typical("export.s_per_row", table))
    assert f'<span class="muted small" id="export-estimate">CSV: about {expected}</span>' in body
    assert f'data-eta="{expected}"' in body and "json" not in re.search(r'id="export-estimate">[^<]*', body).group(0)
