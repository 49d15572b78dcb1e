"""The one owner of the connection to the **target** database.

Nothing else in the tool calls ``create_engine`` for the target: this module normalises the
URL (any SQLAlchemy PostgreSQL driver name is accepted, the tool itself always uses psycopg 3),
masks its password wherever it is shown, and builds one pooled engine whose connections carry
``statement_timeout``, ``application_name`` and a connect timeout. Helpers give read-only
transactions and map driver errors to the error vocabulary of ``core.exceptions``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from core.exceptions import QueryTimeout, TargetUnavailable
from core.logging import register_secret, scrub

APPLICATION_NAME = "pgadmin-tool"
_ACCEPTED_DRIVERS = {"", "psycopg", "psycopg2", "asyncpg", "pg8000", "psycopg2cffi", "psycopg_async"}

_lock = threading.Lock()
_engine: Engine | None = None
_engine_url: str | None = None
_override_url: str | None = None


def normalise_url(raw: str) -> URL:
    """Parse a PostgreSQL URL of any driver flavour into a ``postgresql+psycopg`` URL."""
    raw = raw.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://"):]
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ImproperlyConfigured(
            "DATABASE_URL is not a valid URL. Hint: postgresql://user:password@host:5432/dbname"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend != "postgresql" or driver not in _ACCEPTED_DRIVERS:
        raise ImproperlyConfigured(
            f"DATABASE_URL uses '{url.drivername}', which is not PostgreSQL. "
            "Hint: postgresql://, postgresql+psycopg://, postgresql+psycopg2:// and postgresql+asyncpg:// are accepted."
        )
    url = url.set(drivername="postgresql+psycopg")
    # asyncpg spells TLS as ?ssl=require; libpq (psycopg) wants sslmode.
    query = dict(url.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
        url = url.set(query=query)
    return url


def mask_url(url: str | URL) -> str:
    """The URL as text with its password replaced by ``***`` (safe to print or log)."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return scrub(str(url))
    return url.render_as_string(hide_password=True)


def describe(url: str | URL) -> str:
    """``host:port/db`` for the startup report (or ``socket dir/db`` for a Unix socket)."""
    if isinstance(url, str):
        url = make_url(url)
    host = url.host
    if not host:
        socket_dir = url.query.get("host")
        host = socket_dir if isinstance(socket_dir, str) else "local socket"
        return f"{host}/{url.database or ''}"
    return f"{host}:{url.port or 5432}/{url.database or ''}"


def set_target_url(url: str | None) -> None:
    """Point the tool at another target (used by `serve` for the embedded server, and tests)."""
    global _override_url
    with _lock:
        _override_url = url
    dispose()


def target_url() -> URL:
    """The normalised target URL; raises ImproperlyConfigured when none is known."""
    raw = _override_url or settings.TARGET_DATABASE_URL
    if not raw:
        raise ImproperlyConfigured(
            "No target database: DATABASE_URL is not set and no embedded server was started. "
            "Hint: set DATABASE_URL=postgresql://user:password@host:5432/db, or start with `python manage.py serve`."
        )
    url = normalise_url(raw)
    register_secret(url.password if isinstance(url.password, str) else None)
    return url


def has_target() -> bool:
    return bool(_override_url or settings.TARGET_DATABASE_URL)


def _connect_args() -> dict[str, object]:
    return {
        "application_name": APPLICATION_NAME,
        "connect_timeout": settings.CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={settings.STATEMENT_TIMEOUT_MS}",
    }


def get_engine() -> Engine:
    """The pooled engine of the target (built on first use, rebuilt when the URL changes)."""
    global _engine, _engine_url
    url = target_url()
    key = url.render_as_string(hide_password=False)
    with _lock:
        if _engine is None or _engine_url != key:
            if _engine is not None:
                _engine.dispose()
            _engine = create_engine(
                url,
                pool_pre_ping=True,  # a restarted server must not leave dead connections behind
                pool_size=5,
                max_overflow=10,
                pool_recycle=1800,
                connect_args=_connect_args(),
            )
            _engine_url = key
        return _engine


def dispose() -> None:
    """Close every pooled connection (tests, URL change)."""
    global _engine, _engine_url
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine, _engine_url = None, None


def translate_error(exc: DBAPIError) -> Exception:
    """Map a driver error to the vocabulary (timeouts, unreachable server); others pass through."""
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == "57014":
        return QueryTimeout()
    unreachable = not sqlstate or sqlstate.startswith("08") or sqlstate in ("3D000", "28P01", "28000", "57P03")
    if isinstance(exc, OperationalError) and unreachable:
        first_line = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else "connection failed"
        return TargetUnavailable(
            f"Cannot connect to PostgreSQL at {describe(target_url())}: {first_line}",
        )
    return exc


@contextmanager
def connect(read_only: bool = True) -> Iterator[Connection]:
    """A connection in a transaction; READ ONLY unless asked otherwise; errors translated."""
    try:
        with get_engine().connect() as conn:
            with conn.begin():
                if read_only:
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                yield conn
    except DBAPIError as exc:
        raise translate_error(exc) from exc


@dataclass(frozen=True)
class ServerInfo:
    version: str
    version_num: int
    database: str
    user: str


def server_info() -> ServerInfo:
    """Version, database and user of the target (one short read-only query)."""
    with connect() as conn:
        row = conn.execute(text(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
            "current_database(), current_user"
        )).one()
    return ServerInfo(version=str(row[0]).split()[0], version_num=int(row[1]), database=row[2], user=row[3])


def socket_dir(url: URL) -> str | None:
    """The Unix-socket directory of a URL like ``postgresql://u@/db?host=/run/pg``."""
    host = url.query.get("host")
    return host if isinstance(host, str) else None


def libpq_env(url: URL) -> dict[str, str]:
    """PG* environment variables for client programs (pg_dump): no password on a command line."""
    env = {"PGDATABASE": url.database or "", "PGUSER": url.username or "",
           "PGAPPNAME": APPLICATION_NAME}
    host = url.host or socket_dir(url)
    if host:
        env["PGHOST"] = host
    if url.port:
        env["PGPORT"] = str(url.port)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    for key, values in parse_qs(urlsplit(url.render_as_string(hide_password=False)).query).items():
        if key == "sslmode" and values:
            env["PGSSLMODE"] = values[0]
    return {k: v for k, v in env.items() if v}


