"""`make bench`: run every ``bench/*_bench.py`` in turn and print what each reports.

Each benchmark is a standalone script that measures the tool against the bare equivalent
(SQL through psycopg, the Alembic CLI, a plain import) and prints ratios. They need a
PostgreSQL: ``BENCH_DATABASE_URL``, else the server on 127.0.0.1:5432. Results worth keeping
go to ``bench/RESULTS.md`` with the date.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("*_bench.py"))
    if not scripts:
        print("no benchmarks found")
        return 1
    failed = 0
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        result = subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent, check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
