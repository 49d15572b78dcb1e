"""Fixtures of the SQL-console tests: a small shop database in this module's target."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="module")
def shop_url(target_url: str) -> str:
    """The module's target with `accounts` (5 rows) and `ledger` (30 000 rows)."""
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance int NOT NULL)")
        conn.execute("INSERT INTO accounts (name, balance) SELECT 'account ' || g, g * 10 FROM generate_series(1, 5) g")
        conn.execute("CREATE TABLE ledger AS SELECT g AS id, g % 100 AS bucket FROM generate_series(1, 30000) g")
        conn.execute("ANALYZE accounts, ledger")
    return target_url


@pytest.fixture
def shop(shop_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Point the tool at the shop database for one test."""
    from core import target

    settings.TARGET_DATABASE_URL = shop_url
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
