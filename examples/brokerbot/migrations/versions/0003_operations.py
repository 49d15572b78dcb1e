"""add operations ledger

Every deposit, withdrawal and trade the bot executes is recorded here.
This table grows fastest: ids are bigint identity, and the bot's
"recent operations of a client" query gets a composite index.

Revision ID: 0003_operations
Revises: 0002_brokers
Create Date: 2024-02-05 09:27:44.871305

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "0003_operations"
down_revision: str | Sequence[str] | None = "0002_brokers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the enum as of this revision: a migration must not import
# the models, which describe head and keep changing.
operation_kind = postgresql.ENUM(
    "buy", "sell", "deposit", "withdrawal", name="operation_kind", create_type=False
)


def upgrade() -> None:
    # Created explicitly (checkfirst=False also works with --sql) so that the
    # downgrade can drop it symmetrically.
    operation_kind.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "operations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("broker_id", sa.Integer(), nullable=False),
        sa.Column("kind", operation_kind, nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_operations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_operations_client_id_clients"),
            ondelete="CASCADE",
        ),
        # RESTRICT: deleting a broker must never erase trading history.
        sa.ForeignKeyConstraint(
            ["broker_id"],
            ["brokers.id"],
            name=op.f("fk_operations_broker_id_brokers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    op.create_index(
        "ix_operations_client_id_created_at",
        "operations",
        ["client_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_operations_client_id_created_at", table_name="operations")
    op.drop_table("operations")
    operation_kind.drop(op.get_bind(), checkfirst=False)
