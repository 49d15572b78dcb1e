"""Long values: the grid reads a head of each long text/JSON/bytea cell, the full value on demand."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import pytest

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.django_db

BIG = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def long_url(target_url: str) -> str:
    sql(target_url, "CREATE TABLE notes (id int PRIMARY KEY, title varchar(40), body text, doc jsonb, blob bytea)")
    # md5 chains: incompressible text, so the value is stored out of line at its full size
    sql(target_url, "INSERT INTO notes SELECT 1, 'huge', string_agg(md5(i::text), '') || 'THE END', "
                    "jsonb_build_object('text', repeat('j', %s)), decode(repeat('ab', %s), 'hex') "
                    "FROM generate_series(1, %s) i", BIG, BIG, BIG // 32)
    sql(target_url, "INSERT INTO notes VALUES (2, 'small', 'short body', '{\"n\": 2}', '\\x0102'), "
                    "(3, 'edge', repeat('e', 2048), NULL, NULL), (4, 'one more', repeat('f', 2049), NULL, '')")
    return target_url


@pytest.fixture
def long_db(long_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from core import target
    from databrowser import query

    settings.TARGET_DATABASE_URL = long_url
    target.set_target_url(None)
    query.invalidate()
    yield long_url
    query.invalidate()
    target.dispose()


def cells(body: str, row_id: int) -> list[str]:
    rows = [tr for tr in re.findall(r'<tr[ >].*?</tr>', body, re.S) if f'/row/{row_id}"' in tr]
    assert len(rows) == 1, f"row {row_id} in the grid"
    return re.findall(r"<td class=\"(?!rowlink)[^\"]*\">(.*?)</td>", rows[0], re.S)


def test_grid_of_a_table_with_5_mb_cells_stays_small_and_links_the_full_values(long_db, client_as, carol):
    client = client_as(carol)
    r = client.get("/data/public.notes")
    assert r.status_code == 200
    assert len(r.content) < 100_000  # three 5 MB values in the table, a few kB of page
    body = r.content.decode()
    _id, title, text, doc, blob = cells(body, 1)
    assert title == "huge"
    text_size = sql(long_db, "SELECT octet_length(body) FROM notes WHERE id = 1")[0][0]
    assert f"full value ({text_size:,} bytes)" in text
    head = sql(long_db, "SELECT left(body, 2048) FROM notes WHERE id = 1")[0][0]
    assert f"<pre>{head}…</pre>" in text  # the first 2 kB, expandable in the cell
    assert f"{BIG:,} bytes · <code>ab ab ab" in blob
    stored = sql(long_db, "SELECT pg_column_size(doc) FROM notes WHERE id = 1")[0][0]
    assert f"full value ({stored:,} bytes stored)" in doc  # JSON: its size on disk (compressed)
    full_url = html.unescape(re.search(r'href="([^"]+)" class="full-value"', text).group(1))
    assert full_url == "/data/public.notes/row/1/value/2"
    full = client.get(full_url)
    assert full.status_code == 200 and full["Content-Type"].startswith("text/plain")
    assert full.content.decode() == sql(long_db, "SELECT body FROM notes WHERE id = 1")[0][0]
    assert full.content.decode().endswith("THE END")
    doc_url = html.unescape(re.search(r'href="([^"]+)" class="full-value"', doc).group(1))
    assert json.loads(client.get(doc_url).content) == {"text": "j" * BIG}
    assert client.get("/data/public.notes/row/1/value/4").content == bytes.fromhex("ab" * BIG)


def test_short_values_and_the_2048_character_edge_stay_whole_in_the_grid(long_db, client_as, carol):
    body = client_as(carol).get("/data/public.notes").content.decode()
    _id, _title, text, doc, blob = cells(body, 2)
    assert text == "short body" and doc == '<code class="json">{"n": 2}</code>' and "2 bytes" in blob
    edge = cells(body, 3)[2]
    assert "full value" not in edge and "<pre>" + "e" * 2048 + "</pre>" in edge  # whole: nothing to fetch
    over = cells(body, 4)
    assert "full value (2,049 bytes)" in over[2] and "0 bytes" in over[4]
    assert '<span class="null">NULL</span>' == cells(body, 3)[3]


def test_sorting_by_a_long_column_keeps_its_values_whole_for_the_cursor(long_db, client_as, carol):
    client = client_as(carol)
    first = client.get("/data/public.notes", {"sort": "body", "page_size": "25"})
    assert first.status_code == 200
    ordered = [r[0] for r in sql(long_db, "SELECT id FROM notes ORDER BY body, id")]
    shown = [int(i) for i in re.findall(r'/data/public\.notes/row/(\d+)"[^>]*title="Open this row"', first.content.decode())]
    assert shown == ordered


def test_the_api_gives_whole_values_and_the_row_page_links_huge_ones(long_db, client_as, api_as, carol):
    rows = api_as(carol).get("/api/tables/public.notes/data", {"page_size": "25"}).json()
    assert len(rows["rows"][0]["body"]) == sql(long_db, "SELECT length(body) FROM notes WHERE id = 1")[0][0]
    row = client_as(carol).get("/data/public.notes/row/1")
    assert len(row.content) < 200_000  # the first 20,000 characters inline, the rest behind the link
    assert 'href="/data/public.notes/row/1/value/2" class="full-value"' in row.content.decode()
    small = client_as(carol).get("/data/public.notes/row/4").content.decode()
    assert "f" * 2049 in small and "full-value" not in small


def test_the_grid_query_reads_only_the_heads_of_long_cells(long_db):
    from databrowser import query
    from databrowser.formatting import Cut
    from databrowser.pages import fetch_page
    from databrowser.refs import TableRef

    info = query.get_table(TableRef("public", "notes"))
    page = fetch_page(info, query.parse_request(info, {}), cut=True)
    huge = next(r for r in page.rows if r["id"] == 1)
    assert isinstance(huge["body"], Cut) and len(huge["body"].head) == query.GRID_CUT
    assert isinstance(huge["blob"], Cut) and len(huge["blob"].head) == query.BYTEA_HEAD and huge["blob"].size == BIG
    assert isinstance(huge["doc"], Cut) and len(huge["doc"].head) == query.GRID_CUT
    assert huge["title"] == "huge"  # varchar(40): never cut
    whole = fetch_page(info, query.parse_request(info, {}))  # the API's page: whole values
    assert len(next(r for r in whole.rows if r["id"] == 1)["body"]) > BIG
