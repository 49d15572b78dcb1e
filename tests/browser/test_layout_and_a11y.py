"""Daily use in a real Chromium against `serve --demo`: grid columns arranged by drag, keyboard and
menu (kept per user across reloads), the run log's "copy log" button, axe-core on the grid, the
migrations pages and the users pages, visible focus in the grid, and every main page at 1440 and
768 px without a horizontal scroll or a clipped button (screenshots in test-artifacts/layout/)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ARTIFACTS, PASSWORD, REPO, wait_until
from tests.serving import add_user

pytestmark = pytest.mark.browser
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
GRID = "/data/public.operations"

# every visible button, button-looking link or row action whose box leaves the window, or is cut off by
# a scrolling or clipping box around it (a user would have to find a hidden scrollbar to reach it)
CLIPPED = """() => [...document.querySelectorAll('button, .btn, input[type=submit], [class*=actions] a')].filter(el => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') return false;
  if (r.right > window.innerWidth + 1 || r.left < -1) return true;
  for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
    if (getComputedStyle(box).overflowX === 'visible') continue;
    const b = box.getBoundingClientRect();
    if (r.right > b.right + 1 || r.left < b.left - 1) return true;
  }
  return false;
}).map(el => (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + el.className) + ' ' + el.textContent.trim().slice(0, 30))"""
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture(scope="module")
def demo(served_demo):  # type: ignore[no-untyped-def]
    add_user(served_demo, "alice", "admin", PASSWORD)
    add_user(served_demo, "bob", "editor", PASSWORD)
    return served_demo


def log_in(browser, served, who: str, **options):  # type: ignore[no-untyped-def]
    context = browser.new_context(**{"viewport": {"width": 1440, "height": 900}, **options})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.errors = []
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    tab.goto(served.base_url + "/login")
    tab.get_by_label("Username").fill(who)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(served.base_url + "/")
    return context, tab


def serious_violations(tab) -> list[dict]:  # type: ignore[no-untyped-def]
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a dev dependency, used only by tests)")
    if not tab.evaluate("typeof axe !== 'undefined'"):
        tab.evaluate(AXE.read_text())
    serious = []
    for theme in ("dark", "light"):  # both palettes: contrast is where this check found most problems
        tab.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        found = tab.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                             ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                             " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
        serious += [dict(v, theme=theme) for v in found if v["impact"] in ("serious", "critical")]
    tab.evaluate("document.documentElement.dataset.theme = 'dark'")
    return serious


def heads(tab) -> list[str]:  # type: ignore[no-untyped-def]
    return tab.locator("#grid thead th[data-col]").evaluate_all("ths => ths.map(th => th.dataset.col)")


def saved_after(tab, action) -> None:  # type: ignore[no-untyped-def]
    """Run ``action`` and wait until the page says the layout was saved."""
    before = tab.evaluate("document.getElementById('grid').dataset.saved || ''")
    action()
    wait_until(tab, f"(document.getElementById('grid').dataset.saved || '') !== '{before}'")


@pytest.fixture(scope="module")
def run_url(demo, browser) -> str:  # type: ignore[no-untyped-def]
    """alice applies the demo's pending revisions once: the run page the tests below look at."""
    context, tab = log_in(browser, demo, "alice")
    try:
        tab.goto(demo.base_url + "/alembic")
        tab.click("#apply-all")
        tab.click("#confirm-run")
        tab.wait_for_url(re.compile(r"/alembic/runs/\d+$"))
        tab.wait_for_selector('#run-status[data-status="succeeded"]', timeout=60_000)
        tab.wait_for_selector("#run-facts .ok")
        return tab.url
    finally:
        context.close()


def test_alice_arranges_the_grid_columns_and_bob_keeps_his_own(demo, browser):
    context, tab = log_in(browser, demo, "alice", bypass_csp=True)
    try:
        tab.goto(demo.base_url + GRID)
        table_order = heads(tab)
        assert table_order[0] == "id" and "amount" in table_order and "kind" in table_order

        # drag "amount" onto the left half of "id": it becomes the first column, cells and all
        saved_after(tab, lambda: tab.drag_and_drop('#grid th[data-col="amount"]', '#grid th[data-col="id"]',
                                                   target_position={"x": 4, "y": 8}))
        moved = ["amount"] + [n for n in table_order if n != "amount"]
        assert heads(tab) == moved
        first_cells = tab.locator("#grid tbody tr").first.locator("td").all_inner_texts()
        tab.reload()  # the server renders her order, before any script
        assert heads(tab) == moved
        assert tab.locator("#grid tbody tr").first.locator("td").all_inner_texts() == first_cells

        # keyboard only: open the columns menu, move "kind" left with its arrow; the focus stays on it
        tab.locator("#col-menu > summary").focus()
        tab.keyboard.press("Enter")
        arrow = tab.get_by_role("button", name="Move kind left")
        arrow.focus()
        saved_after(tab, lambda: tab.keyboard.press("Enter"))
        i = moved.index("kind")
        moved[i - 1], moved[i] = moved[i], moved[i - 1]
        assert heads(tab) == moved
        assert tab.evaluate("document.activeElement.getAttribute('aria-label')") == "Move kind left"
        assert "kind moved left" in tab.locator("#col-status").inner_text()

        # untick a column: the page comes back without it, the menu still open
        hidden = moved[-1]
        with tab.expect_navigation():  # the box submits the menu's form: wait for the new page, not the old one
            tab.locator(f'#col-form input[name=show][value="{hidden}"]').uncheck()
        tab.wait_for_load_state("load")
        wait_until(tab, "document.getElementById('col-menu').open === true")
        assert tab.evaluate("document.activeElement.value") == hidden  # the focus is back on the box
        assert heads(tab) == moved[:-1]
        assert "1 hidden" in tab.locator("#col-menu > summary").inner_text()
        assert serious_violations(tab) == []  # the grid with its menu open

        # resize "client_id" by dragging its header's edge 90 px to the right
        th = tab.locator('#grid th[data-col="client_id"]')
        width = th.bounding_box()["width"]
        handle = th.locator(".col-resize").bounding_box()
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2

        def drag_edge() -> None:
            tab.mouse.move(x, y)
            tab.mouse.down()
            tab.mouse.move(x + 45, y)
            tab.mouse.move(x + 90, y)
            tab.mouse.up()

        saved_after(tab, drag_edge)
        tab.reload()
        assert abs(tab.locator('#grid th[data-col="client_id"]').bounding_box()["width"] - (width + 90)) <= 2
        assert heads(tab) == moved[:-1]

        # focus is visible inside the grid: a row link focused by keyboard draws an outline
        link = tab.locator("#grid tbody tr").first.locator("td.key a.rowkey")
        cell = tab.locator("#grid tbody tr").first.locator("td.key").bounding_box()
        plain = tab.screenshot(clip=cell)
        tab.keyboard.press("Tab")
        link.focus()
        assert link.evaluate("a => a.matches(':focus-visible')")
        outline = link.evaluate("a => { const s = getComputedStyle(a); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }")
        assert outline[0] != "none" and outline[1] >= 2
        assert tab.screenshot(clip=cell) != plain  # drawn inside the cell, not cut off by it
        assert tab.errors == []

        # bob, another user, sees the table's own layout
        other, bobs = log_in(browser, demo, "bob")
        try:
            bobs.goto(demo.base_url + GRID)
            assert heads(bobs) == table_order
            assert "hidden" not in bobs.locator("#col-menu > summary").inner_text()
        finally:
            other.close()

        # Reset columns: her grid is the table's again
        tab.locator("#col-menu").evaluate("d => d.open = true")
        tab.locator("#col-reset").click()
        tab.wait_for_load_state("load")
        assert heads(tab) == table_order
    finally:
        context.close()


def test_the_run_log_copies_and_migrations_and_users_pages_pass_axe(demo, browser, run_url):
    context, tab = log_in(browser, demo, "alice", bypass_csp=True, permissions=["clipboard-read", "clipboard-write"])
    try:
        tab.goto(run_url)
        lines = tab.locator("#run-log li").count()
        assert lines >= 3
        tab.locator("#copy-log").click()
        wait_until(tab, "document.getElementById('copy-log').textContent === 'Copied'")
        assert tab.locator("#copy-state").inner_text() == "Log copied to the clipboard."
        copied = tab.evaluate("navigator.clipboard.readText()")
        assert len(copied.strip().splitlines()) >= lines and "Run succeeded" in copied
        assert copied.startswith(tab.locator("#run-log li .t").first.inner_text())  # the time, then the kind and text
        assert serious_violations(tab) == []

        # without the Clipboard API the log is shown in a text box, all of it selected
        tab.reload()
        tab.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
        tab.locator("#copy-log").click()
        box = tab.locator("#copy-text")
        assert box.is_visible() and box.input_value() == copied
        assert box.evaluate("t => t.selectionStart === 0 && t.selectionEnd === t.value.length")
        assert tab.evaluate("document.activeElement.id") == "copy-text"

        tab.goto(demo.base_url + "/alembic")
        revision = tab.locator(".rev-row .rev-id").first.get_attribute("href")
        for path in ("/alembic", revision, "/alembic/runs", "/users", "/account"):
            tab.goto(demo.base_url + path)
            tab.wait_for_load_state("networkidle")
            assert serious_violations(tab) == [], path
        assert tab.errors == []
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (768, 1024)])
def test_every_main_page_fits_the_window_at_1440_and_768(demo, browser, run_url, width, height):
    context, tab = log_in(browser, demo, "alice")
    try:
        tab.set_viewport_size({"width": width, "height": height})
        tab.goto(demo.base_url + "/alembic")
        revision = tab.locator(".rev-row .rev-id").first.get_attribute("href")
        pages = {"dashboard": "/", "tables": "/data", "grid": GRID, "row": GRID + "/row/1", "migrations": "/alembic",
                 "revision": revision, "run": run_url.removeprefix(demo.base_url), "models": "/models",
                 "er-diagram": "/er-diagram", "console": "/sql", "audit": "/audit", "users": "/users",
                 "account": "/account"}
        shots = ARTIFACTS / "layout"
        shots.mkdir(parents=True, exist_ok=True)
        problems = {}
        for name, path in pages.items():
            tab.goto(demo.base_url + path)
            tab.wait_for_load_state("networkidle")
            found = {"overflow px": tab.evaluate(OVERFLOW), "clipped": tab.evaluate(CLIPPED)}
            if found["overflow px"] > 0 or found["clipped"]:
                problems[name] = found
            tab.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        assert problems == {}, (width, problems)
        assert tab.errors == []
    finally:
        context.close()
