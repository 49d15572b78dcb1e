"""Pages first, details after (test client, the demo project, a real database).

Stories: a page that needs the project renders at once without starting a child and says what it waits
for; its fragment brings the rest; once cached, the page is complete at once; ``?wait=1`` (the no-JS
link) gives the whole page; fragments keep the page's permission checks; a failing child answers its
error in place with its own status, never a 500.
"""

# ruff: noqa: F811  (the fixtures imported from tests.project_answers are parameters of the tests)
from __future__ import annotations

import html
import re
from typing import Any

import pytest

from core import cache
from tests.conftest import FIXTURES
from tests.project_answers import children, demo_copy  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

PENDING = "0009_operations_kind_index"


@pytest.fixture
def pages_first(settings, demo_copy):  # type: ignore[no-untyped-def]
    settings.PAGES_FIRST = True
    return demo_copy


def _fill_urls(response: Any) -> list[str]:
    return sorted(set(re.findall(r'data-fill="([^"]+)"', response.content.decode())))


def test_a_cold_revision_page_answers_at_once_and_says_what_it_waits_for(pages_first, children, client_as, carol):
    client = client_as(carol)  # a viewer: the page and its fragments are for every role
    page = client.get(f"/alembic/revisions/{PENDING}")
    assert page.status_code == 200 and children == []  # nothing computed in the page's request
    text = html.unescape(page.content.decode())
    assert "Reading the project's migration scripts" in text
    assert f'href="/alembic/revisions/{PENDING}?wait=1"' in text  # the no-JS way, inside <noscript>
    [url] = _fill_urls(page)
    part = client.get(url)
    assert part.status_code == 200
    body = part.content.decode()
    assert body.lstrip().startswith('<div id="revision-body">') and "ix_operations_kind" in body
    again = client.get(f"/alembic/revisions/{PENDING}")
    assert _fill_urls(again) == [] and "ix_operations_kind" in again.content.decode()


def test_with_the_history_cached_only_the_sql_waits(pages_first, children, client_as, alice):
    from migrations_ui import services

    services.history()
    children.clear()
    client = client_as(alice)
    page = client.get(f"/alembic/revisions/{PENDING}")
    text = html.unescape(page.content.decode())
    assert children == []
    assert "index operations.kind for the daily deposits report" in text  # the file is read at once
    assert "upgrade and downgrade SQL offline" in text
    [url] = _fill_urls(page)
    assert url.endswith("?only=sql")
    sql = client.get(url).content.decode()
    assert 'id="upgrade-sql"' in sql and 'id="downgrade-sql"' in sql and "ix_operations_kind" in sql
    assert children.count("alembic.sql") == 2


def test_models_and_migrations_pages_fill_in_and_then_answer_whole(pages_first, children, client_as, alice):
    client = client_as(alice)
    for path, waits_for, filled in [("/models", "Reading the project's models", 'data-model="Client"'),
                                    ("/alembic", "alembic history", 'data-revision="0001_clients"'),
                                    ("/", "Reading the project's models", 'id="pending-count"')]:
        page = client.get(path)
        assert page.status_code == 200 and waits_for in html.unescape(page.content.decode()), path
        for url in _fill_urls(page):
            part = client.get(url)
            assert part.status_code == 200, url
        complete = client.get(path)
        assert filled in complete.content.decode(), path
        assert _fill_urls(complete) == [], path


def test_wait_gives_the_whole_page_at_once(pages_first, client_as, alice):
    page = client_as(alice).get("/models?wait=1")
    assert _fill_urls(page) == [] and 'data-model="Client"' in page.content.decode()


def test_fragments_keep_the_pages_permission_checks(pages_first, client, client_as, carol):
    anonymous = client.get(f"/alembic/revisions/{PENDING}/part")
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]
    viewer = client_as(carol)
    assert viewer.get("/alembic/run/preview?kind=upgrade&target=heads").status_code == 403  # admins only


def test_the_run_confirmation_fills_in_its_sql(pages_first, children, client_as, alice):
    client = client_as(alice)
    page = client.get("/alembic/run?kind=upgrade&target=heads")
    assert "Rendering the upgrade SQL of 2 revisions offline" in html.unescape(page.content.decode())
    [url] = _fill_urls(page)
    part = client.get(url).content.decode()
    assert 'id="plan-preview"' in part and "ALTER TABLE operations ADD COLUMN note" in part


def test_a_failing_child_answers_its_error_in_place(settings, demo_url, client_as, alice):
    from core import target

    settings.PAGES_FIRST = True
    settings.PROJECT_DIR = FIXTURES / "real_broken_scripts"
    settings.ALEMBIC_CONFIG = str(FIXTURES / "real_broken_scripts" / "alembic.ini")
    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    cache.clear_all()
    client = client_as(alice)
    part = client.get("/alembic/revisions/bs1/part")
    assert part.status_code == 503  # the error's own status, not a 500
    body = part.content.decode()
    assert body.lstrip().startswith('<div id="revision-body"') and "could not be read" in body
    assert 'class="hint"' in body
    history = client.get("/alembic/part/history")
    assert history.status_code == 200 and 'data-error="alembic_unavailable"' in history.content.decode()
    target.dispose()


def test_the_er_diagram_waits_for_the_models_then_reloads_whole(pages_first, children, client_as, alice):
    client = client_as(alice)
    page = client.get("/er-diagram")
    text = html.unescape(page.content.decode())
    assert "Reading the project's models" in text and 'data-fill-mode="reload"' in text and children == []
    assert 'href="/er-diagram?source=database"' in text  # the database's own diagram needs no child
    [url] = _fill_urls(page)
    assert "data-erd-ready" in client.get(url).content.decode()
    whole = client.get("/er-diagram").content.decode()
    assert 'class="erd' in whole and "data-fill=" not in whole
