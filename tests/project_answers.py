"""Fixtures for the tests of the project's cached answers: a private demo copy, the child processes started."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import cache, project
from core.demo import DEMO_DIR
from migrations_ui import history
from modelmap import services as model_services


@pytest.fixture
def demo_copy(tmp_path: Path, settings, demo_url: str) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A private copy of the demo project (the tests edit its files), pointed at the demo database."""
    from core import target

    root = tmp_path / "brokerbot"
    shutil.copytree(DEMO_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    settings.PROJECT_DIR = root
    settings.ALEMBIC_CONFIG = str(root / "alembic.ini")
    settings.TARGET_DATABASE_URL = demo_url
    target.set_target_url(None)
    cache.clear_all()
    yield root
    cache.clear_all()
    target.dispose()


@pytest.fixture
def children(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The tasks of every child process the server starts (recorded where the services call the runner)."""
    started: list[str] = []
    for module in (project, history, model_services):  # history: the migrations read side that runs them
        real = module.run_task

        def counting(task: str, payload: dict[str, Any], *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            started.append(task)
            return _real(task, payload, *args, **kwargs)

        monkeypatch.setattr(module, "run_task", counting)
    return started
