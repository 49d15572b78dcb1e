"""Alembic environment of the brokerbot demo project.

The database URL comes from ``$DATABASE_URL`` when set, else from
``sqlalchemy.url`` in alembic.ini; either is rewritten to the psycopg 3
driver (see ``brokerbot.db``).  A caller that already holds a connection
(a test, or the admin tool running Alembic in-process) may pass it as
``config.attributes["connection"]`` and it is used as is.
"""

from __future__ import annotations

import os
import sys
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

# The project directory (the parent of migrations/) holds the ``brokerbot``
# package; put it on sys.path so env.py works from any working directory.
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PROJECT_DIR not in sys.path:
    sys.path.insert(0, PROJECT_DIR)

from brokerbot.db import resolve_database_url  # noqa: E402
from brokerbot.models import Base  # noqa: E402

config = context.config

# Configure logging only from an ini that has logging sections, and leave
# loggers configured by the host process (e.g. Django's) enabled.
if config.config_file_name is not None and config.file_config.has_section("loggers"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    return resolve_database_url(config.get_main_option("sqlalchemy.url"))


def run_migrations_offline() -> None:
    """Emit the migration SQL to stdout (``alembic upgrade --sql``)."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with_connection(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against a live database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return

    section = dict(config.get_section(config.config_ini_section, {}))
    section["sqlalchemy.url"] = _database_url()
    # NullPool: a migration run is one short-lived connection, nothing to pool.
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    try:
        with connectable.connect() as connection:
            _run_with_connection(connection)
    finally:
        connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
