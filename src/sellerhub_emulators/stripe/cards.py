"""Stripe's test PaymentMethod ids and what each card does (docs.stripe.com/testing).

``auth``: ``"always"`` asks for 3-D Secure on every payment, on or off session (4000002760003184);
``"setup"`` asks once — a card set up through a SetupIntent is then charged off session without
authentication (4000002500003155); None never asks. ``decline``: (code, decline_code) answered on
a charge; ``decline_setup``: also declined when the card is set up (a SetupIntent fails)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardSpec:
    brand: str
    last4: str
    number: str
    funding: str = "credit"
    auth: str | None = None
    decline: tuple[str, str] | None = None
    decline_setup: bool = False
    label: str = ""

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"emulator-card:{self.number}".encode()).hexdigest()[:16]


_DECLINED = ("card_declined", "generic_decline")

CARDS: dict[str, CardSpec] = {
    "pm_card_visa": CardSpec("visa", "4242", "4242424242424242", label="Visa, succeeds"),
    "pm_card_visa_debit": CardSpec(
        "visa", "5556", "4000056655665556", funding="debit", label="Visa debit, succeeds"
    ),
    "pm_card_mastercard": CardSpec(
        "mastercard", "4444", "5555555555554444", label="Mastercard, succeeds"
    ),
    "pm_card_amex": CardSpec("amex", "8431", "378282246310005", label="American Express, succeeds"),
    "pm_card_chargeDeclined": CardSpec(
        "visa",
        "0002",
        "4000000000000002",
        decline=_DECLINED,
        decline_setup=True,
        label="Declined (generic_decline)",
    ),
    "pm_card_chargeDeclinedInsufficientFunds": CardSpec(
        "visa",
        "9995",
        "4000000000009995",
        decline=("card_declined", "insufficient_funds"),
        label="Declined on charges: insufficient funds (saves fine)",
    ),
    "pm_card_chargeDeclinedExpiredCard": CardSpec(
        "visa",
        "0069",
        "4000000000000069",
        decline=("expired_card", "expired_card"),
        decline_setup=True,
        label="Declined: expired card",
    ),
    "pm_card_authenticationRequired": CardSpec(
        "visa",
        "3184",
        "4000002760003184",
        auth="always",
        label="3-D Secure on every payment, also off session",
    ),
    "pm_card_authenticationRequiredOnSetup": CardSpec(
        "visa",
        "3155",
        "4000002500003155",
        auth="setup",
        label="3-D Secure once; off-session charges succeed after setup",
    ),
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": CardSpec(
        "visa",
        "3178",
        "4000008260003178",
        auth="always",
        decline=("card_declined", "insufficient_funds"),
        label="3-D Secure, then declined: insufficient funds",
    ),
}
ALIASES = {"pm_card_expiredCard": "pm_card_chargeDeclinedExpiredCard"}

# Checkout-page choices that settle later (async payment methods): outcome after the page.
ASYNC_METHODS = {
    "async_succeeds": ("Bank debit (settles later: succeeds)", True),
    "async_fails": ("Bank debit (settles later: fails)", False),
}


def card_spec(pm_id: str) -> CardSpec | None:
    return CARDS.get(ALIASES.get(pm_id, pm_id))


DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
