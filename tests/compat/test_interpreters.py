"""The child code in the interpreters users run: SQLAlchemy 1.4/2.0/2.1 × Alembic 1.7 to latest.

Each cell of tests/compat/interp_venvs.py is a venv built from PyPI; the tool is pointed at a
fixture project with ``PGADMIN_PROJECT_PYTHON`` set to that venv's python, as a user would. Two
projects: ``interp_decl14`` (1.4 style: ``declarative_base()``, ``Column``; every cell) and
``interp_typed20`` (``DeclarativeBase``, ``Mapped``, ``mapped_column``; SQLAlchemy 2.x cells). The
stories, each compared with what Alembic and SQLAlchemy answer inside the same venv
(tests/compat/in_venv.py): model discovery, history and status, the offline SQL preview, upgrade and
downgrade against a real database, autogenerate drift. Every story of a cell runs even when an earlier
one failed, and the outcome goes into the table of docs/compat.md (``make compat-interp``).

``make test`` runs the oldest cell (SQLAlchemy 1.4, Alembic 1.7) and the Alembic 1.6 refusal
(marker ``interp_smoke``); ``make compat-interp`` runs them all (marker ``interp``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.compat.interp_venvs import CELLS, SMOKE, TOO_OLD, Cell, ensure
from tests.compat.venvs import CACHE
from tests.conftest import FIXTURES, create_database, drop_database
from tests.migrations_ui.conftest import api_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(900)]
IN_VENV = Path(__file__).resolve().parent / "in_venv.py"
RESULTS = CACHE / "interp-results.json"
STORIES = ("models", "history", "sql preview", "upgrade", "drift", "downgrade")


# project key -> (fixture folder, PGADMIN_SQLALCHEMY_BASE, its head, the table its head revision creates)
PROJECTS = {"decl14": ("interp_decl14", "shop.models:Base", "a2", "orders"),
            "typed20": ("interp_typed20", "blog.models:Base", "b2", "posts")}


def params() -> list[Any]:
    out = []
    for cell in CELLS:
        for key in PROJECTS:
            if key == "typed20" and not cell.typed:
                continue  # Mapped/mapped_column do not exist in SQLAlchemy 1.4
            marks = [pytest.mark.interp] + ([pytest.mark.interp_smoke] if cell == SMOKE else [])
            out.append(pytest.param(cell, key, marks=marks, id=f"{cell.key}-{key}"))
    return out


def reference(python: Path, folder: Path, task: str, **spec: Any) -> Any:
    """Alembic's or SQLAlchemy's own answer, computed in the cell's venv (never in the tool's)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(folder)
    proc = subprocess.run([str(python), str(IN_VENV), task, json.dumps({"ini": str(folder / "alembic.ini"), **spec})],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def record(cell: Cell, project: str, outcome: dict[str, Any]) -> None:
    """Keep each story's outcome for the table (tests/compat/interp_table.py), merged over runs."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault(cell.key, {"sqlalchemy": cell.sqlalchemy, "alembic": cell.alembic})[project] = outcome
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True))


def versions(url: str) -> list[str]:
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
            return []
        return sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))


@pytest.fixture
def point_at(settings, pg_server_url: str):  # type: ignore[no-untyped-def]
    """``point_at(cell, folder, base)`` sets the tool's PGADMIN_* settings to that venv and a fresh database."""
    from core import target
    from migrations_ui import history
    from modelmap import services as model_services

    made: list[str] = []

    def point(cell: Cell, folder: Path, base: str) -> tuple[Path, str]:
        python = ensure(cell)
        url = create_database(pg_server_url, f"interp_{cell.key}")
        made.append(url)
        settings.PROJECT_DIR = folder
        settings.ALEMBIC_CONFIG = str(folder / "alembic.ini")
        settings.PROJECT_PYTHON = str(python)
        settings.SQLALCHEMY_BASE = base
        settings.TARGET_DATABASE_URL = url
        target.set_target_url(None)
        history._history_cache.clear()
        model_services._cache.clear()
        return python, url

    yield point
    target.dispose()
    for url in made:
        drop_database(pg_server_url, url)


@pytest.mark.parametrize(("cell", "project"), params())
def test_every_story_works_in_the_projects_interpreter(cell: Cell, project: str, point_at, alice, api_as):
    folder_name, base, head, head_table = PROJECTS[project]
    folder = FIXTURES / folder_name
    python, url = point_at(cell, folder, base)
    api = api_as(alice)
    outcome: dict[str, str] = {}
    seconds: dict[str, float] = {}

    def story(name: str, check: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            check()
            outcome[name] = "ok"
        except Exception as exc:  # every story runs; the table shows which failed and why
            outcome[name] = f"{type(exc).__name__}: {exc}"[:400]
        seconds[name] = round(time.monotonic() - started, 1)

    def models() -> None:
        expected = reference(python, folder, "models", base=base)
        body = api.get("/api/models").json()
        assert body["errors"] == [] and body["runner_error"] is None, body.get("runner_error") or body["errors"]
        got = {m["name"]: {"table": m["table"], "columns": sorted(c["attr"] for c in m["columns"]),
                           "primary_key": sorted(c["name"] for c in m["columns"] if c["primary_key"]),
                           "relationships": sorted([r["name"], r["target"]] for r in m["relationships"])}
               for m in body["models"]}
        assert got == {k: {f: v[f] for f in ("table", "columns", "primary_key", "relationships")}
                       for k, v in expected.items()}

    def history() -> None:
        expected = reference(python, folder, "graph")
        response = api.get("/api/alembic/migrations")
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        got = {r["revision"]: sorted(r["down_revisions"]) for r in body["revisions"]}
        assert got == {k: v["down"] for k, v in expected["revisions"].items()}
        assert sorted(body["heads"]) == expected["heads"]
        assert body["current"] == [] and all(r["is_pending"] for r in body["revisions"])

    def sql_preview() -> None:
        detail = api.get(f"/api/alembic/revisions/{head}").json()
        up, down = detail["upgrade_sql"], detail["downgrade_sql"]
        assert up["ok"] and f"CREATE TABLE {head_table}" in up["sql"], up
        assert down["ok"] and f"DROP TABLE {head_table}" in down["sql"], down

    def upgrade() -> None:
        run = api_run(api, "upgrade", "heads", backup=False)
        assert run["status"] == "succeeded", (run.get("error"), run.get("hint"))
        assert versions(url) == [head]
        assert api.get("/api/alembic/migrations").json()["current"] == [head]

    def drift() -> None:
        expected = reference(python, folder, "drift", base=base, url=url.replace("+psycopg", "+psycopg2", 1)
                             if cell.sqlalchemy.startswith("1.") else url)
        body = api.get("/api/alembic/drift").json()
        assert body["ok"], body["error"]
        got = sorted([d["kind"], d["table"], d["column"]] for d in body["differences"])
        assert got == sorted(expected["differences"]) and got, (got, expected)

    def downgrade() -> None:
        run = api_run(api, "downgrade", "base", backup=False)
        assert run["status"] == "succeeded", (run.get("error"), run.get("hint"))
        assert versions(url) == []

    for name, check in zip(STORIES, (models, history, sql_preview, upgrade, drift, downgrade), strict=True):
        story(name, check)
    record(cell, project, {"stories": outcome, "seconds": seconds})
    assert {k: v for k, v in outcome.items() if v != "ok"} == {}


@pytest.mark.interp
@pytest.mark.interp_smoke
def test_alembic_older_than_the_oldest_supported_is_refused_with_a_clear_message(point_at, alice, api_as):
    point_at(TOO_OLD, FIXTURES / "interp_decl14", "shop.models:Base")
    body = api_as(alice).get("/api/alembic/migrations").content.decode()
    message = f"Alembic {TOO_OLD.alembic} is older than the oldest supported, 1.7"
    record(TOO_OLD, "refusal", {"stories": {"refused": "ok" if message in body else body[:400]}, "message": message})
    assert message in body
    assert "AttributeError" not in body
