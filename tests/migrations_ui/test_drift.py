"""Drift: models vs database as autogenerate sees it, through the child and the project's env.py."""

from __future__ import annotations

import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from core.demo import DEMO_DIR
from migrations_ui.drift import compute_drift

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_target(demo_url, settings):  # type: ignore[no-untyped-def]
    from core import target

    settings.PROJECT_DIR = DEMO_DIR
    settings.ALEMBIC_CONFIG = ""
    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    yield demo_url
    target.dispose()


def alembic_says(url: str) -> set[tuple[str, str, str | None]]:
    """Autogenerate's own comparison, run here in the test process with the demo's models."""
    sys.path.insert(0, str(DEMO_DIR))
    try:
        from brokerbot.models import Base
    finally:
        sys.path.remove(str(DEMO_DIR))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    out = set()
    for d in diffs:
        d = d[0] if isinstance(d, list) else d
        kind = d[0]
        if kind in ("add_column", "remove_column"):
            out.add((kind, d[2], d[3].name))
        elif kind.startswith("modify_"):
            out.add((kind, d[2], d[3]))
        elif kind in ("add_index", "remove_index"):
            out.add((kind, d[1].table.name, None))
        elif kind in ("add_table", "remove_table"):
            out.add((kind, d[1].name, None))
        else:
            out.add((kind, getattr(getattr(d[1], "table", None), "name", ""), None))
    return out


def test_drift_lists_what_the_models_have_and_the_database_lacks(demo_target, alice, api_as):
    drift = compute_drift()
    assert drift["ok"] is True and drift["error"] is None
    got = {(d["kind"], d["table"], d["column"]) for d in drift["differences"]}
    assert got == alembic_says(demo_target)
    # the demo database is behind: 0008's column is in the models only
    assert ("add_column", "operations", "note") in got
    assert "op.add_column('operations'" in drift["script"]
    assert set(drift) == {"ok", "error", "differences", "script"}
    body = api_as(alice).get("/api/alembic/drift").json()
    assert {(d["kind"], d["table"], d["column"]) for d in body["differences"]} == got


def test_the_drift_page_lists_differences_and_offers_the_script(demo_target, carol, client_as):
    client = client_as(carol)  # reading drift is for every role
    page = client.get("/alembic/drift").content.decode()
    assert 'data-drift="' in page and "add_column" in page and "operations" in page
    download = client.get("/alembic/drift?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    assert b"op.add_column('operations'" in download.content


def test_drift_never_raises_and_explains_a_broken_env_py(settings, target):
    from tests.migrations_ui.conftest import project_dir

    settings.PROJECT_DIR = project_dir("missingmodule")
    settings.ALEMBIC_CONFIG = str(project_dir("missingmodule") / "alembic.ini")
    drift = compute_drift()
    assert drift["ok"] is False and drift["differences"] == [] and drift["script"] == ""
    assert "pgadmin_fixture_missing_module" in drift["error"]["message"]
    assert drift["error"]["hint"]


def test_drift_without_target_metadata_says_so(settings, target):
    from tests.migrations_ui.conftest import project_dir

    settings.PROJECT_DIR = project_dir("linear")
    settings.ALEMBIC_CONFIG = str(project_dir("linear") / "alembic.ini")
    drift = compute_drift()
    assert drift["ok"] is False and "target_metadata" in drift["error"]["message"]
