"""Viewers read the data browser through the least-privilege reader role, decided at the source.

The reader role here may read ``public.menu`` and nothing else (a deliberately narrow grant, so the
role a request ran as is visible in what it may read): carol the viewer is refused the payroll,
alice the admin and bob the editor (who write, so they act as the target role) read it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.conftest import libpq


@pytest.fixture(scope="module")
def narrow_reader(pg_server_url: str, target_url: str) -> Iterator[str]:
    name = f"narrow_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute("CREATE TABLE menu (id int PRIMARY KEY, dish text); INSERT INTO menu VALUES (1, 'soup')")
        conn.execute("CREATE TABLE payroll (id int PRIMARY KEY, salary int); INSERT INTO payroll VALUES (1, 99000)")
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT SELECT ON menu TO {}").format(sql.Identifier(name)))
    yield make_url(target_url).set(username=name, password=None).render_as_string(hide_password=False)
    from core import target

    target.dispose()
    with psycopg.connect(libpq(target_url), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def with_reader(target, narrow_reader, settings):  # type: ignore[no-untyped-def]
    from core import target as core_target

    settings.READER_DATABASE_URL = narrow_reader
    core_target.dispose()
    yield
    core_target.dispose()


def test_viewer_reads_through_the_reader_role(with_reader, carol, api_as):
    api = api_as(carol)
    assert api.get("/api/tables/public.menu/data").status_code == 200
    refused = api.get("/api/tables/public.payroll/data")
    assert refused.status_code == 403, refused.content
    assert "99000" not in refused.content.decode()


def test_admin_and_editor_read_as_the_target_role(with_reader, alice, bob, api_as):
    for user in (alice, bob):
        answer = api_as(user).get("/api/tables/public.payroll/data")
        assert answer.status_code == 200, answer.content
        assert answer.json()["rows"][0]["salary"] == 99000


def test_without_a_reader_role_viewers_read_as_the_target_role(target, narrow_reader, carol, api_as, settings):
    settings.READER_DATABASE_URL = ""
    answer = api_as(carol).get("/api/tables/public.payroll/data")
    assert answer.status_code == 200 and answer.json()["rows"][0]["salary"] == 99000
