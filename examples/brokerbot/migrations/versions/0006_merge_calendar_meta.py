"""merge billing branch (payment calendar) with operations.meta

Two features were developed in parallel off 0003_operations; this revision
only joins the two heads again, it changes no schema.

Revision ID: 0006_merge_calendar_meta
Revises: 0004_payment_calendar, 0005_operations_meta
Create Date: 2024-03-01 08:15:09.738460

"""

from __future__ import annotations

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "0006_merge_calendar_meta"
down_revision: str | Sequence[str] | None = (
    "0004_payment_calendar",
    "0005_operations_meta",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
