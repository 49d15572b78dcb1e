"""The /api/tables… endpoints on the hostile schema: browse, sort, filter, page, write, delete."""

from __future__ import annotations

import pytest

from core.models import AuditEntry
from tests.databrowser.conftest import USERS, pkpath, sql, tpath

pytestmark = pytest.mark.django_db

U = tpath(*USERS)
UQ = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'  # the same table for the observer's own SQL


def all_pages(api, path: str, **params) -> list[dict]:
    rows, cursor, seen_pages = [], None, 0
    while True:
        q = dict(params, **({"cursor": cursor} if cursor else {}))
        r = api.get(path, q)
        assert r.status_code == 200, r.content
        rows += r.json()["rows"]
        cursor = r.json()["next_cursor"]
        seen_pages += 1
        if not cursor:
            return rows
        assert seen_pages < 100


def test_table_list_names_every_relation_with_its_kind_and_estimate(hostile, api_as, carol):
    r = api_as(carol).get("/api/tables")
    assert r.status_code == 200
    by_name = {(t["schema"], t["name"]): t for t in r.json()["tables"]}
    assert by_name[USERS]["kind"] == "table" and by_name[USERS]["estimated_rows"] == 260
    assert by_name[("Odd Schema.v2", "happy view")]["read_only"] is True
    assert by_name[("public", "measurements")]["kind"] == "partitioned table"
    assert ("public", "measurements_2024") not in by_name  # partitions are reached through their parent
    assert by_name[("public", "a_table_name_that_is_exactly_sixty_three_characters_long_xxxxxx")]


def test_schema_describes_columns_keys_and_references(hostile, api_as, carol):
    body = api_as(carol).get(f"/api/tables/{tpath('public', 'order line')}/schema").json()
    assert body["primary_key"] == ["n"]
    sel = next(c for c in body["columns"] if c["name"] == "sel")
    assert sel["references"] == {"table": "public.order", "columns": ["select", "from"]}
    odd = api_as(carol).get(f"/api/tables/{U}/schema").json()
    kinds = {c["name"]: c["kind"] for c in odd["columns"]}
    assert kinds["mood"] == "enum" and kinds["payload"] == "json" and kinds["tags"] == "array"
    assert next(c for c in odd["columns"] if c["name"] == "mood")["enum_values"] == ["happy", "sad", "it's complicated"]
    assert odd["label_column"] == "user"


@pytest.mark.parametrize("sort", ["", "-id", "order", "-order", "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx",
                                  "-a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx", "mood,-select",
                                  "-payload", "tags", "-seen at", "range", "-cash", "addr", "-span"])
def test_keyset_pages_return_every_row_once_in_the_database_order(hostile, api_as, carol, sort):
    rows = all_pages(api_as(carol), f"/api/tables/{U}/data", page_size="25", sort=sort)
    ids = [r["id"] for r in rows]
    assert len(ids) == 260 and len(set(ids)) == 260
    order = {"": "id", "-id": "id DESC", "order": '"order", id', "-order": '"order" DESC, id DESC',
             "mood,-select": 'mood, "select" DESC, id DESC', "-payload": "payload DESC, id DESC", "tags": "tags, id",
             "-seen at": '"seen at" DESC, id DESC', "range": "range, id", "-cash": "cash DESC, id DESC",
             "addr": "addr, id", "-span": "span DESC, id DESC"}.get(sort)
    if order is None:
        col = '"a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx"'
        order = f"{col} DESC, id DESC" if sort.startswith("-") else f"{col}, id"
    expected = [r[0] for r in sql(hostile, f"SELECT id FROM {UQ} ORDER BY {order}")]
    assert ids == expected


def test_previous_cursor_and_last_page_walk_back_exactly(hostile, api_as, carol):
    api = api_as(carol)
    path = f"/api/tables/{U}/data"
    first = api.get(path, {"page_size": "50", "sort": "-order"}).json()
    second = api.get(path, {"page_size": "50", "sort": "-order", "cursor": first["next_cursor"]}).json()
    back = api.get(path, {"page_size": "50", "sort": "-order", "cursor": second["prev_cursor"]}).json()
    assert back["rows"] == first["rows"] and back["has_prev"] is False
    last = api.get(path, {"page_size": "50", "sort": "-order", "last": "1"}).json()
    assert [r["order"] for r in last["rows"]] == list(range(50, 0, -1)) and last["has_next"] is False


def test_table_without_key_pages_by_offset_and_refuses_writes(hostile, api_as, bob):
    api = api_as(bob)
    path = f"/api/tables/{tpath('public', 'no key log')}"
    p2 = api.get(f"{path}/data", {"page_size": "25", "page": "2", "sort": "message"}).json()
    assert p2["paging"] == "offset" and len(p2["rows"]) == 25
    r = api.post(f"{path}/rows", {"message": "x"}, format="json")
    assert r.status_code == 405 and "no primary key" in r.json()["error"]["message"]
    assert api.get(f"{path}/data", {"cursor": "abc"}).status_code == 400


@pytest.mark.parametrize(("params", "where"), [
    ({"f.contains.user": "user 1"}, "\"user\" ILIKE '%user 1%'"),
    ({"f.eq.mood": "it's complicated"}, "mood = 'it''s complicated'"),
    ({"f.json.payload": "source=web"}, "payload->>'source' = 'web'"),
    ({"f.null.a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx": "1"},
     "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx IS NULL"),
    ({"f.bool.select": "true"}, "\"select\""),
    ({"f.gte.per%cent": "100", "f.lte.per%cent": "150.5"}, "\"per%cent\" BETWEEN 100 AND 150.5"),
    ({"f.gte.born": "2024-03-01", "f.lte.born": "2024-03-31"}, "born BETWEEN '2024-03-01' AND '2024-03-31'"),
    ({"f.starts.naïve ünïcode": "ünï 2"}, "\"naïve ünïcode\" LIKE 'ünï 2%'"),
    ({"q": "CASE 25"}, "\"Mixed Case\" ILIKE '%case 25%' OR \"user\" ILIKE '%case 25%'"),
    ({"f.contains.it's \"quoted\"": "'\"1"}, "\"it's \"\"quoted\"\"\" LIKE '%''\"1%'"),
    ({"f.contains.user": "100%"}, "false"),  # % is a literal, not a wildcard
])
def test_filters_select_exactly_the_rows_sql_selects(hostile, api_as, carol, params, where):
    rows = all_pages(api_as(carol), f"/api/tables/{U}/data", page_size="100", **params)
    expected = [r[0] for r in sql(hostile, f"SELECT id FROM {UQ} WHERE {where} ORDER BY id")]
    assert [r["id"] for r in rows] == expected


@pytest.mark.parametrize(("params", "code"), [
    ({"page_size": "7"}, "invalid_page_size"), ({"page_size": "-1"}, "invalid_page_size"),
    ({"cursor": "not base64!"}, "invalid_cursor"), ({"cursor": "eyJzIjoiMSJ9"}, "invalid_cursor"),
    ({"sort": "nope"}, "bad_request"), ({"f.eq.order": "twelve"}, "invalid_value"),
    ({"f.like.user": "x"}, "bad_request"), ({"sort": "where"}, "invalid_value"),
])
def test_malformed_parameters_get_a_400_with_a_hint(hostile, api_as, carol, params, code):
    r = api_as(carol).get(f"/api/tables/{U}/data", params)
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == code and r.json()["error"]["hint"]


def test_names_with_dots_quotes_and_unicode_round_trip_in_the_url(hostile, api_as, carol):
    from databrowser.refs import TableRef

    for ref in [TableRef(*USERS), TableRef("public", "order line"), TableRef("Odd Schema.v2", "happy view")]:
        assert TableRef.parse(ref.slug) == ref
        r = api_as(carol).get(f"/api/tables/{tpath(ref.schema, ref.name)}/schema")
        assert (r.json()["schema"], r.json()["name"]) == (ref.schema, ref.name)
    assert api_as(carol).get("/api/tables/public.nothing/schema").status_code == 404


def test_editor_creates_edits_and_deletes_a_row_with_a_composite_key_and_every_step_is_audited(hostile, api_as, bob):
    api = api_as(bob)
    base = f"/api/tables/{tpath('public', 'order')}"
    r = api.post(f"{base}/rows", {"select": "a,b%c", "from": 7, "note": None}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["row"] == {"select": "a,b%c", "from": 7, "note": None}
    key = pkpath("a,b%c", 7)
    etag = api.get(f"{base}/rows/{key}")["ETag"]
    r = api.put(f"{base}/rows/{key}", {"note": "changed"}, format="json", HTTP_IF_MATCH=etag)
    assert r.status_code == 200 and r.json()["row"]["note"] == "changed"
    assert sql(hostile, "SELECT note FROM \"order\" WHERE \"select\" = 'a,b%c'") == [("changed",)]
    assert api.delete(f"{base}/rows/{key}?preview=1").json()["rows"] == 1
    r = api.delete(f"{base}/rows/{key}", HTTP_IF_MATCH=r["ETag"])
    assert r.status_code == 200 and r.json()["deleted"] == 1
    entries = list(AuditEntry.objects.filter(action__startswith="data.").order_by("id"))
    assert [(e.action, e.outcome) for e in entries] == [("data.create", "ok"), ("data.update", "ok"), ("data.delete", "ok")]
    assert entries[1].before == {"note": None} and entries[1].after == {"note": "changed"}
    assert entries[2].before["select"] == "a,b%c" and entries[2].after is None


def test_database_refusals_come_back_on_the_right_field(hostile, api_as, bob):
    api = api_as(bob)
    r = api.post(f"/api/tables/{U}/rows", {"user": "user 1"}, format="json")
    assert r.status_code == 409 and "user" in r.json()["error"]["detail"]["fields"]
    r = api.post(f"/api/tables/{U}/rows", {"user": "new one", "order": -1}, format="json")
    assert r.status_code == 400 and "order" in r.json()["error"]["detail"]["fields"]
    assert "check" in r.json()["error"]["message"]
    r = api.post(f"/api/tables/{U}/rows", {"user": "new one", "order": "many"}, format="json")
    assert r.status_code == 400 and "order" in r.json()["error"]["detail"]["fields"]
    r = api.post(f"/api/tables/{tpath('public', 'child')}/rows", {"id": 999, "parent_id": 12345}, format="json")
    assert r.status_code == 400 and "parent_id" in r.json()["error"]["detail"]["fields"]
    r = api.post(f"/api/tables/{U}/rows", {"addr": "not an ip", "user": "x y"}, format="json")
    assert r.status_code == 400 and "addr" in str(r.json()["error"])
    assert AuditEntry.objects.filter(action="data.create", outcome="failed").count() >= 4


def test_every_type_of_the_hostile_table_can_be_written_and_read_back(hostile, api_as, bob):
    api = api_as(bob)
    values = {"user": "typed", "order": 3, "select": False, "Mixed Case": "", "it's \"quoted\"": None, "per%cent": "12.50",
              "naïve ünïcode": "ü", "mood": "sad", "payload": {"a": [1, 2]}, "tags": ["x", "y,z"], "blob": "\\x00ff",
              "born": "2020-02-29", "wake": "23:59:00", "span": "1 day 02:00:00", "ident": "12345678-1234-5678-1234-567812345678",
              "addr": "192.168.0.1", "doc": "'a' 'b'", "where": "(1,2)"}
    r = api.post(f"/api/tables/{U}/rows", values, format="json")
    assert r.status_code == 201, r.content
    row = r.json()["row"]
    assert row["Mixed Case"] == "" and row["it's \"quoted\""] is None
    assert row["payload"] == {"a": [1, 2]} and row["tags"] == ["x", "y,z"] and row["blob"] == "\\x00ff"
    assert row["per%cent"] == "12.50" and row["where"] == "(1,2)" and row["seen at"]  # server default filled
    got = api.get(f"/api/tables/{U}/rows/{row['id']}").json()["row"]
    assert got == row


def test_delete_preview_follows_cascades_and_names_blockers(hostile, api_as, bob):
    api = api_as(bob)
    preview = api.delete(f"/api/tables/public.parent/rows/{pkpath(2)}?preview=1").json()
    steps = {(s["table"], s["action"]): s["count"] for s in preview["steps"]}
    expected_children = sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2")[0][0]
    expected_grand = sql(hostile, "SELECT count(*) FROM grandchild g JOIN child c ON c.id = g.child_id "
                                  "WHERE c.parent_id = 2")[0][0]
    assert steps[("public.child", "delete")] == expected_children > 0
    assert steps[("public.grandchild", "delete")] == expected_grand > 0
    assert steps[("public.fan", "set null")] == 2
    assert steps[("public.keeper", "blocked")] == 0 and preview["blocked"] is False
    blocked = api.delete(f"/api/tables/public.parent/rows/{pkpath(5)}?preview=1").json()
    assert blocked["blocked"] is True
    r = api.delete(f"/api/tables/public.parent/rows/{pkpath(5)}?force=true")
    assert r.status_code == 409 and "keeper" in r.json()["error"]["message"]
    r = api.delete(f"/api/tables/public.parent/rows/{pkpath(2)}?force=true")
    assert r.status_code == 200
    assert sql(hostile, "SELECT count(*) FROM child WHERE parent_id = 2") == [(0,)]
    assert sql(hostile, "SELECT count(*) FROM fan WHERE parent_id IS NULL")[0][0] >= 2


def test_view_and_partitioned_table(hostile, api_as, bob):
    api = api_as(bob)
    view = api.get(f"/api/tables/{tpath('Odd Schema.v2', 'happy view')}/data", {"sort": "-user", "page_size": "25"}).json()
    assert view["paging"] == "offset" and {r["mood"] for r in view["rows"]} == {"happy"}
    r = api.post(f"/api/tables/{tpath('Odd Schema.v2', 'happy view')}/rows", {"user": "x"}, format="json")
    assert r.status_code == 405
    rows = all_pages(api, "/api/tables/public.measurements/data", page_size="25", sort="-value")
    assert len(rows) == 150 and rows[0]["value"] == 75.0
    r = api.put(f"/api/tables/public.measurements/rows/{pkpath(3, '2024-06-10')}?force=true", {"value": 1.25},
                format="json")
    assert r.status_code == 200 and r.json()["row"]["value"] == 1.25


def test_export_streams_the_filtered_sorted_rows_as_csv_and_json(hostile, api_as, carol):
    import csv
    import io
    import json

    api = api_as(carol)
    r = api.get(f"/api/tables/{U}/export", {"format": "csv", "f.eq.mood": "sad", "sort": "-id"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode())))
    expected = [r[0] for r in sql(hostile, f"SELECT id FROM {UQ} WHERE mood = 'sad' ORDER BY id DESC")]
    assert lines[0][0] == "id" and [int(x[0]) for x in lines[1:]] == expected
    r = api.get(f"/api/tables/{U}/export", {"format": "json", "f.eq.mood": "sad"})
    data = json.loads(b"".join(r.streaming_content))
    assert len(data) == len(expected) and data[0]["mood"] == "sad"
    assert api.get(f"/api/tables/{U}/export", {"format": "xml"}).status_code == 400
    assert api.get(f"/api/tables/{U}/export", {"format": "csv", "f.eq.order": "x"}).status_code == 400


def test_a_sort_cut_by_the_statement_timeout_says_so_instead_of_hanging(hostile, api_as, carol, settings):
    from core import target

    settings.STATEMENT_TIMEOUT_MS = 300
    target.set_target_url(None)  # the engine's connections carry the new timeout
    r = api_as(carol).get(f"/api/tables/{tpath('public', 'slow numbers')}/data", {"sort": "-h"})
    assert r.status_code == 408, r.content
    assert r.json()["error"]["code"] == "statement_timeout" and "index" in r.json()["error"]["hint"]


def test_the_openapi_schema_lists_the_table_endpoints(hostile, api_as, carol):
    r = api_as(carol).get("/api/schema")
    assert r.status_code == 200
    # drf-spectacular spells the {pk} parameter {id} (its SCHEMA_COERCE_PATH_PK default)
    for path in (b"/api/tables/{tref}/data", b"/api/tables/{tref}/rows/{", b"/api/tables/{tref}/export"):
        assert path in r.content


def test_a_self_referencing_tree_cascades_level_by_level_in_the_preview(hostile, api_as, bob):
    preview = api_as(bob).delete(f"/api/tables/public.tree/rows/{pkpath(1)}?preview=1").json()
    levels = [(s["depth"], s["count"]) for s in preview["steps"] if s["action"] == "delete"]
    assert levels[:3] == [(1, 2), (2, 1), (3, 1)]  # 2 and 3, then 4, then 5
    assert api_as(bob).delete(f"/api/tables/public.tree/rows/{pkpath(1)}?force=true").status_code == 200
    assert sql(hostile, "SELECT id FROM tree ORDER BY id") == [(6,)]


def test_refresh_rereads_the_structure_after_a_migration(hostile, client_as, carol):
    client = client_as(carol)
    assert "late_column" not in client.get("/data/public.fan").content.decode()
    sql(hostile, "ALTER TABLE fan ADD COLUMN late_column text")
    r = client.get("/data/public.fan", {"refresh": "1"})
    assert r.status_code == 302
    assert 'data-sort="late_column"' in client.get(r["Location"]).content.decode()
