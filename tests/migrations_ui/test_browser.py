"""Done means: a newcomer applies the pending demo revisions, watches the run stream, rolls back."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, REPO
from tests.serving import add_user

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO / "docs" / "screenshots"


def test_newcomer_applies_pending_revisions_watches_the_run_and_rolls_back(served_demo, page, browser):
    (REPO / "test-artifacts").mkdir(exist_ok=True)  # extra screenshots of the revision and confirm pages
    page.goto(served_demo.base_url + served_demo.login_path())
    page.wait_for_url(served_demo.base_url + "/")
    page.goto(served_demo.base_url + "/alembic")
    pending_before = int(page.locator("#pending-count").inner_text())
    assert pending_before >= 1
    assert page.locator('.rev-row[data-state="pending"]').count() == pending_before
    assert page.locator(".label-merge").count() >= 1  # the demo's merge is drawn as one
    # the database lags the models: the drift panel says so
    page.wait_for_selector("#drift-panel[data-drift]", timeout=30_000)
    assert int(page.locator("#drift-panel").get_attribute("data-drift")) >= 1

    # A pending revision's page shows its file and the SQL it will run, with the safety summary.
    first_pending = page.locator('.rev-row[data-state="pending"] .rev-id').last
    first_pending.click()
    page.wait_for_url(re.compile(r"/alembic/revisions/"))
    page.wait_for_selector("#upgrade-sql .hl", timeout=30_000)  # the SQL fills in when not computed yet
    assert page.locator(".hl").count() >= 2  # highlighted source and SQL
    assert page.locator("#upgrade-sql").is_visible()
    page.screenshot(path=str(REPO / "test-artifacts" / "alembic-revision.png"), full_page=True)
    page.go_back()

    # Apply all pending: the confirmation says what will run, then the run page streams.
    page.click("#apply-all")
    page.wait_for_url(re.compile(r"/alembic/run\?"))
    assert page.locator("ol.plan li").count() == pending_before
    assert page.locator("input[name=backup]").is_checked()
    page.screenshot(path=str(REPO / "test-artifacts" / "alembic-confirm.png"), full_page=True)
    page.click("#confirm-run")
    page.wait_for_url(re.compile(r"/alembic/runs/\d+$"))
    run_url = page.url

    # A second browser (another user) opens the same run page while it runs.
    add_user(served_demo, "carol", "viewer", PASSWORD)
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = other.new_page()
    tab.goto(served_demo.base_url + "/login")
    tab.fill("input[name=username]", "carol")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(served_demo.base_url + "/")
    tab.goto(run_url)

    page.wait_for_selector('#run-status[data-status="succeeded"]', timeout=60_000)
    page.wait_for_selector("#run-facts .ok")  # the post-run check, rendered after the run
    log_text = page.locator("#run-log").inner_text()
    assert "Backup done" in log_text and "Running upgrade" in log_text and "Run succeeded" in log_text
    assert log_text.index("Backup done") < log_text.index("Running upgrade")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alembic-run.png"), full_page=True)

    tab.wait_for_selector('#run-status[data-status="succeeded"]', timeout=60_000)
    assert "Run succeeded" in tab.locator("#run-log").inner_text()
    other.close()

    # The graph turned green: nothing pending.
    page.goto(served_demo.base_url + "/alembic")
    assert page.locator("#pending-count").inner_text() == "0"
    assert page.locator('.rev-row[data-state="pending"]').count() == 0
    page.wait_for_selector('#drift-panel[data-drift="0"]', timeout=30_000)  # at head: no drift
    page.screenshot(path=str(SCREENSHOTS / "alembic-graph.png"), full_page=True)

    # Roll back one step.
    page.click("#rollback-one")
    page.wait_for_url(re.compile(r"/alembic/run\?"))
    assert page.locator("ol.plan li").count() == 1
    page.click("#confirm-run")
    page.wait_for_selector('#run-status[data-status="succeeded"]', timeout=60_000)
    page.wait_for_selector("#run-facts .ok")  # the page reloads itself once finished: let it, then leave
    page.goto(served_demo.base_url + "/alembic")
    assert page.locator("#pending-count").inner_text() == "1"
