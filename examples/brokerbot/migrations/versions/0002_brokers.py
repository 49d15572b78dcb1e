"""add brokers and the client <-> broker link

Clients can now pick which brokers the bot routes their orders to.
Commission is stored as a fraction (0.0025 = 0.25 %).

Revision ID: 0002_brokers
Revises: 0001_clients
Create Date: 2024-01-22 16:40:51.204117

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002_brokers"
down_revision: str | Sequence[str] | None = "0001_clients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "brokers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("commission", sa.Numeric(precision=6, scale=4), nullable=False),
        sa.Column(
            "is_active", sa.Boolean(), server_default=sa.true(), nullable=False
        ),
        sa.CheckConstraint(
            "commission >= 0 AND commission < 1",
            name=op.f("ck_brokers_commission_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brokers")),
        sa.UniqueConstraint("name", name=op.f("uq_brokers_name")),
    )
    op.create_table(
        "client_brokers",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("broker_id", sa.Integer(), nullable=False),
        sa.Column(
            "linked_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_brokers_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["broker_id"],
            ["brokers.id"],
            name=op.f("fk_client_brokers_broker_id_brokers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "client_id", "broker_id", name=op.f("pk_client_brokers")
        ),
    )


def downgrade() -> None:
    op.drop_table("client_brokers")
    op.drop_table("brokers")
