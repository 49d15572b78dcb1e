"""Pinned real projects of the compatibility tier, each installed into its own cached venv.

A venv lives in ``$PGADMIN_COMPAT_CACHE`` (default ``~/.cache/pgadmin-compat``) under
``<name>-<version>`` and is reused while its stamp file names the same pins, so only the first
run pays for the downloads. Run ``python -m tests.compat.venvs [name…]`` to build them ahead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("PGADMIN_COMPAT_CACHE") or Path.home() / ".cache" / "pgadmin-compat")
# Drivers for the URL the tool hands env.py (postgresql+psycopg://) and for projects that
# build their own URL with the default driver (postgresql:// → psycopg2).
DRIVERS = ("psycopg[binary]==3.3.9", "psycopg2-binary==2.9.11")


@dataclass(frozen=True)
class Pins:
    """What one venv holds."""

    name: str
    version: str
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def requirements(self) -> list[str]:
        return [f"{self.name}=={self.version}", *self.extra, *DRIVERS]

    @property
    def folder(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"

    @property
    def python(self) -> Path:
        return self.folder / "bin" / "python"


PINS: dict[str, Pins] = {
    "optuna": Pins("optuna", "4.1.0"),
    # mlflow-skinny leaves out what its server (and so the auth database's models) imports.
    "mlflow": Pins("mlflow-skinny", "3.17.2", ("SQLAlchemy==2.0.58", "alembic==1.20.1", "Flask==3.1.3",
                                               "Flask-WTF==1.3.0", "aiohttp==3.14.5", "numpy==2.4.6", "pandas==3.1.1")),
    "dagster": Pins("dagster", "1.13.29"),
    "airflow": Pins("apache-airflow", "2.10.5"),
}


def ensure(pins: Pins) -> Path:
    """Install ``pins`` into its cached venv once; return the venv's python."""
    stamp = pins.folder / ".pgadmin-compat"
    wanted = "\n".join(pins.requirements)
    if stamp.exists() and stamp.read_text() == wanted and pins.python.exists():
        return pins.python
    pins.folder.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(pins.folder)], check=True)
    subprocess.run([str(pins.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pins.requirements],
                   check=True)
    stamp.write_text(wanted)
    return pins.python


def site_packages(python: Path) -> Path:
    """The venv's site-packages folder (where the wheels put their Alembic environments)."""
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


if __name__ == "__main__":
    for key in sys.argv[1:] or list(PINS):
        print(key, ensure(PINS[key]), flush=True)
