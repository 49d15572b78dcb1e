"""The Firefox cell of `make test`: a newcomer's tour of the demo in Debian's firefox-esr.

The whole browser suite runs in Firefox with `make test-firefox` (TEST_BROWSER=firefox); this one
story keeps that path from rotting in every run: Playwright drives the stock Firefox over WebDriver
BiDi (docs/compat.md, "Browsers", says what that covers and what it does not).
"""

from __future__ import annotations

import csv
import re
import time

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) { window.__csp.push(e.violatedDirective); });
"""


@pytest.fixture
def firefox_page(firefox):  # type: ignore[no-untyped-def]
    context = firefox.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    context.close()


def test_a_newcomer_tours_the_demo_in_firefox(served_demo, firefox_page, firefox_downloads):
    from tests.serving import add_user

    page = firefox_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(WATCH)
    add_user(served_demo, "fiona", "admin", PASSWORD)
    page.goto(served_demo.base_url + "/login")
    page.get_by_label("Username").fill("fiona")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(served_demo.base_url + "/")
    assert page.locator("[data-card=connection] .big").inner_text() == "Connected"

    # the theme toggle (a script under the CSP) and the pages of the navigation
    html = page.locator("html")
    before = html.get_attribute("data-theme")
    page.get_by_role("button", name="Toggle light/dark theme").click()
    assert html.get_attribute("data-theme") != before
    for path in ("/alembic", "/models", "/er-diagram", "/data", "/data/public.operations", "/sql"):
        response = page.goto(served_demo.base_url + path)
        assert response is not None and response.status == 200, path
    # the migration graph and the ER diagram are drawn by scripts
    page.goto(served_demo.base_url + "/alembic")
    assert page.locator('a[href^="/alembic/revisions/"]').count() >= 1

    # the SQL console's CodeMirror bundle takes over the text box and runs a query
    page.goto(served_demo.base_url + "/sql")
    page.locator(".cm-editor .cm-lineNumbers").wait_for()
    page.locator(".cm-content").click()
    page.keyboard.type("SELECT 40 + 2 AS answer")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")
    page.locator(".sql-grid tbody tr").first.wait_for()
    assert page.locator(".sql-grid tbody td").first.inner_text() == "42"

    # a grid filter (a form the scripts complete) narrows the rows
    page.goto(served_demo.base_url + "/data/public.operations")
    page.select_option("#add-col", "kind")
    page.select_option("#add-op", "eq")
    page.fill("#add-val", "buy")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"f\.eq\.kind=buy"))
    assert set(page.locator("#grid tbody tr td:nth-child(5)").all_inner_texts()) == {"buy"}

    # the CSV export of that view: the page builds the file from the stream (a blob: URL), which
    # Firefox saves without telling Playwright, so it is looked for where Firefox saves downloads
    page.locator("#export-csv").click()
    page.locator('#export-box[data-state="done"]').wait_for()
    deadline = time.monotonic() + 15
    while not (saved := sorted(firefox_downloads.glob("*.csv"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(saved) == 1, sorted(firefox_downloads.iterdir())
    with saved[0].open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    exported = int(re.search(r"done: ([\d,]+) rows", page.locator("#export-status").inner_text()).group(1).replace(",", ""))
    assert len(rows) == exported > 0
    assert {row[header.index("kind")] for row in rows} == {"buy"}

    assert page.evaluate("window.__csp") == [] and errors == []
