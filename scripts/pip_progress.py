"""`pip install` with one short line per step, for `make demo`'s first run (pip -q prints nothing for a
minute; plain pip prints several lines per package). Usage: ``python scripts/pip_progress.py -r requirements.txt``.

Shown: each package as it is collected (``[ 7] django 5.2.19 · 12 s``), the count and names of what is
then installed, and pip's errors in full. pip's exit status is this script's.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator

_COLLECTING = re.compile(r"^Collecting ([A-Za-z0-9_.\-\[\],]+?)(?:[=<>!~]=?\S*)?(?: \(from .*\))?$")
_VERSIONED = re.compile(r"^\s*(?:Downloading|Using cached) (\S+?)-(\d[^-]*)-.*\.whl")
# a wheel from a local folder or find-links (pip says "Processing", not "Collecting")
_PROCESSING = re.compile(r"^Processing (?:\S*/)?([A-Za-z0-9_.]+)-(\d[^-]*)-\S*\.whl")


def condense(lines: Iterable[str], clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """pip's output lines → progress lines (numbered packages, then the install step)."""
    started = clock()
    collected = 0
    pending: str | None = None  # "Collecting X" waits for its version from the next line

    def since() -> str:
        return f"{clock() - started:.0f} s"

    for raw in lines:
        line = raw.rstrip("\n")
        if match := _COLLECTING.match(line):
            if pending:
                yield pending
            collected += 1
            pending = f"  [{collected:2d}] {match[1].lower()} · {since()}"
        elif match := _PROCESSING.match(line):
            if pending:
                yield pending
                pending = None
            collected += 1
            yield f"  [{collected:2d}] {match[1].lower().replace('_', '-')} {match[2]} · {since()}"
        elif (match := _VERSIONED.match(line)) and pending:
            yield pending.replace(" · ", f" {match[2]} · ", 1)
            pending = None
        elif line.startswith("Installing collected packages:"):
            if pending:
                yield pending
                pending = None
            names = [n.strip() for n in line.split(":", 1)[1].split(",") if n.strip()]
            yield f"  installing {len(names)} packages ({', '.join(names[:6])}{', …' if len(names) > 6 else ''}) · {since()}"
        elif line.startswith("Successfully installed"):
            yield f"  done: {len(line.split()) - 2} packages installed in {since()}"
        elif line.startswith(("ERROR", "error:")) or line.lstrip().startswith(("×", "╰─>", "│")):
            if pending:
                yield pending
                pending = None
            yield line
    if pending:
        yield pending


def main(argv: list[str]) -> int:
    cmd = [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    kept: list[str] = []
    for shown in condense(_counting(proc.stdout, kept)):
        print(shown, flush=True)
    code = proc.wait()
    already = sum(1 for line in kept if line.startswith("Requirement already satisfied"))
    if already and code == 0:
        print(f"  {already} requirements were already installed", flush=True)
    return code


def _counting(lines: Iterable[str], kept: list[str]) -> Iterator[str]:
    for line in lines:
        kept.append(line)
        yield line


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
