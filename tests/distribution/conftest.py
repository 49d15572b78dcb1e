"""Fixtures of the distribution tests: the tool's wheel, a clean environment, a running install.

The wheel is built once per session with ``python -m build`` (no isolation: the dev venv pins the
same hatchling as pyproject.toml's [build-system]). Installed copies run from folders outside the
checkout, with an environment stripped of everything that could make them see the checkout or the
dev venv (PYTHONPATH, VIRTUAL_ENV, DJANGO_SETTINGS_MODULE, PGADMIN_*).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.serving import free_port

# Variables of the test process that must not reach an installed copy of the tool.
_LEAKY = ("PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "PYTHONHOME")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the checkout, the dev venv or the tool's settings."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY and not k.startswith("PGADMIN_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not p.startswith(str(REPO)) and ".venv" not in p)
    env["UV_PYTHON_DOWNLOADS"] = "never"  # uv uses this machine's interpreters, never fetches one
    env.update(extra)
    return env


# Installs are made as a user's would be (umask 022): the test process itself runs under the tool's
# private umask 077 (core/datadir.py), and the embedded server's own OS user, or the image's
# non-root user, must be able to read what was installed.
PUBLIC_UMASK = 0o022


def run(cmd: Sequence[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (umask 022); on failure the assertion shows its output."""
    kwargs.setdefault("umask", PUBLIC_UMASK)
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def uv() -> str:
    """The uv of the dev venv (requirements.txt pins it), else one on PATH."""
    here = Path(sys.executable).parent / "uv"
    return str(here) if here.exists() else (shutil.which("uv") or pytest.skip("uv is not installed"))


def public_dir(prefix: str) -> Path:
    """A fresh 0755 folder in /tmp: pytest's own tmp folders are 0700, closed to other OS users."""
    path = Path(tempfile.mkdtemp(prefix=f"pgadmin-{prefix}-"))
    path.chmod(0o755)
    return path


def remove_later(path: Path) -> None:
    """Delete ``path`` in the background: a venv is ~10,000 files, and the next test need not wait."""
    subprocess.Popen(["rm", "-rf", "--", str(path)], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """Like ``tmp_path``, but other OS users (the embedded server's, the image's) can enter it."""
    path = public_dir("dist")
    yield path
    remove_later(path)


@pytest.fixture(scope="session")
def tool_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tool's wheel, built from the checkout by ``python -m build``."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, REPO], cwd=REPO)
    (wheel,) = out.glob("pgadmin_for_python-*.whl")
    return wheel


class Running:
    """An installed ``pgadmin-py`` serving in the background: its output, its health, its pages."""

    def __init__(self, cmd: Sequence[str | Path], *, env: dict[str, str], cwd: Path, user: int | None = None) -> None:
        self.port = int(env["PGADMIN_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(c) for c in cmd], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, user=user, group=user, extra_groups=[] if user is not None else None,
            umask=PUBLIC_UMASK,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def get(self, path: str, token: str = "") -> tuple[int, str]:
        request = urllib.request.Request(self.base_url + path, headers={"Authorization": f"Token {token}"} if token else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post(self, path: str, body: dict[str, Any], token: str = "") -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})}
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def wait_health(self, timeout: float = 120) -> dict[str, Any]:
        """/api/health's JSON once it answers 200 (fails with the output if the server exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                time.sleep(0.3)
                raise AssertionError(f"pgadmin-py exited ({self.proc.returncode}) before answering:\n{self.output}")
            try:
                status, body = self.get("/api/health")
                if status == 200:
                    health: dict[str, Any] = json.loads(body)
                    return health
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"no /api/health within {timeout}s:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=5)


def port_env() -> dict[str, str]:
    """Listen on a free loopback port (the image's 0.0.0.0 is its own network namespace)."""
    return {"PGADMIN_HOST": "127.0.0.1", "PGADMIN_PORT": str(free_port())}


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Collects the servers a test starts and stops them, whatever happens."""
    started: list[Running] = []
    yield started
    for server in started:
        server.stop()
