"""Stripe's failures as domain errors (``core.errors`` classes with stable codes), so that an
endpoint answers problem+json with a status that says what the caller can do, and a job knows
whether to retry. ``client.translate`` maps the SDK's exceptions to these."""

from __future__ import annotations

from typing import Any

from sellerhub.core.errors import Conflict, DomainError, NotFound, PaymentRequired


class StripeUnavailable(DomainError):
    """Stripe did not answer in time, answered 5xx or throttled us (after the SDK's own
    retries): nothing is known to have changed; retry later (503, ``Retry-After``)."""

    status = 503
    code = "stripe-unavailable"
    title = "Stripe is unavailable"


class StripeMisconfigured(DomainError):
    """Stripe refused our key (401/403): an operator must fix the settings; retrying the same
    call cannot succeed until then."""

    status = 503
    code = "stripe-misconfigured"
    title = "Billing is not configured"


class StripeRefused(DomainError):
    """Stripe refused the request as invalid (400 ``invalid_request_error``): a fault of ours or
    of the object's state at Stripe, in words, never retried as it is."""

    status = 502
    code = "stripe-refused"
    title = "Stripe refused the request"


class StripeObjectMissing(NotFound):
    """The object named does not exist at Stripe (404 ``resource_missing``)."""

    code = "stripe-object-missing"
    title = "Stripe has no such object"


class StripeIdempotencyConflict(Conflict):
    """The same Idempotency-Key came with other parameters (400 ``idempotency_error``)."""

    code = "stripe-idempotency"
    title = "Stripe saw this request with other parameters"


class CardRefused(PaymentRequired):
    """The card was declined or needs the cardholder (402 ``card_error``); ``card_code`` and
    ``decline_code`` are Stripe's (``card_declined``/``insufficient_funds``,
    ``authentication_required`` …) and travel in the problem body."""

    code = "card-refused"
    title = "The card was refused"

    def __init__(
        self,
        detail: str | None = None,
        *,
        card_code: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        extra: dict[str, Any] = {"card_code": card_code, "decline_code": decline_code}
        super().__init__(detail, **{k: v for k, v in extra.items() if v is not None})
        self.card_code = card_code
        self.decline_code = decline_code
