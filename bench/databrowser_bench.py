"""Data-browser benchmark: the real server, a logged-in session, medians against bare SQL.

Usage::

    .venv/bin/python bench/databrowser_bench.py [--url postgresql://postgres@127.0.0.1:5432/bench_databrowser] [--small]

Without ``--url`` the database ``bench_databrowser`` on ``BENCH_DATABASE_URL``'s server (else
127.0.0.1:5432) is used and created when missing. When its ``operations`` table is missing or
smaller than 10 M rows, the demo's ``python -m brokerbot.demo_setup --url URL --big`` fills it
first (a few minutes, once); ``--small`` keeps the 5 000-row demo instead.

The script adds 300 small tables in a schema ``bench_many`` (once), starts ``manage.py serve``
on the database with a bootstrap admin, logs in through /login (session cookie + CSRF, like a
browser), and measures the median of ``--runs`` (≥ 7) requests per case next to the median of
the bare SQL (psycopg, same rows) in the same run. The CSV export of 1 M rows also reports the
server's peak RSS growth. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import psutil
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN, PASSWORD = "bench", "bench-password-123"


class Session:
    """A keep-alive HTTP session with cookies and Django's CSRF dance."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None,
                stream_to: list[int] | None = None) -> tuple[int, bytes]:
        hdrs = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        self.conn.request(method, path, body=body, headers=hdrs)
        resp = self.conn.getresponse()
        for key, value in resp.getheaders():
            if key.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        if stream_to is not None:
            total = 0
            while chunk := resp.read(1 << 16):
                total += len(chunk)
            stream_to.append(total)
            return resp.status, b""
        return resp.status, resp.read()

    def login(self) -> None:
        self.request("GET", "/login")
        token = self.cookies["csrftoken"]
        status, _ = self.request("POST", "/login", urlencode({"username": ADMIN, "password": PASSWORD,
                                                              "csrfmiddlewaretoken": token, "next": "/"}),
                                 {"Content-Type": "application/x-www-form-urlencoded", "Referer": "http://127.0.0.1/login"})
        if status != 302:
            raise SystemExit(f"login failed: HTTP {status}")


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up (plans, caches, reflection)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def ensure_many_tables(libpq: str, count: int = 300) -> None:
    from psycopg import sql

    with psycopg.connect(libpq, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'bench_many'").fetchone()[0]
        if have >= count:
            return
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench_many")
        for i in range(count):
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS bench_many.{} (id serial PRIMARY KEY, name text, n int)")
                         .format(sql.Identifier(f"t_{i:03d}")))
        conn.execute("ANALYZE")


def default_url() -> str:
    from sqlalchemy.engine import make_url

    server = os.environ.get("BENCH_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    return make_url(server).set(database="bench_databrowser").render_as_string(hide_password=False)


def ensure_demo(libpq: str, big: bool) -> None:
    """Create the database if needed and load the demo (10 M operations unless ``big`` is False)."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(libpq)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
    with psycopg.connect(libpq) as conn:
        exists = conn.execute("SELECT to_regclass('public.operations') IS NOT NULL").fetchone()[0]
        estimate = conn.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass('public.operations')").fetchone()
    rows = estimate[0] if exists and estimate else 0
    if not exists or (big and rows < 9_900_000):
        print(f"loading the demo into {url.database} ({'10 M operations, a few minutes' if big else 'small'})…",
              file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "brokerbot.demo_setup", "--url", libpq, *(["--big"] if big else [])],
                       cwd=REPO / "examples" / "brokerbot", check=True, stdout=subprocess.DEVNULL)
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute("ANALYZE")


def cursor_at(last_id: int) -> str:
    from databrowser.query import encode_cursor
    from databrowser.refs import TableRef

    fake = SimpleNamespace(ref=TableRef("public", "operations"))
    return encode_cursor(fake, [("id", False)], [last_id], "a")  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="libpq URL of the benchmark database (default: bench_databrowser)")
    parser.add_argument("--small", action="store_true", help="use the 5 000-row demo, not 10 M operations")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    libpq = (args.url or default_url()).replace("postgresql+psycopg://", "postgresql://")
    ensure_demo(libpq, big=not args.small)
    ensure_many_tables(libpq)
    with psycopg.connect(libpq) as conn:
        total = conn.execute("SELECT count(*) FROM operations").fetchone()[0]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pgadmin_site.settings")
    # Page cursors carry a MAC keyed by SECRET_KEY: this process builds one for the server to accept,
    # so both use the same key (the served instance inherits this environment).
    os.environ.setdefault("PGADMIN_SECRET_KEY", secrets.token_urlsafe(48))
    import django

    django.setup()  # cursor_at() imports databrowser.query, which now needs the app registry (via core.exceptions)
    from tests.serving import Served

    served = Served({"DATABASE_URL": libpq, "PGADMIN_ADMIN_USERNAME": ADMIN, "PGADMIN_ADMIN_PASSWORD": PASSWORD,
                     "PGADMIN_STATEMENT_TIMEOUT": "30s", "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot")})
    rows: list[tuple[str, float, float | None, str]] = []
    try:
        served.wait_ready()
        http_s = Session(served.port)
        http_s.login()
        pg = psycopg.connect(libpq, autocommit=True)

        def page(path: str) -> None:
            status, body = http_s.request("GET", path)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}\n{body[:500]!r}")

        def bare(sql: str, *params: object) -> None:
            pg.execute(sql, params or None).fetchall()

        mid = total // 2
        size = 100
        cases = [
            ("first page (keyset)", "/data/public.operations", "SELECT * FROM operations ORDER BY id LIMIT 101", ()),
            ("middle page by cursor (keyset)", "/data/public.operations?" + urlencode({"cursor": cursor_at(mid)}),
             "SELECT * FROM operations WHERE id > %s ORDER BY id LIMIT 101", (mid,)),
            ("middle page by offset", f"/data/public.operations?page={mid // size}",
             "SELECT * FROM operations ORDER BY id LIMIT 101 OFFSET %s", ((mid // size - 1) * size,)),
            ("sort by indexed column (client_id)", "/data/public.operations?sort=client_id",
             "SELECT * FROM operations ORDER BY client_id, id LIMIT 101", ()),
            ("sort by unindexed column (amount)", "/data/public.operations?sort=-amount",
             "SELECT * FROM operations ORDER BY amount DESC, id DESC LIMIT 101", ()),
            ("text filter (kind contains 'ell')", "/data/public.operations?" + urlencode({"f.contains.kind": "ell"}),
             "SELECT * FROM operations WHERE kind::text ILIKE '%%ell%%' ORDER BY id LIMIT 101", ()),
        ]
        for label, path, sql, params in cases:
            web = median_ms(lambda p=path: page(p), args.runs)
            raw = median_ms(lambda s=sql, a=params: bare(s, *a), args.runs)
            rows.append((label, web, raw, ""))
        from core.catalog import TABLES_SQL

        tables = median_ms(lambda: page("/data"), args.runs)
        list_sql = str(TABLES_SQL.text).replace("%", "%%").replace(":schema", "%(schema)s")
        raw_list = median_ms(lambda: pg.execute(list_sql, {"schema": None}).fetchall(), args.runs)
        rows.append(("table list (300+ tables)", tables, raw_list, ""))

        # CSV export of 1 M rows: time and the server's RSS growth, sampled every 20 ms.
        proc = psutil.Process(served.proc.pid)
        procs = [proc, *proc.children(recursive=True)]

        def rss() -> int:
            return sum(p.memory_info().rss for p in procs if p.is_running())

        export_path = "/data/public.operations/export?" + urlencode({"format": "csv", "f.lte.id": "1000000"})
        peaks: list[int] = []
        web_times: list[float] = []
        sizes: list[int] = []
        for _ in range(3):
            base = rss()
            peak = [base]
            done = threading.Event()

            def sample(pk: list[int] = peak, ev: threading.Event = done) -> None:
                while not ev.is_set():
                    pk[0] = max(pk[0], rss())
                    time.sleep(0.02)

            th = threading.Thread(target=sample)
            th.start()
            t0 = time.perf_counter()
            http_s.request("GET", export_path, stream_to=sizes)
            web_times.append((time.perf_counter() - t0) * 1000)
            done.set()
            th.join()
            peaks.append(peak[0] - base)

        def bare_export() -> None:
            with psycopg.connect(libpq) as conn, conn.cursor(name="bench_export") as cur:
                cur.itersize = 2000
                cur.execute("SELECT * FROM operations WHERE id <= 1000000 ORDER BY id")
                for _row in cur:
                    pass

        t0 = time.perf_counter()
        bare_export()
        raw_export = (time.perf_counter() - t0) * 1000
        rows.append((f"CSV export 1 M rows ({sizes[-1] / 1e6:.0f} MB)", statistics.median(web_times), raw_export,
                     f"peak RSS growth {max(peaks) / 1e6:.1f} MB (median of 3 exports; bare = one server-side cursor read)"))
    finally:
        served.stop()

    print(f"\n### Data browser benchmark — {time.strftime('%Y-%m-%d %H:%M')} — operations: {total:,} rows, "
          f"{os.cpu_count()} CPUs, median of {args.runs} runs\n")
    print("| case | through HTTP (ms) | bare SQL (ms) | ratio | target | note |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for label, web, raw, note in rows:
        ratio = f"{web / raw:.2f}×" if raw else "–"
        if "export" in label:
            target = "RSS growth < 50 MB"
        elif "table list" in label:
            target = "≤ 300 ms"
        elif "keyset" in label:
            target = f"≤ 150 ms and ≤ {1.5 * (raw or 0) + 30:.0f} ms"
        else:
            target = "–"
        print(f"| {label} | {web:.1f} | {raw:.1f} | {ratio} | {target} | {note} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
