"""The plan tree matches what PostgreSQL returned, and the hints answer "why is this slow?".

Expectations are computed from the EXPLAIN JSON in the response itself (the `raw` plan), never
hard-coded: the tree must be a faithful, enriched reading of PostgreSQL's own output.
"""

from __future__ import annotations

import psycopg
import pytest

from sqlconsole.plan import MISESTIMATE_FACTOR
from tests.conftest import libpq
from tests.sqlconsole.conftest import scalar

BIG_ROWS = 1_000_000


@pytest.fixture(scope="module")
def plans_url(target_url: str) -> str:
    """`big` (1 M rows, no index), `small` (1 000 rows, primary key), `pairs` (correlated columns)."""
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE big AS SELECT g AS id, g % 1000 AS bucket, md5(g::text) AS label "
                     f"FROM generate_series(1, {BIG_ROWS}) g")
        conn.execute("CREATE TABLE small (id int PRIMARY KEY, bucket int, name text)")
        conn.execute("INSERT INTO small SELECT g, g % 10, 'name ' || g FROM generate_series(1, 1000) g")
        conn.execute("CREATE TABLE pairs AS SELECT g AS id, g % 100 AS a, g % 100 AS b FROM generate_series(1, 50000) g")
        conn.execute("ANALYZE big, small, pairs")
    return target_url


@pytest.fixture(scope="module")
def plans_reader(plans_url: str, make_reader) -> str:  # type: ignore[no-untyped-def]
    return make_reader(plans_url)  # type: ignore[no-any-return]


@pytest.fixture
def plans_db(plans_url: str, plans_reader: str, settings):  # type: ignore[no-untyped-def]
    from core import target

    settings.TARGET_DATABASE_URL = plans_url
    settings.READER_DATABASE_URL = plans_reader
    target.set_target_url(None)
    yield plans_url
    target.dispose()


def explain(api, sql: str, analyze: bool = True, **extra) -> dict:  # type: ignore[no-untyped-def]
    response = api.post("/api/database/query", {"sql": sql, "explain": True, "analyze": analyze, **extra}, format="json")
    assert response.status_code == 200, response.content
    result = response.json()["results"][0]
    assert result["outcome"] == "ok", result["error"]
    return result["plan"]


def raw_nodes(raw: list) -> list[dict]:
    """PostgreSQL's plan nodes in pre-order."""
    out: list[dict] = []

    def walk(node: dict) -> None:
        out.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(raw[0]["Plan"])
    return out


def assert_tree_matches(plan: dict) -> None:
    """Every node of the tree against the JSON PostgreSQL returned."""
    raw = raw_nodes(plan["raw"])
    nodes = plan["tree"]["nodes"]
    assert len(nodes) == len(raw)
    analyzed = plan["analyze"]
    assert not any(n["Node Type"] in ("Gather", "Gather Merge") for n in raw), "keep these plans serial"
    inclusive = [(n["Actual Total Time"] * n["Actual Loops"]) if analyzed else n["Total Cost"] for n in raw]
    # children of each raw node, by pre-order index
    children: dict[int, list[int]] = {i: [] for i in range(len(raw))}
    ids = {id(n): i for i, n in enumerate(raw)}
    for i, n in enumerate(raw):
        children[i] = [ids[id(c)] for c in n.get("Plans", [])]
    total = inclusive[0]
    own = [max(0.0, inclusive[i] - sum(inclusive[c] for c in children[i])) for i in range(len(raw))]
    for i, (node, source) in enumerate(zip(nodes, raw, strict=True)):
        assert node["node_type"] == source["Node Type"]
        assert node["relation"] == source.get("Relation Name")
        assert node["index"] == source.get("Index Name")
        assert node["est_rows"] == source["Plan Rows"]
        assert node["children"] == children[i]
        if analyzed:
            assert node["actual_rows"] == source["Actual Rows"] and node["loops"] == source["Actual Loops"]
            assert node["exclusive_ms"] == pytest.approx(own[i], abs=0.002)
            est, act = max(source["Plan Rows"], 1), max(source["Actual Rows"], 1)
            assert node["flagged"] == (max(est / act, act / est) >= MISESTIMATE_FACTOR)
            for key, short in (("Shared Hit Blocks", "shared_hit"), ("Shared Read Blocks", "shared_read")):
                assert node["buffers"].get(short, 0) == source.get(key, 0)
        else:
            assert node["exclusive_cost"] == pytest.approx(own[i], abs=0.01)
        assert node["share"] == pytest.approx(min(1.0, own[i] / total) if total else 0.0, abs=0.001)
    # the hottest path: from the root down to the node with the largest own share
    hottest = max(range(len(raw)), key=lambda i: own[i])
    path, parent = set(), {c: p for p, cs in children.items() for c in cs}
    cursor: int | None = hottest
    while cursor is not None:
        path.add(cursor)
        cursor = parent.get(cursor)
    assert {n["id"] for n in nodes if n["hot"]} == path


@pytest.mark.parametrize(("shape", "sql"), [
    ("Seq Scan", "SELECT * FROM small WHERE name = 'name 7'"),
    ("Index Scan", "SELECT * FROM small WHERE id = 42"),
    ("Hash Join", "SELECT count(*) FROM pairs p JOIN small s ON s.id = p.id"),
    ("Nested Loop", "SELECT count(*) FROM small a JOIN small b ON a.name < b.name WHERE a.id < 20"),
    ("Sort", "SELECT * FROM small ORDER BY name DESC"),
    ("Aggregate", "SELECT bucket, count(*) FROM small GROUP BY bucket"),
])
@pytest.mark.parametrize("analyze", [True, False], ids=["analyze", "estimates"])
def test_plan_tree_matches_the_json_postgresql_returned(plans_db, bob, api_as, shape, sql, analyze):
    plan = explain(api_as(bob), sql, analyze=analyze)
    assert shape in {n["Node Type"] for n in raw_nodes(plan["raw"])}  # the data makes PostgreSQL pick it
    assert_tree_matches(plan)
    assert plan["tree"]["analyzed"] is analyze


def test_seq_scan_on_a_million_rows_with_a_selective_filter_suggests_an_index(plans_db, alice, bob, api_as):
    sql = "SELECT id, label FROM big WHERE bucket = 7"
    plan = explain(api_as(bob), sql, analyze=False)
    scan = next(n for n in plan["tree"]["nodes"] if n["node_type"] == "Seq Scan")
    hint = next(h for h in plan["hints"] if h["kind"] == "seq_scan_selective")
    assert hint["node"] == scan["id"] and hint["severity"] == "warning"
    assert "big" in hint["title"]
    assert f"{BIG_ROWS:,}" in hint["message"]  # "reads all 1,000,000 rows"
    assert hint["sql"] == 'CREATE INDEX ON public.big (bucket);'
    # Following the hint (an admin in write mode) makes PostgreSQL use the index, and the hint goes away.
    created = api_as(alice).post("/api/database/query", {"sql": hint["sql"], "write": True}, format="json").json()
    assert created["results"][0]["outcome"] == "ok"
    assert scalar(plans_db, "SELECT count(*) FROM pg_indexes WHERE tablename = 'big'") == 1
    after = explain(api_as(bob), sql, analyze=True)
    assert not any(h["kind"] == "seq_scan_selective" for h in after["hints"])
    assert {"Bitmap Heap Scan", "Index Scan"} & {n["node_type"] for n in after["tree"]["nodes"]}
    with psycopg.connect(libpq(plans_db), autocommit=True) as conn:
        conn.execute("DROP INDEX big_bucket_idx")


def test_correlated_columns_misestimate_is_flagged_with_an_analyze_hint(plans_db, bob, api_as):
    plan = explain(api_as(bob), "SELECT * FROM pairs WHERE a = 5 AND b = 5")
    scan = plan["tree"]["nodes"][0]
    assert scan["flagged"] and scan["misestimate_direction"] == "under"
    assert scan["actual_rows"] == scalar(plans_db, "SELECT count(*) FROM pairs WHERE a = 5 AND b = 5")
    hint = next(h for h in plan["hints"] if h["kind"] == "misestimate")
    assert hint["node"] == scan["id"] and hint["sql"] == "ANALYZE public.pairs;"


def test_nested_loop_with_a_huge_inner_loop_count_is_explained(plans_db, bob, api_as):
    plan = explain(api_as(bob), "SELECT count(*) FROM small a JOIN small b ON a.name < b.name", analyze=False)
    loop = next(n for n in plan["tree"]["nodes"] if n["node_type"] == "Nested Loop")
    hint = next(h for h in plan["hints"] if h["kind"] == "nested_loop_inner")
    assert hint["node"] == loop["id"]
    outer = plan["tree"]["nodes"][loop["children"][0]]
    assert f"{outer['est_rows']:,.0f} times" in hint["message"]


def test_sort_spilling_to_disk_is_reported(plans_db, bob, api_as):
    # 50 000 rows of ~200 bytes do not fit in the default work_mem (4MB): the sort goes to disk.
    plan = explain(api_as(bob), "SELECT id, repeat(md5(id::text), 6) AS pad FROM pairs ORDER BY pad, id")
    sort = next(n for n in plan["tree"]["nodes"] if n["node_type"] == "Sort")
    assert sort["details"]["Sort Space Type"] == "Disk"
    hint = next(h for h in plan["hints"] if h["kind"] == "sort_spill")
    assert hint["node"] == sort["id"] and "work_mem" in hint["message"]
    assert f"{sort['details']['Sort Space Used']} kB" in hint["message"]
