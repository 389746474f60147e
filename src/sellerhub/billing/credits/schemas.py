"""What the credit routes read and answer. Credits are whole units (integers)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_CREDITS = 1_000_000_000_000  # per transfer
MAX_METADATA_BYTES = 4096  # a transfer's metadata, as stored (JSON)
SERVICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
Key = Field(min_length=1, max_length=200, description="the same key repeats the same request")
Service = Field(
    min_length=1, max_length=64, pattern=SERVICE_PATTERN, description="what the credits pay for"
)


class CreditCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: int = Field(ge=0, le=MAX_CREDITS)


class CreditCheckOut(BaseModel):
    sufficient: bool
    balance: int = Field(description="available credits (holds subtracted)")


class ConsumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=1, le=MAX_CREDITS)
    service: str = Service
    idempotency_key: str = Key
    metadata: dict[str, Any] | None = Field(
        None, description="kept with the transfer (JSON, at most 4 KiB; integers within 64 bits)"
    )

    @field_validator("metadata")
    @classmethod
    def _storable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """What the ledger stores (``orjson``): integers beyond 64 bits cannot be, and a transfer
        row is no place for a large document."""
        if value is None:
            return None
        try:
            stored = orjson.dumps(value)
        except TypeError:
            raise ValueError("metadata must hold integers within 64 bits") from None
        if len(stored) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is limited to {MAX_METADATA_BYTES} bytes as JSON")
        return value


class TransferOut(BaseModel):
    id: uuid.UUID
    idempotency_key: str
    code: str = Field(description="grant, purchase, consume, hold, expire, refund, correction")
    phase: str = Field(description="single, pending (a hold), post or void")
    amount: int
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    pending_id: uuid.UUID | None = Field(description="the hold a post or void resolves")
    app_id: str | None
    service: str | None
    balance_after: int | None = Field(
        description="the wallet's available credits right after it (when it touched the wallet)"
    )
    timeout_at: datetime | None
    created_at: datetime


class PackageOut(BaseModel):
    id: uuid.UUID
    name: str
    credits: int
    price_minor: int = Field(description="minor units of the currency")
    currency: str
    active: bool
    interval: str | None = Field(None, description="a subscription plan's period; null: sold once")
    grant_expires_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="each grant of it expires this many days after (unspent credits leave the "
        "wallet); null: they never expire",
    )


class PackageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    credits: int = Field(ge=1, le=MAX_CREDITS)
    price_minor: int = Field(ge=0, le=100_000_000_00)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    active: bool = True
    interval: Literal["day", "week", "month", "year"] | None = Field(
        None,
        description="a subscription plan's period (granted each paid invoice); none: sold once",
    )
    grant_expires_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="each grant of it expires this many days after (unspent credits leave the "
        "wallet); null: they never expire",
    )


class PackageUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(description="the package to change")
    name: str | None = Field(None, min_length=1, max_length=120)
    credits: int | None = Field(None, ge=1, le=MAX_CREDITS)
    price_minor: int | None = Field(None, ge=0, le=100_000_000_00)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    active: bool | None = None
    grant_expires_days: int | None = Field(
        None, ge=1, le=3650, description="days until each later grant expires (null: unchanged)"
    )


class CrossAppCredits(BaseModel):
    balance: int = Field(description="available credits (holds subtracted)")
    packages: list[PackageOut] = Field(description="the packages on sale")


class UsageOut(BaseModel):
    app_id: str | None = Field(description="None: used by the organization's own users")
    service: str | None
    credits: int
    transfers: int


class ExpiringOut(BaseModel):
    credits: int = Field(description="what is left of the grant")
    expires_at: datetime


class WalletOut(BaseModel):
    balance: int = Field(description="posted credits")
    held: int = Field(description="credits reserved by open holds")
    available: int = Field(description="balance - held: what can be consumed or held")
    usage: list[UsageOut]
    packages: list[PackageOut] = Field(description="the packages on sale")
    expiring: list[ExpiringOut] = Field(
        default_factory=list,
        description="unspent credits of expiring grants, soonest first (spent first, too)",
    )


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: uuid.UUID | None


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=1, le=MAX_CREDITS)
    service: str = Service
    idempotency_key: str = Key
    timeout_seconds: int = Field(
        900, ge=1, le=30 * 86400, description="voided by the expiry job after this long"
    )


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(
        None, ge=1, le=MAX_CREDITS, description="at most the amount held; absent: all of it"
    )


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID
    amount: int = Field(ge=1, le=MAX_CREDITS)
    idempotency_key: str = Key
    reason: str = Field("", max_length=200)
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="the credits granted expire after this many days"
    )


class PurchaseIn(BaseModel):
    """A package, or an amount of credits (priced at the smallest package's unit price)."""

    model_config = ConfigDict(extra="forbid")

    package_id: uuid.UUID | None = None
    amount: int | None = Field(None, ge=1, le=10_000_000)
    success_url: str | None = Field(
        None, max_length=2000, description="one of the app's registered redirect URLs (query free)"
    )
    cancel_url: str | None = Field(None, max_length=2000)
    return_app_id: str | None = Field(
        None,
        max_length=64,
        description="service tokens only: the browser app whose registered redirect URLs the "
        "buyer returns to (a service app registers none)",
    )


class PurchaseOut(BaseModel):
    purchase_id: uuid.UUID
    checkout_session_id: str
    url: str = Field(description="Stripe's hosted Checkout page")


class PurchaseStatusOut(BaseModel):
    checkout_session_id: str
    status: str = Field(description="open | processing | paid | failed | expired")
    credits: int
    amount_minor: int
    currency: str
    reversed_credits: int


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package_id: uuid.UUID = Field(description="a subscription plan (a package with an interval)")


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    package_id: uuid.UUID
    credits: int = Field(description="granted for each paid invoice")
    status: str
    stripe_subscription_id: str | None
    invoices_paid: int
    created_at: datetime
    canceled_at: datetime | None
    payment_failed_invoice: str | None = Field(
        None, description="the renewal invoice whose payment failed (not paid since)"
    )
    payment_failed_at: datetime | None = Field(None, description="that invoice's creation time")


class SubscriptionStartOut(BaseModel):
    subscription_id: uuid.UUID
    url: str
