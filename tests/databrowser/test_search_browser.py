"""The grid's bounded search in a real Chromium against the real `manage.py serve`.

A 150 000-row table without a serving index and a tiny search budget: the grid answers with
the matches of the first rows it searched, says "… in the first N rows … of ≈ M" (no estimate of
the matches anywhere), and its "continue" link — a plain link, so it works without JavaScript —
goes on exactly where the search stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.databrowser.conftest import sql

pytestmark = pytest.mark.browser

ADMIN, PASSWORD = "searcher", "search-password-123"
ROWS = 150_000


@pytest.fixture(scope="module")
def served_search(target_url: str) -> Iterator[object]:
    from tests.conftest import REPO
    from tests.serving import Served

    sql(target_url, f"""
        CREATE TABLE events (id bigint PRIMARY KEY, title text, meta jsonb);
        INSERT INTO events SELECT g, 'event ' || g,
               jsonb_build_object('who', CASE WHEN g % 1201 = 0 THEN 'needle' ELSE 'hay' END)
        FROM generate_series(1, {ROWS}) g;
        ANALYZE events;
    """)
    served = Served({"DATABASE_URL": target_url, "PGADMIN_ADMIN_USERNAME": ADMIN, "PGADMIN_ADMIN_PASSWORD": PASSWORD,
                     "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot"), "PGADMIN_SEARCH_BUDGET_MS": "20",
                     "PGADMIN_SEARCH_CHUNK_ROWS": "3000", "PGADMIN_SEARCH_SCAN_ABOVE": "1000"})
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def _login(tab, base: str) -> None:  # type: ignore[no-untyped-def]
    tab.goto(base + "/login")
    tab.get_by_label("Username").fill(ADMIN)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(base + "/")


def _ids(tab) -> list[int]:  # type: ignore[no-untyped-def]
    return [int(t.replace(",", "")) for t in tab.locator("#grid tbody tr td:nth-child(2)").all_inner_texts()]


def _searched(tab) -> int:  # type: ignore[no-untyped-def]
    """How many rows the answer says it searched (the first part may not fit a tiny budget: 0)."""
    status = tab.locator("#search-status").inner_text()
    if status.startswith("No rows searched yet"):
        return 0
    match = re.search(r"in the first ([\d,]+) rows", status)
    assert match, status
    return int(match.group(1).replace(",", ""))


def test_grid_says_how_far_the_search_got_and_continue_goes_on_from_there(served_search, target_url, page, browser):
    base = served_search.base_url  # type: ignore[attr-defined]
    expected = [r[0] for r in sql(target_url, "SELECT id FROM events WHERE meta::text ILIKE '%needle%' ORDER BY id")]
    _login(page, base)
    page.goto(base + "/data/public.events")
    page.get_by_label("Search").fill("needle")
    page.get_by_label("Search").press("Enter")
    page.wait_for_url(re.compile(r"q=needle"))
    for _ in range(20):  # a loaded machine may answer "no rows searched yet" first: continue
        if "in the first" in page.locator("#search-status").inner_text():
            break
        page.locator("#search-continue").click()
        page.wait_for_load_state()
    status = page.locator("#search-status").inner_text()
    assert "in the first" in status and f"of ≈ {ROWS:,}" in status
    assert "≈" not in page.locator("#row-total").inner_text()
    assert "meta" in page.locator("#search-columns").inner_text()
    assert "gin_trgm_ops" in page.locator("#search-hint").inner_text()
    seen = _ids(page)
    searched = _searched(page)
    assert seen == [i for i in expected if i <= searched]  # ids are the keys: the first N rows are ids 1…N

    # continue, a few times, in a browser without JavaScript: a plain link
    context = browser.new_context(java_script_enabled=False)
    nojs = context.new_page()
    try:
        nojs.goto(base + "/login")  # the login form posts without JavaScript too
        nojs.get_by_label("Username").fill(ADMIN)
        nojs.get_by_label("Password").fill(PASSWORD)
        nojs.get_by_role("button", name="Log in").click()
        nojs.wait_for_url(base + "/")
        nojs.goto(page.url)
        before = _searched(nojs)
        for _ in range(3):
            nojs.locator("#search-continue").click()
            nojs.wait_for_url(re.compile(r"cursor="))
            status = nojs.locator("#search-status").inner_text()
            after = ROWS if "Searched all" in status else _searched(nojs) if "in the first" in status else before
            # exactly the matches after where the last answer stopped, up to where this one did
            assert _ids(nojs) == [i for i in expected if before < i <= after]
            before = after
            if after == ROWS:
                break
    finally:
        context.close()
