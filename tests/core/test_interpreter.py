"""Where the project's packages come from: the interpreter the child runs on, chosen without config.

Real venvs, real builds (uv from the tool's requirements, packages from PyPI's cache), the real
startup report. A venv "with the project's packages" here is a bare venv whose .pth file points at
the tool's site-packages, so SQLAlchemy and Alembic import without a download.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import alembic
import pytest
import sqlalchemy

from core import interpreter
from tests.conftest import REPO


def make_venv(folder: Path, *, with_sqlalchemy: bool = True) -> Path:
    """A real venv (no pip, no download); with_sqlalchemy links the tool's site-packages into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    if with_sqlalchemy:
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        Path(purelib, "tool-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture
def project(tmp_path, settings):
    """An empty project folder as PROJECT_DIR, with a private data dir and PROJECT_PYTHON unset."""
    root = tmp_path / "project"
    root.mkdir()
    settings.PROJECT_DIR = root
    settings.DATA_DIR = tmp_path / "data"
    settings.PROJECT_PYTHON = sys.executable  # what settings hold when PGADMIN_PROJECT_PYTHON is unset
    settings.ALEMBIC_CONFIG = ""
    settings.PROJECT_ENV_BUILD = True
    return root


def test_a_project_with_its_own_venv_runs_on_it(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    python = make_venv(project / ".venv")
    chosen = interpreter.resolve()
    assert chosen.path == str(python)
    assert chosen.source == "project"
    assert chosen.report_line() == f"Project interpreter: {python} (the project's .venv)"
    assert not chosen.warning


def test_a_venv_folder_beside_the_alembic_ini_is_found_too(project, monkeypatch, tmp_path):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    backend = tmp_path / "elsewhere" / "backend"
    backend.mkdir(parents=True)
    (backend / "alembic.ini").write_text("[alembic]\nscript_location = migrations\n")
    python = make_venv(backend / "venv")
    from django.conf import settings

    settings.ALEMBIC_CONFIG = str(backend / "alembic.ini")
    chosen = interpreter.resolve()
    assert chosen.path == str(python)
    assert "venv beside alembic.ini" in chosen.reason


def test_an_active_virtualenv_is_used_when_the_project_has_none(project, monkeypatch, tmp_path):
    python = make_venv(tmp_path / "activated")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "activated"))
    chosen = interpreter.resolve()
    assert chosen.path == str(python)
    assert f"VIRTUAL_ENV={tmp_path / 'activated'}" in chosen.reason


def test_a_venv_without_sqlalchemy_falls_back_to_the_tool_and_says_why(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    python = make_venv(project / ".venv", with_sqlalchemy=False)
    chosen = interpreter.resolve()
    assert chosen.path == sys.executable
    assert chosen.source == "tool"
    assert str(python) in chosen.warning
    assert "cannot import SQLAlchemy and Alembic" in chosen.warning
    assert "No module named 'sqlalchemy'" in chosen.warning


def test_pgadmin_project_python_wins_over_the_project_venv(project, settings, monkeypatch, tmp_path):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    make_venv(project / ".venv")
    chosen_python = make_venv(tmp_path / "chosen")
    settings.PROJECT_PYTHON = str(chosen_python)
    chosen = interpreter.resolve()
    assert (chosen.path, chosen.source, chosen.reason) == (str(chosen_python), "setting", "PGADMIN_PROJECT_PYTHON")


def test_an_explicit_interpreter_without_sqlalchemy_is_still_used_but_the_report_warns(project, settings, tmp_path):
    bare = make_venv(tmp_path / "bare", with_sqlalchemy=False)
    settings.PROJECT_PYTHON = str(bare)
    chosen = interpreter.resolve()
    assert chosen.path == str(bare) and chosen.source == "setting"
    assert "cannot import SQLAlchemy and Alembic" in chosen.report_line()


def test_the_runner_starts_the_child_with_the_resolved_interpreter(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    python = make_venv(project / ".venv")
    from core import runner

    proc = runner.start("no-such-task", {})
    try:
        assert Path(proc.args[0]) == python
    finally:
        runner.kill(proc)


def test_with_building_off_a_project_with_requirements_runs_on_the_tool_with_a_reason(project, settings, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    (project / "requirements.txt").write_text("SQLAlchemy\n")
    settings.PROJECT_ENV_BUILD = False
    chosen = interpreter.resolve()
    assert chosen.path == sys.executable
    assert "PGADMIN_PROJECT_ENV_BUILD=0" in chosen.reason and "requirements.txt" in chosen.reason
    assert not (Path(settings.DATA_DIR) / "envs").exists()  # nothing was built
    assert interpreter.status()["state"] == "off"


def test_a_project_with_nothing_declared_runs_on_the_tool_and_says_so(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    chosen = interpreter.resolve()
    assert chosen.path == sys.executable
    assert "declares no dependencies" in chosen.reason


@pytest.mark.slow
def test_a_project_with_only_requirements_gets_a_cached_env_built_once_and_reused(project, settings, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    # The project lists neither SQLAlchemy nor Alembic: the build adds them (the child needs both).
    (project / "requirements.txt").write_text("six==1.17.0\n")

    started = time.monotonic()
    first = interpreter.resolve()
    assert time.monotonic() - started < 5, "resolve() must not wait for the build"
    assert first.source == "building" and first.path == sys.executable
    assert "building… (see dashboard)" in first.report_line()
    assert interpreter.status()["state"] == "building"

    interpreter.wait_for_build()
    built = interpreter.resolve()
    assert built.source == "built", interpreter.status()
    key = interpreter.env_key([project / "requirements.txt"])
    assert built.path.startswith(str(Path(settings.DATA_DIR) / "envs" / key))
    assert "built from requirements.txt" in built.reason
    versions = subprocess.run([built.path, "-c", "import six, sqlalchemy, alembic; "
                               "print(six.__version__, sqlalchemy.__version__, alembic.__version__)"],
                              check=True, capture_output=True, text=True).stdout.split()
    assert versions == ["1.17.0", sqlalchemy.__version__, alembic.__version__]
    state = interpreter.status()
    assert state["state"] == "ready" and state["build"]["state"] == "built"

    # The next start: a fresh process state, the same files → the cached env at once, no build.
    interpreter._builds.clear()
    interpreter._threads.clear()
    started = time.monotonic()
    again = interpreter.resolve()
    assert time.monotonic() - started < 2
    assert (again.path, again.source) == (built.path, "built")
    assert not interpreter._threads

    # Changed requirements → another key → another environment.
    (project / "requirements.txt").write_text("six==1.16.0\n")
    assert interpreter.env_key([project / "requirements.txt"]) != key
    assert interpreter.resolve().source == "building"
    interpreter.wait_for_build()
    assert interpreter.resolve().path != built.path


@pytest.mark.slow
def test_a_failed_build_is_shown_with_its_log_and_the_tool_runs_meanwhile(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    (project / "requirements.txt").write_text("this-package-does-not-exist-pgadmin==0.0.1\n")
    interpreter.resolve()
    interpreter.wait_for_build()
    chosen = interpreter.resolve()
    assert chosen.path == sys.executable
    assert "building the environment failed" in chosen.warning and "build.log" in chosen.warning
    state = interpreter.status()
    assert state["state"] == "failed"
    assert "this-package-does-not-exist-pgadmin" in state["build"]["log_tail"]


@pytest.mark.slow
def test_the_startup_report_names_the_interpreter_and_why(tmp_path, target_url):
    root = tmp_path / "proj"
    root.mkdir()
    python = make_venv(root / ".venv")
    env = {**os.environ, "PGADMIN_DATA_DIR": tempfile.mkdtemp(prefix="pgadmin-check-"), "DATABASE_URL": target_url,
           "PGADMIN_PROJECT_DIR": str(root)}
    for name in ("DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PGADMIN_PROJECT_PYTHON"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, str(REPO / "manage.py"), "serve", "--check"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"✓ Project interpreter: {python} (the project's .venv)" in proc.stdout


@pytest.mark.slow
def test_a_poetry_lock_installs_its_main_packages_not_the_dev_group(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no poetry on PATH: the lock file is all there is
    (project / "pyproject.toml").write_text('[tool.poetry]\nname = "app"\n[tool.poetry.dependencies]\npython = "^3.10"\n'
                                            'six = "^1.17"\n')
    (project / "poetry.lock").write_text(
        '[[package]]\nname = "six"\nversion = "1.17.0"\ndescription = ""\noptional = false\n'
        'python-versions = "*"\ngroups = ["main"]\nfiles = []\n\n'
        '[[package]]\nname = "iniconfig"\nversion = "2.0.0"\ndescription = ""\noptional = false\n'
        'python-versions = "*"\ngroups = ["dev"]\nfiles = []\n\n'
        '[metadata]\nlock-version = "2.1"\npython-versions = "^3.10"\ncontent-hash = "x"\n')
    assert interpreter.resolve().source == "building"
    interpreter.wait_for_build()
    built = interpreter.resolve()
    assert built.source == "built" and "poetry.lock" in built.reason, interpreter.status()
    probe = "import importlib.util as u; print(bool(u.find_spec('six')), bool(u.find_spec('iniconfig')))"
    out = subprocess.run([built.path, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["True", "False"]


@pytest.mark.slow
def test_pyproject_dependencies_alone_are_enough_to_build(project, monkeypatch):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    (project / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "0"\ndependencies = ["six==1.17.0"]\n')
    interpreter.resolve()
    interpreter.wait_for_build()
    built = interpreter.resolve()
    assert built.source == "built" and "pyproject.toml" in built.reason, interpreter.status()
    out = subprocess.run([built.path, "-c", "import six, sqlalchemy; print(six.__version__)"], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "1.17.0"
