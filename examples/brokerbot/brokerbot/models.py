"""SQLAlchemy 2.0 models of the brokerbot backend.

This module describes the schema at the Alembic **head** revision.  The
bundled demo database is deliberately created one step behind: the demo
setup upgrades only to ``brokerbot.demo_setup.DEMO_START_REVISION``, so the
last revisions (``operations.note`` and the index on ``operations.kind``)
show up as pending migrations in the admin tool.  Keep this file and
``migrations/versions`` in lock-step: at head, autogenerate must find no
difference between the database and ``Base.metadata``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Every constraint and index gets a deterministic name, so migrations can
# refer to them (drop/alter) without asking the database what it picked.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; its metadata is Alembic's ``target_metadata``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OperationKind(str, enum.Enum):
    """What a client asked the bot to do with money or securities."""

    BUY = "buy"
    SELL = "sell"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


def _enum_values(kind: type[enum.Enum]) -> list[str]:
    # Store the lowercase values ("buy"), not the member names ("BUY"): the
    # values are what the bot's API and hand-written SQL use.
    return [str(member.value) for member in kind]


operation_kind_type = Enum(
    OperationKind,
    name="operation_kind",
    values_callable=_enum_values,
    validate_strings=True,
)

# Plain association table: a client may trade through several brokers.
client_brokers = Table(
    "client_brokers",
    Base.metadata,
    Column(
        "client_id",
        ForeignKey("clients.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "broker_id",
        ForeignKey("brokers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "linked_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
    ),
)


class Client(Base):
    """A person who talks to the bot and owns a brokerage account."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    # Filled once the client links a Telegram account to the bot.
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    is_active: Mapped[bool] = mapped_column(server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    brokers: Mapped[list[Broker]] = relationship(secondary=client_brokers, back_populates="clients")
    # The database cascades the delete (ON DELETE CASCADE), so the ORM does
    # not need to load every operation just to delete it.
    operations: Mapped[list[Operation]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    payment_calendar: Mapped[list[ClientPaymentCalendar]] = relationship(
        back_populates="client",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ClientPaymentCalendar.due_date",
    )

    def __repr__(self) -> str:
        return f"Client(id={self.id!r}, email={self.email!r})"


class Broker(Base):
    """A brokerage the bot routes orders to."""

    __tablename__ = "brokers"
    __table_args__ = (CheckConstraint("commission >= 0 AND commission < 1", name="commission_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # A fraction of the amount: 0.0025 is 0.25 %.
    commission: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    is_active: Mapped[bool] = mapped_column(server_default=true())

    clients: Mapped[list[Client]] = relationship(secondary=client_brokers, back_populates="brokers")
    operations: Mapped[list[Operation]] = relationship(back_populates="broker")

    def __repr__(self) -> str:
        return f"Broker(id={self.id!r}, name={self.name!r})"


class Operation(Base):
    """One money or trade movement on a client's account (the big table)."""

    __tablename__ = "operations"
    __table_args__ = (
        # The bot's main query: "latest operations of this client".
        Index("ix_operations_client_id_created_at", "client_id", "created_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    # RESTRICT: a broker with history must be deactivated, never deleted.
    broker_id: Mapped[int] = mapped_column(ForeignKey("brokers.id", ondelete="RESTRICT"))
    kind: Mapped[OperationKind] = mapped_column(operation_kind_type, index=True)
    # Always positive; the direction comes from ``kind``.
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    client: Mapped[Client] = relationship(back_populates="operations")
    broker: Mapped[Broker] = relationship(back_populates="operations")

    def __repr__(self) -> str:
        return f"Operation(id={self.id!r}, kind={self.kind!r}, amount={self.amount!r})"


class ClientPaymentCalendar(Base):
    """A scheduled payment (subscription fee) a client owes on a date."""

    __tablename__ = "client_payment_calendars"
    __table_args__ = (UniqueConstraint("client_id", "due_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    paid: Mapped[bool] = mapped_column(server_default=false())

    client: Mapped[Client] = relationship(back_populates="payment_calendar")

    def __repr__(self) -> str:
        return f"ClientPaymentCalendar(client_id={self.client_id!r}, due_date={self.due_date!r}, paid={self.paid!r})"


__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Broker",
    "Client",
    "ClientPaymentCalendar",
    "Operation",
    "OperationKind",
    "client_brokers",
    "operation_kind_type",
]
