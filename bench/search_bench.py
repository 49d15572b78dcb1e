"""Search benchmark: the grid's first answer on a 10 M-row table, against a bare SQL ILIKE.

Usage::

    .venv/bin/python bench/search_bench.py [--url postgresql://postgres@127.0.0.1:5432/bench_search] [--runs 5]

Without ``--url`` the database ``bench_search`` on ``BENCH_DATABASE_URL``'s server (else
127.0.0.1:5432) is used and created when missing. Its table ``bench_events`` (10 000 000 rows:
``title`` text, ``meta`` jsonb, ``amount`` numeric; no index but the key) is built once with
``generate_series`` (a few minutes) and reused while its comment says it is complete.

The script starts the real ``manage.py serve`` (default search settings: a 1.5 s budget), logs in
through /login like a browser, and times the first answer of the grid page (``/data/…?q=``) for a
term that matches early (every 1 000th title), late (only in the jsonb of the last 10 000 rows)
and nowhere; median of ``--runs``. Next to each: the bare SQL a grid without a bounded search runs
(the same predicate over every searchable column, ``ORDER BY id LIMIT 101``, no statement
timeout), median of 3. It also follows "continue" for the late term until its first match, and
reports the server's RSS before and after all of it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN, PASSWORD = "bench", "bench-password-123"
ROWS = 10_000_000
TABLE = "bench_events"
MARK = "search bench v1: 10000000 rows"
TARGET_MS = 2000
CASES = [  # label, term, what the bare SQL must do
    ("match early (every 1 000th title)", "alpha", "stops after ~100 000 rows"),
    ("match late (jsonb of the last 10 000 rows)", "omega", "reads ~10 M rows"),
    ("no match", "zebra-nowhere", "reads all 10 M rows"),
]
BARE = (f"SELECT * FROM {TABLE} WHERE title ILIKE %(p)s OR meta::text ILIKE %(p)s ORDER BY id LIMIT 101")


class Session:
    """A keep-alive HTTP session with cookies and Django's CSRF dance."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        hdrs = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # the server closes a keep-alive connection left idle while the bare SQL ran: a new one
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.conn.host, self.conn.port, timeout=300)
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return resp.status, resp.read()

    def login(self) -> None:
        self.request("GET", "/login")
        status, _ = self.request("POST", "/login", urlencode({"username": ADMIN, "password": PASSWORD,
                                                              "csrfmiddlewaretoken": self.cookies["csrftoken"],
                                                              "next": "/"}),
                                 {"Content-Type": "application/x-www-form-urlencoded", "Referer": "http://127.0.0.1/login"})
        if status != 302:
            raise SystemExit(f"login failed: HTTP {status}")

    def get(self, path: str) -> bytes:
        status, body = self.request("GET", path)
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}\n{body[:500]!r}")
        return body


def default_url() -> str:
    from sqlalchemy.engine import make_url

    server = os.environ.get("BENCH_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    return make_url(server).set(database="bench_search").render_as_string(hide_password=False)


def ensure_table(libpq: str) -> None:
    """Create the database and the 10 M-row table unless a complete one is there (its comment says so)."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(libpq)
    name = url.database or "bench_search"
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(libpq, autocommit=True) as conn:
        found = conn.execute(f"SELECT obj_description(to_regclass('{TABLE}'), 'pg_class')").fetchone()
        mark = found[0] if found else None
        if mark == MARK:
            return
        print(f"building {TABLE} ({ROWS:,} rows) in {name}: a few minutes, once…", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, title text NOT NULL, meta jsonb NOT NULL, "
                     "amount numeric(12, 2) NOT NULL)")
        conn.execute(f"""
            INSERT INTO {TABLE}
            SELECT g, 'event ' || g || CASE WHEN g % 1000 = 0 THEN ' alpha' ELSE '' END,
                   jsonb_build_object('source', (ARRAY['web', 'api', 'batch'])[1 + g % 3], 'n', g,
                                      'tag', CASE WHEN g > {ROWS - 10_000} THEN 'omega' ELSE 'plain' END),
                   (g % 100000) / 100.0
            FROM generate_series(1, {ROWS}) g""")
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        conn.execute(f"COMMENT ON TABLE {TABLE} IS '{MARK}'")
        print(f"built in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def timed(fn: Any, runs: int) -> tuple[float, Any]:
    """Median milliseconds of ``runs`` calls (after one warm-up), and the last call's result."""
    result = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="libpq URL of the benchmark database (default: bench_search)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    libpq = (args.url or default_url()).replace("postgresql+psycopg://", "postgresql://")
    ensure_table(libpq)
    from tests.serving import Served

    served = Served({"DATABASE_URL": libpq, "PGADMIN_ADMIN_USERNAME": ADMIN, "PGADMIN_ADMIN_PASSWORD": PASSWORD,
                     "PGADMIN_STATEMENT_TIMEOUT": "60s", "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot")})
    rows: list[tuple[str, float, float, str, str]] = []
    try:
        served.wait_ready()
        web = Session(served.port)
        web.login()
        proc = psutil.Process(served.proc.pid)

        def rss() -> int:
            return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)] if p.is_running())

        web.get(f"/data/public.{TABLE}")  # reflection, pools, templates: warm
        rss_before = rss()
        pg = psycopg.connect(libpq, autocommit=True)
        pg.execute("SET statement_timeout = 0")
        for label, term, bare_note in CASES:
            path = f"/data/public.{TABLE}?" + urlencode({"q": term})
            ms, _ = timed(lambda p=path: web.get(p), args.runs)
            said = json.loads(web.get(f"/api/tables/public.{TABLE}/data?" + urlencode({"q": term})))["search"]
            bare_ms, _ = timed(lambda t=term: pg.execute(BARE, {"p": f"%{t}%"}).fetchall(), 2)
            rows.append((label, ms, bare_ms, said["summary"], bare_note))

        # the late term, followed: continue until the first match shows
        t0 = time.perf_counter()
        cursor, answers, found = None, 0, 0
        while True:
            query = {"q": "omega", **({"cursor": cursor} if cursor else {})}
            body = json.loads(web.get(f"/api/tables/public.{TABLE}/data?" + urlencode(query)))
            answers += 1
            found, cursor = len(body["rows"]), body["next_cursor"]
            if found or not cursor:
                break
        follow_ms = (time.perf_counter() - t0) * 1000
        follow_said = body["search"]["summary"]
        rss_after = rss()
    except BaseException:
        print("\n".join(served.lines[-40:]), file=sys.stderr)  # the server's side of a failure
        raise
    finally:
        served.stop()

    load = os.getloadavg()[0]
    print(f"\n### Search benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {TABLE}: {ROWS:,} rows (text, jsonb, "
          f"numeric; no index but the key), {os.cpu_count()} CPUs, load average {load:.1f}; "
          f"median of {args.runs} (bare: median of 2 after a warm-up)\n")
    print("| case | first answer through HTTP (ms) | bare SQL ILIKE (ms) | ratio | target | verdict | the answer said |")
    print("| --- | ---: | ---: | ---: | --- | --- | --- |")
    for label, ms, bare_ms, said, bare_note in rows:
        verdict = "OK" if ms <= TARGET_MS else "over"
        print(f"| {label} | {ms:.0f} | {bare_ms:.0f} ({bare_note}) | {ms / bare_ms:.2f}× | ≤ {TARGET_MS} ms | "
              f"{verdict} | {said} |")
    print(f"| match late, followed to its first match | {follow_ms:.0f} ({answers} answers) | – | – | – | – | "
          f"{follow_said} |")
    growth = (rss_after - rss_before) / 1e6
    print(f"\nServer RSS: {rss_before / 1e6:.1f} MB before the searches, {rss_after / 1e6:.1f} MB after "
          f"({growth:+.1f} MB; target: flat, < 20 MB) — {'OK' if growth < 20 else 'over'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
