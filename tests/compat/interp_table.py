"""The interpreter matrix's table (``make compat-interp``): printed, and written into docs/compat.md.

Reads the outcomes tests/compat/test_interpreters.py recorded (``interp-results.json`` in the compat
cache), one row per cell and project, one column per story; the section between the
``<!-- interp-table -->`` markers of the markdown file is replaced. Exits 1 when a story failed or a
cell did not run, so that the make target fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

from tests.compat.interp_venvs import CELLS, PYTHON, TOO_OLD
from tests.compat.test_interpreters import PROJECTS, RESULTS, STORIES

BEGIN, END = "<!-- interp-table -->", "<!-- /interp-table -->"


def table(data: dict) -> tuple[str, bool]:
    """The markdown table and whether every cell passed every story."""
    rows = ["| SQLAlchemy | Alembic | project | " + " | ".join(STORIES) + " | seconds |",
            "| --- | --- | --- | " + " | ".join("---" for _ in STORIES) + " | --- |"]
    ok = True
    notes: list[str] = []
    for cell in CELLS:
        for project in PROJECTS:
            if project == "typed20" and not cell.typed:
                continue
            got = data.get(cell.key, {}).get(project)
            if got is None:
                ok = False
                rows.append(f"| {cell.sqlalchemy} | {cell.alembic} | {project} | " + " | ".join("not run" for _ in STORIES)
                            + " | |")
                continue
            marks = []
            for story in STORIES:
                outcome = got["stories"].get(story, "not run")
                if outcome == "ok":
                    marks.append("✓")
                else:
                    ok = False
                    notes.append(f"- {cell.sqlalchemy} / {cell.alembic} / {project} / {story}: `{outcome[:300]}`")
                    marks.append(f"✗ ({len(notes)})")
            total = sum(got.get("seconds", {}).values())
            rows.append(f"| {cell.sqlalchemy} | {cell.alembic} | {project} | " + " | ".join(marks) + f" | {total:.0f} |")
    refusal = data.get(TOO_OLD.key, {}).get("refusal")
    refused = bool(refusal) and refusal["stories"].get("refused") == "ok"
    ok = ok and refused
    rows.append(f"| {TOO_OLD.sqlalchemy} | {TOO_OLD.alembic} | (any) | "
                + (f"refused: “{refusal['message']}”" if refused else "✗ not refused clearly" if refusal else "not run")
                + " |" * len(STORIES) + " |")
    return "\n".join(rows + ([""] + notes if notes else [])), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown-out", type=Path, help="write the table between the markers of this file")
    args = parser.parse_args()
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    text, ok = table(data)
    cells_python = subprocess.run([PYTHON, "-c", "import platform; print(platform.python_version())"],
                                  capture_output=True, text=True, check=False).stdout.strip() or PYTHON
    header = (f"Measured {datetime.date.today().isoformat()}: the tool on Python {platform.python_version()}, every cell "
              f"on Python {cells_python}, PostgreSQL 15 ({'all passed' if ok else 'FAILURES below'}); seconds: the six "
              "stories of the row, wall clock, including the child processes' start.")
    print(text)
    print(header)
    if args.markdown_out:
        doc = args.markdown_out.read_text()
        if BEGIN not in doc or END not in doc:
            print(f"{args.markdown_out} has no {BEGIN} … {END} section", file=sys.stderr)
            return 1
        before, rest = doc.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        args.markdown_out.write_text(f"{before}{BEGIN}\n{header}\n\n{text}\n{END}{after}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
