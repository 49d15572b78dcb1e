"""Create and fill the brokerbot demo database.

Usage (from ``examples/brokerbot``, or with it on ``sys.path``)::

    python -m brokerbot.demo_setup --url postgresql://postgres@localhost/brokerbot
    python -m brokerbot.demo_setup --url ... --big     # 10,000,000 operations
    python -m brokerbot.demo_setup --url ... --reset   # wipe the public schema first

A database without a current Alembic revision is migrated to
``DEMO_START_REVISION`` only, deliberately behind head, so the admin tool
has pending migrations to show.  Sample data is added when ``clients`` is
empty, so running the command again is harmless.

stdout carries exactly one JSON line (the result); logs and progress go to
stderr.  Exit status is 0 on success and 1 on error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.schema import CreateSchema, DropSchema

from brokerbot import seed
from brokerbot.db import DATABASE_URL_ENV, normalize_database_url

# The demo database stops here; the revisions after it stay pending.
DEMO_START_REVISION = "0007_clients_telegram_id"

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALEMBIC_INI = PROJECT_DIR / "alembic.ini"

# Serialises concurrent first runs (e.g. two web workers starting at once).
_ADVISORY_LOCK_KEY = 0x62726B62  # "brkb"


class SetupError(Exception):
    """A failure with a hint the user can act on."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def alembic_config(url: str) -> Config:
    """Alembic ``Config`` for the demo project, pointed at ``url``."""
    cfg = Config(str(ALEMBIC_INI))
    # ConfigParser interpolates '%': escape it (percent-encoded passwords).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))


def current_revisions(conn: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(conn).get_current_heads())


def _unknown_revision(current: Sequence[str], error: Exception) -> SetupError:
    return SetupError(
        f"database revision {', '.join(current)} is unknown to this project: {error}",
        "Point --url at an empty database, or pass --reset to rebuild it.",
    )


def pending_revisions(script: ScriptDirectory, current: Sequence[str]) -> list[str]:
    """Revisions between ``current`` and head, oldest first."""
    lower = tuple(current) or "base"
    try:
        revisions = list(script.iterate_revisions("heads", lower))
    except (CommandError, RevisionError) as error:
        raise _unknown_revision(current, error) from error
    return [revision.revision for revision in reversed(revisions)]


@contextmanager
def _database_url_env(url: str) -> Iterator[None]:
    # env.py prefers $DATABASE_URL over sqlalchemy.url: make both agree for
    # the migration, and give the host process its environment back after.
    previous = os.environ.get(DATABASE_URL_ENV)
    os.environ[DATABASE_URL_ENV] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(DATABASE_URL_ENV, None)
        else:
            os.environ[DATABASE_URL_ENV] = previous


def reset_schema(engine: Engine) -> None:
    """Drop and recreate ``public``; CASCADE takes tables and enum types."""
    with engine.begin() as conn:
        conn.execute(DropSchema("public", cascade=True, if_exists=True))
        conn.execute(CreateSchema("public"))


def _require_demo_schema(script: ScriptDirectory, current: Sequence[str]) -> None:
    """Fail with a hint when the database is older than the demo schema."""
    try:
        reached = {rev.revision for rev in script.iterate_revisions(tuple(current), "base")}
    except (CommandError, RevisionError) as error:
        raise _unknown_revision(current, error) from error
    if DEMO_START_REVISION not in reached:
        raise SetupError(
            f"database is at {', '.join(current)}, older than {DEMO_START_REVISION}",
            f"Run 'alembic upgrade {DEMO_START_REVISION}' first, or pass --reset.",
        )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def setup_demo(url: str, *, big: bool = False, reset: bool = False) -> dict[str, Any]:
    """Migrate (if new) and seed (if empty) the demo database at ``url``."""
    started = time.perf_counter()
    url = normalize_database_url(url)
    engine = create_engine(url)
    script = script_directory()
    result: dict[str, Any] = {"ok": True, "reset": reset, "migrated": False, "seeded": False}
    try:
        with engine.connect() as lock_conn:
            lock_conn.execute(select(func.pg_advisory_lock(_ADVISORY_LOCK_KEY)))
            lock_conn.commit()
            if reset:
                _log("Dropping and recreating the public schema")
                reset_schema(engine)

            with engine.connect() as conn:
                current = current_revisions(conn)
            if not current:
                _log(f"Migrating a fresh database to {DEMO_START_REVISION}")
                with _database_url_env(url):
                    command.upgrade(alembic_config(url), DEMO_START_REVISION)
                result["migrated"] = True
                with engine.connect() as conn:
                    current = current_revisions(conn)

            seed_started = time.perf_counter()
            with engine.begin() as conn:
                if not seed.has_clients(conn):
                    _require_demo_schema(script, current)
                    counts = seed.seed_demo(conn)
                    seed.analyze(conn)
                    result["seeded"] = True
                    _log(f"Seeded {counts.as_dict()}")
            result["seed_s"] = round(time.perf_counter() - seed_started, 2)

            if big:
                big_started = time.perf_counter()

                def progress(done: int, target: int) -> None:
                    elapsed = time.perf_counter() - big_started
                    _log(f"operations: {done:,} / {target:,} ({elapsed:.1f} s)")

                seed.fill_operations(engine, progress=progress)
                with engine.begin() as conn:
                    seed.analyze(conn, [seed.operations])
                result["big_s"] = round(time.perf_counter() - big_started, 2)

            with engine.connect() as conn:
                result.update(
                    revision=", ".join(current),
                    head=", ".join(script.get_heads()),
                    pending=pending_revisions(script, current),
                    clients=seed.count_rows(conn, seed.clients),
                    brokers=seed.count_rows(conn, seed.brokers),
                    operations=seed.count_rows(conn, seed.operations),
                    payment_calendars=seed.count_rows(conn, seed.payment_calendars),
                )
            lock_conn.execute(select(func.pg_advisory_unlock(_ADVISORY_LOCK_KEY)))
            lock_conn.commit()
    finally:
        engine.dispose()
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    return result


def _first_line(error: BaseException) -> str:
    # DBAPI errors arrive wrapped with the whole SQL statement attached.
    original = getattr(error, "orig", None) or error
    text = str(original).strip() or type(original).__name__
    return text.splitlines()[0]


def describe_error(error: BaseException) -> dict[str, Any]:
    """The ``{"ok": false, ...}`` payload for ``error``."""
    if isinstance(error, SetupError):
        return {"ok": False, "error": str(error), "hint": error.hint}
    message = _first_line(error)
    if isinstance(error, sa_exc.ArgumentError):
        hint = "Use a URL like postgresql://user:password@host:5432/dbname."
    elif isinstance(error, sa_exc.OperationalError):
        hint = (
            "Check that PostgreSQL is running, the database named in --url exists "
            "(createdb), and the user and password are right."
        )
    elif isinstance(error, sa_exc.ProgrammingError) and "already exists" in message:
        hint = (
            "The database has tables but no Alembic revision. Use an empty database, or pass --reset to drop its public schema."
        )
    elif isinstance(error, sa_exc.ProgrammingError) and "permission denied" in message:
        hint = "The user in --url needs CREATE rights on the database."
    else:
        hint = "Run again with --reset on a scratch database; see stderr for details."
    return {"ok": False, "error": f"{type(error).__name__}: {message}", "hint": hint}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m brokerbot.demo_setup",
        description=f"Create the brokerbot demo database at {DEMO_START_REVISION} and fill it with sample data.",
    )
    parser.add_argument("--url", required=True, help="database URL (postgresql://...)")
    parser.add_argument(
        "--big",
        action="store_true",
        help=f"fill operations up to {seed.BIG_OPERATIONS:,} rows",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop and recreate the public schema first (destroys its data)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = setup_demo(args.url, big=args.big, reset=args.reset)
    except Exception as error:  # noqa: BLE001 - every failure becomes JSON
        print(json.dumps(describe_error(error)), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
