"""Billing's commission errors (``core.errors`` classes with stable codes)."""

from __future__ import annotations

from sellerhub.core.errors import Conflict, NotFound, ValidationFailed


class NoSuchCommission(NotFound):
    """Another organization's commission too (its code stays ``not-found``)."""


class NoSuchRecovery(NotFound):
    """Another organization's recovery too."""


class BadCursor(ValidationFailed):
    code = "billing-cursor"
    title = "The cursor is not one this list gave"


class NotAwaitingAction(Conflict):
    code = "commission-not-awaiting-action"
    title = "The commission does not wait for the seller's confirmation"


class StripeUnavailable(Conflict):
    """Stripe did not answer in time (or answered 5xx): the commission stays as it is and is
    looked up again; the caller may retry."""

    status = 503
    code = "stripe-unavailable"
    title = "Stripe is unavailable"
