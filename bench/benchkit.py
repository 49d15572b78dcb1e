"""Shared plumbing of the page, API and load benchmarks: the two projects, the server, sessions.

* ``prepare(kind)`` gets a project ready on the local PostgreSQL (``BENCH_DATABASE_URL``'s server,
  else 127.0.0.1:5432): ``demo`` is a copy of ``examples/brokerbot`` in the bench cache, loaded
  by its own ``brokerbot.demo_setup`` (what ``manage.py serve --demo`` runs; a copy so the
  "file change" measurement can edit a model file without touching the repository) into the
  database ``pgadmin_bench_demo``; ``generated`` is ``bench/genproject.py``'s 200 revisions ×
  200 models applied to ``pgadmin_bench_gen`` with 5 revisions pending. Both databases are
  dropped and recreated each time.
* ``Server`` starts ``manage.py serve`` the way users do (``make run``): from a folder that is
  neither the repository nor the project, with ``PGADMIN_PROJECT_DIR`` and ``DATABASE_URL`` in
  the environment and a fresh ``PGADMIN_DATA_DIR``; the admin is created with ``manage.py adduser``.
  ``PGADMIN_BENCH_SERVER_REPO`` serves another checkout's code instead (comparing branches).
* ``Session`` is a keep-alive HTTP client with cookies (browser-like login) or a token.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
# The checkout whose ``manage.py serve`` is measured: this one, or another (to compare branches with
# the same benchmark: PGADMIN_BENCH_SERVER_REPO=/path/to/other/checkout).
SERVER_REPO = Path(os.environ.get("PGADMIN_BENCH_SERVER_REPO") or REPO).resolve()
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ADMIN, PASSWORD = "bench", "bench-password-123"
sys.path.insert(0, str(HERE))


def cache_dir() -> Path:
    return Path(os.environ.get("PGADMIN_BENCH_CACHE") or Path.home() / ".cache" / "pgadmin-bench")


def server_url() -> str:
    """libpq URL of the maintenance database of the PostgreSQL the benchmarks use."""
    return (os.environ.get("BENCH_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres").replace(
        "postgresql+psycopg://", "postgresql://")


def database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


@dataclass
class Project:
    """A project ready to serve: where it is, its database, and what the pages will open."""

    kind: str
    directory: Path
    url: str  # libpq URL of the target database
    grid_table: str  # schema.table of a table with rows
    row_pk: str
    model_modules: list[str]
    model_file: Path  # the file the "first visit after a change" measurement edits
    revision: str = ""  # a pending revision (its detail page computes the upgrade SQL)
    facts: dict[str, object] = field(default_factory=dict)


def pending_revision(directory: Path, url: str) -> str:
    """The first revision after the database's current one (read from the files and the version
    table, without asking the server, so the server's caches stay cold)."""
    import psycopg
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    with psycopg.connect(url) as conn:
        current = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
    script = ScriptDirectory.from_config(Config(str(directory / "alembic.ini")))
    for rev in script.walk_revisions():
        if set(rev._normalized_down_revisions) & current:
            return str(rev.revision)
    return str(script.get_current_head())


def prepare(kind: str, *, log: bool = True) -> Project:
    if kind == "demo":
        return _prepare_demo(log)
    if kind == "generated":
        return _prepare_generated(log)
    raise SystemExit(f"--project must be demo or generated, not {kind!r}")


def _say(log: bool, text: str) -> None:
    if log:
        print(text, file=sys.stderr, flush=True)


def _prepare_demo(log: bool) -> Project:
    from genproject import recreate_database

    directory = cache_dir() / "demo" / "brokerbot"
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(REPO / "examples" / "brokerbot", directory, ignore=shutil.ignore_patterns("__pycache__"))
    url = database_url("pgadmin_bench_demo")
    _say(log, f"demo: loading examples/brokerbot (copied to {directory}) into pgadmin_bench_demo…")
    recreate_database(url)
    proc = subprocess.run([sys.executable, "-m", "brokerbot.demo_setup", "--url", url], cwd=directory,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"demo setup failed:\n{proc.stdout}\n{proc.stderr}")
    return Project("demo", directory, url, "public.clients", "1", ["brokerbot.models"],
                   directory / "brokerbot" / "models.py", pending_revision(directory, url),
                   {"revisions": len(list((directory / "migrations" / "versions").glob("*.py"))), "models": 4})


def _prepare_generated(log: bool) -> Project:
    import genproject

    directory = cache_dir() / "genproject"
    url = database_url("pgadmin_bench_gen")
    _say(log, f"generated: writing 200 revisions × 200 models to {directory}, applying to pgadmin_bench_gen…")
    genproject.generate(directory, 200, 200, 11)
    manifest = genproject.apply(directory, url, pending=5)
    return Project("generated", directory, url, str(manifest["grid_table"]), str(manifest["row_pk"]),
                   list(manifest["model_modules"]), directory / str(manifest["model_files"][0]),
                   str(manifest["pending"][0]), {k: manifest[k] for k in ("revisions", "models", "merges")})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``manage.py serve`` on a free port, started from a neutral folder; ``stop()`` ends its group."""

    def __init__(self, project: Project, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cwd = Path(tempfile.mkdtemp(prefix="pgadmin-bench-cwd-"))
        self.data_dir = Path(tempfile.mkdtemp(prefix="pgadmin-bench-data-"))
        self.env = {**os.environ, "PGADMIN_DATA_DIR": str(self.data_dir), "PGADMIN_PORT": str(self.port),
                    "PGADMIN_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", "DATABASE_URL": project.url,
                    "PGADMIN_PROJECT_DIR": str(project.directory), **(extra_env or {})}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.ready_s = 0.0
        self.proc = subprocess.Popen([sys.executable, str(SERVER_REPO / "manage.py"), "serve"], cwd=self.cwd, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 300) -> float:
        """Seconds from start until the port answers (the startup report included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("manage.py serve exited:\n" + "\n".join(self.lines))
            if any("Serving on" in line for line in self.lines):
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return time.perf_counter() - self.started
                except OSError:
                    pass
            time.sleep(0.05)
        raise SystemExit(f"no server within {timeout} s:\n" + "\n".join(self.lines))

    def add_admin(self) -> None:
        subprocess.run([sys.executable, str(SERVER_REPO / "manage.py"), "adduser", ADMIN, "--role", "admin", "--password",
                        PASSWORD], cwd=self.cwd, env=self.env, check=True, capture_output=True)

    def stop(self) -> None:
        import psutil

        # Children that put themselves in their own process group (a project worker killed by
        # group on timeout) are not reached by killpg: remember them and end the survivors by pid.
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for child in children:
            try:
                child.terminate()
            except psutil.Error:
                pass  # already gone
        psutil.wait_procs(children, timeout=5)
        shutil.rmtree(self.cwd, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_server(project: Project, *, log: bool = True) -> Server:
    server = Server(project)
    ready = server.ready_s = server.wait_ready()
    server.add_admin()
    _say(log, f"{project.kind}: server ready in {ready:.1f} s on {server.base}")
    return server


class Session:
    """Keep-alive HTTP/1.1 to the server, with cookies (logged in like a browser) or a token."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 120) -> None:
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.token = token

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.token:
            hdrs["Authorization"] = f"Token {self.token}"
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            # the server closed the keep-alive connection: one retry on a new one, as browsers do
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, resp.read()

    def get(self, path: str, accept: str = "text/html") -> tuple[int, bytes]:
        return self.request("GET", path, headers={"Accept": accept})

    def login(self) -> None:
        self.request("GET", "/login")
        token = self.cookies["csrftoken"]
        status, _ = self.request("POST", "/login", urlencode({"username": ADMIN, "password": PASSWORD,
                                                              "csrfmiddlewaretoken": token, "next": "/"}),
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Referer": f"http://127.0.0.1:{self.port}/login"})
        if status != 302:
            raise SystemExit(f"login failed: HTTP {status}")

    def close(self) -> None:
        self.conn.close()


def issue_token(port: int, name: str = "bench") -> str:
    """POST /api/auth/token (username + password) → the key, like a CI job."""
    s = Session(port)
    status, body = s.request("POST", "/api/auth/token", json.dumps({"username": ADMIN, "password": PASSWORD, "name": name}),
                             {"Content-Type": "application/json", "Accept": "application/json"})
    s.close()
    if status != 200:
        raise SystemExit(f"token: HTTP {status} {body[:300]!r}")
    return str(json.loads(body)["token"])


def page_paths(project: Project) -> list[tuple[str, str]]:
    """Every page of the navigation (core, migrations_ui, modelmap, databrowser, sqlconsole urls.py)."""
    tref = quote(project.grid_table, safe="")
    return [
        ("dashboard", "/"),
        ("migrations", "/alembic"),
        ("revision", f"/alembic/revisions/{project.revision}"),
        ("drift", "/alembic/drift"),
        ("models", "/models"),
        ("er-diagram", "/er-diagram"),
        ("data", "/data"),
        ("grid", f"/data/{tref}"),
        ("row", f"/data/{tref}/row/{quote(project.row_pk, safe='')}"),
        ("console", "/sql"),
        ("audit", "/audit"),
        ("users", "/users"),
        ("account", "/account"),
        ("tokens", "/tokens"),
    ]


def api_paths(project: Project) -> list[tuple[str, str]]:
    """The same pages as JSON (the API each page's content comes from)."""
    tref = quote(project.grid_table, safe="")
    return [
        ("dashboard", "/api/status"),
        ("migrations", "/api/alembic/migrations"),
        ("revision", f"/api/alembic/revisions/{project.revision}"),
        ("drift", "/api/alembic/drift"),
        ("models", "/api/models"),
        ("er-diagram", "/api/erd"),
        ("data", "/api/tables"),
        ("grid", f"/api/tables/{tref}/data"),
        ("row", f"/api/tables/{tref}/rows/{quote(project.row_pk, safe='')}"),
        ("console", "/api/database/schema"),
        ("audit", "/api/audit"),
        ("users", "/api/users"),
        ("account", "/api/me"),
        ("tokens", "/api/auth/tokens"),
    ]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p50 = median of an odd count); no interpolation on few samples."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), -(-len(ordered) * pct // 100)))
    return ordered[int(rank) - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_line() -> str:
    load = os.getloadavg()[0]
    return f"load average {load:.2f} on {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}"
