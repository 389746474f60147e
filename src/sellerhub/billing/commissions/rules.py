"""The commission's rules, pure: how much, whether at all, when to try again, and which state
may follow which. No I/O; ``tests/test_billing_rules.py`` checks them with hypothesis.

* Amount: ``recovered * rate_bps / 10,000`` in the recovery's minor units, rounded **half up**
  (a result of exactly .5 of a minor unit goes up), integers only: ``(a * bps + 5,000) //
  10,000``. The rate is in basis points (2000 = 20 %), per organization when it has an override.
* Minimum: a commission below the currency's minimum charge is not charged at all (state
  ``waived``): Stripe refuses charges below its minimum per currency, and a few cents are not
  worth a card charge. The minimums are a setting (``billing_commission_minimums``).
* Retries after a decline: the schedule is a setting (``billing_commission_retry_days``,
  default 1, 3, 7 days after each failed attempt); after the last one the commission stays
  ``failed`` for good (no next attempt) and the seller is told.
* States: ``TRANSITIONS`` is the one table of legal moves; ``check_move`` refuses the others."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from sellerhub.config import COMMISSION_MINIMUMS

BPS_DENOMINATOR: Final = 10_000
DEFAULT_RATE_BPS: Final = 2000
# Stripe's minimum charge amounts for the currencies of Amazon's marketplaces (minor units; the
# setting's default); another currency falls back to DEFAULT_MINIMUM.
DEFAULT_MINIMUMS: Final[Mapping[str, int]] = COMMISSION_MINIMUMS
DEFAULT_MINIMUM: Final = 50
DEFAULT_RETRY_DAYS: Final[tuple[int, ...]] = (1, 3, 7)


class CommissionState(StrEnum):
    PENDING = "pending"  # written, not yet sent to Stripe (or due again)
    PROCESSING = "processing"  # an attempt was sent; its outcome is not recorded yet
    SUCCEEDED = "succeeded"  # Stripe took the money
    REQUIRES_ACTION = "requires_action"  # the bank wants the seller on session (SCA)
    FAILED = "failed"  # declined; next_attempt_at says when again (none: given up)
    NO_CARD = "no_card"  # waiting for a saved card (charged once one is the default)
    WAIVED = "waived"  # nothing to charge: below the minimum, or a reversal
    WITHHELD = "withheld"  # the platform holds the money: kept from the seller's transfer
    REFUNDED = "refunded"  # refunded in full (Stripe)
    DISPUTED = "disputed"  # the seller's bank opened a dispute (Stripe)


S = CommissionState
TRANSITIONS: Final[Mapping[CommissionState, frozenset[CommissionState]]] = {
    S.PENDING: frozenset({S.PROCESSING, S.NO_CARD, S.WAIVED, S.WITHHELD}),
    # An attempt's outcome; back to pending when it never reached Stripe (after the search).
    S.PROCESSING: frozenset({S.SUCCEEDED, S.REQUIRES_ACTION, S.FAILED, S.PENDING}),
    # The seller confirms on session (processing), or a later webhook says how it ended.
    S.REQUIRES_ACTION: frozenset({S.PROCESSING, S.SUCCEEDED, S.FAILED}),
    # A retry, a late success; waived when a reversal took the rest of the recovery back.
    S.FAILED: frozenset({S.PROCESSING, S.SUCCEEDED, S.NO_CARD, S.WAIVED}),
    S.NO_CARD: frozenset({S.PROCESSING, S.WAIVED}),
    S.SUCCEEDED: frozenset({S.REFUNDED, S.DISPUTED}),
    S.DISPUTED: frozenset({S.REFUNDED}),
    S.WAIVED: frozenset(),
    S.WITHHELD: frozenset(),
    S.REFUNDED: frozenset(),
}
FINAL: Final = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)
# What the periodic job looks at: may move towards a charge without anyone acting.
OPEN: Final = frozenset({S.PENDING, S.PROCESSING, S.FAILED, S.NO_CARD})


class IllegalTransition(ValueError):
    """A state change the table does not allow."""


def can_move(current: CommissionState | str, target: CommissionState | str) -> bool:
    return S(target) in TRANSITIONS[S(current)]


def check_move(current: CommissionState | str, target: CommissionState | str) -> None:
    if not can_move(current, target):
        raise IllegalTransition(f"a commission cannot go from {current} to {target}")


def commission_minor(amount_minor: int, rate_bps: int) -> int:
    """``amount * rate / 10,000`` rounded half up, in minor units; 0 for nothing recovered."""
    if amount_minor < 0:
        raise ValueError("a commission is computed on a positive recovery")
    if not 0 <= rate_bps <= BPS_DENOMINATOR:
        raise ValueError("a rate is between 0 and 10,000 basis points")
    return (amount_minor * rate_bps + BPS_DENOMINATOR // 2) // BPS_DENOMINATOR


def minimum_for(currency: str, minimums: Mapping[str, int] | None = None) -> int:
    table = DEFAULT_MINIMUMS if minimums is None else minimums
    return table.get(currency.upper(), DEFAULT_MINIMUM)


def below_minimum(
    commission: int, currency: str, minimums: Mapping[str, int] | None = None
) -> bool:
    return commission < minimum_for(currency, minimums)


def next_attempt(
    failed_attempts: int, failed_at: dt.datetime, retry_days: Sequence[int] = DEFAULT_RETRY_DAYS
) -> dt.datetime | None:
    """When to try again after the ``failed_attempts``-th declined attempt (1 for the first);
    None once the schedule is spent (the commission stays failed)."""
    if failed_attempts < 1:
        raise ValueError("counts failed attempts from 1")
    if failed_attempts > len(retry_days):
        return None
    return failed_at + dt.timedelta(days=retry_days[failed_attempts - 1])


def reversal_share(commission: int, reversed_minor: int, recovered_minor: int, left: int) -> int:
    """What a reversal takes off a commission: ``commission * reversed / recovered`` rounded
    half up in minor units, never more than ``left`` (what is not refunded or reduced yet)."""
    if min(commission, reversed_minor, left) < 0 or recovered_minor <= 0:
        raise ValueError("a share is computed on positive amounts of a recovery")
    share = (2 * commission * reversed_minor + recovered_minor) // (2 * recovered_minor)
    return min(share, left)


def refund_key(reversal_id: object) -> str:
    """The one key of a reversal's refund: sent again, it is the same request at Stripe."""
    return f"commission_refund:{reversal_id}"


def idempotency_key(recovery_id: object, attempt: int) -> str:
    """The one key of an attempt: the same attempt re-sent is the same request at Stripe."""
    return f"commission:{recovery_id}:{attempt}"


def state_of_intent(status: str, error_code: str | None) -> CommissionState | None:
    """What a PaymentIntent's current status means for its commission; None when it says
    nothing yet (not confirmed)."""
    if status == "succeeded":
        return S.SUCCEEDED
    if status in ("processing", "requires_capture"):
        return S.PROCESSING
    if status in ("requires_action", "requires_confirmation"):
        return S.REQUIRES_ACTION
    if status == "requires_payment_method":
        if error_code is None:
            return None
        return S.REQUIRES_ACTION if error_code == "authentication_required" else S.FAILED
    if status == "canceled":
        return S.FAILED
    return None


RECEIPT_URL_MAX: Final = 500
STRIPE_RECEIPT_DOMAIN: Final = "stripe.com"


def receipt_link(url: object, api_base: str) -> str | None:
    """The receipt URL as a link to show, or None: only an ``https`` URL on Stripe's own
    hosts (``stripe.com`` and its subdomains, where Stripe's receipts live) or a URL on the
    configured Stripe API base's origin (scheme, host and port: the emulator's receipt page in
    development). Anything else — ``javascript:``, ``data:``, another host, credentials in the
    URL, spaces or control characters — is not a link (an XSS and open-redirect guard: the
    URL comes from Stripe's answer or a webhook, never trusted as HTML)."""
    if not isinstance(url, str) or not url or len(url) > RECEIPT_URL_MAX:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ch in "\\<>\"'`" for ch in url):
        return None
    try:
        parts, base = urlsplit(url), urlsplit(api_base)
        port, base_port = parts.port, base.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        return None
    if parts.scheme == "https" and (
        host == STRIPE_RECEIPT_DOMAIN or host.endswith("." + STRIPE_RECEIPT_DOMAIN)
    ):
        return url
    same_origin = (
        parts.scheme in ("http", "https")
        and parts.scheme == base.scheme
        and host == (base.hostname or "").lower()
        and port == base_port
    )
    return url if same_origin else None
