"""Signature checks over the raw request body, before any parsing, in constant time.

* Shopify (providers.md §4.2): ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(app secret, body)).
* WooCommerce (§5.3): ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook secret, body)).
* Stripe (§8.3): ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]``, each ``v1`` =
  hex(HMAC-SHA256(endpoint secret, "<t>.<body>")); any matching ``v1`` passes; ``t`` must be
  within the tolerance (300 s) of now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class SignatureInvalid(Exception):
    """Why a delivery was refused (logged; the client only learns it was refused)."""


def _b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_base64_hmac(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise SignatureInvalid("signature header missing")
    if not secret:
        raise SignatureInvalid("no secret configured to check the signature")
    if not hmac.compare_digest(_b64_hmac(secret, body).encode(), header.strip().encode()):
        raise SignatureInvalid("signature does not match the body")


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_stripe(
    secret: str, body: bytes, header: str | None, tolerance: int = 300, now: float | None = None
) -> int:
    """Returns the signed timestamp."""
    if not header:
        raise SignatureInvalid("Stripe-Signature header missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureInvalid("Stripe-Signature timestamp is not a number") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureInvalid("Stripe-Signature lacks t or v1")
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        raise SignatureInvalid("Stripe-Signature timestamp outside the tolerance")
    expected = stripe_signature(secret, body, timestamp).encode()
    if not any(hmac.compare_digest(expected, c.encode()) for c in candidates):
        raise SignatureInvalid("no v1 signature matches the body")
    return timestamp
