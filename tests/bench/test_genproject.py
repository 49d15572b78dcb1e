"""The benchmarks' project generator writes a project Alembic can walk and apply, whose models match it.

Small sizes (20 revisions, 20 models), run for real: the Alembic CLI on the generated files, a real
PostgreSQL database with a random suffix, and autogenerate comparing the models with the database
once every revision has been applied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, create_database, drop_database

ALEMBIC = str(Path(sys.executable).parent / "alembic")


def _alembic(project: Path, url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([ALEMBIC, *args], cwd=project, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def generated(tmp_path: Path, pg_server_url: str):  # type: ignore[no-untyped-def]
    url = create_database(pg_server_url, "genproject")
    out = tmp_path / "project"
    try:
        subprocess.run([sys.executable, str(REPO / "bench" / "genproject.py"), "--out", str(out), "--revisions", "20",
                        "--models", "20", "--seed", "3", "--database", url, "--pending", "3"],
                       cwd=tmp_path, check=True, capture_output=True, text=True)
        yield out, url
    finally:
        drop_database(pg_server_url, url)


def test_generated_history_has_one_head_merges_and_every_revision(generated) -> None:  # type: ignore[no-untyped-def]
    project, url = generated
    manifest = json.loads((project / "bench_manifest.json").read_text())
    heads = [line for line in _alembic(project, url, "heads").splitlines() if line.strip()]
    assert len(heads) == 1 and heads[0].split()[0] == manifest["heads"][0]
    history = [line for line in _alembic(project, url, "history").splitlines() if line.strip()]
    assert len(history) == 20
    assert sum("(mergepoint)" in line for line in history) == manifest["merges"] >= 1
    assert sum("(branchpoint)" in line for line in history) >= 1


def test_generated_database_is_behind_head_by_the_pending_revisions(generated) -> None:  # type: ignore[no-untyped-def]
    project, url = generated
    manifest = json.loads((project / "bench_manifest.json").read_text())
    assert _alembic(project, url, "current").split()[0] == manifest["current"]
    assert len(manifest["pending"]) == 3 and manifest["heads"][0] == manifest["pending"][-1]
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        table = manifest["grid_table"].split(".", 1)[1]
        assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] > 0


def test_generated_models_match_the_database_at_head(generated) -> None:  # type: ignore[no-untyped-def]
    project, url = generated
    _alembic(project, url, "upgrade", "head")
    code = ("import sys; sys.path.insert(0, '.')\n"
            "from alembic.autogenerate import compare_metadata\n"
            "from alembic.migration import MigrationContext\n"
            "from sqlalchemy import create_engine\n"
            "from sqlalchemy.orm import configure_mappers\n"
            "from genshop.models import Base\n"
            "configure_mappers()\n"
            f"with create_engine({url!r}).connect() as conn:\n"
            "    diff = compare_metadata(MigrationContext.configure(conn, opts={'compare_type': True}), Base.metadata)\n"
            "print(len(Base.metadata.tables), diff)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=project, check=True, capture_output=True, text=True).stdout
    assert out.strip() == "20 []"
