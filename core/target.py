"""The one owner of the connection to the **target** database.

Nothing else in the tool calls ``create_engine`` for the target: this module normalises the
URL (any SQLAlchemy PostgreSQL driver name is accepted, the tool itself always uses psycopg 3),
masks its password wherever it is shown, and builds small pooled engines — one per purpose
(pages, exports, console) and per role (the target role, and the least-privilege reader role when
one is configured) — whose connections carry ``statement_timeout``, ``application_name``, a
connect timeout and TCP keepalives; every statement also has a client-side deadline. Helpers give
read-only transactions and map driver and pool errors to the vocabulary of ``core.exceptions``
(a dead or saturated database is a 503 with a hint, never a 500).

A target is a ``Target`` value (name, masked URL, identity): ``current()`` is the configured one,
``for_request(request)`` the one a request works on (today always ``current()``). ``connect`` and
``get_engine`` take ``target=`` (None: ``current()``); engines are cached per (target key, role,
purpose), so two targets never share a pool. Nothing here assumes there is only one target.
"""

from __future__ import annotations

import heapq
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core import reader_store
from core.exceptions import QueryTimeout, TargetBusy, TargetNotConfigured, TargetUnavailable
from core.logging import register_secret, scrub
from core.request_context import current_request

APPLICATION_NAME = "pgadmin-tool"
_ACCEPTED_DRIVERS = {"", "psycopg", "psycopg2", "asyncpg", "pg8000", "psycopg2cffi", "psycopg_async"}

# Separate pools per purpose, so that one kind of work can never starve another: pages (the data
# browser, dashboards, migrations UI), exports (long streaming downloads; the data browser limits
# them per user and calls ``connect(purpose="export")``) and the SQL console (its connections are
# closed after each run; held results are capped per user and in all). A full pool answers 503.
POOLS: dict[str, dict[str, int]] = {
    "pages": {"pool_size": 5, "max_overflow": 10, "pool_timeout": 10},
    "export": {"pool_size": 2, "max_overflow": 2, "pool_timeout": 5},
    "console": {"pool_size": 2, "max_overflow": 6, "pool_timeout": 5},
}
# How long after statement_timeout a request may still wait for the server before the tool
# gives up on the socket itself (a server that went silent without a RST never answers).
DEADLINE_MARGIN_S = 10.0
# Idle-in-transaction limit of export connections: a download that makes no progress for this
# long loses its snapshot instead of holding a pooled connection forever.
EXPORT_IDLE_MS = 60_000

_lock = threading.Lock()
# (target key, role, purpose) -> (full URL, engine): rebuilt when that target's URL changes
_engines: dict[tuple[str, str, str], tuple[str, Engine]] = {}
_override_url: str | None = None
_override_reader: str | None = None


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


def identity_of(url: URL) -> str:
    """``host:port/db as user``: which database and role a URL reaches (no password, no options)."""
    return f"{describe(url)} as {url.username or '(default user)'}"


@dataclass(frozen=True)
class Target:
    """One target database: its name, its URL (shown masked only) and its identity.

    ``key`` (the identity, ``host:port/db as user``) keys engines and caches; ``name`` is what rows
    of the internal database store (``target_name``) and what the pages show. Two values are equal
    when name and identity are; the password and the reader role are not part of the identity.
    """

    name: str
    identity: str
    url: URL = field(repr=False, compare=False)
    reader_raw: str = field(default="", repr=False, compare=False)  # its reader role's URL, if given

    @classmethod
    def from_url(cls, raw: str, *, name: str = "", reader_url: str = "") -> Target:
        """A target from a URL of any PostgreSQL driver flavour; ``name`` defaults to the database's.
        Raises ``TargetNotConfigured`` (503 with a hint) when the URL is not PostgreSQL's."""
        try:
            url = normalise_url(raw)
        except ImproperlyConfigured as exc:
            message, _, hint = str(exc).partition(" Hint: ")
            raise TargetNotConfigured(message, hint=hint or None) from None
        register_secret(url.password if isinstance(url.password, str) else None)
        return cls(name=(name or url.database or describe(url))[:100], identity=identity_of(url), url=url,
                   reader_raw=reader_url or "")

    @property
    def key(self) -> str:
        """The cache and pool key of this target (stable, holds no secret)."""
        return self.identity

    @property
    def cache_part(self) -> str:
        """The part of a cache key (``core.cache``) that says which target an answer is about: its
        key, plus a digest of its full URL so that other credentials or options compute anew."""
        from core.cache import digest

        return f"{self.key}#{digest(self.url.render_as_string(hide_password=False), self.reader_raw)}"

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def describe(self) -> str:
        return describe(self.url)

    def reader_url(self) -> URL | None:
        """This target's least-privilege reader role: the URL given with it, else the one
        ``manage.py create_reader_role`` stored for this server and database; None when none."""
        raw = self.reader_raw
        if not raw:
            raw = reader_store.stored_url(self.url) or ""  # the stored credentials (data dir, 0600)
        if not raw:
            return None
        try:
            url = normalise_url(raw)
        except ImproperlyConfigured as exc:
            message, _, hint = str(exc).partition(" Hint: ")
            raise TargetNotConfigured(f"The reader role's URL: {message}", hint=hint or None) from None
        register_secret(url.password if isinstance(url.password, str) else None)
        return url

    def engine(self, purpose: str = "pages", *, reader: bool = False) -> Engine:
        return get_engine(purpose, reader=reader, target=self)

    def connect(self, read_only: bool = True, *, purpose: str = "pages",
                reader: bool | None = None) -> AbstractContextManager[Connection]:
        return connect(read_only, purpose=purpose, reader=reader, target=self)


_current_memo: dict[tuple[str, str, str], Target] = {}


def set_target_url(url: str | None, reader_url: str | None = None) -> None:
    """Point the configured target at another URL (used by `serve` for the embedded server, and
    tests); ``reader_url`` is that target's least-privilege reader role, when one exists."""
    global _override_url, _override_reader
    with _lock:
        _override_url = url
        _override_reader = reader_url
        _current_memo.clear()
    dispose()


def current() -> Target:
    """The configured target (DATABASE_URL, or the one ``set_target_url`` set); raises
    ``TargetNotConfigured`` (a 503 with a hint) when none is known or it is not PostgreSQL's."""
    raw = _override_url or settings.TARGET_DATABASE_URL
    if not raw:
        raise TargetNotConfigured()
    reader = _override_reader or getattr(settings, "READER_DATABASE_URL", "") or ""
    name = getattr(settings, "TARGET_NAME", "") or ""
    memo_key = (raw, reader, name)
    found = _current_memo.get(memo_key)
    if found is None:
        found = Target.from_url(raw, name=name, reader_url=reader)
        with _lock:
            _current_memo.clear()  # one configured target: the memo never grows
            _current_memo[memo_key] = found
    return found


def current_or_none() -> Target | None:
    """``current()``, or None when no (valid) target is configured."""
    try:
        return current()
    except TargetUnavailable:
        return None


def for_request(request: Any) -> Target:
    """The target a request works on, resolved once per request. Today the configured one;
    the place where a request will choose among several targets."""
    found = getattr(request, "_pgadmin_target", None) if request is not None else None
    if isinstance(found, Target):
        return found
    resolved = current()
    if request is not None:
        try:
            request._pgadmin_target = resolved
        except AttributeError:  # a request object that takes no attributes: resolve again next time
            pass
    return resolved


def for_request_or_none(request: Any) -> Target | None:
    """``for_request``, or None when no (valid) target is configured (lists that still show rows)."""
    try:
        return for_request(request)
    except TargetUnavailable:
        return None


def by_name(name: str) -> Target:
    """The target a stored row names (a run, a running query); ``current()`` for a row written
    before rows carried a target (empty name). Raises ``TargetNotConfigured`` when that target is
    not configured any more."""
    found = current()
    if name and name != found.name:
        raise TargetNotConfigured(f"The target {name!r} is not configured any more (now: {found.name!r}).",
                                  hint="Configure it again (DATABASE_URL, PGADMIN_TARGET_NAME) to act on it.")
    return found


def target_url() -> URL:
    """The normalised URL of the configured target (``current().url``)."""
    return current().url


def has_target() -> bool:
    return bool(_override_url or settings.TARGET_DATABASE_URL)


def reader_url(target: Target | None = None) -> URL | None:
    """The least-privilege reader role's URL of ``target`` (default the configured one):
    PGADMIN_READER_DATABASE_URL, the one the embedded server made, or the one
    ``manage.py create_reader_role`` stored in the data dir (used only while the target is the
    same server and database). None when there is no reader role."""
    return (target or current()).reader_url()


def has_reader(target: Target | None = None) -> bool:
    try:
        return reader_url(target) is not None
    except TargetUnavailable:  # a bad reader URL, or no target at all
        return False


def _connect_args(purpose: str) -> dict[str, object]:
    options = f"-c statement_timeout={settings.STATEMENT_TIMEOUT_MS}"
    if purpose == "export":
        options += f" -c idle_in_transaction_session_timeout={EXPORT_IDLE_MS}"
    elif purpose == "console":
        hold = int(getattr(settings, "CONSOLE_HOLD_MAX_MS", 300_000))
        options += f" -c idle_in_transaction_session_timeout={hold + 60_000}"
        options += f" -c lock_timeout={int(getattr(settings, 'CONSOLE_LOCK_TIMEOUT_MS', 2000))}"
    return {
        "application_name": APPLICATION_NAME if purpose == "pages" else f"{APPLICATION_NAME}-{purpose}",
        "connect_timeout": settings.CONNECT_TIMEOUT_S,
        "options": options,
        # A peer that vanished (cable cut, VM frozen) is noticed within ~25 s even while idle.
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    }


def deadline_seconds() -> float:
    """No statement of the tool may wait longer than this for the server (timeout + margin)."""
    return settings.STATEMENT_TIMEOUT_MS / 1000 + DEADLINE_MARGIN_S


def get_engine(purpose: str = "pages", *, reader: bool = False, target: Target | None = None) -> Engine:
    """The pooled engine of ``target`` (default ``current()``) for ``purpose`` (pages, export,
    console), built on first use and rebuilt when that target's URL changes. ``reader=True`` gives
    the reader role's engine when one is configured (else the target's). Engines are kept per
    (target key, role, purpose): two targets never share a pool."""
    if purpose not in POOLS:
        raise ValueError(f"unknown pool purpose {purpose!r}")
    target = target or current()
    url = target.reader_url() if reader else None
    role = "reader" if url is not None else "target"
    url = url or target.url
    full = url.render_as_string(hide_password=False)
    slot = (target.key, role, purpose)
    with _lock:
        found = _engines.get(slot)
        if found is not None and found[0] == full:
            return found[1]
        if found is not None:
            found[1].dispose()
        engine = create_engine(
            url,
            pool_recycle=1800,
            connect_args=_connect_args(purpose),
            **POOLS[purpose],
        )
        _install_deadline(engine)
        _engines[slot] = (full, engine)
        return engine


def dispose() -> None:
    """Close every pooled connection of every engine (tests, URL change)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for _, engine in engines:
        engine.dispose()


# --- the client-side deadline ----------------------------------------------------------------
# statement_timeout is enforced by the server; a server that stopped answering (network cut, no
# RST, frozen host) cannot enforce anything, and keepalives do not help when a middlebox still
# ACKs. So every statement also gets a client-side deadline: when it passes, the socket is shut
# down under libpq's feet, the blocked read fails at once and the request answers 503.

class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._active: dict[int, tuple[int, dict[str, Any]]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    def arm(self, fd: int, seconds: float, flags: dict[str, Any]) -> int:
        with self._cond:
            self._next += 1
            token = self._next
            self._active[token] = (fd, flags)
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="target-deadline", daemon=True)
                self._thread.start()
            self._cond.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._active.pop(token, None)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._active:
                    heapq.heappop(self._heap)
                wait = self._heap[0][0] - time.monotonic() if self._heap else 60.0
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, token = heapq.heappop(self._heap)
                fd, flags = self._active.pop(token)
                flags["deadline_hit"] = True
                try:  # shut the socket down (a dup, so the fd libpq owns is closed by libpq only)
                    sock = socket.socket(fileno=os.dup(fd))
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.close()
                except OSError:
                    pass


_watchdog = _Watchdog()


@contextmanager
def deadline(raw: Any, seconds: float | None = None) -> Iterator[dict[str, Any]]:
    """Guard one statement on a psycopg connection with the client-side deadline; the yielded
    dict has ``deadline_hit`` set when the socket was shut down because the server went silent."""
    flags: dict[str, Any] = {}
    try:
        fd = raw.pgconn.socket
    except Exception:  # noqa: BLE001 - a closed connection has no socket: nothing to guard
        yield flags
        return
    token = _watchdog.arm(fd, deadline_seconds() if seconds is None else seconds, flags)
    try:
        yield flags
    finally:
        _watchdog.disarm(token)


def silent_server_error() -> TargetUnavailable:
    return TargetUnavailable(
        f"The target PostgreSQL stopped answering: no reply within {deadline_seconds():.0f} s "
        "(the statement timeout plus a margin), so the tool gave up on the connection.",
        hint="Check the network and the database host; the page recovers by itself once it answers.")


def _install_deadline(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        # pool_pre_ping, under the deadline: a restarted server must not leave dead connections
        # behind, and a silent one must not hang the checkout (SQLAlchemy then retries anew).
        try:
            with deadline(dbapi_conn, settings.CONNECT_TIMEOUT_S + DEADLINE_MARGIN_S):
                dbapi_conn.execute("SELECT 1")
                if dbapi_conn.info.transaction_status != 0:  # IDLE: psycopg opened a transaction
                    dbapi_conn.rollback()
        except Exception as exc:  # noqa: BLE001 - any failure means: not this connection
            raise DisconnectionError(str(exc)) from exc

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        raw = conn.connection.driver_connection
        try:
            fd = raw.pgconn.socket  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001
            return
        flags: dict[str, Any] = {}
        conn.info["pgadmin_deadline"] = (_watchdog.arm(fd, deadline_seconds(), flags), flags)

    def _disarm(conn: Connection) -> dict[str, Any]:
        armed = conn.info.pop("pgadmin_deadline", None)
        if armed is None:
            return {}
        _watchdog.disarm(armed[0])
        return armed[1]

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        _disarm(conn)

    @event.listens_for(engine, "handle_error")
    def _error(ctx: Any) -> Exception | None:
        if ctx.connection is None:
            return None
        if _disarm(ctx.connection).get("deadline_hit"):
            ctx.is_disconnect = True  # the pool must not hand this connection out again
            return silent_server_error()
        return None


def translate_error(exc: Exception, target: Target | None = None) -> Exception:
    """Map a driver or pool error to the vocabulary (timeouts, busy pool, unreachable server);
    others pass through. ``target`` (default ``current()``) names the server in the message."""
    if isinstance(exc, PoolTimeout):
        return TargetBusy()
    if not isinstance(exc, DBAPIError):
        return exc
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == "57014":
        return QueryTimeout()
    if sqlstate in ("53300", "53400"):  # too many connections (server or role limit)
        return TargetBusy("The target database refuses new connections: its connection limit is reached.",
                          hint="Close idle sessions or raise max_connections / the role's CONNECTION LIMIT.")
    unreachable = not sqlstate or sqlstate.startswith("08") or sqlstate in ("3D000", "28P01", "28000", "57P03",
                                                                           "57P01", "57P02")
    if isinstance(exc, OperationalError | InterfaceError) and unreachable:
        first_line = str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else "connection failed"
        try:
            where = (target or current()).describe()
        except TargetUnavailable:
            where = "the target"
        return TargetUnavailable(
            f"Cannot connect to PostgreSQL at {where}: {first_line}",
        )
    return exc


def _acting_as_viewer() -> bool:
    """True inside a viewer's request: viewers read as the reader role wherever one is configured
    (the trust model), decided here at the source rather than by every caller."""
    from core.capabilities import role_of  # Django's auth models: loaded once the apps are ready

    user = getattr(current_request(), "user", None)
    return user is not None and role_of(user) == "viewer"


@contextmanager
def connect(read_only: bool = True, *, purpose: str = "pages", reader: bool | None = None,
            target: Target | None = None) -> Iterator[Connection]:
    """A connection to ``target`` (default ``current()``) in a transaction; READ ONLY unless asked
    otherwise; errors translated.

    ``purpose="export"`` takes it from the small export pool (long downloads never starve the
    pages); ``reader=True`` connects as the least-privilege reader role when one is configured;
    by default (``None``) a read-only connection made for a viewer's request does.
    A full pool answers ``TargetBusy`` (503), a dead server ``TargetUnavailable`` (503), no
    configured target (or a URL that is not PostgreSQL's) ``TargetNotConfigured`` (503, a
    ``TargetUnavailable``): callers need no translation of their own.
    """
    if reader is None:
        reader = read_only and _acting_as_viewer()
    target = target or current()
    try:
        with get_engine(purpose, reader=reader, target=target).connect() as conn:
            with conn.begin():
                if read_only:
                    conn.execute(text("SET TRANSACTION READ ONLY"))
                yield conn
    except (DBAPIError, PoolTimeout) as exc:
        translated = translate_error(exc, target)
        if translated is exc:
            raise
        raise translated from exc


@dataclass(frozen=True)
class ServerInfo:
    version: str
    version_num: int
    database: str
    user: str


def server_info(target: Target | None = None) -> ServerInfo:
    """Version, database and user of the target (one short read-only query)."""
    with connect(target=target) as conn:
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


