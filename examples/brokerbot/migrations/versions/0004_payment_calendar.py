"""add client payment calendar

Monthly subscription fees: one row per client and due date, so the bot can
remind clients before a payment is due.  Developed on the billing branch
in parallel with 0005_operations_meta; merged in 0006.

Revision ID: 0004_payment_calendar
Revises: 0003_operations
Create Date: 2024-02-19 14:03:17.660512

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004_payment_calendar"
down_revision: str | Sequence[str] | None = "0003_operations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "client_payment_calendars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("paid", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_payment_calendars_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_payment_calendars")),
        sa.UniqueConstraint(
            "client_id",
            "due_date",
            name=op.f("uq_client_payment_calendars_client_id_due_date"),
        ),
    )


def downgrade() -> None:
    op.drop_table("client_payment_calendars")
