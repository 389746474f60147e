"""The ledger of money that moved through Stripe, and its append-only audit.

``stripe_transactions``: one row per money movement (a charge, a refund, a dispute, a transfer
to a seller, its reversal, a connected account's payout, an invoice paid), amounts in minor
units, UNIQUE on (the Stripe object's id, kind), so the API's answer and any number of webhook
deliveries of the same movement record it once. A row's ``status`` may follow the object
(a payout ``pending`` → ``paid`` | ``failed``); every insert and every change is also written to
``transaction_audit``, which a trigger keeps append-only (UPDATE and DELETE refused), like
``audit_events``."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class TransactionKind(StrEnum):
    CHARGE = "charge"  # money in: a commission charged to the seller's card
    REFUND = "refund"  # money back out to the card
    DISPUTE = "dispute"  # money the bank took back pending the dispute
    TRANSFER = "transfer"  # money out: to a seller's connected account
    TRANSFER_REVERSAL = "transfer_reversal"  # a transfer taken back
    PAYOUT = "payout"  # a connected account's payout to its bank
    INVOICE = "invoice"  # an invoice paid (recorded; credits come later)


KINDS = ", ".join(f"'{k.value}'" for k in TransactionKind)


class StripeTransaction(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "stripe_transactions"
    __table_args__ = (
        UniqueConstraint("stripe_id", "kind"),
        CheckConstraint(f"kind IN ({KINDS})", name="kind"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_stripe_transactions_org_id", "organization_id", "id"),
    )

    kind: Mapped[TransactionKind] = mapped_column(EnumText(TransactionKind, 20))
    # The movement's own object (ch_, re_, dp_, tr_, trr_, po_, in_).
    stripe_id: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    # Money in (charge, invoice) or out of the platform (refund, dispute, transfer, payout)
    # from the platform's side; a connected account's payout is out of that account.
    direction: Mapped[str] = mapped_column(String(3))
    payment_intent_id: Mapped[str | None] = mapped_column(String(100), default=None)
    charge_id: Mapped[str | None] = mapped_column(String(100), default=None)
    account_id: Mapped[str | None] = mapped_column(String(100), default=None)  # Connect
    commission_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    recovery_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    stripe_created: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The source of the newest change (an event id, or "api").
    source: Mapped[str] = mapped_column(String(100))


class TransactionAudit(IdMixin, TenantScoped, Base):
    """Append-only: a database trigger rejects UPDATE and DELETE (see the migration)."""

    __tablename__ = "transaction_audit"
    __table_args__ = (Index("ix_transaction_audit_org_id", "organization_id", "id"),)

    transaction_id: Mapped[uuid.UUID] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    action: Mapped[str] = mapped_column(String(40))  # recorded | status_changed
    kind: Mapped[str] = mapped_column(String(20))
    stripe_id: Mapped[str] = mapped_column(String(100))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
