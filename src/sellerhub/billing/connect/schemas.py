from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ConnectStatus = Literal["not_started", "creating", "verification_needed", "enabled", "restricted"]


class ConnectOut(BaseModel):
    """The seller's Stripe Connect account as sellerhub last heard of it."""

    status: ConnectStatus = Field(
        description=(
            "not_started: Amazon is not connected yet; creating: being created at Stripe; "
            "verification_needed: Stripe needs details (requirements_due), ask for a link; "
            "enabled: charges and payouts enabled; restricted: Stripe disabled it for "
            "another reason than missing details (disabled_reason: rejected, under review…)"
        )
    )
    stripe_account_id: str | None = None
    country: str | None = None
    charges_enabled: bool = False
    payouts_enabled: bool = False
    details_submitted: bool = False
    requirements_due: list[str] = Field(default_factory=list)
    disabled_reason: str | None = None
    updated_at: datetime | None = None


class AccountLinkOut(BaseModel):
    """A single-use link to Stripe's hosted onboarding (expires within minutes)."""

    url: str
    expires_at: datetime
