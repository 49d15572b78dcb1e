"""In a real Chromium against `serve --demo`: the models page and the ER diagram a newcomer reads."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO, wait_until
from tests.modelmap.conftest import parse_svg
from tests.modelmap.test_erd_browser import ENDS_ON_BOX

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def logged_in(served_demo, browser):  # type: ignore[no-untyped-def]
    """One browser context logged in as the admin with the printed one-time link (single use)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    tab.goto(served_demo.base_url + served_demo.login_path())
    tab.wait_for_url(served_demo.base_url + "/")
    yield tab
    context.close()


def test_models_page_shows_the_demo_models_with_relationships_and_cascades(served_demo, logged_in):
    page = logged_in
    page.goto(served_demo.base_url + "/models")
    client = page.locator('[data-model="Client"]')
    assert client.locator(".mm-class").inner_text() == "Client"
    operations = client.locator('[data-relationship="operations"]')
    assert operations.locator("[data-direction]").inner_text() == "1:N"
    assert operations.locator(".cascade-cell").inner_text() == "all, delete-orphan"
    assert "N:M" in client.locator('[data-relationship="brokers"]').inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, document.querySelector('[data-model=Client]').offsetTop - 70)")
    page.screenshot(path=str(SCREENSHOTS / "models.png"))

    # Typing filters the cards at once, no reload.
    page.fill("#model-search", "telegram")
    assert client.is_visible() and not page.locator('[data-model="Broker"]').is_visible()
    page.fill("#model-search", "")
    assert page.locator('[data-model="Broker"]').is_visible()


def test_clicking_an_edge_explains_it_and_clicking_a_table_opens_its_data(served_demo, logged_in):
    page = logged_in
    page.goto(served_demo.base_url + "/er-diagram")
    page.wait_for_selector("#erd-wrap[data-ready]")
    for name in ("clients", "brokers", "operations", "client_payment_calendars", "client_brokers"):
        assert page.locator(f'g.node[data-table="{name}"]').count() == 1
    page.screenshot(path=str(SCREENSHOTS / "er-diagram.png"))

    edge = page.locator('g.edge[data-from="operations"][data-to="clients"] text')
    edge.click()
    panel = page.locator("#erd-panel")
    assert panel.is_visible() and "ON DELETE" in panel.inner_text() and "CASCADE" in panel.inner_text()
    assert "Client.operations" in panel.inner_text()

    # Export SVG downloads the picture as it is on screen.
    with page.expect_download() as download:
        page.click("#erd-export-svg")
    root = parse_svg(b"", path=download.value.path())
    assert "operations" in {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    with page.expect_download() as png:
        page.click("#erd-export-png")
    assert open(png.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    # Dragging a table moves it, its edges follow, and the drag does not open its data.
    node = page.locator('g.node[data-table="brokers"]')
    line = page.locator('g.edge[data-from="operations"][data-to="brokers"] path.line')
    before, before_d = node.get_attribute("transform"), line.get_attribute("d")
    box = node.locator("rect.head").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    page.mouse.move(box["x"] + 60, box["y"] + 160, steps=5)
    page.mouse.up()
    assert node.get_attribute("transform") != before and line.get_attribute("d") != before_d
    assert page.url.endswith("/er-diagram")
    # The position is saved for this user, and every line of the moved table still ends on one of its sides.
    wait_until(page, "!document.getElementById('erd-wrap').dataset.saving")
    assert "brokers" in page.request.get(served_demo.base_url + "/api/erd/positions").json()["positions"]
    assert all(page.evaluate(ENDS_ON_BOX, "brokers"))

    # The wheel zooms (the view's transform scales); hiding columns collapses every table to its header.
    view = page.locator("svg.erd g.viewport").get_attribute("transform")
    assert view and "scale(" in view
    page.mouse.move(640, 500)
    page.mouse.wheel(0, -300)
    wait_until(page, f"document.querySelector('svg.erd g.viewport').getAttribute('transform') !== '{view}'")
    page.check("#erd-hide-columns")
    assert "no-columns" in page.locator("svg.erd").get_attribute("class")
    assert page.locator('g.node[data-table="clients"] rect.box').get_attribute("height") == "26"
    page.uncheck("#erd-hide-columns")
    page.wait_for_selector("#erd-wrap[data-ready]")  # laid out again with the columns

    page.locator('g.node[data-table="operations"] .title').click()
    page.wait_for_url(re.compile(r"/data/public\.operations$"))
