"""The seller's Stripe Connect account, one per organization.

The row is written (and committed) *before* Stripe is asked to create the account, and each
creation's attempt is committed before it is sent: a job that dies between Stripe's answer and
our commit (or got no answer) finds an attempt without an account on its next run, and looks
the account up at Stripe by its metadata (``organization_id``) before it sends a new attempt
with a new Idempotency-Key (Stripe replays a stored 500 for the old one for 24 h).
``stripe_account_id`` is NULL until Stripe's answer (or the lookup, or an ``account.updated``
naming the organization) gave it.

``stripe_state_at`` is the ``created`` time of the Stripe event (or read) whose state the row
holds: an ``account.updated`` older than it changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TenantScoped, TimestampMixin


class StripeAccount(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "stripe_accounts"
    __table_args__ = (
        UniqueConstraint("organization_id"),
        UniqueConstraint("stripe_account_id"),
        CheckConstraint(
            "stripe_account_id IS NULL OR stripe_account_id ~ '^acct_[A-Za-z0-9_]+$'",
            name="account_id",
        ),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint("attempt >= 0", name="attempt"),
    )

    stripe_account_id: Mapped[str | None] = mapped_column(String(255), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    # Creations asked of Stripe (each with the key and ``:{attempt}``), the last one's start.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[datetime | None] = mapped_column(default=None)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    country: Mapped[str] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    business_name: Mapped[str | None] = mapped_column(String(200), default=None)
    # The controller properties the account was created with (the v1 form of Express).
    controller: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    charges_enabled: Mapped[bool] = mapped_column(default=False)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    requirements_due: Mapped[list[str]] = mapped_column(JSONB, default=list)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    stripe_state_at: Mapped[datetime | None] = mapped_column(default=None)
