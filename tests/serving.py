"""Run the real entry command (`manage.py serve`, what Docker and `make run` use) in tests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import (
    create_database,
    drop_database,
    libpq,  # noqa: F401 - re-exported: the served-instance tests import it from here
)

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A `manage.py serve` child (or another long-running ``command``, e.g. ``worker``): its output lines, its
    login link, its base URL."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None, data_dir: Path | None = None,
                 repo: Path | None = None, command: str = "serve") -> None:
        self.port = free_port()
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="pgadmin-serve-"))
        full_env = {**os.environ, "PGADMIN_DATA_DIR": str(self.data_dir), "PGADMIN_PORT": str(self.port),
                    "PGADMIN_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", **env}
        full_env.pop("DJANGO_SETTINGS_MODULE", None)
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", command, *(args or [])], cwd=repo or REPO, env=full_env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.proc.poll() is not None:
                time.sleep(0.2)
                for line in list(self.lines):
                    if match := regex.search(line):
                        return match
                raise AssertionError(f"serve exited ({self.proc.returncode}) before {pattern!r}:\n{self.output}")
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.output}")

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait_for(r"Serving on", timeout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"port {self.port} never opened:\n{self.output}")

    def login_path(self) -> str:
        match = self.wait_for(r"→ Open http://localhost:\d+(/login\?token=\S+)")
        return match.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=5)


def add_user(served: Served, username: str, role: str, password: str, env: dict[str, str] | None = None) -> None:
    """Create a user in a served instance's internal DB (through `manage.py adduser`); ``env``: the
    instance's own settings when its internal DB is not the data dir's (several instances)."""
    env = {**os.environ, **(env or {}), "PGADMIN_DATA_DIR": str(served.data_dir)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "adduser", username, "--role", role, "--password", password],
                   cwd=REPO, env=env, check=True, capture_output=True)


def api_call(served: Served, method: str, path: str, token: str | None = None,
             body: dict[str, Any] | None = None, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    """One JSON request to a served instance's API (a token when given): its status and its body."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(served.base_url + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def api_token(served: Served, username: str, password: str) -> str:
    """A fresh API token of that user, from ``POST /api/auth/token``."""
    status, body = api_call(served, "POST", "/api/auth/token", body={"username": username, "password": password})
    assert status == 200, body
    return str(body["token"])


def wait_run_final(served: Served, token: str, run_id: int, timeout: float = 60) -> dict[str, Any]:
    """The run once it succeeded or failed, read through the API of ``served``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, run = api_call(served, "GET", f"/api/alembic/runs/{run_id}", token)
        if status == 200 and run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not final within {timeout}s")


# --- several instances sharing one internal DB, one Redis and one target (README, "Several instances") ---

COMPOSE_INSTANCES = REPO / "examples" / "docker-compose.instances.yml"
# What the tests add to the compose file's environment, and why: the ini's path (the fixture project
# keeps it beside the code), a known admin instead of the one-time link, no warm-up and no warm
# worker (faster starts; they change nothing the stories check).
TEST_ONLY_ENV = ("PGADMIN_ALEMBIC_CONFIG", "PGADMIN_ADMIN_USERNAME", "PGADMIN_ADMIN_PASSWORD", "PGADMIN_WARM",
                 "PGADMIN_WORKER_PROCESSES")


def compose_instances_env() -> dict[str, str]:
    """The environment the several-instances compose file gives its tool services (``pgadmin-a``)."""
    import yaml

    services = yaml.safe_load(COMPOSE_INSTANCES.read_text())["services"]
    return {k: str(v) for k, v in services["pgadmin-a"]["environment"].items()}


def shared_env(internal: str, target: str, project: Path, admin_password: str) -> dict[str, str]:
    """The several-instances compose file's environment (``examples/docker-compose.instances.yml``), each
    value made local: one secret key, one internal DB on PostgreSQL, one Redis channel layer (a random db
    number), one target, one project; plus ``TEST_ONLY_ENV`` (admin ``root``)."""
    import random

    local = {"PGADMIN_SECRET_KEY": "instances-" + os.urandom(16).hex(),
             "PGADMIN_INTERNAL_DATABASE_URL": libpq(internal),
             "PGADMIN_CHANNEL_LAYER_URL": f"redis://127.0.0.1:6379/{random.randint(8, 15)}",
             "DATABASE_URL": target, "PGADMIN_PROJECT_DIR": str(project)}
    missing = set(compose_instances_env()) ^ set(local)
    assert not missing, f"the compose file and the two-instance tests differ in {sorted(missing)}"
    test_only = {"PGADMIN_ALEMBIC_CONFIG": str(project / "alembic.ini"),
                 "PGADMIN_ADMIN_USERNAME": "root", "PGADMIN_ADMIN_PASSWORD": admin_password,
                 "PGADMIN_WARM": "0", "PGADMIN_WORKER_PROCESSES": "0"}
    assert tuple(test_only) == TEST_ONLY_ENV
    return {**local, **test_only}


@dataclass
class InstancePair:
    """Two instances started with the several-instances compose file's environment (``env``), their
    target, and an API token of the admin ``root`` (obtained on ``a``, or on ``b`` with ``admin_on_b``)."""

    a: Served
    b: Served
    env: dict[str, str]
    target: str
    token: str = ""


@contextmanager
def instance_pair(server_url: str, label: str, project: Path, password: str, *, env: dict[str, str] | None = None,
                  env_a: dict[str, str] | None = None, env_b: dict[str, str] | None = None,
                  prepare: Callable[[str], None] | None = None, admin_on_b: bool = False) -> Iterator[InstancePair]:
    """A fresh internal DB and target (``prepare(target)`` first), instances A and B on them, started
    together as compose starts them; everything stopped and dropped afterwards."""
    internal = create_database(server_url, f"{label}_internal")
    target = create_database(server_url, f"{label}_target")
    started: list[Served] = []
    try:
        if prepare is not None:
            prepare(target)
        shared = {**shared_env(internal, target, project, password), **(env or {})}
        started = [Served({**shared, **(env_a or {})}), Served({**shared, **(env_b or {})})]
        for served in started:
            served.wait_ready()
        a, b = started
        yield InstancePair(a, b, shared, target, api_token(b if admin_on_b else a, "root", password))
    finally:
        for served in started:
            served.stop()
        drop_database(server_url, target)
        drop_database(server_url, internal)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` every 0.1 s until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not within {timeout}s"
        time.sleep(0.1)


def sleeping(target: str) -> list[int]:
    """Pids of the target's sessions inside ``pg_sleep`` (a slow migration's, a console query's)."""
    import psycopg

    with psycopg.connect(libpq(target), autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
            "AND wait_event = 'PgSleep'").fetchall()]
