"""The attacker's fixtures: the same database reached as a limited application role and as a superuser.

Every repro of the trust-boundary issue runs twice (``role_target`` is parametrized): once with a
limited application role — a login role that owns the database and its ``public`` schema, as a
well-run deployment has — and once with a superuser, which is what the official ``postgres`` image's
``POSTGRES_USER`` and the embedded demo give. A refusal must hold in both. Role names carry a random
suffix (roles are cluster-global) and are dropped with everything they own afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


def _as_role(url: str, role: str) -> str:
    return make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def security_roles(pg_server_url: str, target_url: str) -> Iterator[dict[str, str]]:
    """``{"app": url, "superuser": url}``: this module's database as each role (psycopg URLs)."""
    suffix = uuid.uuid4().hex[:8]
    app, superuser = f"sec_app_{suffix}", f"sec_super_{suffix}"
    database = make_url(target_url).database
    libpq_target = target_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(app)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(superuser)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(app)))
    with psycopg.connect(libpq_target, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(app)))
    yield {"app": _as_role(target_url, app), "superuser": _as_role(target_url, superuser)}
    from core import target

    target.dispose()
    with psycopg.connect(libpq_target, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO pg_database_owner"))
        for role in (app, superuser):
            conn.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(database)))
        for role in (app, superuser):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(params=["app", "superuser"])
def role_target(request: pytest.FixtureRequest, security_roles: dict[str, str], settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Point the tool at this module's database as the limited role, then as a superuser."""
    from core import target as core_target

    settings.TARGET_DATABASE_URL = security_roles[request.param]
    core_target.set_target_url(None)
    core_target.dispose()
    yield request.param
    core_target.dispose()
