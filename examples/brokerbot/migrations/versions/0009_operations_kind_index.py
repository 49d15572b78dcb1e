"""index operations.kind for the daily deposits report

The nightly report filters by kind ("all deposits since midnight") and
was scanning the whole operations table.

Revision ID: 0009_operations_kind_index
Revises: 0008_operations_note
Create Date: 2024-04-09 10:05:58.442906

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009_operations_kind_index"
down_revision: str | Sequence[str] | None = "0008_operations_note"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_operations_kind"), "operations", ["kind"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_operations_kind"), table_name="operations")
