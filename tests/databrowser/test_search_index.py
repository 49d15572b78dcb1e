"""A search goes through the trigram and full-text indexes a table has, and the hint creates them.

The statement the tool really ran is captured from its engine and EXPLAINed by the test: the plan
must read the index, not the table. Running the statements the hint suggests turns a bounded scan
into an index search that finds every match at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.django_db

ARTICLES = "/api/tables/public.articles/data"
SOME_UUID = uuid.UUID("6f1c9b2e-1111-4c3a-9d5e-123456789abc")


@pytest.fixture(scope="module")
def articles_url(target_url: str) -> str:
    sql(target_url, f"""
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE TABLE articles (id int PRIMARY KEY, title text, meta jsonb, body text);
        INSERT INTO articles SELECT g,
            CASE WHEN g % 2003 = 0 THEN 'the needle story ' || g ELSE 'story ' || g END,
            jsonb_build_object('tag', CASE WHEN g % 1999 = 0 THEN 'needle' ELSE 'hay' || g END),
            CASE WHEN g % 1997 = 0 THEN 'two needles in a haystack' ELSE 'nothing to see ' || g END
        FROM generate_series(1, 60000) g;
        CREATE INDEX articles_title_trgm ON articles USING gin (title gin_trgm_ops);
        CREATE INDEX articles_meta_trgm ON articles USING gin ((meta::text) gin_trgm_ops);
        CREATE INDEX articles_body_fts ON articles USING gin (to_tsvector('english', body));
        CREATE TABLE docs (id uuid PRIMARY KEY, n int, title text, meta jsonb);
        INSERT INTO docs SELECT CASE WHEN g = 77 THEN '{SOME_UUID}'::uuid ELSE gen_random_uuid() END, g,
            CASE WHEN g % 1013 = 0 THEN 'needle ' || g ELSE 'doc ' || g END,
            jsonb_build_object('k', CASE WHEN g % 1021 = 0 THEN 'needle' ELSE 'x' END)
        FROM generate_series(1, 50000) g;
        ANALYZE articles; ANALYZE docs;
    """)
    return target_url


@pytest.fixture
def articles(articles_url: str, target, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from databrowser import query

    settings.SEARCH_SCAN_ABOVE = 1000  # both tables count as big
    query.invalidate()
    yield articles_url
    query.invalidate()


@pytest.fixture
def executed() -> Iterator[list[tuple[str, Any]]]:
    """Every statement the tool sends to the target during the test, with its parameters."""
    from core import target

    seen: list[tuple[str, Any]] = []
    engine = target.get_engine("pages")

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def index_names(statement: str, parameters: Any) -> set[str]:
    """The indexes the plan of a captured statement reads (EXPLAIN through the same engine)."""
    from core import target

    with target.get_engine("pages").connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
    names: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            names.add(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return names


def rows_statement(executed: list[tuple[str, Any]], needle: str) -> tuple[str, Any]:
    return next((s, p) for s, p in executed
                if needle in s and "LIMIT" in s and not s.startswith("EXPLAIN") and "count(" not in s)


def test_the_search_reads_the_trigram_indexes_of_text_and_jsonb_columns(articles, api_as, carol, executed):
    body = api_as(carol).get(ARTICLES, {"q": "needle"}).json()
    search = body["search"]
    assert search["mode"] == "index" and search["complete"]
    how = {c["name"]: c["how"] for c in search["columns"]}
    assert "articles_title_trgm" in how["title"] and "articles_meta_trgm" in how["meta"]
    assert "full-text" in how["body"] and all(c["indexed"] for c in search["columns"])
    expected = sql(articles, "SELECT id FROM articles WHERE title ILIKE '%needle%' OR meta::text ILIKE '%needle%' "
                             "OR to_tsvector('english', body) @@ plainto_tsquery('english', 'needle') ORDER BY id")
    assert [r["id"] for r in body["rows"]] == [r[0] for r in expected]
    assert body["total_exact"] == len(expected) and body["total_estimate"] is None
    assert search["index_hints"] == []
    statement, params = rows_statement(executed, "ILIKE")
    assert {"articles_title_trgm", "articles_meta_trgm", "articles_body_fts"} <= index_names(statement, params)


def test_a_full_text_index_matches_whole_words_and_says_so(articles, api_as, carol):
    body = api_as(carol).get(ARTICLES, {"q": "haystack", "qin": "body"}).json()
    assert body["search"]["columns"] == [{"name": "body", "how": "whole words, through the full-text index "
                                                               "articles_body_fts", "indexed": True}]
    assert len(body["rows"]) == 60000 // 1997 and all("haystack" in r["body"] for r in body["rows"])
    assert {s["reason"] for s in body["search"]["skipped"]} == {"not chosen"}


def test_a_term_too_short_for_a_trigram_index_is_scanned_and_says_why(articles, api_as, carol):
    search = api_as(carol).get(ARTICLES, {"q": "ne", "qin": "title"}).json()["search"]
    assert search["mode"] == "scan" and not search["columns"][0]["indexed"]
    assert any("shorter than 3 characters" in n for n in search["notes"])
    assert search["index_hints"] == []  # the index exists; no second one would help


def test_running_the_suggested_statements_makes_the_search_use_the_index(articles, api_as, carol, executed):
    from databrowser import query

    first = api_as(carol).get("/api/tables/public.docs/data", {"q": "needle"}).json()["search"]
    assert first["mode"] == "scan"
    hints = first["index_hints"]
    assert hints == ["CREATE INDEX CONCURRENTLY ON public.docs USING gin (title gin_trgm_ops);",
                     "CREATE INDEX CONCURRENTLY ON public.docs USING gin ((meta::text) gin_trgm_ops);"]
    for statement in hints:  # what an admin would run in the console's write mode, one at a time
        sql(articles, statement)
    query.invalidate()
    executed.clear()
    body = api_as(carol).get("/api/tables/public.docs/data", {"q": "needle"}).json()
    assert body["search"]["mode"] == "index" and body["search"]["index_hints"] == []
    expected = sql(articles, "SELECT n FROM docs WHERE title ILIKE '%needle%' OR meta::text ILIKE '%needle%' ORDER BY id")
    assert sorted(r["n"] for r in body["rows"]) == sorted(r[0] for r in expected)
    statement, params = rows_statement(executed, "ILIKE")
    created = {r[0] for r in sql(articles, "SELECT indexname FROM pg_indexes WHERE tablename = 'docs' "
                                             "AND indexdef LIKE '%%gin_trgm_ops%%'")}
    assert len(created) == 2 and created <= index_names(statement, params)


def test_a_whole_uuid_or_a_number_is_an_equality_the_key_index_serves(articles, api_as, carol):
    api = api_as(carol)
    by_uuid = api.get("/api/tables/public.docs/data", {"q": str(SOME_UUID)}).json()
    assert [r["n"] for r in by_uuid["rows"]] == [77]
    assert {c["name"]: c["how"] for c in by_uuid["search"]["columns"]}["id"] == "= this UUID (indexed)"
    by_number = api.get(ARTICLES, {"q": "4006", "qin": "id"}).json()
    assert [r["id"] for r in by_number["rows"]] == [4006] and by_number["search"]["mode"] == "index"
