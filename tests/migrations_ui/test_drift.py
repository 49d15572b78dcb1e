"""Drift: models vs database as autogenerate sees it, through the child and the project's env.py."""

from __future__ import annotations

import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from core.demo import DEMO_DIR
from migrations_ui.drift import compute_drift
from tests.conftest import FIXTURES

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
    assert set(drift) == {"ok", "error", "differences", "script", "fallback"} and drift["fallback"] is None
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


# --- issue 9, class 8: env.py's target_metadata is None or empty -----------------------------

NOMETA = FIXTURES / "real_models_nometadata"


@pytest.fixture
def nometadata(settings, fresh_url, tmp_path):  # type: ignore[no-untyped-def]
    """The fixture project (a copy: one test empties env.py's metadata instead), upgraded by the real CLI."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    from core import target

    project = tmp_path / "ledger"
    shutil.copytree(NOMETA, project)
    alembic = Path(sys.executable).parent / "alembic"
    done = subprocess.run([str(alembic), "-c", str(project / "alembic.ini"), "upgrade", "head"], cwd=str(tmp_path),
                          env={**os.environ, "DATABASE_URL": fresh_url}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    settings.PROJECT_DIR = project
    settings.ALEMBIC_CONFIG = str(project / "alembic.ini")
    settings.SQLALCHEMY_BASE = ""
    settings.TARGET_DATABASE_URL = fresh_url
    target.set_target_url(None)
    yield project
    target.dispose()


def _what_autogenerate_says_with_the_models(url: str, project) -> set[tuple[str, str, str | None]]:  # type: ignore[no-untyped-def]
    """compare_metadata() in this process, with the ledger's own models (what env.py should have named)."""
    import importlib

    sys.path.insert(0, str(project))
    try:
        for name in [n for n in sys.modules if n == "ledger_app" or n.startswith("ledger_app.")]:
            del sys.modules[name]
        models = importlib.import_module("ledger_app.models")
    finally:
        sys.path.remove(str(project))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    finally:
        engine.dispose()
    out = set()
    for d in diffs:
        d = d[0] if isinstance(d, list) else d
        table = d[1] if d[0] in ("add_table", "remove_table") else None
        out.add((d[0], table.name if table is not None else getattr(getattr(d[1], "table", None), "name", d[2]),
                 None))
    return out


def test_drift_with_target_metadata_none_compares_with_the_scanned_models_and_says_so(nometadata, carol, client_as):
    drift = compute_drift()
    assert drift["ok"] is True, drift["error"]
    got = {(d["kind"], d["table"], None) for d in drift["differences"]}
    assert got == _what_autogenerate_says_with_the_models(str(make_url_of_target()), nometadata)
    assert ("add_table", "entries", None) in got and ("remove_table", "audit_log", None) in got
    assert ("remove_table", "accounts", None) not in got  # a table the models declare is not "to remove"
    note = drift["fallback"]
    assert note["message"].startswith("env.py's target_metadata is None; compared with the 2 models found by scanning")
    assert note["models"] == 2 and "ledger_app.models:Base" in note["base"]
    page = client_as(carol).get("/alembic/drift").content.decode()
    assert 'data-drift-fallback="target_metadata_none"' in page and "2 models found by scanning" in page
    models_page = client_as(carol).get("/models?refresh=1").content.decode()  # the model map says it too
    assert "data-drift-note" in models_page and "target_metadata is None" in models_page


def test_drift_with_an_empty_target_metadata_falls_back_too(nometadata):
    env_py = nometadata / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "target_metadata = None", "from sqlalchemy import MetaData\n\ntarget_metadata = MetaData()"))
    drift = compute_drift()
    assert drift["ok"] is True and drift["fallback"]["reason"] == "target_metadata_empty"
    assert drift["fallback"]["message"].startswith("env.py's target_metadata is empty; compared with the 2 models")
    kinds = {(d["kind"], d["table"]) for d in drift["differences"]}
    assert ("remove_table", "accounts") not in kinds and ("add_table", "entries") in kinds


def make_url_of_target() -> str:
    from core import target

    return target.target_url().render_as_string(hide_password=False)
