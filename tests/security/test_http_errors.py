"""Hostile requests to the data browser answer a 4xx with a hint — never a 500 — and change nothing.

Each case plays as a limited application role and as a superuser (``role_target``): NUL bytes in
table names and keys, forged page cursors, a 100 000-deep JSON body, a relation the role may not
read. The rows of the table are compared before and after every refusal.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import psycopg
import pytest

pytestmark = pytest.mark.django_db

T = "public.sec_items"


@pytest.fixture(scope="module")
def items(security_roles: dict[str, str]) -> str:
    """``sec_items`` owned by the limited role (so both roles may read and write it): 30 rows."""
    url = security_roles["app"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sec_items (id int PRIMARY KEY, name text NOT NULL, note text)")
        conn.execute("INSERT INTO sec_items SELECT g, 'item ' || g, NULL FROM generate_series(1, 30) g")
    return url


def rows(url: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT * FROM sec_items ORDER BY id").fetchall()


def assert_refused(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.content[:500])
    error = response.json()["error"]
    assert error["message"] and error["hint"], error
    return error


@pytest.mark.parametrize("path", [
    "/api/tables/public.sec_items%00x/data",
    "/api/tables/public.sec%00_items/schema",
    "/api/tables/public.sec_items/rows/1%00",
    "/api/tables/%00/data",
    "/api/tables/public.sec_items/data?q=a%00b",
    "/api/tables/public.sec_items/data?f.eq.name=a%00b",
    "/api/tables/public.sec_items/data?sort=na%00me",
    "/api/tables/public.sec_items/export?format=csv&f.eq.note=%00",
])
def test_nul_bytes_in_names_keys_and_filters_are_a_400(role_target, items, api_as, carol, path):
    assert_refused(api_as(carol).get(path), (400, 404))


def test_nul_bytes_in_html_pages_are_an_error_page_not_a_500(role_target, items, client_as, carol):
    client = client_as(carol)
    for path in ("/data/public.t%00x", "/data/public.sec_items/row/1%00", "/data/public.sec_items?q=%00",
                 "/data/public.sec_items/row/1%00/edit"):
        r = client.get(path)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert b"Hint" in r.content or b"hint" in r.content


def test_nul_bytes_in_a_row_write_are_refused_and_nothing_changes(role_target, items, api_as, bob):
    before = rows(items)
    api = api_as(bob)
    etag = api.get(f"/api/tables/{T}/rows/1")["ETag"]
    r = api.put(f"/api/tables/{T}/rows/1", {"name": "a\x00b"}, format="json", HTTP_IF_MATCH=etag)
    assert_refused(r, 400)
    r = api.post(f"/api/tables/{T}/rows", {"id": 99, "name": "x\x00"}, format="json")
    assert_refused(r, 400)
    r = api.delete(f"/api/tables/{T}/rows/1%2500", HTTP_IF_MATCH=etag)
    assert_refused(r, (400, 404))
    assert rows(items) == before


def _b64(obj: object) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = [
    "!!!not-base64!!!",
    _b64(b"\xff\xfe garbage"),
    _b64(b"{not json"),
    _b64([1, 2, 3]),
    _b64({"s": "x", "d": "a", "k": [1]}),
    _b64({"s": "x", "d": "z", "k": []}),
    _b64({"d": "a", "k": [{"j": {"a": 1}}]}),
    _b64({"d": "a", "k": [{"l": [[[[1]]]]}]}),
    _b64({"d": "a", "k": ["not an int"]}),
    _b64({"d": "a", "k": [{"n": "NaN"}]}),
    _b64({"d": "a", "k": [{"dt": "9999-99-99"}]}),
    "A" * 5000,
]


@pytest.mark.parametrize("cursor", FORGED)
def test_a_forged_cursor_is_a_400_with_a_hint(role_target, items, api_as, carol, cursor):
    error = assert_refused(api_as(carol).get(f"/api/tables/{T}/data", {"cursor": cursor}), 400)
    assert error["code"] == "invalid_cursor"


def test_a_forged_cursor_cannot_be_made_by_copying_the_shape_of_a_real_one(role_target, items, api_as, carol):
    api = api_as(carol)
    real = api.get(f"/api/tables/{T}/data", {"page_size": "25"}).json()["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))
    payload["k"] = [{"j": {"id": 1}}]  # the same signature of table and order, a value of the wrong type
    error = assert_refused(api.get(f"/api/tables/{T}/data", {"page_size": "25", "cursor": _b64(payload)}), 400)
    assert error["code"] == "invalid_cursor"
    # the real cursor still works
    assert api.get(f"/api/tables/{T}/data", {"page_size": "25", "cursor": real}).status_code == 200


def test_a_cursor_from_another_sort_or_table_is_refused(role_target, items, api_as, carol, client_as):
    api = api_as(carol)
    by_name = api.get(f"/api/tables/{T}/data", {"page_size": "25", "sort": "name"}).json()["next_cursor"]
    error = assert_refused(api.get(f"/api/tables/{T}/data", {"page_size": "25", "cursor": by_name}), 400)
    assert "another table or sort" in error["message"]
    lookup = client_as(carol).get(f"/data/{T}/lookup", {"cursor": by_name}, HTTP_ACCEPT="application/json")
    assert lookup.status_code == 400 and lookup.json()["error"]["code"] == "invalid_cursor"


def test_a_100k_deep_json_body_is_a_400(role_target, items, api_as, bob):
    before = rows(items)
    api = api_as(bob)
    body = "[" * 100_000 + "]" * 100_000
    for method, path in (("post", f"/api/tables/{T}/rows"), ("put", f"/api/tables/{T}/rows/1")):
        r = getattr(api, method)(path, body, content_type="application/json", HTTP_IF_MATCH='"x"')
        error = assert_refused(r, 400)
        assert "nested" in error["message"]
    deep_object = '{"name":' * 50_000 + '"x"' + "}" * 50_000
    assert_refused(api.post(f"/api/tables/{T}/rows", deep_object, content_type="application/json"), 400)
    # the net is under every JSON endpoint, not only the data browser's
    assert_refused(api.post("/api/database/query", body, content_type="application/json"), 400)
    assert rows(items) == before


def test_a_relation_the_role_may_not_read_is_a_403_with_a_hint(role_target, items, api_as, carol, client_as):
    api = api_as(carol)
    r = api.get("/api/tables/pg_catalog.pg_authid/data")
    if role_target == "superuser":
        assert r.status_code == 200  # the database allows it: the tool does not pretend otherwise
        return
    error = assert_refused(r, 403)
    assert error["code"] == "insufficient_privilege"
    assert "PGADMIN_" in error["hint"] or "GRANT" in error["hint"]
    assert_refused(api.get("/api/tables/pg_catalog.pg_authid/export?format=csv"), 403)
    assert_refused(api.get("/api/tables/pg_catalog.pg_authid/rows/10"), (403, 404, 405))
    page = client_as(carol).get("/data/pg_catalog.pg_authid")
    assert page.status_code == 403 and b"GRANT" in page.content


def test_unknown_relations_and_keys_are_404s(role_target, items, api_as, carol):
    api = api_as(carol)
    assert_refused(api.get("/api/tables/public.nope/data"), 404)
    assert_refused(api.get(f"/api/tables/{T}/rows/12345"), 404)
    assert_refused(api.get(f"/api/tables/{T}/rows/abc"), 400)
    assert_refused(api.get(f"/api/tables/{T}/rows/1,2"), 400)
    assert_refused(api.get(f"/api/tables/{quote(chr(0x10FFFF) * 100, safe='')}/data"), (400, 404))


def test_the_safety_net_maps_only_the_errors_it_knows():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from core.security_headers import error_for

    assert error_for(RecursionError()).status == 400
    assert error_for(PoolTimeout()).status == 503
    assert error_for(ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")).code == "nul_character"
    assert error_for(ValueError("NULL is not allowed here")) is None  # a genuine bug stays a logged 500
    assert error_for(KeyError("x")) is None
