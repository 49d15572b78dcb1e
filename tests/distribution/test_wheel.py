"""The tool installs like a Python tool: a wheel from ``python -m build``, ``uv tool install`` of it,
and ``pgadmin-py`` serving from a folder outside the checkout with the real embedded PostgreSQL.

docs/install.md is the user's side of these stories.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO
from tests.distribution.conftest import Running, clean_env, port_env, public_dir, remove_later, run, uv

pytestmark = pytest.mark.distribution

DEMO = REPO / "examples" / "brokerbot"


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]
    return {canonicalize_name(r.name): r for r in reqs}


def _tracked(folder: str) -> set[str]:
    """Files git tracks under ``folder`` (what a clone has), as wheel paths."""
    out = subprocess.run(["git", "ls-files", folder], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_pyproject_pins_the_same_dependencies_as_requirements_txt():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = _requirements(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    required = _requirements((REPO / "requirements.txt").read_text().splitlines())
    assert {name: str(r) for name, r in declared.items()} == {name: str(r) for name, r in required.items()}
    assert all(str(r.specifier).startswith("==") for r in declared.values()), "every dependency is pinned"
    # the backend the wheel is built with is the one the dev venv has (the tests build without isolation)
    backend = _requirements(tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"])
    dev = _requirements([ln for ln in (REPO / "requirements-dev.txt").read_text().splitlines() if not ln.startswith("-r")])
    assert str(backend["hatchling"]) == str(dev["hatchling"])


def test_the_wheel_carries_templates_static_files_the_bundle_child_scripts_demo_and_migrations(tool_wheel):
    names = set(zipfile.ZipFile(tool_wheel).namelist())
    for folder in ("templates", "static", "core/child", "examples/brokerbot"):
        missing = _tracked(folder) - names
        assert not missing, f"{folder}: {sorted(missing)[:5]}"
    assert "static/build/sqlconsole.js" in names  # built by `make setup`, never committed
    migrations = {f for f in _tracked(".") if re.match(r"^\w+/migrations/\d{4}_\w+\.py$", f)}
    assert migrations and migrations <= names
    # nothing of the checkout's own tooling, and no data dir
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "docs", "scripts", ".pgadmin", "node_modules")]
    entry_points = zipfile.ZipFile(tool_wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "pgadmin-py = pgadmin_site.cli:main" in entry_points


def test_building_the_wheel_without_the_js_bundle_stops_with_what_to_run(tmp_path):
    source = tmp_path / "src"
    for name in ("pyproject.toml", "hatch_build.py", "README.md", "requirements.txt"):
        source.mkdir(exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    for folder in ("core", "databrowser", "migrations_ui", "modelmap", "pgadmin_site", "sqlconsole", "templates",
                   "static", "examples/brokerbot"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("build", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "out", source],
                          capture_output=True, text=True, env=clean_env(PGADMIN_BUILD_JS="0"), check=False)
    assert proc.returncode != 0
    assert "static/build/sqlconsole.js is missing" in proc.stdout + proc.stderr
    assert "make setup" in proc.stdout + proc.stderr
    assert not list((tmp_path / "out").glob("*.whl")) if (tmp_path / "out").exists() else True


@pytest.fixture(scope="module")
def installed_tool(tool_wheel: Path) -> Iterator[Path]:
    """``uv tool install <wheel>`` into folders of its own; yields the ``pgadmin-py`` it puts on PATH."""
    root = public_dir("uv-tool")
    env = clean_env(UV_TOOL_DIR=str(root / "tools"), UV_TOOL_BIN_DIR=str(root / "bin"))
    run([uv(), "tool", "install", "--python", sys.executable, tool_wheel], env=env, cwd=root)
    yield root / "bin" / "pgadmin-py"
    remove_later(root)


def test_uv_tool_install_serves_the_demo_from_a_folder_outside_the_checkout(installed_tool, public_tmp, running):
    outside = public_tmp / "somewhere"
    outside.mkdir()
    server = Running([installed_tool, "demo"], env=clean_env(**port_env()), cwd=outside)
    running.append(server)

    health = server.wait_health()

    # the real embedded PostgreSQL holds the demo project, read through the installed package
    assert "starting the embedded PostgreSQL" in server.output
    assert health["status"] == "ok", health
    models_in_demo = len(re.findall(r"__tablename__ = ", (DEMO / "brokerbot" / "models.py").read_text()))
    assert health["models"] == {"status": "ok", "count": models_in_demo}
    assert health["alembic"]["status"] == "ok"
    # pages and static files (the JS bundle too) come from the installed wheel
    status, login = server.get("/login")
    assert status == 200 and "<form" in login
    assert server.get("/static/build/sqlconsole.js")[0] == 200
    # the data dir is ./.pgadmin of the folder it runs from, kept out of git; never in site-packages
    assert (outside / ".pgadmin" / "internal.sqlite3").exists()
    assert (outside / ".pgadmin" / ".gitignore").read_text().splitlines()[-1] == "*"
    tool_root = installed_tool.resolve().parent.parent
    assert not list(tool_root.glob("lib/python*/site-packages/.pgadmin"))


@pytest.mark.distribution_full
def test_the_installed_tool_runs_the_projects_code_in_the_projects_own_venv(installed_tool, tmp_path, target_url):
    project = tmp_path / "shop"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("__pycache__"))
    venv_python = project / ".venv" / "bin" / "python"
    run([uv(), "venv", "--python", sys.executable, project / ".venv"], env=clean_env())
    pins = [str(r) for name, r in _requirements((REPO / "requirements.txt").read_text().splitlines()).items()
            if name in ("sqlalchemy", "alembic", "psycopg")]
    run([uv(), "pip", "install", "--python", venv_python, *pins], env=clean_env())

    proc = run([installed_tool, "check"], cwd=project, env=clean_env(DATABASE_URL=target_url))

    line = next(ln for ln in proc.stdout.splitlines() if "Project interpreter:" in ln)
    assert f"Project interpreter: {venv_python} (" in line, proc.stdout
    assert "SQLAlchemy models loaded" in proc.stdout
    # the tool's own packages stay in its own environment
    assert subprocess.run([venv_python, "-c", "import django"], capture_output=True, check=False).returncode != 0


@pytest.mark.distribution_full
def test_pgadmin_py_serve_has_the_options_of_manage_py_serve(installed_tool, tmp_path):
    tool_help = run([installed_tool, "serve", "--help"], cwd=tmp_path, env=clean_env()).stdout
    manage_help = run([sys.executable, "manage.py", "serve", "--help"], cwd=REPO, env=clean_env()).stdout
    options = re.compile(r"^\s+(--[\w-]+)", re.M)
    assert options.findall(tool_help) == options.findall(manage_help)
    assert tool_help.startswith("usage: pgadmin-py serve")
    # `demo` and `check` are serve's own options, not copies of them
    assert {"--demo", "--check"} <= set(options.findall(tool_help))
    assert not (tmp_path / ".pgadmin").exists(), "--help creates no data dir"


@pytest.mark.distribution_full
def test_a_fresh_clone_builds_its_js_bundle_into_the_wheel_when_npm_is_there(tmp_path):
    # what `uv tool install git+…` / `pipx install git+…` does: a clone has no static/build/
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the hook then stops the build (the test above)")
    clone = tmp_path / "clone"
    for name in _tracked("."):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, clone / name)
    assert not (clone / "static" / "build").exists()
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "out", clone], env=clean_env())
    (wheel,) = (tmp_path / "out").glob("*.whl")
    assert zipfile.ZipFile(wheel).getinfo("static/build/sqlconsole.js").file_size > 0


@pytest.mark.distribution_full
def test_pipx_install_of_the_wheel_gives_the_same_command(tool_wheel, tmp_path):
    """The README offers pipx beside uv: pipx (from PyPI, pinned, in a venv of its own) installs the
    wheel into its own isolated venv and puts ``pgadmin-py`` on its bin dir, and that command answers
    from a folder outside the checkout."""
    root = public_dir("pipx")
    pipx_venv = root / "pipx-venv"
    run([uv(), "venv", "--python", sys.executable, pipx_venv], env=clean_env())
    run([uv(), "pip", "install", "--python", pipx_venv / "bin" / "python", "pipx==1.18.4"], env=clean_env())
    env = clean_env(PIPX_HOME=str(root / "home"), PIPX_BIN_DIR=str(root / "bin"), PIPX_MAN_DIR=str(root / "man"))
    run([pipx_venv / "bin" / "pipx", "install", "--python", sys.executable, tool_wheel], env=env, cwd=root)
    command = root / "bin" / "pgadmin-py"
    assert command.exists()
    tool_help = run([command, "serve", "--help"], cwd=tmp_path, env=clean_env()).stdout
    assert tool_help.startswith("usage: pgadmin-py serve") and "--demo" in tool_help
    # pipx's venv holds the tool; the interpreter it was given stays without it
    venv_python = next((root / "home" / "venvs").glob("*/bin/python"))
    assert run([venv_python, "-c", "import pgadmin_site, django; print('ok')"], env=clean_env()).stdout.strip() == "ok"
    remove_later(root)
