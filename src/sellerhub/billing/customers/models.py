"""The organization's Stripe customer (one per organization) and the cards saved on it.

A card is known only by what Stripe tells about it to display: brand, last four digits and
expiry. The card number never reaches sellerhub (the browser gives it to Stripe). A removed card
keeps its row (``removed_at``) so a late ``setup_intent.succeeded`` for it cannot bring it back.
At most one live card is the default (a partial unique index)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TenantScoped, TimestampMixin


class StripeCustomer(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "stripe_customers"
    __table_args__ = (
        UniqueConstraint("organization_id"),
        UniqueConstraint("stripe_customer_id"),
        CheckConstraint("stripe_customer_id ~ '^cus_[A-Za-z0-9_]+$'", name="customer_id"),
    )

    stripe_customer_id: Mapped[str] = mapped_column(String(255))


class StripePaymentMethod(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "stripe_payment_methods"
    __table_args__ = (
        UniqueConstraint("stripe_payment_method_id"),
        CheckConstraint("last4 ~ '^[0-9]{4}$'", name="last4"),
        CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month"),
        CheckConstraint("exp_year BETWEEN 2000 AND 2200", name="exp_year"),
        CheckConstraint("NOT (is_default AND removed_at IS NOT NULL)", name="removed_not_default"),
        Index(
            "uq_stripe_payment_methods_one_default",
            "organization_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
        Index("ix_stripe_payment_methods_org_live", "organization_id", "set_up_at"),
    )

    stripe_payment_method_id: Mapped[str] = mapped_column(String(255))
    stripe_customer_id: Mapped[str] = mapped_column(String(255))
    # The SetupIntent that saved it, and when Stripe created that intent: the newest set-up
    # card is the default, whatever order the events arrive in.
    setup_intent_id: Mapped[str | None] = mapped_column(String(255), default=None)
    set_up_at: Mapped[datetime] = mapped_column()
    brand: Mapped[str] = mapped_column(String(30))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(default=False)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
