"""The inventory's own errors (``core.errors`` classes with stable codes)."""

from __future__ import annotations

from sellerhub.core.errors import Conflict, DomainError


class InsufficientStock(Conflict):
    """A reservation line (or an adjustment, a shipment) needs more units than are available
    (``on_hand - reserved``) at the location. ``extra`` names the SKU, the location, what is
    available and what was asked."""

    code = "insufficient-stock"
    title = "Not enough stock is available"


class QuantityChanged(Conflict):
    code = "quantity-changed"
    title = "The quantity changed since it was read"


class BelowReserved(Conflict):
    code = "below-reserved"
    title = "On hand cannot drop below the units reserved"


class IdempotencyKeyReused(Conflict):
    code = "idempotency-key-reused"
    title = "The idempotency key was used for another request"


class ReservationClosed(Conflict):
    code = "reservation-closed"
    title = "The reservation is no longer active"


class LocationCodeTaken(Conflict):
    code = "location-code-taken"
    title = "Another location of the organization has this code"


class Archived(Conflict):
    code = "archived"
    title = "The product or location is archived"


class StockBusy(DomainError):
    """A reservation's levels kept changing while it was taken (each attempt rolled back);
    nothing was written. Retrying with the same idempotency key is safe."""

    status = 503
    code = "stock-busy"
    title = "The stock is changing too fast; retry"
