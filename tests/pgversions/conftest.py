"""The PostgreSQL version matrix: one real server per major version (14–18), started once.

``pg_versions`` (session) starts each server the first time a test asks for it and stops them
all at the end (see ``servers.py`` for where each comes from). The stories take the version
through ``pg_server_url``, parametrized indirectly (``on_every_version()`` in test_stories.py),
so every fixture built on it — ``target_url``, ``fresh_url``/``use_project``, ``demo_url``,
``hostile`` — lands on that version's server. The internal DB stays the usual test one.

A version whose server cannot be had is skipped with the reason (the table says so).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.conftest import libpq
from tests.databrowser.conftest import hostile, hostile_url  # noqa: F401  (fixtures, re-exported)
from tests.migrations_ui.conftest import fresh_url, use_project  # noqa: F401  (fixtures, re-exported)
from tests.pgversions import servers


class Registry:
    """Servers by major version, started on first use; a failure is remembered, not retried."""

    def __init__(self) -> None:
        self.running: dict[int, servers.Server] = {}
        self.failed: dict[int, str] = {}

    def get(self, major: int) -> servers.Server:
        if major in self.failed:
            raise servers.Unavailable(self.failed[major])
        if major not in self.running:
            try:
                self.running[major] = servers.start(major)
            except servers.Unavailable as exc:
                self.failed[major] = str(exc)
                raise
        return self.running[major]

    def stop_all(self) -> None:
        for server in self.running.values():
            server.stop()
        self.running.clear()


@pytest.fixture(scope="session")
def pg_versions() -> Iterator[Registry]:
    registry = Registry()
    try:
        yield registry
    finally:
        registry.stop_all()


@pytest.fixture(scope="session")
def pg_server_url(pg_versions: Registry, request: pytest.FixtureRequest) -> str:
    """Overrides the suite's single server: this test's version's maintenance DB URL.

    A test here that is not parametrized by version gets PostgreSQL 18 (the embedded wheel).
    """
    major = int(getattr(request, "param", 18))
    try:
        return pg_versions.get(major).url
    except servers.Unavailable as exc:
        pytest.skip(f"PostgreSQL {major} unavailable: {exc}")


def _reader_module():  # type: ignore[no-untyped-def]
    """core.reader_role (``manage.py create_reader_role``'s code) where it exists, else None."""
    try:
        from core import reader_role
    except ImportError:
        return None
    return reader_role


@pytest.fixture
def with_reader(settings) -> Iterator[Callable[[str], str]]:  # type: ignore[no-untyped-def]
    """``with_reader(url)``: a least-privilege reader role of that database, set as the tool's reader.

    Made by ``core.reader_role.create`` (what ``manage.py create_reader_role`` runs) where that
    module exists; before it lands on this branch, by the same grants written out: CREATE ROLE …
    LOGIN, GRANT CONNECT, GRANT pg_read_all_data (PostgreSQL 14+). Random suffix, dropped after.
    """
    module = _reader_module()
    made: list[tuple[str, str]] = []

    def make(url: str) -> str:
        name = f"pgv_reader_{uuid.uuid4().hex[:8]}"
        made.append((name, url))
        if module is not None:
            reader = module.create(url, name, save=False).render_as_string(hide_password=False)
        else:
            with psycopg.connect(libpq(url), autocommit=True) as conn:
                database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
                for statement in ("CREATE ROLE {} LOGIN", "GRANT pg_read_all_data TO {}"):
                    conn.execute(sql.SQL(statement).format(sql.Identifier(name)))
                conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database),
                                                                                   sql.Identifier(name)))
            reader = make_url(url).set(username=name).render_as_string(hide_password=False)
        settings.READER_DATABASE_URL = reader
        if module is not None:
            module.forget()
        return reader

    yield make
    from core import target

    target.dispose()
    if module is not None:
        module.forget()
    for name, url in made:
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(database),
                                                                                 sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the matrix out of any run whose ``-m`` does not name it (e.g. ``-m "not browser"``).

    pyproject's addopts deselects it by default; this also covers a run that replaces ``-m``.
    Only the ``pgversions_smoke`` cell runs then, as in ``make test``.
    """
    if "pgversions" in (config.getoption("markexpr") or ""):
        return
    drop = [i for i in items if i.get_closest_marker("pgversions") and not i.get_closest_marker("pgversions_smoke")]
    if drop:
        dropped = set(drop)
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in dropped]
