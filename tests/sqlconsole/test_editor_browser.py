"""The console as an editor people live in, in a real Chromium against `serve --demo`: bob the editor
writes queries with a tall editor, readable colours in both themes, completion from the live
catalogue, a schema tree, errors in two parts, honest labels, a history that reads right, and
numbers aligned like numbers; carol the viewer's page passes axe-core."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import PASSWORD, REPO, libpq, wait_until

pytestmark = pytest.mark.browser
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO / "docs" / "screenshots"

# WCAG relative luminance and contrast of a text node's colour against what is painted behind it
# (semi-transparent layers such as the active line composited over the nearest opaque background).
CONTRAST = """(node) => {
  const parse = (text) => {
    let m = /rgba?\\(([^)]+)\\)/.exec(text);
    if (m) { const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = /color\\(srgb ([^)]+)\\)/.exec(text);
    const p = m[1].split(/[\\s\\/]+/).filter(Boolean).map(Number);
    return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
  };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const layers = [];
  for (let n = node; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  let bg = [255, 255, 255];
  for (const c of layers.reverse()) bg = bg.map((v, i) => c[i] * c[3] + v * (1 - c[3]));
  const fg = parse(getComputedStyle(node).color);
  const [a, b] = [lum(fg), lum(bg)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

# Words (runs of letters, digits, _) that the layout split over two lines.
SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      for (const m of n.data.matchAll(/[A-Za-z0-9_]+/g)) {
        const range = document.createRange();
        range.setStart(n, m.index); range.setEnd(n, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}"""


@pytest.fixture(scope="module")
def console_demo(served_demo, demo_url, make_reader):  # type: ignore[no-untyped-def]
    """The demo served with a reader role (so editors and viewers get the console), bob and carol,
    and one table whose name PostgreSQL needs quoted."""
    from sqlalchemy.engine import make_url

    from core import reader_role, target
    from tests.serving import add_user

    reader_role.store(target.normalise_url(demo_url), make_url(make_reader(demo_url)), data_dir=served_demo.data_dir)
    with psycopg.connect(libpq(demo_url), autocommit=True) as conn:
        conn.execute('CREATE TABLE "Order Items" (id int PRIMARY KEY, "Qty" int NOT NULL)')
        conn.execute('GRANT SELECT ON "Order Items" TO PUBLIC')
    add_user(served_demo, "bob", "editor", PASSWORD)
    add_user(served_demo, "carol", "viewer", PASSWORD)
    return served_demo, demo_url


def open_console(browser, served, who: str, **options) -> Iterator:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, **options)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(served.base_url + "/login")
    tab.get_by_label("Username").fill(who)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(served.base_url + "/")
    tab.goto(served.base_url + "/sql")
    tab.locator("#schema-tree[data-ready]").wait_for()
    tab.errors = errors
    return context, tab


@pytest.fixture
def bob_console(console_demo, browser):  # type: ignore[no-untyped-def]
    context, tab = open_console(browser, console_demo[0], "bob")
    yield tab
    assert tab.errors == []
    context.close()


def type_sql(tab, sql: str) -> None:  # type: ignore[no-untyped-def]
    tab.locator(".cm-content").click()
    tab.keyboard.press("Control+A")
    tab.keyboard.press("Delete")
    tab.keyboard.insert_text(sql)


def editor_text(tab) -> str:  # type: ignore[no-untyped-def]
    return tab.evaluate("document.getElementById('sql-input').value")


def options(tab) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    tab.locator(".cm-tooltip-autocomplete li").first.wait_for()
    return [(li.locator(".cm-completionLabel").inner_text(), li.locator(".cm-completionDetail").inner_text()
             if li.locator(".cm-completionDetail").count() else "")
            for li in tab.locator(".cm-tooltip-autocomplete li").all()]


def rows_of(url: str, query: str, *args: object) -> list[tuple]:
    with psycopg.connect(libpq(url)) as conn:
        return list(conn.execute(query, args))


def test_the_editor_opens_twelve_lines_tall_with_a_placeholder_then_grows_and_resizes(bob_console):
    tab = bob_console
    editor = tab.locator(".cm-editor")
    hint = tab.locator(".cm-placeholder").inner_text()
    assert "SELECT * FROM operations LIMIT 100;" in hint  # a real table of the target, the biggest
    assert "Ctrl+Enter" in hint and "Ctrl+Shift+E" in hint and "Ctrl+Space" in hint
    start = editor.bounding_box()["height"]
    type_sql(tab, "SELECT 1;")
    line = tab.locator(".cm-line").first.bounding_box()["height"]
    assert start >= 12 * line and editor.bounding_box()["height"] == start
    type_sql(tab, "\n".join(f"SELECT {i};" for i in range(30)))
    grown = editor.bounding_box()["height"]
    assert grown > start + 5 * line and grown <= 0.7 * 900 + 1  # grows with the text, up to 70% of the window
    assert tab.locator(".cm-placeholder").count() == 0
    # the grip under it resizes it: by mouse, past the growth limit, and by keyboard
    grip = tab.get_by_role("separator", name="Editor height").bounding_box()
    tab.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + 150, steps=5)
    tab.mouse.up()
    dragged = editor.bounding_box()["height"]
    assert dragged == pytest.approx(grown + 150 - grip["height"] / 2, abs=3)
    tab.get_by_role("separator", name="Editor height").focus()
    tab.keyboard.press("ArrowUp")
    assert editor.bounding_box()["height"] < dragged


def test_keywords_and_every_token_are_readable_in_the_dark_and_the_light_theme(bob_console):
    tab = bob_console
    type_sql(tab, "SELECT id, 'text', 42, true, \"Qty\" FROM operations -- a comment\n")
    tokens = {"keyword": "SELECT", "string": "'text'", "number": "42", "comment": "-- a comment"}
    seen = {}
    for theme in ("dark", "light"):
        if tab.evaluate("document.documentElement.dataset.theme") != theme:
            tab.locator("#theme-toggle").click()
        assert tab.evaluate("document.documentElement.dataset.theme") == theme
        for kind, text in tokens.items():
            span = tab.locator(".cm-line span", has_text=text).first
            ratio = span.evaluate(CONTRAST)
            assert ratio >= 4.5, (theme, kind, ratio)
            seen[(theme, kind)] = span.evaluate("n => getComputedStyle(n).color")
        # the completion popup follows the theme too
        tab.locator(".cm-content").click()
        tab.keyboard.press("Control+End")
        tab.keyboard.type("SELECT op")
        popup = tab.locator(".cm-tooltip-autocomplete")
        popup.wait_for()
        label = popup.locator("li:not([aria-selected]) .cm-completionLabel").first
        assert label.evaluate(CONTRAST) >= 4.5, theme
        # painted with the app's panel colour of this theme (not CodeMirror's light grey)
        assert popup.evaluate("p => getComputedStyle(p).backgroundColor") == tab.locator(".sql-side .card").first.evaluate(
            "c => getComputedStyle(c).backgroundColor")
        seen[(theme, "popup")] = popup.evaluate("p => getComputedStyle(p).backgroundColor")
        tab.keyboard.press("Escape")
    assert seen[("dark", "keyword")] != seen[("light", "keyword")]
    assert seen[("dark", "popup")] != seen[("light", "popup")]


def test_completion_offers_the_tables_real_columns_and_no_junk(console_demo, bob_console):
    tab = bob_console
    demo_url = console_demo[1]
    columns = {name: kind for name, kind in rows_of(
        demo_url, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                  "WHERE attrelid = 'public.operations'::regclass AND attnum > 0 AND NOT attisdropped")}
    # after an alias and a dot: exactly the columns of the aliased table, with their types
    tab.get_by_role("button", name="Columns of operations").click()
    type_sql(tab, "SELECT  FROM operations o")
    tab.keyboard.press("Home")
    for _ in range(len("SELECT ")):
        tab.keyboard.press("ArrowRight")
    tab.keyboard.type("o.")
    offered = options(tab)
    assert {label for label, _ in offered} == set(columns)
    assert all(columns[label] in detail for label, detail in offered)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / "sql-editor.png"))
    tab.keyboard.type("amo")
    tab.keyboard.press("Enter")
    assert editor_text(tab) == "SELECT o.amount FROM operations o"

    # unqualified in a select list: the FROM table's columns come first
    type_sql(tab, "SELECT  FROM clients")
    tab.keyboard.press("Home")
    for _ in range(len("SELECT ")):
        tab.keyboard.press("ArrowRight")
    tab.keyboard.type("ema")
    assert options(tab)[0][0] == "email"
    tab.keyboard.press("Escape")

    # the whole list: PostgreSQL keywords, its functions and types, and the target's own names only
    allowed = {w.upper() for (w,) in rows_of(demo_url, "SELECT word FROM pg_get_keywords()")}
    allowed |= {n for (n,) in rows_of(demo_url, "SELECT proname FROM pg_proc UNION SELECT typname FROM pg_type")}
    allowed |= {n for (n,) in rows_of(demo_url, "SELECT relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace "
                                                "WHERE s.nspname = 'public' UNION SELECT 'public'")}
    type_sql(tab, "SELECT * FROM clients WHERE d")
    tab.keyboard.press("Control+Space")
    everything = options(tab)
    clients = {n for (n,) in rows_of(demo_url, "SELECT attname FROM pg_attribute WHERE attrelid = 'clients'::regclass "
                                               "AND attnum > 0 AND NOT attisdropped")}
    junk = [label for label, _ in everything if label not in allowed | clients]
    assert junk == [] and "DLURLCOMPLETEWRITE" not in {label for label, _ in everything}
    # every icon is text the font has (no empty boxes)
    icons = tab.locator(".cm-completionIcon").evaluate_all(
        "els => els.map(e => getComputedStyle(e, '::after').content)")
    assert icons and all(re.fullmatch(r'"[a-z]{2}"', icon) for icon in icons), icons


def test_the_schema_tree_inserts_names_and_opens_a_table(console_demo, bob_console):
    tab = bob_console
    served, demo_url = console_demo
    tree = tab.locator("#schema-tree")
    table = tree.locator(".tree-table", has=tab.locator(".tree-table-name", has_text=re.compile(r"^operations$")))
    table.get_by_role("button", name="Columns of operations").click()
    shown = {c.locator(".tree-name").inner_text(): c.locator(".tree-type").inner_text()
             for c in table.locator(".tree-column").all()}
    assert shown == {name: kind for name, kind in rows_of(
        demo_url, "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                  "WHERE attrelid = 'public.operations'::regclass AND attnum > 0 AND NOT attisdropped")}
    assert table.locator(".tree-column", has_text="id").first.locator(".tree-pk").count() == 1
    type_sql(tab, "SELECT ")
    table.locator(".tree-column .tree-name", has_text="amount").click()
    wait_until(tab, "document.getElementById('sql-input').value === 'SELECT amount'")
    tab.keyboard.type(" FROM ")
    # a name PostgreSQL needs quoted is inserted quoted
    quoted = tree.locator(".tree-table-name", has_text="Order Items")
    quoted.click()
    wait_until(tab, """document.getElementById('sql-input').value === 'SELECT amount FROM "Order Items"'""")
    # the filter narrows the tree; a double-click opens the table in the data browser
    tab.locator("#tree-filter").fill("oper")
    assert [t.inner_text() for t in tree.locator(".tree-table-name:visible").all()] == ["operations"]
    tree.locator(".tree-table-name", has_text="operations").dblclick()
    tab.wait_for_url(served.base_url + "/data/public.operations")


def test_an_error_shows_its_message_and_its_hint_as_two_parts(bob_console):
    tab = bob_console
    type_sql(tab, "SELECT emial FROM clients")
    tab.keyboard.press("Control+Enter")
    error = tab.locator(".sql-result-error .sql-error")
    error.wait_for()
    assert error.locator(".sql-error-message").inner_text() == 'column "emial" does not exist'
    assert "Perhaps you meant" in error.locator(".sql-error-hint").inner_text()
    assert 'does not exist"\n' not in error.inner_text() and "existPerhaps" not in error.inner_text()
    message, hint = (error.locator(p).bounding_box() for p in (".sql-error-message", ".sql-error-hint"))
    assert hint["y"] >= message["y"] + message["height"]  # on a line of its own


def test_explain_analyze_results_say_explain_analyze(bob_console):
    tab = bob_console
    type_sql(tab, "SELECT count(*) FROM operations")
    tab.get_by_role("button", name="Explain analyze").click()
    tab.locator(".plan-summary", has_text="EXPLAIN ANALYZE").wait_for()
    assert re.fullmatch(r"EXPLAIN ANALYZE · [\d.]+ (ms|s)", tab.locator(".sql-result .sql-meta").inner_text())
    tab.get_by_role("button", name="Explain", exact=True).click()
    tab.locator(".plan-summary", has_text="estimates only").wait_for()
    assert re.fullmatch(r"EXPLAIN · [\d.]+ (ms|s)", tab.locator(".sql-result .sql-meta").inner_text())


def test_history_counts_rows_right_in_24_hour_time_and_a_click_loads_an_entry(console_demo, bob_console):
    tab = bob_console
    entries = tab.locator("#history-list > li.history-entry")
    for sql in ("SELECT 1 AS one", "SELECT generate_series(1, 3) AS three",
                "SELECT c.full_name, o.amount, o.kind FROM clients c JOIN operations o ON o.client_id = c.id "
                "WHERE o.amount > 1000 AND o.kind = 'buy' ORDER BY o.amount DESC LIMIT 3"):
        before = entries.count()
        type_sql(tab, sql)
        tab.keyboard.press("Control+Enter")
        wait_until(tab, f"document.querySelectorAll('#history-list > li.history-entry').length > {before}")

    def shown() -> dict[str, list[str]]:  # entry → [time, rows, duration, …] as the page shows them
        return {e.locator(".sql-load").inner_text(): e.locator(".sql-entry-meta small > *").all_inner_texts()
                for e in entries.all()[:3]}

    for rendering in ("after the runs", "from the server after a reload"):
        newest = shown()
        assert newest["SELECT 1 AS one"][1] == "1 row", rendering
        assert newest["SELECT generate_series(1, 3) AS three"][1] == "3 rows", rendering
        for meta in newest.values():
            assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d", meta[0]), (rendering, meta)  # 24-hour, no AM/PM
        assert tab.evaluate(SPLIT_WORDS, "#history-list") == [], rendering  # wraps between words, never inside one
        tab.reload()
        tab.locator("#schema-tree[data-ready]").wait_for()
    # a click loads the entry into the editor without running it; ▶ runs it
    count = entries.count()
    status = tab.locator("#sql-status").inner_text()
    entries.filter(has_text="generate_series").first.locator(".sql-load").click()
    assert editor_text(tab) == "SELECT generate_series(1, 3) AS three"
    tab.wait_for_timeout(500)
    assert entries.count() == count and tab.locator("#sql-status").inner_text() == status
    entries.filter(has_text="SELECT 1 AS one").first.get_by_role("button", name="Run it again").click()
    wait_until(tab, f"document.querySelectorAll('#history-list > li.history-entry').length > {count}")
    assert editor_text(tab) == "SELECT 1 AS one"
    assert tab.locator(".sql-grid tbody td").all_inner_texts() == ["1"]


def test_a_script_shows_one_tab_per_statement_with_the_failed_one_open(bob_console):
    tab = bob_console
    type_sql(tab, "SELECT id FROM operations ORDER BY id LIMIT 3;\nSET TimeZone = 'UTC';\n"
                  "SELECT emial FROM clients;\nSELECT 1;")
    tab.keyboard.press("Control+Shift+Enter")
    tabs = tab.get_by_role("tablist", name="Results of the statements").get_by_role("tab")
    tabs.first.wait_for()
    assert [re.sub(r"\s+", " ", t) for t in tabs.all_inner_texts()] == ["1 SELECT · 3", "2 SET", "3 error", "4 skipped"]
    assert tabs.nth(2).get_attribute("aria-selected") == "true"
    assert tab.get_by_role("tabpanel").inner_text().startswith("SELECT emial FROM clients")
    tabs.first.click()
    assert tab.get_by_role("tabpanel").locator(".sql-grid tbody td").all_inner_texts() == ["1", "2", "3"]
    tab.keyboard.press("ArrowRight")  # the tabs pattern: arrows move between statements
    assert tabs.nth(1).get_attribute("aria-selected") == "true"
    assert tab.get_by_role("tabpanel").locator(".sql-meta").inner_text().startswith("SET")
    assert tab.locator(".sql-result:visible").count() == 1


def test_numbers_are_right_aligned_and_text_is_not(bob_console):
    tab = bob_console
    type_sql(tab, "SELECT id, amount, kind::text, created_at FROM operations ORDER BY id LIMIT 3")
    tab.keyboard.press("Control+Enter")
    tab.locator(".sql-grid tbody tr").first.wait_for()
    align = tab.locator(".sql-grid tbody tr").first.locator("td").evaluate_all(
        "tds => tds.map(td => getComputedStyle(td).textAlign)")
    assert align == ["right", "right", "left", "left"]
    heads = tab.locator(".sql-grid thead th").evaluate_all("ths => ths.map(th => getComputedStyle(th).textAlign)")
    assert heads == ["right", "right", "left", "left"]


def test_the_console_has_no_serious_accessibility_violations(console_demo, browser):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is a dev dependency, used only by tests)")
    context, tab = open_console(browser, console_demo[0], "carol", bypass_csp=True)
    try:
        type_sql(tab, "SELECT id, amount FROM operations ORDER BY id LIMIT 3;\nSELECT emial FROM clients;")
        tab.keyboard.press("Control+Shift+Enter")
        tab.locator(".sql-result-error").wait_for()
        tab.locator(".tree-table", has_text="clients").first.locator(".tree-toggle").click()
        tab.evaluate(AXE.read_text())
        for theme in ("dark", "light"):
            tab.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            found = tab.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                                 ".map(v => ({id: v.id, impact: v.impact,"
                                 " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
            serious = [v for v in found if v["impact"] in ("serious", "critical")]
            assert serious == [], (theme, serious)
        assert tab.errors == []
    finally:
        context.close()
