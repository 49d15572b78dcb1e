"""`make bench`: rerun every benchmark and print each figure next to the one in ``bench/RESULTS.md``.

Usage::

    .venv/bin/python bench/run_all.py [--only modelmap,alembic,databrowser,pages,api,load,search,import] [--quick]

Two groups, each script also runnable alone (see its docstring):

* **regressions** — the existing model-map (``modelmap_bench.py --browser``), migration-overhead
  (``alembic_bench.py``, ``BENCH_ROUNDS``, default 3), grid and export (``databrowser_bench.py``,
  on the 10 M-row ``bench_databrowser`` database, loaded once) benchmarks. Their output is parsed
  and each figure printed with **ratio = now / recorded**: for times, above 1 is slower than the
  figure in RESULTS.md, below 1 faster; past ``--tolerance`` (default 1.3, the ±30 % these
  figures move on the shared 2-CPU machine) the line says "slower". For the migration ratios
  (tool / CLI) the target itself is ≤ 1.05.
* **targets of issue 11** — ``pages_bench.py`` (Chromium, both projects), ``api_bench.py`` (both),
  ``load_bench.py`` (demo and generated), ``import_bench.py`` (1 M-row CSV import vs COPY, peak
  RSS), and ``search_bench.py`` when present (run as is). Their
  figures are printed with the target each must meet, and with a ratio when RESULTS.md has one.

Reading RESULTS.md: first machine-readable markers, HTML comments invisible in the rendered
page, one or more lines of the form ``<!-- bench-figures: key=value key=value … -->`` (the last
value of a key wins). For keys no marker gives, the prose of the existing sections is parsed
with the same patterns as the scripts' own output (the model-map code block, the data-browser
table, the migration lines; the first match in the file). At the end this script prints the
marker line for this run, ready to paste into RESULTS.md with the new section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
NUM = r"(\d[\d  ,]*(?:\.\d+)?)"


def number(text: str) -> float:
    return float(re.sub(r"[\s,  ]", "", text))


# key → (pattern, group, unit, description). Each matches both a script's output and RESULTS.md.
PATTERNS: dict[str, tuple[str, int, str, str]] = {
    "modelmap.bare_ms": (rf"bare import \+ configure_mappers\s*:\s*{NUM} ms wall", 1, "ms", "model map: bare import"),
    "modelmap.cold_ms": (rf"cold refresh \(models\.inspect\)\s*:\s*{NUM} ms wall", 1, "ms", "model map: cold refresh"),
    "modelmap.erd_ms": (rf"ER graph \+ layout \+ SVG\s*:\s*{NUM} ms", 1, "ms", "model map: ER graph + SVG"),
    "modelmap.page_ms": (rf"diagram page in Chromium\s*:\s*{NUM} ms", 1, "ms", "model map: diagram page"),
    "alembic.trivial_tool_s": (rf"50 trivial revisions: CLI {NUM} s, tool {NUM} s", 2, "s", "migrations: 50 trivial, tool"),
    "alembic.trivial_ratio": (rf"50 trivial revisions: CLI .*?ratio {NUM}", 1, "×", "migrations: 50 trivial, tool / CLI"),
    "alembic.heavy_tool_s": (rf"heavy data migration: CLI {NUM} s, tool {NUM} s", 2, "s", "migrations: heavy, tool"),
    "alembic.heavy_ratio": (rf"heavy data migration: CLI .*?ratio {NUM}", 1, "×", "migrations: heavy, tool / CLI"),
    "grid.first_page_ms": (rf"(?m)^\| first page \(keyset[^|]*\| {NUM} \|", 1, "ms", "grid: first page"),
    "grid.cursor_page_ms": (rf"(?m)^\| middle page by cursor[^|]*\| {NUM} \|", 1, "ms", "grid: middle page by cursor"),
    "grid.offset_page_ms": (rf"(?m)^\| middle page by offset[^|]*\| {NUM} \|", 1, "ms", "grid: middle page by offset"),
    "grid.sort_indexed_ms": (rf"(?m)^\| sort by (?:an )?indexed[^|]*\| {NUM} \|", 1, "ms", "grid: sort, indexed"),
    "grid.sort_unindexed_ms": (rf"(?m)^\| sort by (?:an )?unindexed[^|]*\| {NUM} \|", 1, "ms", "grid: sort, unindexed"),
    "grid.text_filter_ms": (rf"(?m)^\| text filter[^|]*\| {NUM} \|", 1, "ms", "grid: text filter"),
    "grid.table_list_ms": (rf"(?m)^\| table list[^|]*\| {NUM} \|", 1, "ms", "grid: table list"),
    "export.csv_1m_ms": (rf"(?m)^\| CSV export[^|]*\| {NUM} \|", 1, "ms", "export: CSV 1 M rows"),
    "export.rss_mb": (rf"(?m)^\| CSV export.*?(?:RSS growth|OK:) {NUM} MB", 1, "MB", "export: peak RSS growth"),
}
# name → (script and its arguments, the figure keys it gives)
REGRESSIONS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "modelmap": (["modelmap_bench.py", "--browser"], ("modelmap.",)),
    "alembic": (["alembic_bench.py"], ("alembic.",)),
    "databrowser": (["databrowser_bench.py"], ("grid.", "export.")),
}


def markers(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for block in re.findall(r"<!--\s*bench-figures:(.*?)-->", text, flags=re.S):
        for key, value in re.findall(r"([\w.\-]+)=(-?[\d.]+(?:e[+-]?\d+)?)", block):
            found[key] = float(value)
    return found


def recorded() -> dict[str, float]:
    """The figures RESULTS.md holds: markers first, then the prose patterns for the other keys."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    figures: dict[str, float] = {}
    for key, (pattern, group, _, _) in PATTERNS.items():
        if match := re.search(pattern, text, flags=re.S):
            figures[key] = number(match.group(group))
    figures.update(markers(text))
    return figures


def parse(output: str, prefix: tuple[str, ...]) -> dict[str, float]:
    figures = {}
    for key, (pattern, group, _, _) in PATTERNS.items():
        if key.startswith(prefix) and (match := re.search(pattern, output, flags=re.S)):
            figures[key] = number(match.group(group))
    return figures


def run_script(args: list[str], env_extra: dict[str, str] | None = None) -> tuple[int, str]:
    """Run one script, echoing its output as it comes; return (exit status, the whole output)."""
    print(f"\n=== {' '.join(args)} ===", flush=True)
    proc = subprocess.Popen([sys.executable, *args], cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **(env_extra or {})})
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    return proc.wait(), "".join(lines)


def target_figures(name: str, data: list[dict]) -> dict[str, tuple[float, float | None]]:  # type: ignore[type-arg]
    """{key: (value, target or None)} from a new benchmark's --json output."""
    out: dict[str, tuple[float, float | None]] = {}
    if name == "import":  # one run: a dict of figures
        fig: dict = data  # type: ignore[assignment]
        return {"import.copy_s": (fig["copy_s"], None), "import.import_s": (fig["import_s"], None),
                "import.ratio": (fig["ratio"], None), "import.rss_mb": (fig["rss_growth_mb"], 50)}
    for res in data:
        p = res["project"]
        if name == "pages":
            for r in res["rows"]:
                out[f"pages.{p}.{r['page']}.warm_ms"] = (r["warm_load"], 300)
                out[f"pages.{p}.{r['page']}.first_ms"] = (r["first_load"], None)
                out[f"pages.{p}.{r['page']}.complete_ms"] = (r["warm_complete"], 1000 if p == "generated" else None)
            if "change" in res:
                out[f"pages.{p}.after_change_ms"] = (res["change"]["complete"], res["change"]["target"])
                out[f"pages.{p}.bare_import_ms"] = (res["change"]["bare"], None)
        elif name == "api":
            for r in res["rows"]:
                out[f"api.{p}.{r['endpoint']}.p95_ms"] = (r["p95"], 100)
        elif name == "load":
            out[f"load.{p}.p95_ms"] = (res["p95"], 300)
            out[f"load.{p}.p99_ms"] = (res["p99"], None)
            out[f"load.{p}.errors"] = (res["errors"], 0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated: modelmap,alembic,databrowser,pages,api,load,search,import")
    parser.add_argument("--quick", action="store_true", help="fewer runs everywhere (for trying, not for RESULTS.md)")
    parser.add_argument("--tolerance", type=float, default=1.3, help="ratio past which a figure is called slower")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) - {""} or {*REGRESSIONS, "pages", "api", "load", "search", "import"}
    baseline = recorded()
    now: dict[str, float] = {}
    targets: dict[str, float | None] = {}
    failures: list[str] = []
    q = args.quick
    for name, (script, prefix) in REGRESSIONS.items():
        if name not in chosen:
            continue
        extra = ["--runs", "3"] if q and name == "modelmap" else ["--small"] if q and name == "databrowser" else []
        status, output = run_script([str(HERE / script[0]), *script[1:], *extra],
                                    {"BENCH_ROUNDS": "1"} if q and name == "alembic" else None)
        got = parse(output, prefix)
        now.update(got)
        if not got:
            failures.append(f"{name}: no figures in its output (exit {status})")
    tmp = Path(tempfile.mkdtemp(prefix="pgadmin-bench-"))
    new: dict[str, list[str]] = {
        "pages": ["pages_bench.py", "--project", "both", *(["--runs", "2"] if q else [])],
        "api": ["api_bench.py", "--project", "both", *(["--requests", "5"] if q else [])],
        "load": ["load_bench.py", "--project", "both", *(["--duration", "15"] if q else [])],
        "import": ["import_bench.py", *(["--rows", "100000"] if q else [])],
    }
    for name, cmd in new.items():
        if name not in chosen:
            continue
        out = tmp / f"{name}.json"
        status, _ = run_script([str(HERE / cmd[0]), *cmd[1:], "--json", str(out)])
        if not out.exists():
            failures.append(f"{name}: no figures (exit {status})")
            continue
        for key, (value, target) in target_figures(name, json.loads(out.read_text())).items():
            now[key], targets[key] = value, target
    if "search" in chosen and (HERE / "search_bench.py").exists():
        status, _ = run_script([str(HERE / "search_bench.py")])
        if status:
            failures.append(f"search_bench.py: exit {status} (its own output above says which target)")
    summary(now, baseline, targets, args.tolerance)
    for failure in failures:
        print(f"! {failure}")
    return 1 if failures else 0


def fmt(value: float) -> str:
    """Plain decimal notation (never 1.2e+04), 4 significant digits or the whole number."""
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.6f}"


def summary(now: dict[str, float], baseline: dict[str, float], targets: dict[str, float | None], tolerance: float) -> None:
    print("\n### Summary: each figure now, in RESULTS.md, ratio now / recorded\n")
    print("| figure | now | recorded | ratio | target | note |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for key in sorted(now):
        value, old, target = now[key], baseline.get(key), targets.get(key)
        ratio = f"{value / old:.2f}" if old else "–"
        notes = []
        if old and value / old > tolerance and not key.endswith(("_ratio", "errors")):
            notes.append(f"slower (> {tolerance}×)")
        if key.endswith("_ratio") and value > 1.05:
            notes.append("over NFR-2's 1.05")
        if target is not None:
            notes.append("target met" if value <= target else "target MISSED")
        shown_target = "–" if target is None else f"≤ {target:.0f}"
        described = PATTERNS[key][3] if key in PATTERNS else key.replace(".", " ")
        print(f"| {described} `{key}` | {fmt(value)} | {'–' if old is None else fmt(old)} | {ratio} | {shown_target} "
              f"| {', '.join(notes)} |")
    groups: dict[str, list[str]] = {}
    for k in sorted(now):
        parts = k.split(".")
        groups.setdefault(".".join(parts[:2] if len(parts) > 2 else parts[:1]), []).append(f"{k}={fmt(now[k])}")
    lines = "\n".join(" ".join(items) for items in groups.values())
    print(f"\nFor RESULTS.md (machine-readable, invisible when rendered):\n<!-- bench-figures:\n{lines}\n-->")


if __name__ == "__main__":
    sys.exit(main())
