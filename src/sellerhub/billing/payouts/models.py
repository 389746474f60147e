"""Money the platform owes a seller, paid to the seller's connected account.

Where a recovery was paid to the platform on the seller's behalf (``Commission.
paid_to_platform``), the platform transfers the recovery less its commission to the seller's
connected account: one ``SellerTransfer`` per recovery (UNIQUE), written before Stripe is
called, sent with ``Idempotency-Key: transfer:{recovery_id}``, ``transfer_group =
recovery_{recovery_id}`` and the charge that brought the money in as ``source_transaction``
when there is one."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class TransferState(StrEnum):
    PENDING = "pending"  # written; not sent yet (or due again)
    WAITING = "waiting"  # no connected account able to receive transfers yet (reason)
    PROCESSING = "processing"  # sent; the outcome is not recorded yet
    PAID = "paid"  # Stripe created the transfer (money on the connected account)
    FAILED = "failed"  # Stripe refused it (reason); retried by the periodic job
    REVERSED = "reversed"  # taken back in full (transfer.reversed)
    CANCELLED = "cancelled"  # reversed in full before it was sent: nothing left to transfer


STATES = ", ".join(f"'{s.value}'" for s in TransferState)


class SellerTransfer(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "seller_transfers"
    __table_args__ = (
        UniqueConstraint("recovery_id"),
        UniqueConstraint("transfer_id"),
        CheckConstraint(f"state IN ({STATES})", name="state"),
        CheckConstraint("amount_minor > 0 OR state = 'cancelled'", name="amount"),
        CheckConstraint("reversed_minor BETWEEN 0 AND amount_minor", name="reversed"),
        CheckConstraint("state <> 'paid' OR transfer_id IS NOT NULL", name="paid_has_transfer"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_seller_transfers_org_id", "organization_id", "id"),
    )

    recovery_id: Mapped[uuid.UUID] = mapped_column()
    commission_id: Mapped[uuid.UUID] = mapped_column()
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # the recovery less the commission
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[TransferState] = mapped_column(
        EnumText(TransferState, 20), default=TransferState.PENDING
    )
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    destination: Mapped[str | None] = mapped_column(String(100), default=None)  # acct_…
    transfer_group: Mapped[str] = mapped_column(String(100))
    source_transaction: Mapped[str | None] = mapped_column(String(100), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    transfer_id: Mapped[str | None] = mapped_column(String(100), default=None)
    reversed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


REVERSAL_STATES = ("waiting", "processing", "succeeded", "reduced", "nothing")


class TransferReversal(IdMixin, TimestampMixin, TenantScoped, Base):
    """What a reversal (claims' negative recovery naming the original reimbursement) does to
    the seller's transfer of a recovery the platform held: UNIQUE per reversal, written (and
    committed) before Stripe is called, so the seller's part is taken back at most once.
    ``succeeded``: reversed at Stripe (``POST /v1/transfers/{id}/reversals``,
    ``stripe_reversal_id``); ``reduced``: the transfer was not sent yet and was lowered
    instead; ``nothing``: nothing left to take back (or Stripe refused, the reason says);
    ``waiting``: the transfer's own attempt is open, decided once its outcome is known;
    ``processing``: the reversal was sent and its outcome is not recorded yet."""

    __tablename__ = "seller_transfer_reversals"
    __table_args__ = (
        UniqueConstraint("reversal_id"),
        UniqueConstraint("stripe_reversal_id"),
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in REVERSAL_STATES) + ")", name="state"
        ),
        CheckConstraint(
            "amount_minor >= 0 AND reversed_minor > 0 AND recovered_minor > 0 AND gross_minor >= 0",
            name="amounts",
        ),
        CheckConstraint(
            "state <> 'succeeded' OR stripe_reversal_id IS NOT NULL",
            name="succeeded_has_reversal",
        ),
        Index("ix_seller_transfer_reversals_transfer", "seller_transfer_id"),
        Index(
            "ix_seller_transfer_reversals_due",
            "next_attempt_at",
            postgresql_where="state IN ('waiting', 'processing')",
        ),
    )

    seller_transfer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("seller_transfers.id", ondelete="CASCADE")
    )
    # The reversal's own recovery (claims' negative recovery): the reversal's key at Stripe.
    reversal_id: Mapped[uuid.UUID] = mapped_column()
    reversed_minor: Mapped[int] = mapped_column(BigInteger)  # what Amazon took back
    # The base of the seller's part: the whole recovery, and the transfer it first owed (the
    # recovery less the commission), so partial reversals share one proportion.
    recovered_minor: Mapped[int] = mapped_column(BigInteger)
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # the seller's part
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    stripe_reversal_id: Mapped[str | None] = mapped_column(String(100), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
