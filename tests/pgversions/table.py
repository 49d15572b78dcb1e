"""Print the PostgreSQL version × story table from a JUnit XML report of tests/pgversions.

``python -m tests.pgversions.table report.xml [--markdown-out docs/compat-postgres.md]``

Cells: ``pass``, ``FAIL``, ``skip`` (the server was unavailable: the reason is listed below the
table). With ``--markdown-out`` the table replaces the block between the two marker comments of
that file. Exits 1 when any cell failed, so ``make compat-pg`` fails too.
"""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - our own pytest report, not untrusted input
from pathlib import Path

from tests.pgversions.servers import SOURCES

BEGIN, END = "<!-- pgversions-table:begin -->", "<!-- pgversions-table:end -->"


def read(report: Path) -> tuple[dict[str, dict[int, str]], dict[int, str]]:
    """{story: {major: outcome}} and {major: why skipped}."""
    cells: dict[str, dict[int, str]] = {}
    reasons: dict[int, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314
        match = re.match(r"(test_\w+)\[pg(\d+)\]$", case.get("name", ""))
        if not match:
            continue
        story, major = match.group(1).removeprefix("test_").replace("_", " "), int(match.group(2))
        outcome = "pass"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "FAIL"
        elif (skipped := case.find("skipped")) is not None:
            outcome = "skip"
            reasons.setdefault(major, (skipped.get("message") or "").strip())
        cells.setdefault(story, {})[major] = outcome
    return cells, reasons


def render(cells: dict[str, dict[int, str]], reasons: dict[int, str]) -> str:
    majors = sorted(SOURCES)
    lines = ["| story | " + " | ".join(f"PG {m}" for m in majors) + " |",
             "|---|" + "---|" * len(majors)]
    for story in sorted(cells):
        lines.append(f"| {story} | " + " | ".join(cells[story].get(m, "–") for m in majors) + " |")
    lines += ["", "| version | server |", "|---|---|"]
    lines += [f"| PG {m} | {SOURCES[m].label} |" for m in majors]
    if reasons:
        lines += ["", "Skipped:"] + [f"- PG {m}: {why}" for m, why in sorted(reasons.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--markdown-out", type=Path)
    args = parser.parse_args(argv)
    cells, reasons = read(args.report)
    if not cells:
        print(f"no pgversions results in {args.report}", file=sys.stderr)
        return 1
    table = render(cells, reasons)
    print(table)
    if args.markdown_out:
        text = args.markdown_out.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + BEGIN + "\n" + table + "\n" + END + rest.split(END, 1)[1]
            args.markdown_out.write_text(text)
    return 1 if any("FAIL" in row.values() for row in cells.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
