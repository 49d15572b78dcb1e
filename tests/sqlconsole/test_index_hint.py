"""The index a seq-scan hint suggests puts the equality columns first: for `amount > x AND kind = 'k'`
it is `(kind, amount)`, and PostgreSQL then uses it — even when the reversed index exists too.

The predicates are PostgreSQL's own Filter text: read from real plans (the console's EXPLAIN), and
for the pure-function cases written as PostgreSQL prints them (casts, quoted names, `= ANY`, `~~`).
"""

from __future__ import annotations

import psycopg
import pytest

from sqlconsole.hints import filter_columns
from tests.conftest import libpq

ROWS = 200_000
COLUMNS = ("id", "kind", "amount", "status", "client_id", "created_at", "note", "Odd Name")


@pytest.mark.parametrize(("filter_text", "expected"), [
    # range first in the text, equality second: the equality column leads
    ("((amount > '900'::numeric) AND (kind = 'k7'::text))", ["kind", "amount"]),
    # a cast on the column, as PostgreSQL prints an enum or varchar compared with text
    ("((amount > '900'::numeric) AND ((kind)::text = 'k7'::text))", ["kind", "amount"]),
    # IN (…) is printed as = ANY: equality; both equality columns keep their order, the range goes last
    ("((created_at >= '2024-01-01 00:00:00+00'::timestamp with time zone) AND "
     "(status = ANY ('{open,held}'::text[])) AND (client_id = 7))", ["status", "client_id", "created_at"]),
    # IS NULL is an equality for a B-tree
    ("((client_id IS NULL) AND (amount < '5'::numeric))", ["client_id", "amount"]),
    # BETWEEN becomes two range comparisons on one column
    ("((amount >= '10'::numeric) AND (amount <= '20'::numeric) AND (kind = 'k1'::text))", ["kind", "amount"]),
    # the constant on the left
    ("(('2024-01-01'::date < created_at) AND (kind = 'k2'::text))", ["kind", "created_at"]),
    # LIKE 'prefix%' is a range; quoted and alias-qualified names are read
    ("((note ~~ 'abc%'::text) AND (t.\"Odd Name\" = 3))", ["Odd Name", "note"]),
    # a column inside a function call and a <> comparison cannot lead a plain index: they go last
    ("((lower(note) = 'x'::text) AND (amount <> '3'::numeric) AND (id > 5))", ["id", "note", "amount"]),
    # the text of a literal is never read as a column name
    ("((note = 'kind = 1 AND amount'::text) AND (id < 10))", ["note", "id"]),
])
def test_index_columns_put_equality_before_range(filter_text, expected):
    assert filter_columns(filter_text, COLUMNS) == expected


@pytest.fixture(scope="module")
def trades_url(target_url: str) -> str:
    """`trades`: 200 000 rows, 20 kinds, amounts 0..999, a few statuses, one client in 2 000 unset."""
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute(f"""
            CREATE TABLE trades AS
            SELECT g AS id, 'k' || (g % 20) AS kind, (g * 7919 % 1000)::numeric AS amount,
                   (ARRAY['open', 'held', 'closed', 'void'])[1 + g % 4] AS status,
                   CASE WHEN g % 2000 = 0 THEN NULL ELSE g % 5000 END AS client_id,
                   timestamptz '2024-01-01' + (g % 365) * interval '1 day' AS created_at,
                   md5(g::text) AS note
            FROM generate_series(1, {ROWS}) g""")
        conn.execute("ANALYZE trades")
    return target_url


@pytest.fixture
def trades(trades_url: str, make_reader, settings):  # type: ignore[no-untyped-def]
    from core import target

    settings.TARGET_DATABASE_URL = trades_url
    settings.READER_DATABASE_URL = make_reader(trades_url)
    target.set_target_url(None)
    yield trades_url
    target.dispose()


def plan_of(api, sql: str) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/api/database/query", {"sql": sql, "explain": True}, format="json")
    assert response.status_code == 200, response.content
    result = response.json()["results"][0]
    assert result["outcome"] == "ok", result["error"]
    return result["plan"]  # type: ignore[no-any-return]


def indexes(url: str) -> set[str]:
    with psycopg.connect(libpq(url)) as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'trades'")}


def index_columns(url: str, name: str) -> list[str]:
    with psycopg.connect(libpq(url)) as conn:
        return [r[0] for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indexrelid = %s::regclass ORDER BY k.n", (name,))]


def scans_with(plan: dict) -> set[str]:
    return {n["index"] for n in plan["tree"]["nodes"] if n["index"]}


@pytest.mark.parametrize(("where", "equality", "ranged"), [
    ("amount > 900 AND kind = 'k7'", {"kind"}, "amount"),
    ("kind = 'k7' AND amount > 900", {"kind"}, "amount"),
    ("amount BETWEEN 100 AND 120 AND kind = 'k3'", {"kind"}, "amount"),
    ("created_at >= '2024-12-01' AND status IN ('open', 'held') AND kind = 'k4'", {"status", "kind"}, "created_at"),
    ("client_id IS NULL AND amount < 50", {"client_id"}, "amount"),
])
def test_the_suggested_index_leads_with_equality_and_postgresql_uses_it(trades, bob, api_as, where, equality, ranged):
    sql = f"SELECT id FROM trades WHERE {where}"
    hint = next(h for h in plan_of(api_as(bob), sql)["hints"] if h["kind"] == "seq_scan_selective")
    before = indexes(trades)
    with psycopg.connect(libpq(trades), autocommit=True) as conn:
        conn.execute(hint["sql"])  # the suggestion runs as written
    (created,) = indexes(trades) - before
    try:
        columns = index_columns(trades, created)
        assert set(columns[:len(equality)]) == equality and columns[len(equality):] == [ranged], hint["sql"]
        after = plan_of(api_as(bob), sql)
        assert created in scans_with(after)
        assert not any(h["kind"] == "seq_scan_selective" for h in after["hints"])
    finally:
        with psycopg.connect(libpq(trades), autocommit=True) as conn:
            conn.execute(f'DROP INDEX "{created}"')


def test_given_both_orders_postgresql_picks_the_equality_first_index(trades, bob, api_as):
    sql = "SELECT id FROM trades WHERE amount > 900 AND kind = 'k7'"
    hint = next(h for h in plan_of(api_as(bob), sql)["hints"] if h["kind"] == "seq_scan_selective")
    assert hint["sql"] == "CREATE INDEX ON public.trades (kind, amount);"
    with psycopg.connect(libpq(trades), autocommit=True) as conn:
        conn.execute("CREATE INDEX trades_range_first ON trades (amount, kind)")
        conn.execute("CREATE INDEX trades_equality_first ON trades (kind, amount)")
    try:
        assert scans_with(plan_of(api_as(bob), sql)) == {"trades_equality_first"}
    finally:
        with psycopg.connect(libpq(trades), autocommit=True) as conn:
            conn.execute("DROP INDEX trades_range_first, trades_equality_first")
