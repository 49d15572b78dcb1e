"""The PostgreSQL version matrix: one real server per major version (14–18), started once.

``pg_versions`` (session) starts each server the first time a test asks for it and stops them
all at the end (see ``servers.py`` for where each comes from). The stories take the version
through ``pg_server_url``, parametrized indirectly (``on_every_version()`` in test_stories.py),
so every fixture built on it — ``target_url``, ``fresh_url``/``use_project``, ``demo_url``,
``hostile`` — lands on that version's server. The internal DB stays the usual test one.

A version whose server cannot be had is skipped with the reason (the table says so).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
    """Overrides the suite's single server: this test's version's maintenance DB URL."""
    major = int(request.param)
    try:
        return pg_versions.get(major).url
    except servers.Unavailable as exc:
        pytest.skip(f"PostgreSQL {major} unavailable: {exc}")
