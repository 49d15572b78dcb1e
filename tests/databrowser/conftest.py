"""Fixtures of the data-browser tests: a target database full of hostile identifiers.

``hostile_url`` loads tests/fixtures/hostile_schema.sql into this module's fresh database
(names with spaces, quotes, %, unicode, reserved words, mixed case, 63 characters; a non-public
schema, a table without a primary key, a composite key, a view, a partitioned table, FK chains
with CASCADE / SET NULL / RESTRICT). ``hostile`` points the tool at it for one test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from tests.conftest import FIXTURES

USERS = ("Odd Schema.v2", 'Üser "Accounts" 100%')


@pytest.fixture(scope="module")
def hostile_url(target_url: str) -> str:
    sql_text = (FIXTURES / "hostile_schema.sql").read_text()
    with psycopg.connect(target_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql_text)  # several statements, no parameters: one simple-protocol batch
    return target_url


@pytest.fixture
def hostile(hostile_url: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from core import target
    from databrowser import query

    settings.TARGET_DATABASE_URL = hostile_url
    target.set_target_url(None)
    query.invalidate()
    yield hostile_url
    query.invalidate()
    target.dispose()


@pytest.fixture(autouse=True)
def _no_export_slot_left_over() -> Iterator[None]:
    """Export slots are per user id, and ids repeat between tests: start every test with none taken."""
    from databrowser import export

    export._active.clear()
    yield
    export._active.clear()


def sql(url: str, statement: str, *params: object) -> list[tuple]:
    """Run one statement on the fixture database as the test's own observer (not via the tool)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        cur = conn.execute(statement, params or None)
        return cur.fetchall() if cur.description else []


def with_schema(target: str, schema: str) -> Iterator[str]:
    """A fixture body: ``schema`` (SQL) run on ``target``, the reflected tables forgotten before and after."""
    from databrowser import query

    sql(target, schema)
    query.invalidate()
    yield target
    query.invalidate()


def settled_import(api: Any, table_api: str, job: dict[str, Any]) -> dict[str, Any]:
    """The import job once its validation or import has ended (polled through ``table_api``/import/<id>)."""
    deadline = time.monotonic() + 30
    while job["state"] in ("validating", "importing"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = api.get(f"{table_api}/import/{job['id']}").json()
    return job


def tpath(schema: str, name: str) -> str:
    """The URL segment of a table, as a client would build it (see databrowser.refs)."""
    from databrowser.refs import TableRef

    return quote(TableRef(schema, name).slug, safe="")


def pkpath(*values: object) -> str:
    """A row key as the API convention spells it: values encoded, joined by ',', encoded again."""
    return quote(",".join(quote(str(v), safe="") for v in values), safe="")
