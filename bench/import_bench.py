"""CSV import benchmark: 1 M rows through the real server, against a plain ``COPY`` of the same file.

Usage::

    .venv/bin/python bench/import_bench.py [--rows 1000000] [--json out.json]

Creates a throwaway database (random suffix, dropped at the end) on ``BENCH_DATABASE_URL``'s
server (else 127.0.0.1:5432) with a referenced table and a target table (primary key, NOT NULL,
CHECK, FK, varchar(n), timestamptz), writes a CSV of ``--rows`` rows, and measures:

* **bare COPY**: ``COPY … FROM STDIN (FORMAT csv, HEADER)`` of the file through psycopg (the
  same constraints and FK triggers), then TRUNCATE;
* **tool import**: ``manage.py serve`` started the way users do (benchkit.Server), the file sent
  in 4 MB pieces to ``POST /api/tables/{t}/import/chunks`` (as the page's script does), then
  ``POST /api/tables/{t}/import`` with ``confirm=true`` (every row validated, one INSERT … SELECT,
  COMMIT), polled until done; the wall time from the
  first byte sent to ``done``, the validation-only run (``confirm=false``) on its own, and the
  server process's **peak RSS growth** during the import, sampled every 20 ms (target: < 50 MB).

Prints a Markdown table and the figures for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchkit import Server, Session, database_url, issue_token, server_url  # noqa: E402

SCHEMA = """
CREATE TABLE bench_client (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO bench_client SELECT g, 'client ' || g FROM generate_series(1, 1000) g;
CREATE TABLE bench_import (
    id bigint PRIMARY KEY,
    client_id integer NOT NULL REFERENCES bench_client (id),
    kind varchar(8) NOT NULL,
    amount numeric(12, 2) NOT NULL CHECK (amount >= 0),
    note text,
    created timestamptz NOT NULL DEFAULT now()
);
"""


def write_csv(path: Path, rows: int) -> int:
    kinds = ("buy", "sell", "transfer")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("id,client_id,kind,amount,note,created\r\n")
        batch = []
        for i in range(1, rows + 1):
            note = "" if i % 7 == 0 else f'"note {i}, with a comma"'
            batch.append(f"{i},{i % 1000 + 1},{kinds[i % 3]},{i % 100000}.{i % 100:02d},{note},"
                         f"2025-01-{i % 28 + 1:02d} 12:{i % 60:02d}:00+00\r\n")
            if len(batch) >= 10_000:
                fh.write("".join(batch))
                batch = []
        fh.write("".join(batch))
    return path.stat().st_size


def bare_copy(url: str, path: Path) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY bench_import (id, client_id, kind, amount, note, created) FROM STDIN (FORMAT csv, HEADER)") as cp, \
                open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                cp.write(block)
        conn.commit()
    elapsed = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE bench_import")
    return elapsed


def upload(port: int, token: str, path: Path, fields: dict[str, object]) -> dict:  # type: ignore[type-arg]
    """The file in 4 MB pieces (POST …/import/chunks), then POST …/import naming the upload, as the
    page's script does; this process never holds more than one piece either."""
    s = Session(port, token, timeout=3600)
    upload_id, offset = "", 0
    with open(path, "rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            query = f"offset={offset}" + (f"&upload={upload_id}" if upload_id else "")
            status, body = s.request("POST", f"/api/tables/public.bench_import/import/chunks?{query}", block,  # type: ignore[arg-type]
                                     {"Content-Type": "application/octet-stream", "Accept": "application/json"})
            if status != 200:
                raise SystemExit(f"chunk: HTTP {status} {body[:300]!r}")
            answer = json.loads(body)
            upload_id, offset = answer["upload"], answer["size"]
    status, body = s.request("POST", "/api/tables/public.bench_import/import",
                             json.dumps({**fields, "upload": upload_id, "name": path.name}),
                             {"Content-Type": "application/json", "Accept": "application/json"})
    s.close()
    if status != 202:
        raise SystemExit(f"import: HTTP {status} {body[:500]!r}")
    return json.loads(body)  # type: ignore[no-any-return]


def settle(port: int, token: str, job: dict) -> dict:  # type: ignore[type-arg]
    s = Session(port, token)
    while job["state"] in ("validating", "importing"):
        time.sleep(0.2)
        status, body = s.get(f"/api/tables/public.bench_import/import/{job['id']}", accept="application/json")
        if status != 200:
            raise SystemExit(f"status: HTTP {status} {body[:300]!r}")
        job = json.loads(body)
    s.close()
    return job


class PeakRss:
    """The server process's RSS, sampled every 20 ms while a block runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    name = f"pgadmin_bench_import_{secrets.token_hex(4)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(name)
    work = Path(tempfile.mkdtemp(prefix="pgadmin-import-bench-"))
    csv_path = work / "bench.csv"
    server = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA)
        size = write_csv(csv_path, args.rows)
        print(f"{args.rows:,} rows, {size / 1e6:.0f} MB of CSV", file=sys.stderr, flush=True)
        copy_s = min(bare_copy(url, csv_path) for _ in range(2))
        print(f"bare COPY: {copy_s:.1f} s", file=sys.stderr, flush=True)
        project_dir = work / "project"
        project_dir.mkdir()
        server = Server(SimpleNamespace(url=url, directory=project_dir),  # type: ignore[arg-type]
                        {"PGADMIN_IMPORT_MAX_MB": "2000", "PGADMIN_WARM": "0"})
        server.wait_ready()
        server.add_admin()
        token = issue_token(server.port)
        # warm up: a 10-row import loads the code paths (reflection, psycopg COPY, DRF) once, so the
        # RSS figure is what the file's size costs, not the first use of the modules
        small = work / "small.csv"
        small.write_text("".join(open(csv_path, encoding="utf-8").readlines()[:11]), encoding="utf-8")
        job = settle(server.port, token, upload(server.port, token, small, {"confirm": False, "wait": 0}))
        assert job["state"] == "valid", job
        time.sleep(1.0)
        with PeakRss(server.proc.pid) as rss:  # over both runs, from before the first byte
            # validation only (nothing written)
            t0 = time.perf_counter()
            job = settle(server.port, token, upload(server.port, token, csv_path, {"confirm": False, "wait": 0}))
            validate_s = time.perf_counter() - t0
            assert job["state"] == "valid", job
            t0 = time.perf_counter()
            job = settle(server.port, token, upload(server.port, token, csv_path, {"confirm": True, "wait": 0}))
            import_s = time.perf_counter() - t0
        assert job["state"] == "done" and job["written"] == args.rows, job
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM bench_import").fetchone() == (args.rows,)
    finally:
        if server is not None:
            server.stop()
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        for p in work.rglob("*"):
            if p.is_file():
                p.unlink()
    figures = {"rows": args.rows, "csv_mb": round(size / 1e6, 1), "copy_s": round(copy_s, 2),
               "validate_s": round(validate_s, 2), "import_s": round(import_s, 2),
               "ratio": round(import_s / copy_s, 2), "rss_growth_mb": round(rss.growth_mb, 1)}
    print(f"\n### CSV import benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} CPUs\n")
    print("| case | time (s) | vs bare COPY | note |")
    print("| --- | ---: | ---: | --- |")
    print(f"| bare COPY of {args.rows:,} rows ({size / 1e6:.0f} MB) | {copy_s:.1f} | 1.00× | psycopg, same constraints |")
    print(f"| import, validation only | {validate_s:.1f} | {validate_s / copy_s:.2f}× | "
          "upload + every row checked, rolled back |")
    print(f"| import {args.rows:,} rows (upload, validate, insert) | {import_s:.1f} | {import_s / copy_s:.2f}× | "
          f"server peak RSS growth {rss.growth_mb:.1f} MB (target < 50 MB) |")
    print(f"\n<!-- bench-figures: import.copy_s={copy_s:.2f} import.validate_s={validate_s:.2f} "
          f"import.import_s={import_s:.2f} import.ratio={import_s / copy_s:.2f} import.rss_mb={rss.growth_mb:.1f} -->")
    if args.json:
        args.json.write_text(json.dumps(figures))
    return 0 if rss.growth_mb < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
