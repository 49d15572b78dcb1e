"""The project's answers are cached by what they depend on (a copy of the demo project, a real database).

Stories: a second visit to a revision starts no child process; editing one revision file renders that
revision and the history again and keeps the model map; touching a file changes nothing; editing a
model drops the model map and keeps the history; a column added by hand shows in drift without
?refresh=1; what a caller changes in an answer never reaches the next caller; the warm-up computes
everything a page needs before anyone asks.
"""

# ruff: noqa: F811  (the fixtures imported from tests.project_answers are parameters of the tests)
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from core import warm
from migrations_ui import drift, preview, services
from modelmap import services as model_services
from tests.project_answers import children, demo_copy  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db  # the ini section an admin picked lives in the internal DB

PENDING = "0009_operations_kind_index"  # the demo database is loaded two revisions behind head
OTHER = "0008_operations_note"


def _edit(path: Path, old: str, new: str) -> None:
    """An edit saved a moment before the next visit (an edit made *while* an answer is computed is another
    story: core.deps records it as changed, and the next visit computes again)."""
    path.write_text(path.read_text().replace(old, new))
    then = time.time() - 1
    os.utime(path, (then, then))


def _revision_file(root: Path, rev: str) -> Path:
    return next((root / "migrations" / "versions").glob(f"{rev}.py"))


def test_a_second_visit_to_a_revision_starts_no_child(demo_copy, children, client_as, alice):
    client = client_as(alice)
    first = client.get(f"/alembic/revisions/{PENDING}")
    assert first.status_code == 200
    assert "alembic.history" in children and children.count("alembic.sql") == 2
    children.clear()
    second = client.get(f"/alembic/revisions/{PENDING}")
    assert second.status_code == 200 and children == []
    assert "ix_operations_kind" in second.content.decode()
    assert _section(second, "upgrade-sql") == _section(first, "upgrade-sql")
    assert _section(second, "downgrade-sql") == _section(first, "downgrade-sql")


def _section(response: Any, html_id: str) -> str:
    text = response.content.decode()
    start = text.index(f'id="{html_id}"')
    return text[start:text.index("</section>", start)]


def test_editing_a_revision_renders_it_again_and_keeps_the_model_map(demo_copy, children):
    model_services.inspect_project()
    preview.revision_detail(PENDING)
    preview.revision_detail(OTHER)
    children.clear()
    path = _revision_file(demo_copy, PENDING)
    _edit(path, 'op.f("ix_operations_kind")', 'op.f("ix_operations_kind_v2")')

    assert services.history_cached() is None  # the graph is read from every revision file
    assert model_services.inspect_cached() is not None  # the models never read a revision file
    detail = preview.revision_detail(PENDING)
    assert "ix_operations_kind_v2" in detail["upgrade_sql"]["sql"]
    assert sorted(children) == ["alembic.history", "alembic.sql", "alembic.sql"]
    children.clear()
    other = preview.revision_detail_cached(OTHER)  # its own file and its parent's did not change
    assert other is not None and not other["sql_pending"] and children == []
    model_services.inspect_project()
    assert children == []


def test_a_touched_but_unchanged_file_keeps_every_answer(demo_copy, children):
    preview.revision_detail(PENDING)
    model_services.inspect_project()
    children.clear()
    for path in [_revision_file(demo_copy, PENDING), demo_copy / "brokerbot" / "models.py",
                 demo_copy / "migrations" / "env.py", demo_copy / "alembic.ini"]:
        os.utime(path)  # a checkout or an editor's save without a change: new mtime, same bytes
    detail = preview.revision_detail_cached(PENDING)
    assert detail is not None and not detail["sql_pending"]
    assert model_services.inspect_cached() is not None
    assert children == []


def test_editing_a_model_reads_the_models_again_and_keeps_the_history(demo_copy, children):
    services.history()
    model_services.inspect_project()
    children.clear()
    models = demo_copy / "brokerbot" / "models.py"
    _edit(models, "from __future__ import annotations", "from __future__ import annotations  # a change")
    assert model_services.inspect_cached() is None
    assert services.history_cached() is not None
    model_services.inspect_project()
    assert children == ["models.inspect"]


def test_a_column_added_by_hand_shows_in_drift_without_refresh(demo_copy, demo_url):
    before = drift.compute_drift()
    assert before["ok"], before
    assert drift.drift_cached() == before
    column = "added_by_hand_in_a_test"
    libpq = demo_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE clients ADD COLUMN {column} text")
    try:
        assert drift.drift_cached() is None  # the schema fingerprint changed with the DDL
        after = drift.compute_drift()
        assert any(d.get("column") == column and d["kind"] == "remove_column" for d in after["differences"])
        assert not any(d.get("column") == column for d in before["differences"])
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE clients DROP COLUMN {column}")
    assert drift.compute_drift()["differences"] == before["differences"]


def test_changing_an_answer_never_changes_the_next_callers(demo_copy):
    h = services.history()
    h["revisions"].clear()
    h["heads"].append("forged")
    again = services.history()
    assert again["revisions"] and "forged" not in again["heads"]
    data = model_services.model_map()
    data["models"][0]["name"] = "Renamed"
    data["models"][0]["columns"].clear()
    fresh = model_services.model_map()
    assert fresh["models"][0]["name"] != "Renamed" and fresh["models"][0]["columns"]


def test_the_warm_up_computes_what_every_page_needs(demo_copy, children, settings, client_as, alice):
    settings.WARM_ON_START = True
    settings.PAGES_FIRST = True
    warm.reset()
    try:
        assert warm.start("test")
        outcome = warm.join(timeout=300)
    finally:
        warm.reset()
        settings.WARM_ON_START = False  # the requests below must not start another warm-up
    assert set(outcome["steps"].values()) == {"ok"}, outcome
    assert {"probe", "alembic.history", "models.inspect", "drift.compare", "alembic.sql"} <= set(children)
    children.clear()
    client = client_as(alice)
    for path in ["/", "/alembic", f"/alembic/revisions/{PENDING}", f"/alembic/revisions/{OTHER}", "/models",
                 "/er-diagram"]:
        page = client.get(path)
        assert page.status_code == 200, path
        assert "data-fill=" not in page.content.decode(), path  # complete at once: nothing left to fill
    assert children == []
