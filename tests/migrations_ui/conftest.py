"""Fixtures of the Alembic feature: a fixture project per test, a fresh target DB, run helpers."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, create_database, drop_database


def project_dir(name: str) -> Path:
    return FIXTURES / f"alembic_{name}"


@pytest.fixture
def fresh_url(pg_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh empty database for one test (runs change the schema; tests must not share it)."""
    url = create_database(pg_server_url, request.node.name[:24])
    yield url
    from core import target

    target.dispose()
    drop_database(pg_server_url, url)


@pytest.fixture
def use_project(settings, fresh_url: str) -> Callable[[str], str]:  # type: ignore[no-untyped-def]
    """``use_project("linear")`` points the tool at that fixture project and a fresh target."""
    from core import target

    def use(name: str) -> str:
        settings.PROJECT_DIR = project_dir(name)
        settings.ALEMBIC_CONFIG = str(project_dir(name) / "alembic.ini")
        settings.TARGET_DATABASE_URL = fresh_url
        target.set_target_url(None)
        return fresh_url

    yield use
    target.dispose()


def wait_for_run(run_id: int, timeout: float = 60) -> None:
    """Join the run's thread (deterministic: no polling of the internal DB)."""
    for thread in threading.enumerate():
        if thread.name == f"alembic-run-{run_id}":
            thread.join(timeout)
            assert not thread.is_alive(), f"run {run_id} still running after {timeout}s"


def pg_dump_bin() -> str:
    from migrations_ui.backups import pg_dump_path

    return pg_dump_path()


def schema_of(url: str) -> str:
    """``pg_dump --schema-only`` of a database, without the lines that differ between twins."""
    from sqlalchemy.engine import make_url

    from core.target import libpq_env

    env = {"PATH": os.environ.get("PATH", ""), **libpq_env(make_url(url))}
    out = subprocess.run([pg_dump_bin(), "--schema-only", "--no-owner", "--no-privileges"], env=env,
                         capture_output=True, text=True, check=True).stdout
    keep = [line for line in out.splitlines()
            if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict", "SET ", "SELECT pg_catalog"))
            and "SET (pg_attver=" not in line]  # a per-server attribute stamp of this test cluster, differs by twin
    return "\n".join(keep)


def alembic_cli(name: str, url: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The real `alembic` command on a fixture project, with the URL written into a copy of its ini."""
    ini = (project_dir(name) / "alembic.ini").read_text()
    ini = ini.replace("%(here)s", str(project_dir(name)))
    ini = re.sub(r"^sqlalchemy\.url = .*$", "sqlalchemy.url = " + url.replace("%", "%%"), ini, flags=re.M)
    path = tmp_path / f"{name}.ini"
    path.write_text(ini)
    alembic = Path(os.sys.executable).parent / "alembic"  # type: ignore[attr-defined]
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([str(alembic), "-c", str(path), *args], env=env, capture_output=True, text=True,
                          check=False, cwd=str(project_dir(name)))


def api_run(api: Any, kind: str, target: str, backup: bool = True) -> dict[str, Any]:
    response = api.post(f"/api/alembic/{kind}", {"target": target, "backup": backup}, format="json")
    assert response.status_code == 202, response.content
    wait_for_run(response.json()["run_id"])
    return api.get(f"/api/alembic/runs/{response.json()['run_id']}").json()
