"""add clients.telegram_user_id

Clients can link their Telegram account; the bot looks them up by the
Telegram user id, which is unique but optional (web-only clients).

Revision ID: 0007_clients_telegram_id
Revises: 0006_merge_calendar_meta
Create Date: 2024-03-12 17:22:48.315064

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007_clients_telegram_id"
down_revision: str | Sequence[str] | None = "0006_merge_calendar_meta"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "clients", sa.Column("telegram_user_id", sa.BigInteger(), nullable=True)
    )
    op.create_unique_constraint(
        op.f("uq_clients_telegram_user_id"), "clients", ["telegram_user_id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_clients_telegram_user_id"), "clients", type_="unique")
    op.drop_column("clients", "telegram_user_id")
