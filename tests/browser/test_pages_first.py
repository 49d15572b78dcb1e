"""Pages first, details after, in a real Chromium against `manage.py serve` on the demo project.

Stories: with nothing cached, a revision's page is painted at once with what it waits for, then its
SQL appears in place; after the warm-up at start, every page is complete on first paint (no fragment
requested); a project whose scripts cannot be read shows the error where the graph would be, not a 500.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FIXTURES, PASSWORD
from tests.serving import Served

pytestmark = pytest.mark.browser

PENDING = "0009_operations_kind_index"


def _serve(env: dict[str, str], args: list[str] | None = None) -> Served:
    served = Served({"PGADMIN_ADMIN_USERNAME": "alice", "PGADMIN_ADMIN_PASSWORD": PASSWORD, **env}, args)
    served.wait_ready()
    return served


@pytest.fixture(scope="module")
def cold(demo_url: str) -> Iterator[Served]:
    """Served with no warm-up: only the startup probe is cached."""
    served = _serve({"DATABASE_URL": demo_url, "PGADMIN_WARM": "0"}, ["--demo"])
    yield served
    served.stop()


def _login(page: Any, served: Served) -> None:
    page.goto(served.base_url + "/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served.base_url + "/")


def _fragments(page: Any) -> list[str]:
    """Collects the fragment requests the page makes from now on."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.headers.get("x-fill") else None)
    return seen


def test_a_cold_revision_page_is_painted_at_once_then_its_sql_arrives(cold, page):
    _login(page, cold)
    response = page.goto(f"{cold.base_url}/alembic/revisions/{PENDING}")
    first_paint = html.unescape(response.text())
    assert response.status == 200
    assert "Reading the project's migration scripts" in first_paint  # says what it waits for
    assert 'data-fill="' in first_paint
    page.wait_for_selector("#upgrade-sql .hl", timeout=60_000)  # the highlighted SQL, in place
    assert "ix_operations_kind" in page.locator("#upgrade-sql").inner_text()
    assert page.locator(".fill-pending").count() == 0
    assert page.locator("#downgrade-sql").is_visible()


def test_cold_models_page_shows_its_computing_state_then_the_cards(cold, page):
    _login(page, cold)
    response = page.goto(f"{cold.base_url}/models")
    first_paint = html.unescape(response.text())
    assert "Reading the project's models" in first_paint and "data-model=" not in first_paint
    page.wait_for_selector('[data-model="Client"]', timeout=60_000)
    page.fill("#model-search", "commission")  # the search still filters the cards that arrived later
    assert page.locator('[data-model="Client"]').is_hidden()
    assert page.locator('[data-model="Broker"]').is_visible()


@pytest.fixture(scope="module")
def warmed(pg_server_url: str) -> Iterator[Served]:
    """Served with the warm-up on (the default), after it finished."""
    from tests.conftest import create_database, drop_database

    url = create_database(pg_server_url, "warm_pages")
    served = _serve({"DATABASE_URL": url}, ["--demo"])
    try:
        served.wait_for(r"Warm-up \(serve\) done", timeout=300)
        yield served
    finally:
        served.stop()
        drop_database(pg_server_url, url)


def test_after_the_warm_up_every_page_is_complete_on_first_paint(warmed, page):
    _login(page, warmed)
    fragments = _fragments(page)
    for path in ["/", "/alembic", f"/alembic/revisions/{PENDING}", "/models", "/er-diagram"]:
        response = page.goto(warmed.base_url + path)
        assert response.status == 200, path
        assert 'data-fill="' not in response.text(), path
    assert fragments == []
    assert "ix_operations_kind" in page.goto(f"{warmed.base_url}/alembic/revisions/{PENDING}").text()
    assert page.locator("#upgrade-sql .hl").is_visible()


@pytest.fixture(scope="module")
def broken(target_url: str) -> Iterator[Served]:
    """Served on a project whose revision file does not import: every history child fails."""
    served = _serve({"DATABASE_URL": target_url, "PGADMIN_WARM": "0",
                     "PGADMIN_PROJECT_DIR": str(FIXTURES / "real_broken_scripts")})
    yield served
    served.stop()


def test_a_failing_child_shows_its_error_in_place(broken, page):
    _login(page, broken)
    response = page.goto(broken.base_url + "/alembic")
    assert response.status == 200
    error = page.wait_for_selector('#alembic-history [data-error="alembic_unavailable"]', timeout=60_000)
    assert "could not be read" in error.inner_text()
    page.goto(broken.base_url + "/alembic/revisions/bs1_broken")
    failed = page.wait_for_selector("#revision-body[data-fill-error]", timeout=60_000)
    assert "could not be read" in failed.inner_text()
    assert failed.query_selector(".hint") is not None  # the hint comes along
    assert page.locator("#main").is_visible() and "Server Error" not in page.content()


def test_a_slow_model_import_shows_its_time_against_the_usual_one(target_url, tmp_path, page):
    """Reading the models takes seconds here: the second wait says how long it usually takes, with a bar."""
    import shutil

    project = tmp_path / "slow_project"
    shutil.copytree(FIXTURES / "worker_project", project)
    models = project / "wshop" / "models.py"
    models.write_text("import time\n\ntime.sleep(2.5)  # a big project's import\n" + models.read_text())
    served = _serve({"DATABASE_URL": target_url, "PGADMIN_WARM": "0", "PGADMIN_PROJECT_DIR": str(project)})
    try:
        _login(page, served)
        # the startup report imported the models already, and a worker may still hold them: an edit makes
        # the first visit's read a fresh import too (a quick answer from a warm worker is not a wait)
        models.write_text(models.read_text() + "\n# edited before the first visit\n")
        first = page.goto(served.base_url + "/models")
        assert "data-fill-typical-ms" not in first.text()  # never read here: no estimate to give
        page.wait_for_selector('[data-model="Customer"]', timeout=60_000)
        models.write_text(models.read_text() + "\n# edited: the next visit reads the models again\n")
        second = page.goto(served.base_url + "/models")
        assert "data-fill-typical-ms" in second.text()
        clock = page.wait_for_selector("[data-fill-elapsed]:has-text('on this project')", timeout=30_000)
        assert "usually ~" in clock.inner_text() or "longer than the usual ~" in clock.inner_text()
        assert 0 < page.locator("progress.fill-bar").evaluate("p => p.value") <= 95
        page.wait_for_selector('[data-model="Customer"]', timeout=60_000)
    finally:
        served.stop()
