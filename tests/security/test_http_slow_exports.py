"""The repro of issue 10 item 9 against the real server: one viewer starts 16 exports of a big table
and reads them slowly; every other user's requests still answer quickly, nothing answers 500, and
the viewer's exports beyond the limit are refused with 429 and a hint. Loopback only, bounded."""

from __future__ import annotations

import http.client
import json
import time

import psycopg
import pytest

from tests.conftest import FIXTURES, PASSWORD
from tests.serving import Served, add_user

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _token(port: int, username: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/auth/token", json.dumps({"username": username, "password": PASSWORD}),
                 {"Content-Type": "application/json"})
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body["token"]


def _get(port: int, token: str, path: str) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": f"Token {token}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.monotonic() - started


def test_sixteen_slow_exports_by_one_viewer_do_not_starve_other_users(security_roles, target_url):
    app_url = security_roles["app"]
    libpq_app = app_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq_app, autocommit=True) as conn:
        conn.execute("CREATE TABLE sec_slow (id int PRIMARY KEY, pad text)")
        conn.execute("INSERT INTO sec_slow SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 150000) g")
        conn.execute("ANALYZE sec_slow")
    served = Served({"DATABASE_URL": app_url, "PGADMIN_PROJECT_DIR": str(FIXTURES / "core_no_alembic"),
                     "PGADMIN_EXPORT_IDLE_TIMEOUT": "20s"})
    downloads: list[tuple[http.client.HTTPConnection, http.client.HTTPResponse]] = []
    try:
        served.wait_ready()
        add_user(served, "carol", "viewer", PASSWORD)
        add_user(served, "alice", "admin", PASSWORD)
        carol, alice = _token(served.port, "carol"), _token(served.port, "alice")
        paths = ("/api/tables", "/api/tables/public.sec_slow/data", "/api/tables/public.sec_slow/rows/1",
                 "/api/tables/public.sec_slow/schema", "/api/health")
        for path in paths:  # first touches (reflection, model discovery) are not what is measured
            assert _get(served.port, alice, path)[0] == 200, path

        statuses = []
        for _ in range(16):
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
            conn.request("GET", "/api/tables/public.sec_slow/export?format=csv", headers={"Authorization": f"Token {carol}"})
            response = conn.getresponse()
            statuses.append(response.status)
            if response.status == 200:
                assert response.read(4096)  # a first bite, then the reader stalls
                downloads.append((conn, response))
            else:
                error = json.loads(response.read())["error"]
                assert response.status == 429 and error["code"] == "too_many_exports" and error["hint"], error
                conn.close()
        assert set(statuses) <= {200, 429} and statuses.count(200) <= 2 + 2, statuses  # 2 at a time (+ finished ones)
        assert statuses.count(429) >= 10, statuses

        # Meanwhile, the others' pages and API answers come back at once.
        slowest = 0.0
        for path in paths * 3:
            status, took = _get(served.port, alice, path)
            assert status == 200, (path, status)
            slowest = max(slowest, took)
        assert slowest < 2.0, slowest

        observer = target_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(observer, autocommit=True) as conn:
            held = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgadmin-tool' "
                                "AND datname = current_database() AND state = 'idle in transaction'").fetchone()[0]
        assert held <= 2, held
    finally:
        for conn, _response in downloads:
            conn.close()
        served.stop()
    assert "Internal Server Error" not in served.output and " 500 " not in served.output, served.output[-3000:]
