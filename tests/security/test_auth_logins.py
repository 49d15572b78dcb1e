"""Logins against the real served server: proxy headers and the lockout (issue 10, items 6 and 7).

- ``X-Forwarded-For`` counts only from PGADMIN_TRUSTED_PROXIES: rotating it from anywhere else
  neither escapes the lockout nor changes the audited address, and the audited "ip" is always a
  valid IP address, never text such as ``<script>``.
- 30 parallel wrong passwords: at most PGADMIN_LOGIN_FAILURE_LIMIT reach the password check
  (each check that fails writes one ``login.failed`` audit entry), on the internal SQLite and on
  an internal PostgreSQL database alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import PASSWORD, REPO, create_database, drop_database
from tests.serving import Served

pytestmark = pytest.mark.slow
LIMIT = 5


def _post(base: str, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _get(base: str, path: str, token: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


class Instance:
    """A served tool with users alice (admin, the one attacked) and root (admin, the auditor)."""

    def __init__(self, served: Served, env: dict[str, str]) -> None:
        self.served, self.base = served, served.base_url
        for name in ("alice", "root"):
            run_env = {**os.environ, "PGADMIN_DATA_DIR": str(served.data_dir), **env}
            run_env.pop("DJANGO_SETTINGS_MODULE", None)
            subprocess.run([sys.executable, "manage.py", "adduser", name, "--role", "admin", "--password", PASSWORD],
                           cwd=REPO, env=run_env, check=True, capture_output=True)
        status, body = _post(self.base, "/api/auth/token", {"username": "root", "password": PASSWORD})
        assert status == 200, body
        self.root_token = body["token"]

    def failures(self, username: str) -> list[dict]:
        entries = _get(self.base, f"/api/audit?action=login.failed&user={username}&limit=500", self.root_token)
        return entries["entries"]

    def audit(self, action: str) -> list[dict]:
        return _get(self.base, f"/api/audit?action={action}&limit=500", self.root_token)["entries"]


def _serve(target_url: str, extra: dict[str, str]) -> Iterator[Instance]:
    env = {"DATABASE_URL": target_url, "PGADMIN_PROJECT_DIR": str(REPO / "tests" / "fixtures" / "core_no_alembic"),
           "PGADMIN_LOGIN_FAILURE_LIMIT": str(LIMIT), **extra}
    served = Served(env)
    try:
        served.wait_ready()
        yield Instance(served, env)
    finally:
        served.stop()


@pytest.fixture(scope="module")
def on_sqlite(target_url: str) -> Iterator[Instance]:
    """Internal SQLite, no trusted proxy (the default)."""
    yield from _serve(target_url, {})


@pytest.fixture(scope="module")
def on_postgres(target_url: str, pg_server_url: str) -> Iterator[Instance]:
    """Internal database on PostgreSQL, and 127.0.0.1 configured as the trusted proxy."""
    internal = create_database(pg_server_url, "internal_auth").replace("postgresql+psycopg://", "postgresql://")
    try:
        yield from _serve(target_url, {"PGADMIN_INTERNAL_DATABASE_URL": internal, "PGADMIN_TRUSTED_PROXIES": "127.0.0.1"})
    finally:
        drop_database(pg_server_url, internal)


def _parallel_wrong_passwords(instance: Instance, username: str, path: str) -> list[int]:
    barrier = threading.Barrier(30)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        barrier.wait()
        if path == "/login":
            statuses.append(_form_login(instance.base, username, f"wrong-{i}"))
        else:
            statuses.append(_post(instance.base, path, {"username": username, "password": f"wrong-{i}"})[0])

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def _form_login(base: str, username: str, password: str) -> int:
    """A browser's login: GET the form for the CSRF cookie, POST it."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=60).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf, page[:500]
    data = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": csrf.group(1)}).encode()
    try:
        return int(opener.open(urllib.request.Request(base + "/login", data=data), timeout=60).status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.parametrize("path", ["/api/auth/token", "/login"])
def test_thirty_parallel_wrong_passwords_reach_the_password_check_at_most_the_limit_on_sqlite(on_sqlite, path):
    username = "alice" if path == "/login" else "ghost-api"
    statuses = _parallel_wrong_passwords(on_sqlite, username, path)
    assert len(statuses) == 30
    assert statuses.count(429) >= 30 - LIMIT, statuses
    assert statuses.count(400) <= LIMIT, statuses
    assert 1 <= len(on_sqlite.failures(username)) <= LIMIT
    assert len([e for e in on_sqlite.audit("login.locked") if e["target"] == username]) >= 30 - LIMIT


def test_thirty_parallel_wrong_passwords_reach_the_password_check_at_most_the_limit_on_postgres(on_postgres):
    statuses = _parallel_wrong_passwords(on_postgres, "alice", "/api/auth/token")
    assert statuses.count(400) <= LIMIT and statuses.count(429) >= 30 - LIMIT, statuses
    assert 1 <= len(on_postgres.failures("alice")) <= LIMIT


def test_rotating_x_forwarded_for_from_an_untrusted_peer_neither_escapes_the_lockout_nor_reaches_the_audit(on_sqlite):
    statuses = [_post(on_sqlite.base, "/api/auth/token", {"username": "bob", "password": "nope"},
                      {"X-Forwarded-For": f"198.51.100.{i}"})[0] for i in range(LIMIT + 3)]
    assert statuses == [400] * LIMIT + [429] * 3
    assert {e["ip"] for e in on_sqlite.failures("bob")} == {"127.0.0.1"}


def test_text_in_x_forwarded_for_never_becomes_the_audited_address(on_sqlite, on_postgres):
    for instance in (on_sqlite, on_postgres):
        _post(instance.base, "/api/auth/token", {"username": "mallory", "password": "x"},
              {"X-Forwarded-For": "<script>alert(1)</script>"})
        assert [e["ip"] for e in instance.failures("mallory")] == ["127.0.0.1"]


def test_a_trusted_proxy_forwards_the_real_client_address(on_postgres):
    _post(on_postgres.base, "/api/auth/token", {"username": "carol", "password": "x"},
          {"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
    assert [e["ip"] for e in on_postgres.failures("carol")] == ["203.0.113.9"]


def test_the_right_password_is_refused_while_locked_and_works_for_another_user(on_sqlite):
    for _ in range(LIMIT):
        assert _post(on_sqlite.base, "/api/auth/token", {"username": "alice", "password": "bad"})[0] in (400, 429)
    status, body = _post(on_sqlite.base, "/api/auth/token", {"username": "alice", "password": PASSWORD})
    assert status == 429 and body["error"]["code"] == "throttled"
    assert _post(on_sqlite.base, "/api/auth/token", {"username": "root", "password": PASSWORD})[0] == 200
