"""Two real instances behind one (imaginary) load balancer: issue 14, item 5, played end to end.

Two ``manage.py serve`` processes share what the README's several-instances compose file gives them:
one ``PGADMIN_SECRET_KEY``, one internal database on PostgreSQL (``PGADMIN_INTERNAL_DATABASE_URL``, a
fresh database per module), one Redis channel layer (``PGADMIN_CHANNEL_LAYER_URL``), one target and
one project (``tests/fixtures/alembic_slow``: its migration sleeps 30 s inside its transaction).
They start at the same time, as compose starts them. Every request below says which instance it
goes to: a load balancer without sticky sessions may send any request to either.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import FIXTURES
from tests.serving import (
    InstancePair,
    Served,
    add_user,
    api_call,
    api_token,
    instance_pair,
    libpq,
    sleeping,
    wait_run_final,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
PASSWORD = "two-instances-Secret-42"
VIEWER_PASSWORD = "two-instances-Viewer-42"
SLOW = FIXTURES / "alembic_slow"


Pair = InstancePair


def start_slow_run(pair: Pair) -> int:
    """An upgrade through A, waited for until its migration sleeps (holding the target's run lock)."""
    status, body = api_call(pair.a, "POST", "/api/alembic/upgrade", pair.token, {"target": "heads", "backup": False})
    assert status == 202, body
    wait_until(lambda: sleeping(pair.target), 60, "the migration's sleep")
    return int(body["run_id"])


def browser_session(served: Served, username: str, password: str) -> http.cookiejar.CookieJar:
    """Log in through the HTML form, as a browser does; the jar holds the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(served.base_url + "/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf, page[:500]
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf.group(1), "username": username,
                                   "password": password}).encode()
    opener.open(urllib.request.Request(served.base_url + "/login", data=form,
                                       headers={"Referer": served.base_url + "/login"}), timeout=30)
    assert any(c.name == "sessionid" for c in jar), "no session cookie after the login"
    return jar


def cookie_header(jar: http.cookiejar.CookieJar) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in jar)


class WebSocket:
    """A minimal RFC 6455 client (text frames, no extensions): what a browser's page opens."""

    def __init__(self, served: Served, path: str, cookie: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Origin: {served.base_url}\r\nCookie: {cookie}\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "the server closed the connection during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.split(b"\r\n")[0].split()[1] == b"101", head.decode(errors="replace")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the WebSocket")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next JSON message (pings answered, close frames raised)."""
        self.sock.settimeout(timeout)
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            if opcode == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 0
                raise ConnectionError(f"the server closed the WebSocket ({code})")
            if opcode == 0x9:
                self._send(0xA, payload)
            elif opcode == 0x1:
                return dict(json.loads(payload))

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def close(self) -> None:
        try:
            self._send(0x8, struct.pack(">H", 1000))
        finally:
            self.sock.close()


@pytest.fixture(scope="module")
def pair(pg_server_url: str) -> Iterator[Pair]:
    # started together: they migrate the internal DB one at a time
    with instance_pair(pg_server_url, "two", SLOW, PASSWORD, env={"PGADMIN_LOGIN_FAILURE_LIMIT": "3"}) as both:
        add_user(both.a, "vera", "viewer", VIEWER_PASSWORD, env=both.env)
        add_user(both.a, "lou", "viewer", VIEWER_PASSWORD, env=both.env)
        yield both


# --- 1. sessions and tokens --------------------------------------------------------------------

def test_a_session_and_a_token_obtained_on_a_work_on_b(pair: Pair) -> None:
    jar = browser_session(pair.a, "root", PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(pair.b.base_url + "/account", timeout=30) as page:  # the same cookie, the other instance
        assert page.status == 200 and "/login" not in page.url
        assert "root" in page.read().decode()
    status, body = api_call(pair.b, "GET", "/api/database/history", pair.token)
    assert status == 200, body
    status, body = api_call(pair.b, "GET", "/api/database/history", "not-a-token")
    assert status == 401, body


# --- 3. one run per target across instances ------------------------------------------------------

def test_the_run_lock_holds_across_instances(pair: Pair) -> None:
    run_id = start_slow_run(pair)
    status, body = api_call(pair.b, "POST", "/api/alembic/upgrade", pair.token, {"target": "heads", "backup": False})
    assert status == 409 and f"run {run_id}" in body["error"]["message"], body
    status, body = api_call(pair.a, "POST", f"/api/alembic/runs/{run_id}/cancel", pair.token)
    assert status == 202, body
    assert wait_run_final(pair.a, pair.token, run_id)["status"] == "failed"


# --- 2. a run's live log on B, and its cancel through B -----------------------------------------

def test_a_run_started_on_a_streams_to_b_and_is_cancelled_through_b(pair: Pair) -> None:
    run_id = start_slow_run(pair)
    jar = browser_session(pair.b, "root", PASSWORD)
    ws = WebSocket(pair.b, f"/ws/alembic/runs/{run_id}/", cookie_header(jar))
    try:
        first = ws.receive(10)
        assert first["type"] == "status" and first["run"]["status"] == "running", first
        status, body = api_call(pair.b, "POST", f"/api/alembic/runs/{run_id}/cancel", pair.token)
        assert status == 202 and body["run_id"] == run_id, body
        started = time.monotonic()
        texts: list[str] = []
        final: dict[str, Any] | None = None
        while final is None:
            assert time.monotonic() - started < 20, f"no final status on B; lines so far: {texts}"
            message = ws.receive(20)
            if message["type"] == "line":
                texts.append(message["line"]["text"])
            elif message["type"] == "status" and message["run"]["status"] in ("failed", "succeeded"):
                final = message["run"]
        # written and broadcast by A, the instance executing the run, which saw B's request in the internal DB
        assert "Cancel requested by root." in texts, texts
        assert any(t.startswith("Version table now") for t in texts), texts
        assert final["status"] == "failed" and final["error"] == "cancelled by root", final
    finally:
        ws.close()
    run = wait_run_final(pair.b, pair.token, run_id)
    assert run["status"] == "failed" and run["error"] == "cancelled by root"
    wait_until(lambda: not sleeping(pair.target), 5, "the migration's session ending")


# --- 4. a console query on A, cancelled through B ------------------------------------------------

def test_a_console_query_on_a_is_cancelled_through_b(pair: Pair) -> None:
    query_id = "two-instances-sleep"
    answer: dict[str, Any] = {}

    def run() -> None:
        answer["status"], answer["body"] = api_call(pair.a, "POST", "/api/database/query", pair.token,
                                                {"sql": "SELECT pg_sleep(30)", "query_id": query_id})

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: sleeping(pair.target) or answer, 30, "the console's sleep")
    assert not answer, answer
    viewer = api_token(pair.b, "vera", VIEWER_PASSWORD)
    status, body = api_call(pair.b, "POST", "/api/database/query/cancel", viewer, {"query_id": query_id})
    assert status == 403 and "Only the user who started" in body["error"]["message"], body  # not vera's query
    assert sleeping(pair.target)

    asked = time.monotonic()
    status, body = api_call(pair.b, "POST", "/api/database/query/cancel", pair.token, {"query_id": query_id})
    assert status == 200 and body == {"query_id": query_id, "cancelled": True}, body
    thread.join(10)
    assert not thread.is_alive(), "the query still runs on A"
    assert time.monotonic() - asked < 5
    assert answer["status"] == 200, answer
    result = answer["body"]["results"][0]
    assert result["outcome"] == "cancelled", result
    assert result["error"]["message"] == "The query was cancelled by root.", result
    status, body = api_call(pair.b, "POST", "/api/database/query/cancel", pair.token, {"query_id": query_id})
    assert status == 404, body  # finished: nothing left to cancel, on either instance


# --- 5. held results asked for on the other instance ---------------------------------------------

def test_fetch_more_on_the_other_instance_says_where_the_result_is(pair: Pair) -> None:
    status, body = api_call(pair.a, "POST", "/api/database/query", pair.token,
                        {"sql": "SELECT g FROM generate_series(1, 25000) AS g"})
    assert status == 200, body
    cursor = body["results"][0]["cursor"]
    assert cursor and body["results"][0]["has_more"], body
    status, other = api_call(pair.b, "POST", "/api/database/query/more", pair.token, {"cursor": cursor})
    assert status == 409, other
    assert other["error"] == {"code": "cursor_elsewhere", "hint": "Run the query again.",
                              "message": "This result is held by another instance of the tool."}, other
    status, more = api_call(pair.a, "POST", "/api/database/query/more", pair.token, {"cursor": cursor})
    assert status == 200 and more["rows"][0] == [10001], more  # the instance holding it still serves it


# --- 6. the login lockout -------------------------------------------------------------------------

def test_the_login_lockout_counts_failures_on_both_instances(pair: Pair) -> None:
    for served in (pair.a, pair.b, pair.a):  # PGADMIN_LOGIN_FAILURE_LIMIT=3, spread over both
        status, body = api_call(served, "POST", "/api/auth/token", body={"username": "lou", "password": "wrong-guess"})
        assert status in (400, 401), body
    for served in (pair.b, pair.a):  # now locked out everywhere, even with the right password
        status, body = api_call(served, "POST", "/api/auth/token", body={"username": "lou", "password": VIEWER_PASSWORD})
        assert status == 429 and body["error"]["code"] == "throttled", body


# --- in a real browser: B's run page, and fetch-more sent to the other instance --------------------

def log_in(page: Any, served: Served, username: str, password: str) -> None:
    page.goto(served.base_url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(served.base_url + "/")


@pytest.mark.browser
def test_a_browser_watching_b_sees_the_run_on_a_live_until_its_cancel(pair: Pair, page: Any) -> None:
    run_id = start_slow_run(pair)
    log_in(page, pair.b, "root", PASSWORD)
    page.goto(f"{pair.b.base_url}/alembic/runs/{run_id}")
    assert page.locator("#run-status").get_attribute("data-status") == "running"
    status, body = api_call(pair.a, "POST", f"/api/alembic/runs/{run_id}/cancel", pair.token)
    assert status == 202, body
    # no reload: the lines and the final status reach B's page over its WebSocket, from A through Redis
    page.locator("#run-log", has_text="Cancel requested by root.").wait_for(timeout=20_000)
    page.locator("#run-status[data-status=failed]").wait_for(timeout=20_000)
    assert wait_run_final(pair.a, pair.token, run_id)["error"] == "cancelled by root"


@pytest.mark.browser
def test_fetch_more_landing_on_the_other_instance_offers_run_again(pair: Pair, page: Any) -> None:
    log_in(page, pair.a, "root", PASSWORD)
    page.goto(pair.a.base_url + "/sql")
    editor = page.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text("SELECT g FROM generate_series(1, 25000) AS g")
    page.keyboard.press("Control+Enter")
    more = page.get_by_role("button", name="Fetch more")
    more.wait_for()

    def to_b(route: Any) -> None:  # what a load balancer without sticky sessions may do
        # (continue_ cannot change Origin; the balancer's host is the page's origin for both instances)
        answer = route.fetch(url=pair.b.base_url + "/api/database/query/more",
                             headers={**route.request.headers, "origin": pair.b.base_url})
        route.fulfill(response=answer)

    page.route("**/api/database/query/more", to_b)
    more.click()
    again = page.get_by_role("button", name="Run again")
    again.wait_for()
    assert "held by another instance of the tool" in page.locator("body").inner_text()
    page.unroute("**/api/database/query/more")
    again.click()  # runs the same SQL again (on A): a fresh result whose next rows A holds
    page.get_by_role("button", name="Fetch more").click()
    page.get_by_text("20000 rows shown, more available").wait_for()


def test_a_row_left_by_a_dead_instance_never_cancels_a_newer_session_with_its_pid(pair: Pair) -> None:
    # a RunningQuery row an instance that died left behind, naming a pid now used by another session
    with psycopg.connect(libpq(pair.target), autocommit=True) as bystander, \
            psycopg.connect(pair.env["PGADMIN_INTERNAL_DATABASE_URL"], autocommit=True) as internal:
        pid = bystander.info.backend_pid
        found = internal.execute("SELECT id FROM auth_user WHERE username = 'root'").fetchone()
        assert found is not None
        root = found[0]
        internal.execute("INSERT INTO sqlconsole_runningquery (query_id, user_id, pid, reader, instance, started_at, "
                         "cancelled_by) VALUES ('left-behind', %s, %s, false, 'dead', now() - interval '1 hour', '')",
                         [root, pid])
        outcome: list[str] = []

        def nap() -> None:
            try:
                bystander.execute("SELECT pg_sleep(3)")
                outcome.append("slept")
            except psycopg.Error as exc:
                outcome.append(type(exc).__name__)

        sleep = threading.Thread(target=nap, daemon=True)
        sleep.start()
        wait_until(lambda: pid in sleeping(pair.target), 10, "the bystander's sleep")
        status, body = api_call(pair.b, "POST", "/api/database/query/cancel", pair.token, {"query_id": "left-behind"})
        assert status == 200 and body == {"query_id": "left-behind", "cancelled": False}, body
        sleep.join(10)
        assert not sleep.is_alive() and outcome == ["slept"]  # not QueryCanceled
