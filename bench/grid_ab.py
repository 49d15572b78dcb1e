"""The grid's HTML page against a baseline checkout: same database, same machine, requests interleaved.

Issue 12 asks that the grid's page for 100 rows stays within 1.5x the server time it had before the
grid work. Absolute figures on this 2-core machine move by a third with the load, so this benchmark
serves the same database from two checkouts at once (this one, and a baseline: a git revision checked
out into a temporary worktree, or a folder) and alternates their requests, so both see the same load:

    python -m bench.grid_ab --baseline 9b448a8             # the last commit before the grid work
    python -m bench.grid_ab --baseline 9b448a8 --big       # on bench_databrowser's 10 M operations

It prints, for each page, the median server time of both (time to the last byte, keep-alive, logged
in as an admin), the ratio, and the bare SQL of the same page for scale. Figures go to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.databrowser_bench import ADMIN, PASSWORD, Session, default_url, ensure_demo

REPO = Path(__file__).resolve().parent.parent


def _checkout(baseline: str) -> tuple[Path, bool]:
    """The baseline's folder (a given folder, or a temporary worktree of a git revision) and
    whether it is ours to remove."""
    if Path(baseline).is_dir():
        return Path(baseline).resolve(), False
    folder = Path(tempfile.mkdtemp(prefix="grid-ab-")) / "baseline"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(folder), baseline], cwd=REPO, check=True)
    build = REPO / "static" / "build"
    if build.is_dir():  # the bundles are built by `make setup`, never committed
        subprocess.run(["cp", "-r", str(build), str(folder / "static")], check=True)
    return folder, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="a git revision or a checkout folder to compare with")
    parser.add_argument("--big", action="store_true", help="the 10 M-row demo of bench_databrowser (else 5 000 rows)")
    parser.add_argument("--runs", type=int, default=31, help="requests per page and checkout (default 31)")
    args = parser.parse_args()

    libpq = default_url()
    if not args.big:
        libpq = libpq.replace("/bench_databrowser", "/bench_grid_small")
    ensure_demo(libpq, big=args.big)
    os.environ.setdefault("PGADMIN_SECRET_KEY", secrets.token_urlsafe(48))
    sys.path.insert(0, str(REPO))
    from tests.serving import Served

    base_dir, ours = _checkout(args.baseline)
    env = {"DATABASE_URL": libpq, "PGADMIN_ADMIN_USERNAME": ADMIN, "PGADMIN_ADMIN_PASSWORD": PASSWORD,
           "PGADMIN_STATEMENT_TIMEOUT": "30s", "PGADMIN_PROJECT_DIR": str(REPO / "examples" / "brokerbot")}
    servers = {"now": Served(env), "baseline": Served(env, repo=base_dir)}
    try:
        sessions = {}
        for name, served in servers.items():
            served.wait_ready()
            sessions[name] = Session(served.port)
            sessions[name].login()
        pages = [("first page, 100 rows", "/data/public.operations", "SELECT * FROM operations ORDER BY id LIMIT 101"),
                 ("sorted by amount", "/data/public.operations?sort=-amount",
                  "SELECT * FROM operations ORDER BY amount DESC, id DESC LIMIT 101"),
                 ("text filter", "/data/public.operations?" + urlencode({"f.contains.kind": "ell"}),
                  "SELECT * FROM operations WHERE kind::text ILIKE '%%ell%%' ORDER BY id LIMIT 101")]
        pg = psycopg.connect(libpq, autocommit=True)
        print(f"{'page':24} {'now ms':>8} {'base ms':>8} {'ratio':>6} {'bare ms':>8}")
        for label, path, sql in pages:
            times: dict[str, list[float]] = {"now": [], "baseline": []}
            for round_ in range(args.runs + 3):
                for name in (("now", "baseline") if round_ % 2 else ("baseline", "now")):
                    started = time.perf_counter()
                    status, body = sessions[name].request("GET", path)
                    took = (time.perf_counter() - started) * 1000
                    if status != 200:
                        raise SystemExit(f"{name} {path}: HTTP {status}\n{body[:300]!r}")
                    if round_ >= 3:  # three warm-up rounds: caches, the worker, reflection
                        times[name].append(took)
            bare = []
            for _ in range(args.runs):
                started = time.perf_counter()
                pg.execute(sql).fetchall()
                bare.append((time.perf_counter() - started) * 1000)
            now, base = statistics.median(times["now"]), statistics.median(times["baseline"])
            print(f"{label:24} {now:8.1f} {base:8.1f} {now / base:6.2f} {statistics.median(bare):8.2f}", flush=True)
        load = os.getloadavg()[0]
        print(f"load average {load:.2f} on {os.cpu_count()} CPUs; baseline {args.baseline}")
    finally:
        for served in servers.values():
            served.stop()
        if ours:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_dir)], cwd=REPO, check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
