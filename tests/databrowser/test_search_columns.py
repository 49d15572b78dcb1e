"""Search covers every column where the term can mean something, on the hostile table's every type.

Small tables are searched in one complete query: the answer lists the columns searched (and how)
and the columns skipped (and why), counts the matches exactly, and never shows an estimate.
"""

from __future__ import annotations

import pytest

from tests.databrowser.conftest import USERS, sql, tpath

pytestmark = pytest.mark.django_db

U = f"/api/tables/{tpath(*USERS)}/data"
UQ = '"Odd Schema.v2"."Üser ""Accounts"" 100%"'
AS_TEXT = ["user", "Mixed Case", "it's \"quoted\"", "naïve ünïcode", "payload", "tags", "addr", "where",
           "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx", "range", "cash"]


def _observer_sql(term: str) -> str:
    """The rows the term must find: every column as text, the tsvector by words (the observer's own SQL)."""
    ors = [f'"{c.replace(chr(34), chr(34) * 2)}"::text ILIKE %s' for c in AS_TEXT]
    return f"SELECT id FROM {UQ.replace('%', '%%')} WHERE {' OR '.join(ors)} OR doc @@ plainto_tsquery(%s) ORDER BY id"


def test_search_reaches_json_arrays_network_geometry_ranges_money_and_text_search_columns(hostile, api_as, carol):
    body = api_as(carol).get(U, {"q": "web", "page_size": "500"}).json()
    search = body["search"]
    searched = [c["name"] for c in search["columns"]]
    assert searched == ["user", "Mixed Case", "it's \"quoted\"", "naïve ünïcode", "payload", "tags", "addr", "doc",
                        "where", "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx", "range", "cash"]
    how = {c["name"]: c["how"] for c in search["columns"]}
    assert how["payload"].startswith("JSON as text") and how["doc"].startswith("whole words")
    skipped = {s["name"]: s["reason"] for s in search["skipped"]}
    assert set(skipped) == {"id", "order", "per%cent", "mood", "select", "blob", "seen at", "born", "wake", "span",
                            "ident"}
    assert "binary" in skipped["blob"] and "true/false" in skipped["select"] and "not part of one" in skipped["ident"]
    expected = [r[0] for r in sql(hostile, _observer_sql("web"), *(["%web%"] * len(AS_TEXT)), "web")]
    assert [r["id"] for r in body["rows"]] == expected and len(expected) == 130  # the even ids' payload says web
    assert body["total_exact"] == 130 and body["total_estimate"] is None
    assert search["mode"] == "full" and search["complete"] and search["summary"].endswith("130 matches.")


def test_a_number_is_matched_in_number_columns_and_as_text_elsewhere(hostile, api_as, carol):
    body = api_as(carol).get(U, {"q": "42", "page_size": "500"}).json()
    searched = {c["name"]: c["how"] for c in body["search"]["columns"]}
    assert searched["id"].startswith("= 42") and searched["order"].startswith("= 42")
    assert searched["per%cent"].startswith("= 42")  # 28 * 1.5
    ids = {r["id"] for r in body["rows"]}
    assert {42, 28} <= ids  # id 42 (and "user 42"), and per%cent = 42.00 on row 28


def test_an_enum_matches_the_labels_that_contain_the_term(hostile, api_as, carol):
    body = api_as(carol).get(U, {"q": "COMPLIC", "qin": "mood", "page_size": "500"}).json()
    assert body["search"]["columns"] == [{"name": "mood", "how": "is one of it's complicated", "indexed": False}]
    assert {r["mood"] for r in body["rows"]} == {"it's complicated"}
    assert len(body["rows"]) == sql(hostile, f"SELECT count(*) FROM {UQ} WHERE mood = 'it''s complicated'")[0][0]


def test_a_term_no_column_can_hold_finds_nothing_and_says_why(hostile, api_as, carol, client_as):
    body = api_as(carol).get(f"/api/tables/{tpath('public', 'tree')}/data", {"q": "abc"}).json()
    assert body["rows"] == [] and body["search"]["columns"] == []
    assert {s["name"] for s in body["search"]["skipped"]} == {"id", "parent_id"}
    page = client_as(carol).get(f"/data/{tpath('public', 'tree')}", {"q": "abc"}).content.decode()
    assert "none can hold this term" in page and 'id="no-rows"' in page
    r = api_as(carol).get(U, {"q": "x", "qin": "nope"})
    assert r.status_code == 400 and r.json()["error"]["hint"]
