"""Database URL helpers shared by ``migrations/env.py`` and ``demo_setup``.

Only psycopg 3 is installed next to the demo, while URLs copied from
Heroku-style settings or older configs name other drivers (``postgres://``,
``postgresql://`` which SQLAlchemy maps to psycopg2, ``postgresql+psycopg2://``).
Everything is rewritten to ``postgresql+psycopg://`` so any of them works.
"""

from __future__ import annotations

import os

DATABASE_URL_ENV = "DATABASE_URL"

_TARGET_SCHEME = "postgresql+psycopg"
_REWRITTEN_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2")


def normalize_database_url(url: str) -> str:
    """Return ``url`` with a PostgreSQL scheme rewritten to use psycopg 3."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in _REWRITTEN_SCHEMES:
        return f"{_TARGET_SCHEME}://{rest}"
    return url


def resolve_database_url(configured: str | None) -> str:
    """Pick ``$DATABASE_URL`` when set, else ``configured`` (from the ini)."""
    url = os.environ.get(DATABASE_URL_ENV) or configured
    if not url:
        raise RuntimeError(f"No database URL: set {DATABASE_URL_ENV} or sqlalchemy.url in alembic.ini")
    return normalize_database_url(url)
