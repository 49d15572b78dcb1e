"""The compatibility tier: real open-source projects, installed from PyPI, seen through the tool.

Each project is a pinned release whose wheel ships its Alembic environment, installed into its own
cached venv (tests/compat/venvs.py). The tool is pointed at it only through its PGADMIN_*
settings (here: the Django settings they fill, plus the environment the services read), from the
test process's cwd, which is not the project's. The reference answers come from Alembic and
SQLAlchemy run inside that venv (tests/compat/in_venv.py), on a twin database.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.compat.venvs import CACHE, PINS, Pins, ensure, site_packages
from tests.conftest import create_database, drop_database

IN_VENV = Path(__file__).resolve().parent / "in_venv.py"
RESULTS = CACHE / "results.json"


@dataclass(frozen=True)
class Project:
    """How a user would point the tool at one real project (docs/compat.md lists the same)."""

    key: str
    pins: Pins
    ini: str                   # alembic.ini, relative to site-packages
    project_dir: str           # PGADMIN_PROJECT_DIR and the CLI's cwd, relative to site-packages
    base: str = ""             # PGADMIN_SQLALCHEMY_BASE (and the models' reference)
    version_table: str = "alembic_version"
    project_env: dict[str, str] = field(default_factory=dict)  # the project's own variables ({url}, {home})
    cli_upgrades: bool = True  # False: the CLI itself cannot upgrade (env.py wants a connection handed in)
    prepare: str = ""          # the project's own step before Alembic, run on both databases (Python, with `url`)
    upgrade_to: str = "heads"  # where the upgrade test goes (see airflow)


PROJECTS: dict[str, Project] = {p.key: p for p in [
    Project("optuna", PINS["optuna"], "optuna/storages/_rdb/alembic.ini", "optuna/storages/_rdb",
            base="optuna.storages._rdb.models:BaseModel"),
    Project("mlflow", PINS["mlflow"], "mlflow/store/db_migrations/alembic.ini", ".",
            base="mlflow.store.tracking.dbmodels.models:Base",
            # mlflow's own start creates its pre-1.0 tables, then runs Alembic (mlflow.store.db.utils._initialize_tables)
            prepare="from sqlalchemy import create_engine\n"
                    "from mlflow.store.tracking.dbmodels.initial_models import Base\n"
                    "Base.metadata.create_all(create_engine(url))\n"),
    Project("mlflow-auth", PINS["mlflow"], "mlflow/server/auth/db/migrations/alembic.ini",
            "mlflow/server/auth/db/migrations", base="mlflow.server.auth.db.models:Base",
            version_table="alembic_version_auth"),
    Project("airflow", PINS["airflow"], "airflow/alembic.ini", "airflow",
            project_env={"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "{url}", "AIRFLOW_HOME": "{home}",
                         "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False"},
            # Past ecb43d2a1842, b0d31815b5a6 ("missing auto-increment on FAB tables") waits forever for a lock
            # that another session of the same process holds (idle in transaction on ab_view_menu): with the
            # Alembic CLI exactly as through the tool. Airflow's own `airflow db migrate` is the way past it.
            upgrade_to="ecb43d2a1842"),
    Project("dagster", PINS["dagster"], "dagster/_core/storage/runs/sqlite/alembic/alembic.ini",
            "dagster/_core/storage/runs/sqlite/alembic", cli_upgrades=False),
]}
SMOKE = "optuna"  # the smallest member: `make test` runs it so the tier cannot rot


def params() -> list[Any]:
    marks = {SMOKE: [pytest.mark.compat, pytest.mark.compat_smoke]}
    return [pytest.param(key, marks=marks.get(key, [pytest.mark.compat]), id=key) for key in PROJECTS]


@dataclass
class Compat:
    """One project, installed, with a fresh target and a twin database."""

    project: Project
    python: Path
    site: Path
    url: str
    twin: str
    home: Path

    @property
    def ini(self) -> Path:
        return self.site / self.project.ini

    @property
    def cwd(self) -> Path:
        return self.site / self.project.project_dir

    def env(self, url: str) -> dict[str, str]:
        """The project's own variables as its users set them, for this database."""
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)  # the projects' default driver
        return {k: v.format(url=plain, home=self.home) for k, v in self.project.project_env.items()}

    def reference(self, task: str, **spec: Any) -> Any:
        """Run in_venv.py's ``task`` with the project's python, where the CLI would run."""
        spec = {"ini": str(self.ini), **spec}
        env = {**os.environ, **self.env(spec.get("url") or self.twin)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        proc = subprocess.run([str(self.python), str(IN_VENV), task, json.dumps(spec)], cwd=self.cwd, env=env,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def prepare(self) -> None:
        """Run the project's own first step on the target and on the twin."""
        if self.project.prepare:
            for url in (self.url, self.twin):
                self.reference("prepare", code=self.project.prepare, url=url.replace("postgresql+psycopg://", "postgresql://", 1))

    def cli(self, command: str, target: str) -> dict[str, Any]:
        """``alembic upgrade|downgrade TARGET`` on the twin database."""
        url = self.twin.replace("postgresql+psycopg://", "postgresql://", 1)
        result: dict[str, Any] = self.reference("command", command=command, target=target, url=url)
        return result


def record(key: str, **facts: Any) -> None:
    """Keep the numbers docs/compat.md reports (per project, merged over runs)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data.setdefault(key, {}).update(facts)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.fixture
def compat(request: pytest.FixtureRequest, settings, pg_server_url: str,  # type: ignore[no-untyped-def]
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Compat]:
    """Install the project (cached), point the tool at it on a fresh database, give a twin for the CLI."""
    from core import target
    from migrations_ui import history
    from modelmap import services as model_services

    project = PROJECTS[request.param]
    python = ensure(project.pins)
    site = site_packages(python)
    url = create_database(pg_server_url, f"compat_{project.key}")
    twin = create_database(pg_server_url, f"twin_{project.key}")
    ctx = Compat(project, python, site, url, twin, Path(tempfile.mkdtemp(prefix=f"compat-{project.key}-")))
    # The tool's settings, as PGADMIN_* variables would fill them.
    settings.PROJECT_DIR = ctx.cwd
    settings.ALEMBIC_CONFIG = str(ctx.ini)
    settings.PROJECT_PYTHON = str(python)
    settings.SQLALCHEMY_BASE = project.base
    settings.TARGET_DATABASE_URL = url
    settings.RUNNER_TIMEOUT_S = 600
    for name, value in ctx.env(url).items():  # the project's variables reach the child untouched
        monkeypatch.setenv(name, value)
    target.set_target_url(None)
    history._history_cache.clear()
    model_services._cache.clear()
    yield ctx
    target.dispose()
    drop_database(pg_server_url, url)
    drop_database(pg_server_url, twin)


CompatFactory = Callable[[str], Compat]
