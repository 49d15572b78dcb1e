"""API benchmark: the navigation's pages as JSON from the REST API, warm p50/p95 with a token.

Usage::

    .venv/bin/python bench/api_bench.py --project demo|generated|both [--requests 20] [--json out.json]

Same projects and server start as ``pages_bench.py`` (``benchkit``). A token is issued by
``POST /api/auth/token`` (what a CI job does) and every request carries ``Authorization: Token …``
over one keep-alive connection. For each endpoint (``benchkit.api_paths``: /api/status,
/api/alembic/migrations, a pending revision, drift, /api/models, /api/erd, /api/tables, a grid's
data, a row, the console's schema, audit, users, me, tokens) the first request after the server
start is reported apart ("first"); then ``--requests`` rounds (≥ 20) go over every endpoint in
turn and give p50, p95 and max (nearest rank). Target (issue 11): warm p95 ≤ 100 ms; the ratio
column is p95 / 100 ms (≤ 1.00 meets it). A non-200 answer counts as an error and misses the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import Session, api_paths, issue_token, machine_line, percentile, prepare, start_server  # noqa: E402

P95_TARGET_MS = 100


def timed(session: Session, path: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    status, body = session.get(path, accept="application/json")
    return (time.perf_counter() - started) * 1000, status, len(body)


def run_project(kind: str, requests: int) -> dict:  # type: ignore[type-arg]
    project = prepare(kind)
    paths = api_paths(project)
    server = start_server(project)
    try:
        session = Session(server.port, token=issue_token(server.port))
        first: dict[str, tuple[float, int, int]] = {key: timed(session, path) for key, path in paths}
        samples: dict[str, list[float]] = {key: [] for key, _ in paths}
        errors: dict[str, list[int]] = {key: [] for key, _ in paths}
        sizes: dict[str, int] = {}
        for _ in range(requests):
            for key, path in paths:
                ms, status, size = timed(session, path)
                samples[key].append(ms)
                sizes[key] = size
                if status != 200:
                    errors[key].append(status)
        session.close()
    finally:
        server.stop()
    rows = []
    for key, path in paths:
        p95 = percentile(samples[key], 95)
        rows.append({"endpoint": key, "path": path, "first": first[key][0], "first_status": first[key][1],
                     "p50": percentile(samples[key], 50), "p95": p95, "max": max(samples[key]), "bytes": sizes[key],
                     "errors": errors[key], "met": p95 <= P95_TARGET_MS and not errors[key] and first[key][1] == 200})
    return {"project": kind, "facts": project.facts, "requests": requests, "rows": rows}


def report(res: dict) -> None:  # type: ignore[type-arg]
    print(f"\n### API (token) — {res['project']} project ({res['facts']}) — {machine_line()}\n")
    print(f"{res['requests']} warm requests per endpoint (round-robin over all endpoints, one keep-alive "
          f"connection); first = the first request after the server start. Times in ms.\n")
    print("| endpoint | first | p50 | p95 | max | bytes | p95 / 100 ms | verdict |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in res["rows"]:
        verdict = "OK" if r["met"] else "MISSED"
        if r["errors"] or r["first_status"] != 200:
            verdict += f" (HTTP {sorted(set(r['errors'] + [r['first_status']]) - {200})})"
        print(f"| {r['endpoint']} `{r['path']}` | {r['first']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.0f} "
              f"| {r['bytes']} | {r['p95'] / P95_TARGET_MS:.2f} | {verdict} |")
    print(f"\nWarm p95 ≤ {P95_TARGET_MS} ms on every endpoint: {'OK' if all(r['met'] for r in res['rows']) else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", choices=["demo", "generated", "both"], default="both")
    parser.add_argument("--requests", type=int, default=20, help="warm requests per endpoint (≥ 20 for a p95)")
    parser.add_argument("--json", type=Path, help="write the figures here (bench/run_all.py reads them)")
    args = parser.parse_args()
    kinds = ["demo", "generated"] if args.project == "both" else [args.project]
    results = []
    for kind in kinds:
        res = run_project(kind, args.requests)
        report(res)
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["met"] for res in results for r in res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
