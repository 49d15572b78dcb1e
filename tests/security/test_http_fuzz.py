"""Property probing of the data-browser API where the grid's own property tests do not reach: hostile
table and key path segments on every route, hostile JSON bodies and If-Match headers on writes,
hostile export parameters. No answer is a 500, every 4xx has a message and a hint, and the rows of
the table never change under a request that was refused."""

from __future__ import annotations

import json
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

T = "public.fuzz_t"
segment = st.text(max_size=20) | st.sampled_from(
    ["\x00", "public.fuzz_t\x00", '"', '""."', "public.", ".x", "pg_catalog.pg_authid", "pg_catalog.pg_statistic",
     "information_schema.tables", "public.fuzz_t,1", "1,", ",", "%", "%00", "\\x00", "9" * 40, "-1", "1e9", "NaN"])
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=10)
    | st.sampled_from(["\x00", "a\x00b", "=cmd", "9" * 30]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10)
body = st.dictionaries(st.sampled_from(["id", "name", "n", "__version", "nope", "", "\x00"]), json_value, max_size=4) \
    | json_value
if_match = st.none() | st.sampled_from(['"1"', "*", "W/\"1\"", '"abc"', "", '"' + "9" * 40 + '"', "\x00", '"1", "2"'])


@pytest.fixture(scope="module")
def fuzz_table(security_roles: dict[str, str]) -> str:
    url = security_roles["app"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE fuzz_t (id int PRIMARY KEY, name text NOT NULL, n numeric(6,2))")
        conn.execute("INSERT INTO fuzz_t SELECT g, 'row ' || g, g FROM generate_series(1, 40) g")
    return url


def snapshot(url: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT * FROM fuzz_t ORDER BY id").fetchall()


def check(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code < 500, (r.status_code, r.content[:300])
    if r.status_code >= 400 and r.get("Content-Type", "").startswith("application/json"):
        error = r.json()["error"]
        assert error["message"] and error["hint"] is not None


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(tref=segment, pk=segment)
def test_no_table_or_key_segment_makes_a_route_fail(role_target, fuzz_table, api_as, carol, tref, pk):
    api = api_as(carol)
    t, k = quote(tref, safe=""), quote(pk, safe="")
    for path in (f"/api/tables/{t}/data", f"/api/tables/{t}/schema", f"/api/tables/{t}/rows/{k}",
                 f"/api/tables/{T}/rows/{k}", f"/api/tables/{t}/export?format=csv"):
        r = api.get(path)
        check(r)
        if getattr(r, "streaming", False):
            b"".join(r.streaming_content)


@FUZZ
@given(data=body, etag=if_match, pk=st.sampled_from(["1", "2", "x", "1,2", "%00"]), force=st.booleans())
def test_no_write_body_or_if_match_makes_a_write_fail(role_target, fuzz_table, api_as, bob, data, etag, pk, force):
    api = api_as(bob)
    headers = {} if etag is None else {"HTTP_IF_MATCH": etag}
    suffix = "?force=true" if force else ""
    before = snapshot(fuzz_table)
    raw = json.dumps(data)  # NaN and Infinity included, as a careless client would send them
    put = api.put(f"/api/tables/{T}/rows/{quote(pk, safe='')}{suffix}", raw, content_type="application/json", **headers)
    check(put)
    post = api.post(f"/api/tables/{T}/rows", raw, content_type="application/json")
    check(post)
    if put.status_code >= 400 and post.status_code >= 400:
        assert snapshot(fuzz_table) == before  # a refused write changes nothing
    delete = api.delete(f"/api/tables/{T}/rows/999{suffix}", **headers)
    check(delete)


@FUZZ
@given(fmt=st.sampled_from(["csv", "json", "CSV", "xml", "", "\x00"]), null=st.none() | st.text(max_size=20),
       sort=st.sampled_from(["", "name", "-n", "nope", "id,id"]))
def test_no_export_parameter_makes_an_export_fail(role_target, fuzz_table, api_as, carol, fmt, null, sort):
    params = {"format": fmt, "sort": sort, **({} if null is None else {"null": null})}
    r = api_as(carol).get(f"/api/tables/{T}/export", params)
    check(r)
    if r.status_code == 200:
        b"".join(r.streaming_content)
