"""A developer asks "why is this query slow?" in a real Chromium against the real `serve --demo`."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import REPO, libpq

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module", autouse=True)
def bundle_built() -> None:
    if not (REPO / "static" / "build" / "sqlconsole.js").exists():
        pytest.fail("static/build/sqlconsole.js is missing: run `npm ci && npm run build` (make setup does it)")


@pytest.fixture(scope="module")
def busy_demo(served_demo, demo_url, make_reader):  # type: ignore[no-untyped-def]
    """The demo with 40× more operations, so that a scan of the table is worth an index; the
    served instance gets a reader role (as `manage.py create_reader_role` would store it)."""
    from sqlalchemy.engine import make_url

    from core import reader_role, target

    reader_role.store(target.normalise_url(demo_url), make_url(make_reader(demo_url)), data_dir=served_demo.data_dir)
    with psycopg.connect(libpq(demo_url), autocommit=True) as conn:
        conn.execute("INSERT INTO operations (client_id, broker_id, kind, amount, meta) "
                     "SELECT client_id, broker_id, kind, amount + g, meta FROM operations, generate_series(1, 40) g")
        conn.execute("ANALYZE operations")
        threshold = conn.execute("SELECT percentile_disc(0.998) WITHIN GROUP (ORDER BY amount) FROM operations").fetchone()[0]
        first_clients = [r[0] for r in conn.execute("SELECT full_name FROM clients ORDER BY id LIMIT 5")]
    return served_demo, threshold, first_clients, demo_url


@pytest.fixture(scope="module")
def bob_on_demo(busy_demo):  # type: ignore[no-untyped-def]
    """bob the editor in the served instance (added once for the module)."""
    from tests.conftest import PASSWORD
    from tests.serving import add_user

    add_user(busy_demo[0], "bob", "editor", PASSWORD)
    return "bob", PASSWORD


def log_in(page, served, who) -> None:  # type: ignore[no-untyped-def]
    page.goto(served.base_url + "/login")
    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(served.base_url + "/")


def sleepers(url: str) -> int:
    """pg_sleep calls running in the demo database right now (read straight from PostgreSQL)."""
    with psycopg.connect(libpq(url)) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event = 'PgSleep' AND state = 'active'").fetchone()[0]


def wait_until(condition, seconds: float = 15) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def type_sql(page, sql: str) -> None:  # type: ignore[no-untyped-def]
    editor = page.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(sql)


def test_developer_runs_a_query_explains_it_and_sees_why_it_is_slow(busy_demo, page):
    served, threshold, first_clients, _ = busy_demo
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(served.base_url + served.login_path())
    page.goto(served.base_url + "/sql")
    assert page.locator(".cm-editor .cm-lineNumbers").is_visible()  # the CodeMirror bundle took over

    # Type a query and run it with Ctrl+Enter.
    editor = page.locator(".cm-content")
    editor.click()
    page.keyboard.type("SELECT full_name FROM clients ORDER BY id LIMIT 5")
    page.keyboard.press("Escape")  # closes the autocompletion popup, the editor keeps the focus
    page.keyboard.press("Control+Enter")
    rows = page.locator(".sql-grid tbody tr")
    rows.first.wait_for()
    assert rows.count() == 5
    assert page.locator(".sql-grid tbody tr td:first-child").all_inner_texts() == first_clients
    assert "5 rows" in page.locator(".sql-meta").inner_text()
    # sort by the column, client-side, and export what is shown
    page.locator(".sql-grid th", has_text="full_name").click()
    assert page.locator(".sql-grid tbody tr td:first-child").all_inner_texts() == sorted(first_clients)
    with page.expect_download() as download:
        page.get_by_role("button", name="CSV").click()
    csv_lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert csv_lines == ["full_name", *sorted(first_clients)]
    page.locator("#history-list").get_by_text("SELECT full_name FROM clients").wait_for()
    # the database card: size, connections, cache, the biggest tables
    page.locator("#db-stats").get_by_text("public.operations").wait_for()

    # Why is this one slow? Explain it (Ctrl+E): the plan tree and the hint answer.
    slow = (f"SELECT o.id, o.amount, c.full_name\nFROM operations o\nJOIN clients c ON c.id = o.client_id\n"
            f"WHERE o.amount > {threshold}\nORDER BY o.amount DESC;")
    type_sql(page, slow)
    page.keyboard.press("Control+e")
    page.locator(".plan-tree .plan-node").first.wait_for()
    assert page.locator(".plan-summary").inner_text().startswith("EXPLAIN (estimates only)")
    page.get_by_role("button", name="Explain analyze").click()
    page.locator(".plan-summary", has_text="EXPLAIN ANALYZE").wait_for()
    labels = page.locator(".plan-node .plan-label").all_inner_texts()
    assert any("Seq Scan" in label for label in labels)
    assert page.locator(".plan-node.hot").count() >= 1
    hint = page.locator("[data-hint=seq_scan_selective]")
    assert "CREATE INDEX ON public.operations (amount);" in hint.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#sql-results").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "sql-explain.png"), full_page=True)

    # The raw JSON is one click away.
    page.get_by_role("button", name="Raw JSON").click()
    assert '"Node Type"' in page.locator(".plan-raw").inner_text()

    # An error is marked in the editor at its position.
    type_sql(page, "SELECT 1;\nSELECT nope FROM clients")
    page.keyboard.press("Control+Shift+Enter")
    page.locator(".sql-result-error").wait_for()
    assert page.locator(".cm-lintRange-error").inner_text() == "nope"
    assert errors == []


def test_a_long_query_is_cancelled_from_the_page(busy_demo, bob_on_demo, page):
    served = busy_demo[0]
    log_in(page, served, bob_on_demo)
    page.goto(served.base_url + "/sql")
    type_sql(page, "SELECT pg_sleep(60)")
    page.keyboard.press("Control+Enter")
    wait_until(lambda: sleepers(busy_demo[3]) == 1)  # the statement really runs on the server
    page.get_by_role("button", name="Cancel").click()
    page.locator(".sql-result-cancelled").wait_for()
    assert "cancelled by bob" in page.locator(".sql-result-cancelled .alert-error").inner_text()


def test_closing_the_tab_cancels_its_query(busy_demo, bob_on_demo, browser):
    served, demo_url = busy_demo[0], busy_demo[3]
    context = browser.new_context()
    tab = context.new_page()
    log_in(tab, served, bob_on_demo)
    tab.goto(served.base_url + "/sql")
    type_sql(tab, "SELECT pg_sleep(60) AS closed_tab")
    tab.keyboard.press("Control+Enter")
    wait_until(lambda: sleepers(demo_url) == 1)
    assert sleepers(demo_url) == 1
    tab.close(run_before_unload=True)
    wait_until(lambda: sleepers(demo_url) == 0)
    assert sleepers(demo_url) == 0  # the beacon cancelled it (it would otherwise sleep for a minute)
    context.close()


def test_a_refused_statement_is_marked_in_the_editor_and_nothing_runs(busy_demo, bob_on_demo, page):
    served = busy_demo[0]
    log_in(page, served, bob_on_demo)
    page.goto(served.base_url + "/sql")
    assert "reads only" in page.locator(".sql-head").inner_text()
    type_sql(page, "SELECT 1;\nSELECT pg_terminate_backend(pg_backend_pid())")
    page.keyboard.press("Control+Shift+Enter")
    refusal = page.locator("[data-refusal=not_allowed]")
    refusal.wait_for()
    assert "pg_terminate_backend() is an administration function" in refusal.inner_text()
    assert page.locator("#sql-status").inner_text() == "Refused: nothing ran"
    assert page.locator(".cm-lintRange-error").inner_text() == "pg_terminate_backend"
