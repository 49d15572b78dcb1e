"""Fixtures of the SQL-console tests: a small shop database in this module's target."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import libpq


@pytest.fixture(scope="module")
def shop_url(target_url: str) -> str:
    """The module's target with `accounts` (5 rows) and `ledger` (30 000 rows)."""
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance int NOT NULL)")
        conn.execute("INSERT INTO accounts (name, balance) SELECT 'account ' || g, g * 10 FROM generate_series(1, 5) g")
        conn.execute("CREATE TABLE ledger AS SELECT g AS id, g % 100 AS bucket FROM generate_series(1, 30000) g")
        conn.execute("ANALYZE accounts, ledger")
    return target_url


@pytest.fixture(scope="module")
def make_reader(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    """``make_reader(url)``: a least-privilege reader role for that database (the test targets are
    reached as a superuser: without a reader role viewers and editors get no console, as in a
    careful deployment). Roles carry a random suffix and are dropped after the module."""
    from sqlalchemy.engine import make_url

    from core import reader_role

    made: list[tuple[str, str]] = []

    def make(url: str) -> str:
        name = f"console_reader_{uuid.uuid4().hex[:8]}"
        made.append((name, url))
        return reader_role.create(url, name, save=False).render_as_string(hide_password=False)

    yield make
    from core import target

    target.dispose()
    for name, url in made:
        database = make_url(url).database
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(database),
                                                                                 sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def shop_reader(shop_url: str, make_reader: Callable[[str], str]) -> str:
    return make_reader(shop_url)


@pytest.fixture
def shop(shop_url: str, shop_reader: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Point the tool at the shop database (and its reader role) for one test."""
    from core import reader_role, target

    settings.TARGET_DATABASE_URL = shop_url
    settings.READER_DATABASE_URL = shop_reader
    reader_role.forget()
    target.set_target_url(None)
    yield shop_url
    from sqlconsole import services

    for user_id in {h.user_id for h in list(services._held.values())}:
        services.release_user(user_id)
    target.dispose()


def scalar(url: str, query: str) -> object:
    """One value read straight from the database (not through the code under test)."""
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(query).fetchone()
        return row[0] if row else None
