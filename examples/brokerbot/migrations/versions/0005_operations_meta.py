"""add operations.meta (jsonb) and backfill existing rows

The bot now records free-form context per operation (channel, ticker,
order ids).  Rows written before this change get {"channel": "legacy"} so
that the column can be NOT NULL from day one.

Data migration: the backfill runs as one UPDATE between adding the column
as nullable and tightening it to NOT NULL.

Revision ID: 0005_operations_meta
Revises: 0003_operations
Create Date: 2024-02-20 11:58:36.094221

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0005_operations_meta"
down_revision: str | Sequence[str] | None = "0003_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Lightweight table stub for the UPDATE: only the columns this migration
# touches, frozen as of this revision (never import the models here).
operations = sa.table("operations", sa.column("meta", postgresql.JSONB()))


def upgrade() -> None:
    op.add_column("operations", sa.Column("meta", postgresql.JSONB(), nullable=True))
    op.execute(
        operations.update()
        .where(operations.c.meta.is_(None))
        .values(meta=sa.func.jsonb_build_object(sa.literal("channel"), sa.literal("legacy")))
    )
    op.alter_column(
        "operations",
        "meta",
        existing_type=postgresql.JSONB(),
        nullable=False,
        server_default=sa.text("'{}'::jsonb"),
    )


def downgrade() -> None:
    # Dropping the column discards the backfilled values too: nothing else
    # depends on them.
    op.drop_column("operations", "meta")
