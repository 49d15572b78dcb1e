"""Load benchmark: 10 concurrent users on a mix of pages and API calls over loopback.

Usage::

    .venv/bin/python bench/load_bench.py --project demo|generated [--users 10] [--duration 60] [--think 0]

Same projects and server start as ``pages_bench.py`` (``benchkit``). Each user is a thread with
its own keep-alive connection, logged in through /login (session cookie) for the pages and with
its own API token for the JSON calls. After one untimed warm-up pass over every URL, the users
run for ``--duration`` seconds, each picking requests from a weighted mix (browsing data weighs
most; migrations, models, drift and a revision's detail are in it too) with a per-user seed; with
``--think S`` a user waits a random 0..2S seconds between requests (default 0: back to back, the
harshest reading of "concurrent"). A page request fetches the HTML document only (no static files).

Reports p50/p95/p99 (nearest rank) over every request, the error count (non-2xx answers,
timeouts, dropped connections), throughput, and a per-URL breakdown. Target (issue 11): p95 ≤
300 ms and 0 errors; the ratio printed is p95 / 300 ms (≤ 1.00 meets it).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import (  # noqa: E402
    Session,
    api_paths,
    issue_token,
    machine_line,
    page_paths,
    percentile,
    prepare,
    start_server,
)

P95_TARGET_MS = 300
# Relative weights per page key (HTML and API alike): people browse data most.
WEIGHTS = {"grid": 4, "row": 3, "data": 2, "dashboard": 2, "migrations": 2, "models": 1, "er-diagram": 1,
           "revision": 1, "drift": 1, "console": 1, "audit": 1, "users": 0.5, "account": 0.5, "tokens": 0.5}


def mix(project) -> list[tuple[str, str, str, float]]:  # type: ignore[no-untyped-def]
    """(kind, key, path, weight) for every page and every API call."""
    return ([("page", key, path, WEIGHTS.get(key, 1)) for key, path in page_paths(project)]
            + [("api", key, path, WEIGHTS.get(key, 1)) for key, path in api_paths(project)])


def user_loop(n: int, port: int, token: str, items: list[tuple[str, str, str, float]], stop_at: float, think: float,
              out: list[tuple[str, str, float, int]]) -> None:
    rng = random.Random(1000 + n)
    browser = Session(port, timeout=60)
    browser.login()
    client = Session(port, token=token, timeout=60)
    weights = [w for *_, w in items]
    while time.monotonic() < stop_at:
        kind, key, path, _ = rng.choices(items, weights)[0]
        session = browser if kind == "page" else client
        started = time.perf_counter()
        try:
            status, _ = session.get(path, accept="text/html" if kind == "page" else "application/json")
        except Exception:  # noqa: BLE001 - a timeout or a dropped connection is an error to count, not a crash
            status = 0
            session.close()
            session.conn = type(session.conn)("127.0.0.1", port, timeout=60)
        out.append((kind, f"{kind} {key}", (time.perf_counter() - started) * 1000, status))
        if think:
            time.sleep(rng.uniform(0, 2 * think))
    browser.close()
    client.close()


def run(kind: str, users: int, duration: float, think: float) -> dict:  # type: ignore[type-arg]
    project = prepare(kind)
    items = mix(project)
    server = start_server(project)
    try:
        tokens = [issue_token(server.port, f"load user {n}") for n in range(users)]
        warm = Session(server.port, token=tokens[0], timeout=120)
        warm_b = Session(server.port, timeout=120)
        warm_b.login()
        for k, _, path, _ in items:  # untimed warm-up: the first visits are pages_bench's business
            (warm_b if k == "page" else warm).get(path, accept="text/html" if k == "page" else "application/json")
        warm.close()
        warm_b.close()
        results: list[tuple[str, str, float, int]] = []
        stop_at = time.monotonic() + duration
        threads = [threading.Thread(target=user_loop, args=(n, server.port, tokens[n], items, stop_at, think, results))
                   for n in range(users)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.stop()
    times = [ms for _, _, ms, _ in results]
    errors = [r for r in results if not 200 <= r[3] < 400]
    per: dict[str, list[tuple[float, int]]] = {}
    for _, label, ms, status in results:
        per.setdefault(label, []).append((ms, status))
    rows = [{"url": label, "count": len(v), "p50": percentile([m for m, _ in v], 50), "p95": percentile([m for m, _ in v], 95),
             "p99": percentile([m for m, _ in v], 99), "errors": sum(not 200 <= s < 400 for _, s in v)}
            for label, v in sorted(per.items())]
    return {"project": kind, "facts": project.facts, "users": users, "duration": elapsed, "think": think,
            "requests": len(results), "p50": percentile(times, 50), "p95": percentile(times, 95),
            "p99": percentile(times, 99), "errors": len(errors),
            "error_statuses": sorted({s for *_, s in errors}), "rows": rows,
            "met": percentile(times, 95) <= P95_TARGET_MS and not errors}


def report(res: dict) -> None:  # type: ignore[type-arg]
    print(f"\n### Load — {res['users']} users, {res['duration']:.0f} s, think {res['think']} s — {res['project']} project "
          f"({res['facts']}) — {machine_line()}\n")
    print(f"{res['requests']} requests ({res['requests'] / res['duration']:.1f}/s): p50 {res['p50']:.0f} ms, "
          f"p95 {res['p95']:.0f} ms, p99 {res['p99']:.0f} ms, errors {res['errors']}"
          + (f" (statuses {res['error_statuses']})" if res["errors"] else "")
          + f"; p95 / {P95_TARGET_MS} ms = {res['p95'] / P95_TARGET_MS:.2f}: {'OK' if res['met'] else 'MISSED'}\n")
    print("| request | count | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in res["rows"]:
        print(f"| {r['url']} | {r['count']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | {r['errors']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", choices=["demo", "generated", "both"], default="demo")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (short runs for trying)")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds a user waits between requests")
    parser.add_argument("--json", type=Path, help="write the figures here (bench/run_all.py reads them)")
    args = parser.parse_args()
    kinds = ["demo", "generated"] if args.project == "both" else [args.project]
    results = []
    for kind in kinds:
        res = run(kind, args.users, args.duration, args.think)
        report(res)
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
