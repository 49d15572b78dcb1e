"""In a real Chromium against `manage.py serve` on the composite-key fixture: the ER diagram as
alice (admin), bob (editor) and carol (viewer) use it — laid out by ELK in the browser, zoom and
fit, labels beside (never on) the lines, ports on the key rows, focus on change, composite-key
marks, dragged positions that survive a reload, and an axe-core accessibility check."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FIXTURES, REPO, wait_until

pytestmark = pytest.mark.browser
PASSWORD = "erd-stories-Password-42"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def served(target_url: str) -> Iterator[Any]:
    from tests.serving import Served, add_user

    server = Served({"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "models_composite"),
                     "PGADMIN_ADMIN_USERNAME": "alice", "PGADMIN_ADMIN_PASSWORD": PASSWORD})
    try:
        server.wait_ready()
        add_user(server, "bob", "editor", PASSWORD)
        add_user(server, "carol", "viewer", PASSWORD)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def login(served, browser):  # type: ignore[no-untyped-def]
    """``login(name)``: a tab of a fresh browser context logged in as that user."""
    contexts = []

    def open_as(name: str, **options: Any):  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(20_000)
        tab.goto(served.base_url + "/login")
        tab.fill("input[name=username]", name)
        tab.fill("input[name=password]", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(served.base_url + "/")
        return tab

    yield open_as
    for context in contexts:
        context.close()


def open_diagram(tab, served, query: str = ""):  # type: ignore[no-untyped-def]
    tab.goto(served.base_url + "/er-diagram" + query)
    tab.wait_for_selector("#erd-wrap[data-ready]")
    return tab


def scale(tab) -> float:  # type: ignore[no-untyped-def]
    transform = tab.locator("svg.erd g.viewport").get_attribute("transform")
    return float(re.search(r"scale\(([\d.]+)\)", transform).group(1))  # type: ignore[union-attr]


def all_tables_inside_the_canvas(tab) -> bool:  # type: ignore[no-untyped-def]
    return tab.evaluate("""() => {
      const wrap = document.getElementById('erd-wrap').getBoundingClientRect();
      return [...document.querySelectorAll('g.node rect.box')].every(r => {
        const b = r.getBoundingClientRect();
        return b.left >= wrap.left && b.right <= wrap.right && b.top >= wrap.top && b.bottom <= wrap.bottom;
      });
    }""")


def test_alice_zooms_with_buttons_and_keys_and_fit_shows_every_table(served, login):
    tab = open_diagram(login("alice"), served)
    # On load the diagram fits: every table visible, the content fills the canvas along one axis,
    # and the canvas reaches down to the bottom of the window.
    assert all_tables_inside_the_canvas(tab)
    fill = tab.evaluate("""() => {
      const wrap = document.getElementById('erd-wrap').getBoundingClientRect();
      const content = document.querySelector('svg.erd g.viewport').getBoundingClientRect();
      return {w: content.width / wrap.width, h: content.height / wrap.height, bottom: innerHeight - wrap.bottom};
    }""")
    assert max(fill["w"], fill["h"]) > 0.9 and 0 <= fill["bottom"] < 30, fill
    assert tab.evaluate("document.documentElement.scrollHeight <= innerHeight")  # and the page does not scroll
    fitted = scale(tab)

    tab.click("#erd-zoom-in")
    assert scale(tab) == pytest.approx(fitted * 1.25, rel=1e-3)
    assert tab.locator("#erd-zoom-level").inner_text() == f"{round(fitted * 125)}%"
    tab.click("#erd-zoom-out")
    tab.click("#erd-zoom-out")
    assert scale(tab) == pytest.approx(fitted / 1.25, rel=1e-3)
    tab.click("#erd-actual")
    assert scale(tab) == pytest.approx(1.0)
    tab.keyboard.press("+")
    assert scale(tab) == pytest.approx(1.25)
    tab.keyboard.press("-")
    tab.keyboard.press("-")
    assert scale(tab) == pytest.approx(0.8)
    tab.keyboard.press("0")
    assert scale(tab) == pytest.approx(fitted) and all_tables_inside_the_canvas(tab)
    # Panning moves the view away; Fit brings every table back.
    wrap = tab.locator("#erd-wrap").bounding_box()
    tab.mouse.move(wrap["x"] + 8, wrap["y"] + wrap["height"] - 8)
    tab.mouse.down()
    tab.mouse.move(wrap["x"] + 700, wrap["y"] + wrap["height"] - 8, steps=4)
    tab.mouse.up()
    assert not all_tables_inside_the_canvas(tab)
    tab.click("#erd-fit")
    assert all_tables_inside_the_canvas(tab)
    # The minimap (off for a small diagram) shows every table; a click there centres the view on that spot.
    assert tab.locator("#erd-minimap").is_hidden()
    tab.click("#erd-map")
    assert tab.locator("#erd-map").get_attribute("aria-pressed") == "true"
    assert tab.locator("#erd-minimap rect.mini-node").count() == 4
    before = tab.locator("svg.erd g.viewport").get_attribute("transform")
    mini = tab.locator("#erd-minimap").bounding_box()
    tab.mouse.click(mini["x"] + 10, mini["y"] + 10)
    assert tab.locator("svg.erd g.viewport").get_attribute("transform") != before
    tab.click("#erd-map")
    assert tab.locator("#erd-minimap").is_hidden()
    tab.click("#erd-fit")
    # The buttons are named for screen readers and show keyboard focus.
    for button in ("#erd-zoom-in", "#erd-zoom-out", "#erd-fit", "#erd-actual", "#erd-map", "#erd-reset"):
        assert tab.locator(button).get_attribute("aria-label")
    tab.focus("#erd-zoom-in")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "erd-fit"
    assert tab.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


LABEL_CHECK = """() => {
  const out = [], paths = [...document.querySelectorAll('g.edge path.line')];
  for (const g of document.querySelectorAll('g.edge')) {
    const text = g.querySelector('text'), bg = g.querySelector('rect.label-bg');
    const t = text.getBBox(), r = bg.getBBox();
    const hits = [];
    for (const path of paths) {
      const half = parseFloat(getComputedStyle(path).strokeWidth) / 2, length = path.getTotalLength();
      for (let s = 0; s <= length; s += 0.5) {
        const p = path.getPointAtLength(s);
        if (p.x >= t.x - half && p.x <= t.x + t.width + half && p.y >= t.y - half && p.y <= t.y + t.height + half) {
          hits.push(path.parentNode.dataset.edge); break;
        }
      }
    }
    const covered = r.x <= t.x + 0.5 && r.y <= t.y + 1.5 &&
                    r.x + r.width >= t.x + t.width - 0.5 && r.y + r.height >= t.y + t.height - 2.5;
    out.push({edge: g.dataset.from + '->' + g.dataset.to, text: text.textContent, hits, covered});
  }
  return out;
}"""

CONTRAST = """() => {
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(channel);
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  return [...document.querySelectorAll('g.edge')].map(g => {
    const a = lum(getComputedStyle(g.querySelector('text')).fill);
    const b = lum(getComputedStyle(g.querySelector('rect.label-bg')).fill);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}"""


def test_labels_sit_beside_their_lines_with_a_halo_readable_in_both_themes(served, login):
    tab = open_diagram(login("carol"), served)
    labels = tab.evaluate(LABEL_CHECK)
    assert len(labels) == 5 and any("RESTRICT" in lab["text"] for lab in labels)
    for label in labels:
        assert label["hits"] == [], label  # no point of any line lies under the text
        assert label["covered"], label  # the halo is behind the whole text
    for theme in ("dark", "light"):
        tab.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        assert min(tab.evaluate(CONTRAST)) >= 4.5, theme
        (REPO / "test-artifacts").mkdir(exist_ok=True)
        tab.screenshot(path=str(REPO / "test-artifacts" / f"erd-composite-{theme}.png"))


PORTS = """() => {
  const point = (path, at) => { const p = path.getPointAtLength(at), m = path.getScreenCTM();
                                return new DOMPoint(p.x, p.y).matrixTransform(m); };
  const row = (table, column) => {
    const b = document.querySelector(`g.node[data-table="${table}"] g.col[data-column="${column}"] text.name`)
      .getBoundingClientRect();
    return b.top + b.height / 2;
  };
  const edge = (f, t) => document.querySelector(`g.edge[data-from="${f}"][data-to="${t}"] path.line`);
  const a = edge('stock_moves', 'warehouses'), b = edge('stock_moves', 'stock_items');
  const a0 = point(a, 0), b0 = point(b, 0), aEnd = point(a, a.getTotalLength());
  const arrivals = [...document.querySelectorAll('g.edge[data-to="warehouses"] path.line')]
    .map(p => { const e = point(p, p.getTotalLength()); return [Math.round(e.x * 10), Math.round(e.y * 10)].join(); });
  const starts = [...document.querySelectorAll('g.edge[data-from="stock_moves"] path.line')]
    .map(p => { const e = point(p, 0); return [Math.round(e.x * 10), Math.round(e.y * 10)].join(); });
  return {a: [a0.x, a0.y], b: [b0.x, b0.y], destinationRow: row('stock_moves', 'destination_id'), arrivals, starts,
          compositeRows: [row('stock_moves', 'warehouse_id'), row('stock_moves', 'product_id')],
          aEnd: aEnd.y, idRow: row('warehouses', 'id'), k: document.querySelector('svg.erd g.viewport').getCTM().a};
}"""


def test_two_foreign_keys_of_one_table_attach_at_their_own_rows(served, login):
    tab = open_diagram(login("bob"), served)
    tab.click("#erd-actual")
    assert int(tab.locator("#erd-wrap").get_attribute("data-layout-ms")) >= 0  # ELK laid it out
    ports = tab.evaluate(PORTS)
    # stock_moves' foreign keys leave from distinct points, and the two into warehouses.id arrive
    # at distinct points: no two lines meet at one spot.
    assert len(ports["starts"]) == len(set(ports["starts"])) >= 3
    assert len(ports["arrivals"]) == len(set(ports["arrivals"])) == 2
    # destination_id → warehouses.id: out of its own row, into the id row (rows are 18 px tall; ports
    # that share a row are spread by ±5 px).
    assert abs(ports["a"][1] - ports["destinationRow"]) < 9
    assert abs(ports["aEnd"] - ports["idRow"]) < 9
    # The composite FK leaves between its two rows.
    low, high = sorted(ports["compositeRows"])
    assert low <= ports["b"][1] <= high


def test_focus_applies_on_change_and_survives_a_reload(served, login):
    tab = open_diagram(login("carol"), served)
    assert tab.locator("#erd-apply").is_hidden()
    tab.select_option("#erd-focus", "products")
    tab.wait_for_url(re.compile(r"focus=products&depth=1"))
    tab.wait_for_selector("#erd-wrap[data-ready]")
    tables = {t for t in tab.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.table)")}
    assert tables == {"products", "stock_items"}
    tab.select_option("#erd-depth", "2")
    tab.wait_for_url(re.compile(r"focus=products&depth=2"))
    tab.wait_for_selector("#erd-wrap[data-ready]")
    tab.reload()
    tab.wait_for_selector("#erd-wrap[data-ready]")
    assert tab.locator("g.node").count() == 4 and tab.locator("#erd-focus").input_value() == "products"
    assert "focus" in tab.locator('g.node[data-table="products"]').get_attribute("class")
    # A table's ◎ focuses on it at once.
    tab.click('g.node[data-table="warehouses"] a.focus-btn')
    tab.wait_for_url(re.compile(r"focus=warehouses&depth=2"))
    tab.wait_for_selector("#erd-wrap[data-ready]")
    assert tab.locator("#erd-focus").input_value() == "warehouses"


def test_composite_keys_are_marked_on_every_column(served, login):
    tab = open_diagram(login("carol"), served)

    def key(table: str, column: str) -> str:
        return tab.locator(f'g.node[data-table="{table}"] g.col[data-column="{column}"] text.key').text_content()

    assert (key("stock_items", "warehouse_id"), key("stock_items", "product_id")) == ("PK 1/2 FK", "PK 2/2 FK")
    assert (key("stock_moves", "warehouse_id"), key("stock_moves", "product_id")) == ("FK 1/2", "FK 2/2")
    assert (key("stock_moves", "id"), key("warehouses", "id"), key("stock_items", "quantity")) == ("PK", "PK", "")


ENDS_ON_BOX = """table => {
  const box = document.querySelector(`g.node[data-table="${table}"] rect.box`).getBoundingClientRect();
  return [...document.querySelectorAll(`g.edge[data-from="${table}"] path.line, g.edge[data-to="${table}"] path.line`)]
    .map(p => { const at = p.parentNode.dataset.from === table ? 0 : p.getTotalLength(), e = p.getPointAtLength(at);
                const q = new DOMPoint(e.x, e.y).matrixTransform(p.getScreenCTM());
                return (Math.abs(q.x - box.left) < 2 || Math.abs(q.x - box.right) < 2) && q.y > box.top && q.y < box.bottom; });
}"""


def _drag(tab, table: str, dx: float, dy: float) -> None:  # type: ignore[no-untyped-def]
    box = tab.locator(f'g.node[data-table="{table}"] rect.head').bounding_box()
    tab.mouse.move(box["x"] + 20, box["y"] + 10)
    tab.mouse.down()
    tab.mouse.move(box["x"] + 20 + dx, box["y"] + 10 + dy, steps=6)
    tab.mouse.up()
    wait_until(tab, "!document.getElementById('erd-wrap').dataset.saving")


def test_bob_drags_a_table_it_stays_after_reload_and_reset_restores_the_layout(served, login):
    tab = open_diagram(login("bob"), served)
    node = tab.locator('g.node[data-table="products"]')
    computed = node.get_attribute("transform")
    _drag(tab, "products", 37, 213)
    moved = node.get_attribute("transform")
    assert moved != computed and tab.url.endswith("/er-diagram")
    # The lines follow the moved table: each still ends on one of its sides.
    ends = tab.evaluate(ENDS_ON_BOX, "products")
    assert ends and all(ends), ends
    tab.reload()
    tab.wait_for_selector("#erd-wrap[data-ready]")
    assert node.get_attribute("transform") == moved
    assert all(tab.evaluate(ENDS_ON_BOX, "products"))

    # carol (a viewer) keeps her own layout, and bob's is not hers.
    carol = open_diagram(login("carol"), served)
    assert carol.locator('g.node[data-table="products"]').get_attribute("transform") == computed
    _drag(carol, "warehouses", -30, 160)
    assert json.loads(carol.request.get(served.base_url + "/api/erd/positions").text())["positions"].keys() == {"warehouses"}

    tab.click("#erd-reset")
    wait_until(tab, "!document.getElementById('erd-wrap').dataset.saving")
    assert node.get_attribute("transform") == computed
    assert json.loads(tab.request.get(served.base_url + "/api/erd/positions").text())["positions"] == {}
    tab.reload()
    tab.wait_for_selector("#erd-wrap[data-ready]")
    assert node.get_attribute("transform") == computed


def test_the_er_diagram_has_no_serious_accessibility_violations(served, login):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a dev dependency, used only by this test)")
    tab = open_diagram(login("carol", bypass_csp=True), served)
    tab.evaluate(AXE.read_text())
    for theme in ("dark", "light"):
        tab.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
        result = tab.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                              ".map(v => ({id: v.id, impact: v.impact,"
                              " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], (theme, serious)
