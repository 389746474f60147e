from __future__ import annotations

from sellerhub.core.errors import Conflict, NotFound, PaymentRequired


class InsufficientCredits(PaymentRequired):
    code = "insufficient-credits"
    title = "The wallet has too few credits"


class IdempotencyKeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "The idempotency key was used for another request"


class HoldNotFound(NotFound):  # "not-found", as every row of another organization
    title = "No such hold"


class HoldResolved(Conflict):
    code = "hold-resolved"
    title = "The hold was posted or voided already"


class HoldExceeded(Conflict):
    code = "hold-exceeded"
    title = "More than the hold reserved"


class PackageNotFound(NotFound):
    title = "No such credit package"
