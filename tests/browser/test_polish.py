"""Polish a new user notices first, in a real Chromium against `serve --demo`: an icon on every page
(no 404 for /favicon.ico), a login card in the middle of the window, dashboard names that never wrap
inside a word, and error pages whose buttons lead somewhere (no "Try again" that reloads a refusal)."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.sqlconsole.test_editor_browser import SPLIT_WORDS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(served_demo):  # type: ignore[no-untyped-def]
    from tests.serving import add_user

    add_user(served_demo, "alice", "admin", PASSWORD)
    add_user(served_demo, "bob", "editor", PASSWORD)
    return served_demo


def log_in(tab, served, who: str) -> None:  # type: ignore[no-untyped-def]
    tab.goto(served.base_url + "/login")
    tab.get_by_label("Username").fill(who)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(served.base_url + "/")


def test_every_page_has_an_icon_and_no_request_ends_in_a_404(demo, page):
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    answer = page.request.get(demo.base_url + "/favicon.ico")  # not logged in: browsers ask before anyone logs in
    assert answer.status == 200 and answer.headers["content-type"] == "image/svg+xml"
    assert answer.text().lstrip().startswith("<svg")
    page.goto(demo.base_url + "/login")
    log_in(page, demo, "alice")
    for path in ("/", "/alembic", "/models", "/er-diagram", "/data", "/sql", "/audit", "/users"):
        page.goto(demo.base_url + path)
        page.wait_for_load_state("networkidle")
        icon = page.locator("link[rel=icon]").get_attribute("href")
        assert page.request.get(demo.base_url + icon).status == 200, path
    assert missing == []


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (768, 1024), (390, 844)])
def test_the_login_card_sits_in_the_middle_of_the_window(demo, browser, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        tab = context.new_page()
        tab.goto(demo.base_url + "/login")
        card = tab.locator(".login-card").bounding_box()
        middle = card["y"] + card["height"] / 2
        assert 0.35 * height <= middle <= 0.55 * height, (width, card)  # a little above the centre, not at the top
        assert abs(card["x"] + card["width"] / 2 - width / 2) <= 2  # and centred across
    finally:
        context.close()


@pytest.mark.parametrize("width", [1440, 1024, 768])
def test_dashboard_names_never_wrap_inside_a_word(demo, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        log_in(tab, demo, "alice")
        tab.locator("#drift-count").wait_for()
        assert "5432/" in tab.locator("[data-card=connection]").inner_text()  # the long address is there
        assert tab.evaluate(SPLIT_WORDS, ".grid.cards") == [], width
    finally:
        context.close()


def actions_of(tab) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(a.inner_text(), a.get_attribute("href")) for a in tab.locator(".error-card .error-actions a").all()]


def test_a_refusal_explains_the_missing_role_and_its_buttons_lead_somewhere(demo, page):
    log_in(page, demo, "bob")
    response = page.goto(demo.base_url + "/users", referer=demo.base_url + "/sql")
    assert response is not None and response.status == 403
    card = page.locator(".error-card")
    assert "needs the admin role" in card.inner_text() and "signed in as bob with the editor role" in card.inner_text()
    html = card.inner_html()
    assert "onclick" not in html and "<script" not in html and "<button" not in html
    actions = actions_of(page)
    assert actions == [("Back", "/sql"), ("Go to the dashboard", "/")]  # no "Try again": it would refuse again
    for _label, href in actions:
        assert page.request.get(demo.base_url + href).status == 200
    page.get_by_role("link", name="Back").click()
    page.wait_for_url(demo.base_url + "/sql")


def test_a_missing_table_leads_back_to_the_table_list_and_a_missing_page_home(demo, page):
    log_in(page, demo, "bob")
    response = page.goto(demo.base_url + "/data/public.no_such_table")
    assert response is not None and response.status == 404
    assert actions_of(page)[0] == ("Back to the table list", "/data")
    page.get_by_role("link", name="Back to the table list").click()
    page.wait_for_url(demo.base_url + "/data")
    response = page.goto(demo.base_url + "/no/such/page")
    assert response is not None and response.status == 404
    assert actions_of(page) == [("Go to the dashboard", "/")]


def test_shortcuts_do_not_clash_and_reach_users(demo, page):
    log_in(page, demo, "alice")
    page.keyboard.press("?")
    keys = page.locator("#shortcuts kbd").all_inner_texts()
    assert "g u" in keys and "g t" not in keys and "t" in keys
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.keyboard.press("u")
    page.wait_for_url(demo.base_url + "/users")
    page.keyboard.press("g")
    page.keyboard.press("b")
    page.wait_for_url(demo.base_url + "/data")
    theme = page.evaluate("document.documentElement.dataset.theme")
    page.keyboard.press("g")
    page.keyboard.press("t")  # not a destination: nothing happens, not even the theme
    assert page.evaluate("document.documentElement.dataset.theme") == theme and page.url == demo.base_url + "/data"
    page.keyboard.press("t")
    assert page.evaluate("document.documentElement.dataset.theme") != theme
