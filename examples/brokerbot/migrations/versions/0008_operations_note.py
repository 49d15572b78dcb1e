"""add operations.note for support staff

Support wants to annotate odd operations ("refund requested by phone").
Nullable, no default: adding it is a metadata-only change, even on the big
operations table.

Revision ID: 0008_operations_note
Revises: 0007_clients_telegram_id
Create Date: 2024-04-02 13:46:25.027793

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008_operations_note"
down_revision: str | Sequence[str] | None = "0007_clients_telegram_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("operations", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("operations", "note")
