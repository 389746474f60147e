"""The credit ledger, on TigerBeetle's model: accounts with posted and pending debit and credit
totals, and immutable transfers between two accounts (double entry: every transfer debits one
account and credits another by the same amount, so the balances of all accounts sum to zero).

A balance is ``credits_posted - debits_posted`` (accounts are credit-normal); a wallet's
available balance also subtracts ``debits_pending`` (its holds). A wallet carries
``debits_must_not_exceed_credits`` and its CHECK makes a negative available balance impossible
for any writer, code or SQL. Transfers are never changed or deleted (a trigger refuses it); a
correction is a new transfer. Every writer of balances goes through the function
``credits_transfer_batch`` (migration ``2026_12_02_credits_ledger``), which locks the accounts
a batch touches in id order in one statement."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin

CREDITS_LEDGER = 1  # the ledger (unit) of credits; another unit would be another ledger


class AccountKind(StrEnum):
    WALLET = "wallet"  # an organization's credits (the one account a user owns)
    APP_REVENUE = "app_revenue"  # credits an organization spent with one app (or sellerhub)
    PURCHASES = "purchases"  # clearing: credits sold (Checkout) enter through it
    GRANTS = "grants"  # credits given by platform admins or subscriptions
    EXPIRY = "expiry"  # granted credits that expired
    PLATFORM = "platform"  # the platform's own adjustments and corrections
    DEBT = "debt"  # credits reversed after they were spent (refunds, disputes)


# Accounts owned by one organization; the others are the platform's (organization_id NULL).
ORGANIZATION_KINDS = frozenset({AccountKind.WALLET, AccountKind.APP_REVENUE, AccountKind.DEBT})


class TransferCode(StrEnum):
    GRANT = "grant"
    PURCHASE = "purchase"
    CONSUME = "consume"
    HOLD = "hold"
    EXPIRE = "expire"
    REFUND = "refund"
    CORRECTION = "correction"


class TransferPhase(StrEnum):
    SINGLE = "single"  # posted at once
    PENDING = "pending"  # a hold: reserved, counted against the debit account's available
    POST = "post"  # resolves a pending transfer: the amount posted (at most the held one)
    VOID = "void"  # resolves a pending transfer: nothing posted, the hold released


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


class CreditAccount(IdMixin, Base):
    """One account of the ledger, keyed by (kind, organization, app, ledger). Only the four
    totals ever change, and only through ``credits_transfer_batch``."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        UniqueConstraint(
            "kind", "organization_id", "app_id", "ledger", postgresql_nulls_not_distinct=True
        ),
        CheckConstraint(f"kind IN ({_values(AccountKind)})", name="kind"),
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name="totals",
        ),
        # The last guard of "never below zero": pending debits (holds) count against it.
        CheckConstraint(
            "NOT debits_must_not_exceed_credits"
            " OR debits_posted + debits_pending <= credits_posted",
            name="debits_within_credits",
        ),
        CheckConstraint(
            "NOT credits_must_not_exceed_debits"
            " OR credits_posted + credits_pending <= debits_posted",
            name="credits_within_debits",
        ),
        CheckConstraint(
            "kind <> 'wallet' OR debits_must_not_exceed_credits", name="wallet_guarded"
        ),
        CheckConstraint(
            "(organization_id IS NOT NULL) = (kind IN ('wallet', 'app_revenue', 'debt'))",
            name="owner",
        ),
    )

    # No cascade: an organization with ledger history is not deleted (its transfers refuse it).
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), default=None
    )
    app_id: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[AccountKind] = mapped_column(EnumText(AccountKind))
    ledger: Mapped[int] = mapped_column(SmallInteger, default=CREDITS_LEDGER)
    debits_must_not_exceed_credits: Mapped[bool] = mapped_column(Boolean, default=False)
    credits_must_not_exceed_debits: Mapped[bool] = mapped_column(Boolean, default=False)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CreditTransfer(TenantScoped, Base):
    """One immutable movement of ``amount`` credits from ``debit_account_id`` to
    ``credit_account_id``, in the organization whose wallet it concerns. The idempotency key is
    unique per (organization, key scope): ``org`` for the organization's own users, ``app:<id>``
    for an app, so two apps never collide. ``debit_balance_after``/``credit_balance_after``:
    each account's available balance (``credits_posted - debits_posted - debits_pending``)
    right after it."""

    __tablename__ = "credit_transfers"
    __table_args__ = (
        UniqueConstraint("organization_id", "key_scope", "idempotency_key"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        CheckConstraint(f"code IN ({_values(TransferCode)})", name="code"),
        CheckConstraint(f"phase IN ({_values(TransferPhase)})", name="phase"),
        CheckConstraint(
            "(phase IN ('post', 'void')) = (pending_id IS NOT NULL)", name="resolves_pending"
        ),
        CheckConstraint("timeout_at IS NULL OR phase = 'pending'", name="timeout_pending"),
        # A pending transfer resolves at most once (posted or voided).
        Index(
            "uq_credit_transfers_pending",
            "pending_id",
            unique=True,
            postgresql_where=text("pending_id IS NOT NULL"),
        ),
        # The history, newest first (ids are UUIDv7). Nothing else is indexed: each index is
        # written by every consume; reconciliation reads the whole table anyway. Partial on a
        # condition every row meets (the amount's CHECK) and only the history query states, so
        # the key probe cannot take it for the key's index on stale statistics (see the
        # migration 2026_12_03_credit_transfers_page).
        Index(
            "ix_credit_transfers_page",
            "organization_id",
            "id",
            postgresql_where=text("amount > 0"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The organization and the two accounts are references without foreign keys (migration
    # 2026_12_04_credit_transfer_refs): a statement trigger checks every inserted
    # transfer's in one query, and triggers on organizations and credit_accounts refuse to
    # delete or re-key one a transfer names, where three foreign keys looked each up per row.
    # No index of its own for the organization (the keys start with it).
    organization_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    key_scope: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    debit_account_id: Mapped[uuid.UUID]
    credit_account_id: Mapped[uuid.UUID]
    amount: Mapped[int] = mapped_column(BigInteger)
    ledger: Mapped[int] = mapped_column(SmallInteger, default=CREDITS_LEDGER)
    code: Mapped[TransferCode] = mapped_column(EnumText(TransferCode))
    phase: Mapped[TransferPhase] = mapped_column(EnumText(TransferPhase))
    pending_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credit_transfers.id"), default=None
    )
    timeout_at: Mapped[datetime | None] = mapped_column(default=None)
    app_id: Mapped[str | None] = mapped_column(String(64), default=None)
    service: Mapped[str | None] = mapped_column(String(64), default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    debit_balance_after: Mapped[int] = mapped_column(BigInteger)
    credit_balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CreditHold(TenantScoped, Base):
    """A pending transfer not resolved yet (deleted when it is posted, voided or expired): the
    open holds, and the expiry job's queue. The ledger itself is ``credit_transfers``."""

    __tablename__ = "credit_holds"
    __table_args__ = (Index("ix_credit_holds_expiry", "expires_at"),)

    transfer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_transfers.id"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=False
    )
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class CreditPackage(IdMixin, TimestampMixin, Base):
    """Credits sold at a price (minor units of ``currency``), managed by platform admins; only
    active ones are offered."""

    __tablename__ = "credit_packages"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits"),
        CheckConstraint("price_minor >= 0", name="price"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "interval IS NULL OR interval IN ('day', 'week', 'month', 'year')", name="interval"
        ),
        CheckConstraint(
            "grant_expires_days IS NULL OR grant_expires_days BETWEEN 1 AND 3650",
            name="grant_expires_days",
        ),
    )

    name: Mapped[str] = mapped_column(String(120))
    credits: Mapped[int] = mapped_column(BigInteger)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # None: sold once; day | week | month | year: a subscription plan granting every period.
    interval: Mapped[str | None] = mapped_column(String(10), default=None)
    # None: the credits never expire; else each grant of it expires that many days after.
    grant_expires_days: Mapped[int | None] = mapped_column(Integer, default=None)


class CreditPurchase(TenantScoped, Base):
    """One Checkout Session selling credits (mode payment): created with the session, fulfilled
    once (``status`` paid, the grant keyed ``checkout:<session id>``) by whichever of the
    webhook and the success page comes first. ``reversed_credits``: taken back by refunds and
    disputes so far (each reversal's own key)."""

    __tablename__ = "credit_purchases"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("reversed_credits >= 0 AND reversed_credits <= credits", name="reversed"),
        CheckConstraint(
            "status IN ('open', 'processing', 'paid', 'failed', 'expired')", name="status"
        ),
        Index("ix_credit_purchases_org", "organization_id", "created_at"),
        Index("ix_credit_purchases_intent", "payment_intent_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=False
    )
    checkout_session_id: Mapped[str] = mapped_column(String(200), unique=True)
    app_id: Mapped[str | None] = mapped_column(String(64), default=None)
    package_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credit_packages.id"), default=None
    )
    credits: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="open")
    payment_intent_id: Mapped[str | None] = mapped_column(String(100), default=None)
    reversed_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    fulfilled_at: Mapped[datetime | None] = mapped_column(default=None)


class CreditSubscription(TenantScoped, Base):
    """A package bought every period (a Stripe Subscription started through Checkout in
    subscription mode): each paid invoice grants ``credits`` once (``invoice:<invoice id>``)."""

    __tablename__ = "credit_subscriptions"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits"),
        Index("ix_credit_subscriptions_org", "organization_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=False
    )
    checkout_session_id: Mapped[str] = mapped_column(String(200), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(
        String(100), unique=True, default=None
    )
    package_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_packages.id"))
    credits: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(30), default="open")
    invoices_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    canceled_at: Mapped[datetime | None] = mapped_column(default=None)
    # A renewal's payment failed (``invoice.payment_failed``): the invoice and its creation
    # time, cleared by a paid invoice at least as recent; ``last_paid_invoice_at``: the newest
    # paid invoice's creation time (an older failure delivered late changes nothing).
    payment_failed_invoice: Mapped[str | None] = mapped_column(String(100), default=None)
    payment_failed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_paid_invoice_at: Mapped[datetime | None] = mapped_column(default=None)


class CreditDispute(TenantScoped, Base):
    """A dispute of a credit purchase: what it took back (``taken``, when it was opened) and
    what winning it gave back (``regranted``: at most ``taken``, once, key
    ``dispute-won:<dispute id>``). ``status``: open, won, lost; a dispute closed before its
    opening was applied (events out of order) takes nothing when the opening arrives."""

    __tablename__ = "credit_disputes"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status"),
        CheckConstraint("taken >= 0 AND regranted >= 0 AND regranted <= taken", name="amounts"),
        Index("ix_credit_disputes_purchase", "purchase_id"),
    )

    dispute_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=False
    )
    purchase_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_purchases.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    taken: Mapped[int] = mapped_column(BigInteger, default=0)
    regranted: Mapped[int] = mapped_column(BigInteger, default=0)
    # charge.dispute.created applied (it takes credits back only while not won)
    opening_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CreditLot(Base):
    """An expiring grant (its transfer's id): ``remaining`` is what is left of it in the wallet
    ``account_id``. Every debit of the wallet but an expiry spends the lots first, earliest
    ``expires_at`` first (``credits_draw_lots``, inside ``credits_transfer_batch`` under the
    wallet's lock); the job ``credits.expire_grants`` moves what remains after ``expires_at``
    to the platform's ``expiry`` account (``expired``)."""

    __tablename__ = "credit_lots"
    __table_args__ = (
        CheckConstraint(
            "amount > 0 AND remaining >= 0 AND expired >= 0 AND remaining + expired <= amount",
            name="amounts",
        ),
        Index(
            "ix_credit_lots_spend",
            "account_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
        ),
        Index("ix_credit_lots_due", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_transfers.id"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), nullable=False
    )
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expired: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CreditLotDraw(Base):
    """What an open hold drew from a lot: given back (latest expiry first) when the hold is
    voided or posted for less (``credits_return_lots``), then deleted."""

    __tablename__ = "credit_lot_draws"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    pending_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("credit_transfers.id"), primary_key=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_lots.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
