from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class CustomerSetupOut(BaseModel):
    """What the browser needs to save a card: Stripe.js confirms the SetupIntent with the
    client secret and the publishable key (``stripe.confirmCardSetup``); with the development
    emulator, ``hosted_url`` is a Stripe-hosted-like page that does it."""

    customer_id: str = Field(description="the organization's Stripe customer (cus_…)")
    setup_intent_id: str = Field(description="seti_…")
    client_secret: str = Field(description="the SetupIntent's client secret, for Stripe.js only")
    publishable_key: str
    hosted_url: str | None = Field(
        None, description="the emulator's card page (development only); null with real Stripe"
    )


class PaymentMethodOut(BaseModel):
    """A saved card as Stripe describes it for display; never the number."""

    id: uuid.UUID
    stripe_payment_method_id: str
    brand: str = Field(description="visa, mastercard, amex, …")
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = Field(description="the card commissions are charged to")
    created_at: datetime
