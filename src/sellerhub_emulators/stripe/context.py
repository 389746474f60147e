"""What a handler knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from sellerhub_emulators.stripe.events import Origin
from sellerhub_emulators.stripe.state import StripeEmulator


@dataclass(frozen=True, slots=True)
class Ctx:
    em: StripeEmulator
    account: str | None  # the Stripe-Account header: act as this connected account
    origin: Origin
    api_root: str  # absolute URL of the emulator's root (hosted pages live under it)
    publishable: bool = False  # authenticated with the publishable key (Stripe.js calls)

    def page(self, path: str) -> str:
        return f"{self.api_root}/pages/{path}"
