"""A search on a big table without a serving index scans in bounded parts and resumes exactly.

The table has 200 000 rows; the word is in a jsonb column for some rows and in a text column for
others. With a tiny time budget and chunk (so one answer searches only a sliver of the table),
following "continue" from the first answer to the last must give exactly the rows a plain,
unbounded query gives — each once — and the summary's counts must add up to them. A cursor that
was edited, or belongs to another search, is a 400 with a hint.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.django_db

ROWS = 200_000
EVENTS = "/api/tables/public.events/data"
# the observer's own SQL for the rows the word "needle" matches: every column that can hold it
NEEDLE_SQL = ("SELECT id FROM events WHERE title ILIKE '%needle%' OR meta::text ILIKE '%needle%' "
              "OR tags::text ILIKE '%needle%' OR kind::text ILIKE '%needle%' ORDER BY id")


@pytest.fixture(scope="module")
def events_url(target_url: str) -> str:
    sql(target_url, f"""
        CREATE TYPE kind AS ENUM ('plain', 'special');
        CREATE TABLE events (id bigint PRIMARY KEY, title text, meta jsonb, amount numeric(12, 2), tags text[],
                             kind kind, at timestamptz DEFAULT now(), photo bytea);
        INSERT INTO events (id, title, meta, amount, tags, kind)
        SELECT g, CASE WHEN g % 1499 = 0 THEN 'a needle here' ELSE 'event ' || g END,
               jsonb_build_object('who', CASE WHEN g % 997 = 0 THEN 'Needle' ELSE 'hay' END, 'n', g),
               (g % 1000) / 10.0, ARRAY['t' || (g % 7)], CASE WHEN g % 2 = 0 THEN 'plain' ELSE 'special' END::kind
        FROM generate_series(1, {ROWS}) g;
        CREATE TABLE heap_log (at int, message text);
        INSERT INTO heap_log SELECT g, CASE WHEN g % 509 = 0 THEN 'needle ' || g ELSE 'line ' || g END
        FROM generate_series(1, 60000) g;
        CREATE TABLE notes (id int PRIMARY KEY, rank int NOT NULL, body text);
        INSERT INTO notes SELECT g, (g * 7919) % 500, CASE WHEN g % 97 = 0 THEN 'needle' ELSE 'note' END
        FROM generate_series(1, 30000) g;
        CREATE INDEX notes_rank ON notes (rank);
        ANALYZE events; ANALYZE heap_log; ANALYZE notes;
    """)
    return target_url


@pytest.fixture
def tiny_budget(events_url: str, target, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A budget and a first chunk so small that one answer searches only a sliver of the table."""
    from databrowser import query

    settings.SEARCH_BUDGET_MS = 40
    settings.SEARCH_CHUNK_ROWS = 2000
    settings.SEARCH_SCAN_ABOVE = 1000
    query.invalidate()
    yield events_url
    query.invalidate()


def follow(api, path: str, **params: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """Every answer from the first to the last "continue": (all rows, every answer's search block)."""
    rows: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    cursor = None
    for _ in range(2000):
        r = api.get(path, dict(params, **({"cursor": cursor} if cursor else {})))
        assert r.status_code == 200, r.content
        body = r.json()
        rows += body["rows"]
        answers.append(body["search"])
        cursor = body["next_cursor"]
        if not cursor:
            return rows, answers
    raise AssertionError("the scan never finished")


def test_following_continue_to_the_end_yields_exactly_the_rows_of_an_unbounded_query(tiny_budget, api_as, carol,
                                                                                     settings):
    expected = [r[0] for r in sql(tiny_budget, NEEDLE_SQL)]
    assert len(expected) > 100  # several pages of matches
    rows, answers = follow(api_as(carol), EVENTS, q="needle", page_size="25")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "no row twice"
    assert ids == expected, "no row missed, in key order"
    assert {a["mode"] for a in answers} == {"scan"}
    assert len(answers) > 10, "a tiny budget answers in many parts"
    assert any(a["stopped"] == "budget" for a in answers)
    last = answers[-1]
    assert last["complete"] and last["scanned_rows"] == ROWS and last["matches_so_far"] == len(expected)
    assert last["summary"].startswith(f"Searched all {ROWS:,} rows")
    # the same search, unbounded (the table counted as small): the same rows
    settings.SEARCH_SCAN_ABOVE = 10_000_000
    plain, plain_answers = follow(api_as(carol), EVENTS, q="needle", page_size="100")
    assert [r["id"] for r in plain] == expected and plain_answers[0]["mode"] == "full"


def test_each_answer_says_how_far_it_searched_and_never_shows_an_estimate(tiny_budget, api_as, carol):
    api, cursor, shown = api_as(carol), None, []
    for _ in range(20):  # on a loaded machine the first part may not fit the tiny budget: continue
        body = api.get(EVENTS, {"q": "needle", "page_size": "25", **({"cursor": cursor} if cursor else {})}).json()
        assert body["total_estimate"] is None and "total_exact" not in body
        assert body["table_estimate"] == ROWS  # the table's size, named as such
        shown += [r["id"] for r in body["rows"]]
        search, cursor = body["search"], body["next_cursor"]
        if search["scanned_rows"]:
            break
    assert not search["complete"] and 0 < search["scanned_rows"] < ROWS
    assert search["searched_up_to"].startswith("id ")
    last_id = int(search["searched_up_to"].split()[-1])
    # what it says it searched is what it searched: the matches among the first N rows
    assert search["scanned_rows"] == sql(tiny_budget, "SELECT count(*) FROM events WHERE id <= %s", last_id)[0][0]
    matches = [r[0] for r in sql(tiny_budget, NEEDLE_SQL) if r[0] <= last_id]
    assert shown == matches and search["matches_so_far"] == len(matches)
    assert f"in the first {search['scanned_rows']:,} rows" in search["summary"] and f"of ≈ {ROWS:,}" in search["summary"]


def test_a_page_of_matches_ends_the_answer_and_the_next_page_continues_after_it(tiny_budget, api_as, carol,
                                                                                 settings):
    settings.SEARCH_BUDGET_MS = 1500  # plenty: a page of matches comes first
    api = api_as(carol)
    first = api.get(EVENTS, {"q": "event 1", "page_size": "25"}).json()
    assert first["search"]["stopped"] == "page" and len(first["rows"]) == 25
    second = api.get(EVENTS, {"q": "event 1", "page_size": "25", "cursor": first["next_cursor"]}).json()
    expected = [r[0] for r in sql(tiny_budget, "SELECT id FROM events WHERE title ILIKE '%%event 1%%' ORDER BY id LIMIT 50")]
    assert [r["id"] for r in first["rows"] + second["rows"]] == expected
    assert second["search"]["matches_so_far"] == 50 and "next page continues" in first["search"]["summary"]


def test_search_lists_the_columns_it_searched_and_why_it_skipped_the_others(tiny_budget, api_as, carol):
    search = api_as(carol).get(EVENTS, {"q": "needle"}).json()["search"]
    assert [c["name"] for c in search["columns"]] == ["title", "meta", "tags"]
    skipped = {s["name"]: s["reason"] for s in search["skipped"]}
    assert set(skipped) == {"id", "amount", "kind", "at", "photo"}
    assert "not a number" in skipped["amount"] and "binary" in skipped["photo"]
    assert "no value of this enum" in skipped["kind"]
    numbers = api_as(carol).get(EVENTS, {"q": "99.9"}).json()["search"]
    assert {c["name"] for c in numbers["columns"]} >= {"amount", "title", "meta"}
    assert "id" not in {c["name"] for c in numbers["columns"]}  # 99.9 is not a whole number
    special = api_as(carol).get(EVENTS, {"q": "speci"}).json()["search"]
    assert "kind" in {c["name"] for c in special["columns"]}


def test_hint_names_the_exact_statements_that_would_index_the_search(tiny_budget, api_as, carol, client_as, alice):
    search = api_as(carol).get(EVENTS, {"q": "needle"}).json()["search"]
    hints = search["index_hints"]
    assert "CREATE INDEX CONCURRENTLY ON public.events USING gin (title gin_trgm_ops);" in hints
    assert "CREATE INDEX CONCURRENTLY ON public.events USING gin ((meta::text) gin_trgm_ops);" in hints
    assert hints[0] == "CREATE EXTENSION IF NOT EXISTS pg_trgm;"  # not installed in this database yet
    page = client_as(carol).get("/data/public.events", {"q": "needle"}).content.decode()
    assert "gin_trgm_ops" in page and 'id="search-console"' not in page  # shown to everyone…
    page = client_as(alice).get("/data/public.events", {"q": "needle"}).content.decode()
    assert 'id="search-console"' in page  # …actionable by admins in the console


@pytest.mark.parametrize("sort", ["-rank", "rank"])
def test_a_table_sorted_by_an_indexed_column_is_scanned_in_that_order(tiny_budget, api_as, carol, sort):
    rows, answers = follow(api_as(carol), "/api/tables/public.notes/data", q="needle", sort=sort, page_size="25")
    order = "rank DESC, id DESC" if sort.startswith("-") else "rank, id"
    expected = sql(tiny_budget, f"SELECT id FROM notes WHERE body ILIKE '%%needle%%' ORDER BY {order}")
    assert [r["id"] for r in rows] == [r[0] for r in expected]
    assert answers[0]["mode"] == "scan" and answers[-1]["scanned_rows"] == 30_000
    assert any(a["searched_up_to"] and a["searched_up_to"].startswith("rank ") for a in answers)


def test_a_table_without_a_primary_key_is_scanned_by_blocks_and_says_so(tiny_budget, api_as, carol):
    path = "/api/tables/public.heap_log/data"
    rows, answers = follow(api_as(carol), path, q="needle", page_size="25")
    expected = sql(tiny_budget, "SELECT at FROM heap_log WHERE message ILIKE '%needle%' ORDER BY ctid")
    assert [r["at"] for r in rows] == [r[0] for r in expected]
    assert answers[0]["physical_order"] and "no primary key" in answers[0]["note"]
    assert answers[-1]["complete"] and answers[-1]["scanned_rows"] == 60_000
    assert answers[0]["searched_up_to"].startswith("block ")


def _tampered(cursor: str, **changes: object) -> str:
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    payload.update(changes)
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_tampered_or_foreign_search_cursor_is_a_400_with_a_hint(tiny_budget, api_as, carol, client_as):
    api = api_as(carol)
    cursor = api.get(EVENTS, {"q": "needle"}).json()["next_cursor"]
    assert cursor
    scanned = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["n"]
    for bad in (_tampered(cursor, n=scanned + 1), _tampered(cursor, k=[{"s": "1; DROP TABLE events"}]),
                cursor[:-3] + "AAA", _tampered(cursor, c=-1), _tampered(cursor, k=[10**30])):
        r = api.get(EVENTS, {"q": "needle", "cursor": bad})
        assert r.status_code == 400, r.content
        assert r.json()["error"]["code"] == "invalid_cursor" and "Start the search again" in r.json()["error"]["hint"]
    other = api.get(EVENTS, {"q": "haystack", "cursor": cursor})
    assert other.status_code == 400 and "another" in other.json()["error"]["message"]
    page = client_as(carol).get("/data/public.events", {"q": "needle", "cursor": _tampered(cursor, h=99999)})
    assert page.status_code == 400 and "Start the search again" in page.content.decode()
    assert sql(tiny_budget, "SELECT count(*) FROM events")[0][0] == ROWS


def test_the_page_shows_the_progress_line_a_continue_link_and_no_estimate(tiny_budget, client_as, carol):
    import html

    client = client_as(carol)
    body = client.get("/data/public.events", {"q": "needle", "page_size": "25"}).content.decode()
    for _ in range(20):  # on a loaded machine the first part may not fit the tiny budget: continue
        if "in the first" in body:
            break
        more = re.search(r'id="search-continue" href="([^"]+)"', body).group(1)
        body = client.get("/data/public.events" + html.unescape(more)).content.decode()
    total = re.search(r'<span id="row-total">(.*?)</span>', body, re.S).group(1)
    assert "≈" not in total and "so far" in total
    status = re.search(r'<p id="search-status">(.*?)</p>', body, re.S).group(1)
    assert "in the first" in status and "rows" in status
    more = re.search(r'id="search-continue" href="([^"]+)"', body).group(1)
    assert "cursor=" in more
    second = client.get("/data/public.events" + html.unescape(more))
    assert second.status_code == 200 and 'id="search-status"' in second.content.decode()
    for col in ("title", "meta", "tags"):
        assert f'data-column="{col}"' in body


def test_a_viewer_searches_through_the_reader_role(tiny_budget, api_as, carol, settings, pg_server_url):
    import uuid

    from sqlalchemy.engine import make_url

    from core import target

    name = f"search_reader_{uuid.uuid4().hex[:8]}"
    sql(tiny_budget, f'CREATE ROLE "{name}" LOGIN; GRANT SELECT ON events TO "{name}"')
    try:
        settings.READER_DATABASE_URL = make_url(tiny_budget).set(username=name, password=None).render_as_string(
            hide_password=False)
        target.dispose()
        settings.SEARCH_BUDGET_MS = 400  # fewer parts: this story is about the role, not the budget
        rows, answers = follow(api_as(carol), EVENTS, q="needle", page_size="100")
        assert [r["id"] for r in rows] == [r[0] for r in sql(tiny_budget, NEEDLE_SQL)]
        refused = api_as(carol).get("/api/tables/public.heap_log/data", {"q": "needle"})
        assert refused.status_code == 403  # the reader role may read events only: carol read as it
    finally:
        settings.READER_DATABASE_URL = ""
        target.dispose()
        sql(tiny_budget, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'")
        sql(tiny_budget, f'DROP OWNED BY "{name}"; DROP ROLE "{name}"')


def test_an_unindexed_sort_of_a_big_table_says_how_long_it_took_and_the_index_to_create(tiny_budget, api_as, carol,
                                                                                        client_as, alice):
    body = api_as(carol).get(EVENTS, {"sort": "-title", "page_size": "25"}).json()
    assert re.search(r"Sorting ≈ 200,000 rows by title took \d+\.\d s: title has no index", body["hint"])
    assert body["hint_sql"] == "CREATE INDEX CONCURRENTLY ON public.events (title);"
    assert [r["id"] for r in body["rows"]] == [r[0] for r in sql(tiny_budget,
                                                                 "SELECT id FROM events ORDER BY title DESC, id DESC LIMIT 25")]
    page = client_as(alice).get("/data/public.events", {"sort": "-title"}).content.decode()
    assert "CREATE INDEX CONCURRENTLY ON public.events (title);" in page and 'id="sort-console"' in page
    # searched and sorted by that column: every match is needed before the first page, and it says so
    search = api_as(carol).get(EVENTS, {"q": "needle", "sort": "title"}).json()["search"]
    assert search["mode"] == "full" and "not bounded" in search["note"] and "title, which has no index" in search["note"]


def test_a_filtered_big_table_shows_no_estimate_only_an_exact_count_or_none(tiny_budget, api_as, carol, client_as):
    body = api_as(carol).get(EVENTS, {"f.contains.title": "needle", "page_size": "25"}).json()
    assert body["total_estimate"] is None and body["table_estimate"] == ROWS
    assert body.get("total_exact") in (None, len(sql(tiny_budget, "SELECT 1 FROM events WHERE title ILIKE '%needle%'")))
    page = client_as(carol).get("/data/public.events", {"f.contains.title": "needle"}).content.decode()
    assert "≈" not in re.search(r'<span id="row-total">(.*?)</span>', page, re.S).group(1)
    unfiltered = api_as(carol).get(EVENTS).json()
    assert unfiltered["total_estimate"] == ROWS  # the table itself: its estimate, as before
