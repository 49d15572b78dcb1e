"""A newcomer's first five minutes, in a real Chromium against the real `serve --demo`."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO / "docs" / "screenshots"


def test_newcomer_logs_in_with_the_printed_link_and_sees_pending_migrations(served_demo, page):
    # The console told them where to go.
    assert re.search(r"✓ Current migration: \S+ \(.+\), [12] pending", served_demo.output), served_demo.output
    page.goto(served_demo.base_url + served_demo.login_path())
    page.wait_for_url(served_demo.base_url + "/")
    pending = page.locator("#pending-count")
    assert int(pending.get_attribute("data-pending")) in (1, 2)
    assert page.locator("[data-card=connection] .big").inner_text() == "Connected"
    assert page.get_by_role("link", name="Review & apply").is_visible()
    assert page.locator("[data-check=models] .mark").inner_text() == "✓"
    # The models describe head; the database is two revisions behind: the drift card says so.
    drift = page.locator("[data-card=drift][data-drift-count]")
    drift.wait_for(timeout=30_000)
    assert int(drift.get_attribute("data-drift-count")) >= 1
    assert "note" in page.locator("#drift-detail").inner_text()  # operations.note comes with 0008
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"))

    # Dark by default; the toggle switches to light, and the choice survives a reload.
    html = page.locator("html")
    assert html.get_attribute("data-theme") == "dark"
    page.get_by_role("button", name="Toggle light/dark theme").click()
    assert html.get_attribute("data-theme") == "light"
    page.reload()
    assert html.get_attribute("data-theme") == "light"

    # "?" opens the shortcut help, Escape closes it.
    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()


def test_used_login_link_is_refused_with_a_plain_message(served_demo, page):
    # The link was used by the first test (or is used now); either way the second use fails.
    link = served_demo.base_url + served_demo.login_path()
    page.goto(link)
    page.context.clear_cookies()
    page.goto(link)
    page.wait_for_url(re.compile(r"/login$"))
    assert "invalid, already used or expired" in page.locator(".toast").inner_text()


def test_tablet_width_keeps_the_navigation_usable(served_demo, browser):
    from tests.conftest import PASSWORD
    from tests.serving import add_user

    add_user(served_demo, "carol", "viewer", PASSWORD)
    context = browser.new_context(viewport={"width": 768, "height": 1024})
    tab = context.new_page()
    tab.goto(served_demo.base_url + "/login")
    tab.get_by_label("Username").fill("carol")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(served_demo.base_url + "/")
    for name in ("Dashboard", "Migrations", "Models", "ER diagram", "Data", "SQL", "Audit"):
        assert tab.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).is_visible()
    # no horizontal scrollbar at tablet width
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
