"""The least-privilege reader role: which role each mode uses, and creating one on request.

Read mode of the SQL console and viewers run as a *reader role* when one is available:
``PGADMIN_READER_DATABASE_URL``, or the role ``manage.py create_reader_role`` (or the embedded
demo) created, whose credentials are stored in the data dir (``reader-role.json``, 0600) and used
while the target is the same server and database. This module also inspects the roles: a target
role that is a superuser or holds one of ``DANGEROUS_ROLES`` is reported in red at startup and on
the dashboard, and with such a role and no reader role only admins get the console. The stored
credentials are read and written by ``core.reader_store``, which ``core.target`` reads without
importing this module (no import cycle).
"""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from psycopg import sql
from sqlalchemy.engine import URL

from core import catalog, reader_store, target
from core.exceptions import AppError, Forbidden, TargetNotConfigured

DANGEROUS_ROLES = ("pg_signal_backend", "pg_read_server_files", "pg_execute_server_program",
                   "pg_write_server_files")
DEFAULT_NAME = "pgadmin_reader"
_CACHE_SECONDS = 60.0

_cache: dict[str, tuple[Any, ...]] = {}


# --- stored credentials (core.reader_store) ---------------------------------------------------

store_path = reader_store.store_path


def store(for_target: URL, reader: URL, data_dir: Path | None = None) -> Path:
    """Write the reader's URL to the data dir, readable by this OS user only (0600 in 0700)."""
    path = reader_store.write(for_target, reader, data_dir)
    target.dispose()  # engines are rebuilt with the reader role
    for slot in [k for k in _cache if k.startswith("summary")]:  # every target's role facts
        _cache.pop(slot, None)
    return path


# --- creating the role -----------------------------------------------------------------------

def creation_sql(name: str, database: str, password: str, *, version_num: int, exists: bool,
                 schemas: list[str]) -> list[sql.Composed]:
    """The statements that make ``name`` a read-only login role of ``database``."""
    role, db = sql.Identifier(name), sql.Identifier(database)
    statements = [
        sql.SQL("{} ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                "CONNECTION LIMIT 20 PASSWORD {}").format(sql.SQL("ALTER" if exists else "CREATE"), role,
                                                          sql.Literal(password)),
        # A second line of defence: even a statement the console let through cannot write.
        sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role),
    ]
    if version_num >= 140000:
        statements.append(sql.SQL("GRANT pg_read_all_data TO {}").format(role))
    else:
        for schema in schemas:
            s = sql.Identifier(schema)
            statements += [
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, role),
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, role),
                sql.SQL("GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, role),
                sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(s, role),
                sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON SEQUENCES TO {}").format(s, role),
            ]
    return statements


def create(admin_url: URL | str, name: str = DEFAULT_NAME, *, save: bool = True,
           echo: Any = None) -> URL:
    """Create (or reset the password of) the reader role through ``admin_url`` and return its URL.

    ``echo`` receives every statement as text, its password masked. Raises AppError with a hint
    when the connecting role may not create roles.
    """
    url = target.normalise_url(admin_url) if isinstance(admin_url, str) else admin_url
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    password = secrets.token_urlsafe(24)
    with psycopg.connect(libpq, autocommit=True) as conn:
        version_num = int(conn.execute("SELECT current_setting('server_version_num')").fetchone()[0])  # type: ignore[index]
        database = str(conn.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None
        schemas = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%' ORDER BY 1")]
        statements = creation_sql(name, database, password, version_num=version_num, exists=exists, schemas=schemas)
        with conn.transaction():
            for statement in statements:
                if echo is not None:
                    echo(statement.as_string(conn).replace(sql.Literal(password).as_string(conn), "'***'") + ";")
                try:
                    conn.execute(statement)
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise AppError(
                        f"The target role may not create the reader role: {exc.diag.message_primary}.",
                        code="forbidden", status=403,
                        hint="Run the printed SQL as a superuser (or a role with CREATEROLE and ADMIN on "
                             "pg_read_all_data), then set PGADMIN_READER_DATABASE_URL.") from exc
    reader = url.set(username=name, password=password)
    if save:
        store(url, reader)
    return reader


# --- what each role may do -------------------------------------------------------------------

@dataclass
class RoleInfo:
    user: str
    superuser: bool
    dangerous: list[str] = field(default_factory=list)  # DANGEROUS_ROLES it holds

    @property
    def risky(self) -> bool:
        return self.superuser or bool(self.dangerous)

    def describe(self) -> str:
        if self.superuser:
            return f"{self.user} (SUPERUSER)"
        return self.user + (f" (holds {', '.join(self.dangerous)})" if self.dangerous else "")


def _inspect(reader: bool, on: target.Target) -> RoleInfo:
    with target.connect(reader=reader, target=on) as conn:
        role = catalog.current_role(conn, DANGEROUS_ROLES)
    return RoleInfo(user=role.user, superuser=role.superuser, dangerous=[] if role.superuser else list(role.holds))


@dataclass
class Summary:
    target: RoleInfo | None
    reader: RoleInfo | None
    reader_source: str  # PGADMIN_READER_DATABASE_URL | data dir | none
    error: str = ""
    reader_error: str = ""  # the reader role is configured but does not answer

    @property
    def read_role(self) -> RoleInfo | None:
        """The role the console's read mode and viewers use."""
        return self.reader or self.target

    @property
    def viewers_get_console(self) -> bool:
        if self.reader_error:
            return True  # read mode goes to the reader role (and fails with 503 until it answers)
        role = self.read_role
        return role is not None and not role.risky

    def lines(self) -> list[tuple[str, str]]:
        """(level, text) lines: ok | warning | error."""
        out: list[tuple[str, str]] = []
        if self.target is None:  # the database check already says why it cannot be reached
            return []
        level = "error" if self.target.risky else "ok"
        out.append((level, f"Write mode, migrations and editors' writes run as {self.target.describe()}"))
        if self.reader_error:
            out.append(("error", f"The reader role (from {self.reader_source}) cannot connect: {self.reader_error}"))
        elif self.reader is not None:
            level = "error" if self.reader.risky else "ok"
            out.append((level, f"Console read mode and viewers run as the reader role {self.reader.describe()} "
                               f"(from {self.reader_source})"))
        else:
            out.append(("error" if self.target.risky else "warning",
                        f"Console read mode and viewers run as {self.target.describe()}: no reader role"))
        if not self.viewers_get_console:
            out.append(("error", "Viewers and editors get no SQL console until a least-privilege reader role is "
                                 "set: run `python manage.py create_reader_role` or set PGADMIN_READER_DATABASE_URL "
                                 "(docs/security.md)"))
        return out


def _urls_key(on: target.Target | None) -> str:
    """The target's and its reader role's full URLs: the facts are about this pair."""
    if on is None:
        return ""
    try:
        reader = target.reader_url(on)
        return on.url.render_as_string(hide_password=False) + "|" + (
            reader.render_as_string(hide_password=False) if reader else "")
    except Exception:  # noqa: BLE001 - a bad reader URL: the summary says so
        return on.key


def summary(force: bool = False, on: target.Target | None = None) -> Summary:
    """Which role each mode uses on target ``on`` (default the configured one) and how dangerous it
    is (cached for a minute per target and pair of URLs)."""
    on = on or target.current_or_none()
    key = _urls_key(on)
    slot = f"summary:{on.key if on is not None else ''}"
    cached = _cache.get(slot)
    if (cached is not None and not force and cached[2] == key
            and time.monotonic() - cached[0] < _CACHE_SECONDS):
        result: Summary = cached[1]
        return result
    source = "PGADMIN_READER_DATABASE_URL" if getattr(settings, "READER_DATABASE_URL", "") else "data dir"
    try:
        if on is None:
            raise TargetNotConfigured()
        has_reader = target.has_reader(on)
        target_info = _inspect(False, on)
    except Exception as exc:  # noqa: BLE001 - a down database must not break the page or the start
        result = Summary(target=None, reader=None, reader_source="none", error=_first_line(exc))
        _cache[slot] = (time.monotonic() - _CACHE_SECONDS + 5, result, key)  # retry soon
        return result
    result = Summary(target=target_info, reader=None, reader_source=source if has_reader else "none")
    if has_reader:
        try:
            result.reader = _inspect(True, on)
        except Exception as exc:  # noqa: BLE001 - reported as a red line, the target still works
            result.reader_error = _first_line(exc)
    _cache[slot] = (time.monotonic(), result, key)
    return result


def _first_line(exc: Exception) -> str:
    text_ = exc.message if isinstance(exc, AppError) else str(exc)
    return text_.strip().splitlines()[0] if text_.strip() else type(exc).__name__


def forget() -> None:
    """Drop the cached role facts (tests, a changed URL)."""
    _cache.clear()
    reader_store.forget()


def require_safe_console(user: Any, on: target.Target | None = None) -> None:
    """Refuse the console on target ``on`` (default the configured one) to non-admins when read mode
    would run as a dangerous role there."""
    from core.capabilities import can

    if can(user, "write_sql"):
        return  # admins are trusted with the target role
    info = summary(on=on)
    if info.target is None or info.viewers_get_console:
        return
    role = info.read_role
    raise Forbidden(
        f"The SQL console is off for viewers and editors: it would run as {role.describe() if role else '?'}, "
        "which can read server files, run programs or end other sessions.",
        hint="An admin can create a least-privilege reader role: `python manage.py create_reader_role`, "
             "or set PGADMIN_READER_DATABASE_URL (see docs/security.md).",
        code="console_unsafe_role")


def startup_report() -> list[str]:
    """The startup report's lines about roles (red when a role is dangerous)."""
    color = sys.stdout.isatty()
    marks = {"ok": "✓", "warning": "!", "error": "✗"}
    out = []
    for level, line in summary(force=True).lines():
        text_line = f"{marks[level]} {line}"
        if color and level == "error":
            text_line = f"\033[31m{text_line}\033[0m"
        out.append(text_line)
    return out
