"""The interpreter matrix: the child code in venvs of the versions users run (issue 15, item 2).

One cached venv per cell (SQLAlchemy × Alembic, the machine's Python), built with ``uv venv`` and
``uv pip install`` from PyPI into ``$PGADMIN_COMPAT_CACHE`` (default ``~/.cache/pgadmin-compat``) as
``interp-py<python>-sa<sqlalchemy>-al<alembic>``, reused while its stamp names the same pins.
``python -m tests.compat.interp_venvs [cell…]`` builds them ahead.

Combinations Alembic itself does not support are not cells: Alembic 1.7 predates SQLAlchemy 2.0, and
Alembic 1.20 requires SQLAlchemy 2.0 or later. Alembic 1.6 (``too_old``) must be refused with a clear
message, so it has a venv too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.compat.venvs import CACHE

PYTHON = os.environ.get("PGADMIN_INTERP_PYTHON") or shutil.which("python3.11") or "/usr/bin/python3"
# psycopg2 for SQLAlchemy 1.4 (its PostgreSQL dialects predate psycopg 3), psycopg 3 for 2.x.
DRIVERS = ("psycopg2-binary==2.9.11", "psycopg[binary]==3.3.9")
SA14, SA20, SA21 = "1.4.54", "2.0.58", "2.1.9"  # the latest of each series on 2026-11-26
LATEST_ALEMBIC = "1.20.1"


@dataclass(frozen=True)
class Cell:
    """One venv of the matrix."""

    sqlalchemy: str
    alembic: str

    @property
    def key(self) -> str:
        return f"sa{self.sqlalchemy}-al{self.alembic}"

    @property
    def requirements(self) -> list[str]:
        return [f"SQLAlchemy=={self.sqlalchemy}", f"alembic=={self.alembic}", *DRIVERS]

    @property
    def folder(self) -> Path:
        version = subprocess.run([PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        return CACHE / f"interp-py{version}-{self.key}"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"

    @property
    def typed(self) -> bool:
        """Mapped/mapped_column exist from SQLAlchemy 2.0: the 2.0-typed project runs on these cells only."""
        return not self.sqlalchemy.startswith("1.")


CELLS: list[Cell] = [
    Cell(SA14, "1.7.7"), Cell(SA14, "1.9.4"), Cell(SA14, "1.13.3"),
    Cell(SA20, "1.9.4"), Cell(SA20, "1.13.3"), Cell(SA20, LATEST_ALEMBIC),
    Cell(SA21, "1.13.3"), Cell(SA21, LATEST_ALEMBIC),
]
SMOKE = CELLS[0]  # the oldest: `make test` runs it so the matrix cannot rot
TOO_OLD = Cell(SA14, "1.6.5")


def uv() -> str:
    """uv from the tool's venv (requirements.txt pins it), else from PATH."""
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else (shutil.which("uv") or "uv")


def ensure(cell: Cell) -> Path:
    """Build ``cell``'s venv once; return its python."""
    stamp = cell.folder / ".pgadmin-compat"
    wanted = "\n".join(cell.requirements)
    if stamp.exists() and stamp.read_text() == wanted and cell.python.exists():
        return cell.python
    cell.folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([uv(), "venv", "-q", "--clear", "--python", PYTHON, str(cell.folder)], check=True)
    subprocess.run([uv(), "pip", "install", "-q", "--python", str(cell.python), *cell.requirements], check=True)
    stamp.write_text(wanted)
    return cell.python


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for cell in [*CELLS, TOO_OLD]:
        if not wanted or cell.key in wanted:
            print(cell.key, ensure(cell), flush=True)
