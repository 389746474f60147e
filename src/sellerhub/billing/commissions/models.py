"""The platform's commission on a recovery, and the per-organization rate.

A ``Commission`` is written (and committed) for a recovery before Stripe is ever called: UNIQUE
per recovery, it is the one record of whether that recovery's money was charged, and it outlives
Stripe's 24-hour memory of idempotency keys. ``attempt`` counts the PaymentIntents asked for;
each attempt's request carries ``Idempotency-Key: commission:{recovery_id}:{attempt}`` and the
same parameters (customer, payment method, amount) kept on the row, so re-sending it is the
same request. States and their moves: ``rules.TRANSITIONS``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.billing.commissions.rules import CommissionState
from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin

STATES = ", ".join(f"'{s.value}'" for s in CommissionState)


class Commission(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "commissions"
    __table_args__ = (
        UniqueConstraint("recovery_id"),
        UniqueConstraint("payment_intent_id"),
        CheckConstraint(f"state IN ({STATES})", name="state"),
        CheckConstraint("amount_minor >= 0 AND recovery_amount_minor >= 0", name="amounts"),
        CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate"),
        CheckConstraint("attempt >= 0", name="attempt"),
        CheckConstraint("refunded_minor BETWEEN 0 AND amount_minor", name="refunded"),
        CheckConstraint(
            "state NOT IN ('succeeded', 'refunded', 'disputed') OR payment_intent_id IS NOT NULL",
            name="charged_has_intent",
        ),
        CheckConstraint(
            "state NOT IN ('processing') OR attempt > 0", name="processing_has_attempt"
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_commissions_org_id", "organization_id", "id"),
        Index(
            "ix_commissions_due",
            "next_attempt_at",
            postgresql_where="state IN ('pending', 'processing', 'failed', 'no_card')",
        ),
    )

    recovery_id: Mapped[uuid.UUID] = mapped_column()
    claim_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    recovery_amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    rate_bps: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[CommissionState] = mapped_column(
        EnumText(CommissionState, 20), default=CommissionState.PENDING
    )
    # Why it waits or was waived, in words (no card saved, below the minimum, a reversal).
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    # The platform holds the recovered money (paid to it on the seller's behalf): the
    # commission is kept from the seller's transfer instead of charged to the card.
    paid_to_platform: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The current attempt's parameters: re-sending it must send the same request.
    customer_id: Mapped[str | None] = mapped_column(String(100), default=None)
    payment_method_id: Mapped[str | None] = mapped_column(String(100), default=None)
    attempt_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    payment_intent_id: Mapped[str | None] = mapped_column(String(100), default=None)
    charge_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # Stripe's receipt of the charge (``charge.receipt_url``) as Stripe gave it; shown as a
    # link only when it passes ``rules.receipt_link`` (https on Stripe's hosts, or the
    # configured API base's origin).
    receipt_url: Mapped[str | None] = mapped_column(String(500), default=None)
    stripe_status: Mapped[str | None] = mapped_column(String(40), default=None)
    # Stripe's ``created`` of the newest event applied about the intent: an older one that
    # arrives later does not move the commission back (webhooks come in any order).
    last_event_created: Mapped[int | None] = mapped_column(BigInteger, default=None)
    failure_code: Mapped[str | None] = mapped_column(String(100), default=None)
    decline_code: Mapped[str | None] = mapped_column(String(100), default=None)
    failure_message: Mapped[str | None] = mapped_column(String(500), default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    succeeded_at: Mapped[datetime | None] = mapped_column(default=None)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class CommissionRate(IdMixin, TimestampMixin, TenantScoped, Base):
    """An organization's own rate (basis points), instead of the setting's default."""

    __tablename__ = "commission_rates"
    __table_args__ = (
        UniqueConstraint("organization_id"),
        CheckConstraint("rate_bps BETWEEN 0 AND 10000", name="rate"),
    )

    rate_bps: Mapped[int] = mapped_column(Integer)


REFUND_STATES = ("waiting", "processing", "succeeded", "reduced", "nothing")


class CommissionRefund(IdMixin, TimestampMixin, TenantScoped, Base):
    """What a reversal (a negative recovery naming the original reimbursement) did to the
    original's commission: UNIQUE per reversal, written (and committed) before Stripe is
    called, so a reversal refunds at most once. ``succeeded``: refunded at Stripe
    (``stripe_refund_id``); ``reduced``: the commission was not charged yet and its amount was
    lowered instead; ``nothing``: nothing was charged nor will be (waived, withheld, refunded
    already); ``waiting``: an attempt of the charge is open, decided once its outcome is known;
    ``processing``: the refund was sent and its outcome is not recorded yet."""

    __tablename__ = "commission_refunds"
    __table_args__ = (
        UniqueConstraint("reversal_id"),
        UniqueConstraint("stripe_refund_id"),
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in REFUND_STATES) + ")", name="state"
        ),
        CheckConstraint("amount_minor >= 0 AND reversed_minor > 0", name="amounts"),
        CheckConstraint(
            "state <> 'succeeded' OR stripe_refund_id IS NOT NULL", name="succeeded_has_refund"
        ),
        Index("ix_commission_refunds_commission", "commission_id"),
        Index(
            "ix_commission_refunds_due",
            "next_attempt_at",
            postgresql_where="state IN ('waiting', 'processing')",
        ),
    )

    commission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commissions.id", ondelete="CASCADE")
    )
    # The reversal's own recovery (claims' negative recovery): the refund's key.
    reversal_id: Mapped[uuid.UUID] = mapped_column()
    reversed_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(300), default=None)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(100), default=None)
    stripe_status: Mapped[str | None] = mapped_column(String(40), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


class CommissionNotice(IdMixin, TimestampMixin, TenantScoped, Base):
    """A notice to the seller (decline, SCA, no card, given up), at most one per commission,
    attempt and kind: written in the transaction that decides to send it (a second decision
    writes nothing and sends nothing), marked ``sent_at`` in the transaction that queues the
    mail (a second delivery of the job finds it sent)."""

    __tablename__ = "commission_notices"
    __table_args__ = (UniqueConstraint("commission_id", "attempt", "kind"),)

    commission_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("commissions.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
