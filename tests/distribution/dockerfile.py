"""Read the Dockerfile's instructions, so that the image's reproduction takes its values from it.

Enough of the Dockerfile grammar for this project's file: line continuations, comments, stages
(``FROM``), ``ENV`` with ``key=value`` pairs, JSON-form ``CMD``, and the other instructions kept as
raw text. tests/distribution/test_image.py reproduces the runtime (last) stage from what this reads.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    """One ``FROM`` … stage: its base image, name and instructions in order."""

    base: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ``ENV`` values (``$VAR`` references left as written)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def cmd(self) -> list[str]:
        (last,) = self.all("CMD")[-1:]
        parsed: list[str] = json.loads(last)
        return parsed

    def user(self) -> str:
        return self.all("USER")[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions with their ``\\`` continuations joined and comment lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current:
            lines.append(current)
        current = ""
    return lines


def stages(path: Path) -> list[Stage]:
    """The Dockerfile's stages in order (the last one is the image)."""
    found: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            found.append(Stage(base=parts[0], name=parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""))
        elif found:
            found[-1].instructions.append((keyword, args.strip()))
    return found
