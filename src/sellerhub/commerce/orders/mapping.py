"""Provider order JSON → normalised order values (Shopify REST order, WooCommerce v3 order)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sellerhub.commerce.money import to_minor
from sellerhub.core.errors import ValidationFailed


@dataclass
class NormalisedLine:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price_minor: int


@dataclass
class NormalisedOrder:
    external_id: str
    number: str
    status: str
    currency: str
    total_minor: int
    customer_email: str | None
    placed_at: datetime | None
    updated_at: datetime
    lines: list[NormalisedLine] = field(default_factory=list)
    # What the order means for stock (commerce.flows): "open" holds its units, "fulfilled"
    # shipped them, "cancelled" gives them back.
    stock: str = "open"


# A payload that breaks one of these rules is unusable as it is: ``ValidationFailed`` marks its
# webhook event failed at once with the reason, instead of retrying what cannot succeed.
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_QUANTITY = 1_000_000_000


def _currency(value: Any) -> str:
    currency = str(value or "USD").upper()
    if not _CURRENCY.match(currency):
        raise ValidationFailed(f"currency {currency[:20]!r} is not an ISO 4217 code")
    return currency


def _amount(value: Any, currency: str, name: str) -> int:
    minor = to_minor(value, currency)
    if minor < 0:
        raise ValidationFailed(f"{name} must not be negative")
    return minor


def _quantity(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValidationFailed("a line quantity must be a whole number")
    try:
        quantity = int(str(value)) if not isinstance(value, float) else int(value)
    except ValueError:
        raise ValidationFailed(f"line quantity {str(value)[:20]!r} is not a whole number") from None
    if isinstance(value, float) and value != quantity:
        raise ValidationFailed("a line quantity must be a whole number")
    if not 0 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed(f"line quantity {quantity} is out of range (0 to {MAX_QUANTITY})")
    return quantity


def _identifier(value: Any, name: str, limit: int = 100) -> str:
    text = str(value)
    if len(text) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters")
    return text


def _text(value: Any, limit: int) -> str:
    """Free text (titles): kept, cut at the column's length."""
    return str(value or "")[:limit]


def _email(value: Any) -> str | None:
    if not value:
        return None
    text = str(value)
    return text if len(text) <= 320 else None


def _time(value: Any) -> datetime | None:
    """ISO 8601; a time without offset is UTC (WooCommerce's ``*_gmt`` fields)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{value!r} is not a timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    lines = order.get("line_items") or []
    if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
        raise ValidationFailed("line_items must be a list of objects")
    return lines


def _shopify_stock(order: dict[str, Any]) -> str:
    if order.get("cancelled_at"):
        return "cancelled"
    return "fulfilled" if order.get("fulfillment_status") == "fulfilled" else "open"


# WooCommerce statuses: completed = shipped; cancelled, refunded and failed give the units back.
_WOO_STOCK = {
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "refunded": "cancelled",
    "failed": "cancelled",
}


def shopify(order: dict[str, Any]) -> NormalisedOrder:
    currency = _currency(order.get("currency"))
    updated = _time(order.get("updated_at")) or _time(order.get("created_at"))
    if order.get("id") is None or updated is None:
        raise ValidationFailed("a Shopify order needs an id and updated_at")
    return NormalisedOrder(
        external_id=_identifier(order["id"], "the order id"),
        number=_identifier(order.get("name") or order.get("order_number") or "", "name"),
        status=_identifier(order.get("financial_status") or "", "financial_status", 50),
        currency=currency,
        total_minor=_amount(order.get("total_price"), currency, "total_price"),
        customer_email=_email(order.get("email") or _object(order.get("customer")).get("email")),
        placed_at=_time(order.get("created_at")),
        updated_at=updated,
        lines=[
            NormalisedLine(
                external_id=_identifier(line.get("id", ""), "a line id"),
                sku=_identifier(line.get("sku") or "", "a line sku", 200),
                title=_text(line.get("title") or line.get("name"), 500),
                quantity=_quantity(line.get("quantity")),
                unit_price_minor=_amount(line.get("price"), currency, "a line price"),
            )
            for line in _lines(order)
        ],
        stock=_shopify_stock(order),
    )


def woocommerce(order: dict[str, Any]) -> NormalisedOrder:
    currency = _currency(order.get("currency"))
    updated = _time(order.get("date_modified_gmt")) or _time(order.get("date_created_gmt"))
    if order.get("id") is None or updated is None:
        raise ValidationFailed("a WooCommerce order needs an id and date_modified_gmt")
    return NormalisedOrder(
        external_id=_identifier(order["id"], "the order id"),
        number=_identifier(order.get("number") or order["id"], "number"),
        status=_identifier(order.get("status") or "", "status", 50),
        currency=currency,
        total_minor=_amount(order.get("total"), currency, "total"),
        customer_email=_email(_object(order.get("billing")).get("email")),
        placed_at=_time(order.get("date_created_gmt")),
        updated_at=updated,
        lines=[
            NormalisedLine(
                external_id=_identifier(line.get("id", ""), "a line id"),
                sku=_identifier(line.get("sku") or "", "a line sku", 200),
                title=_text(line.get("name"), 500),
                quantity=_quantity(line.get("quantity")),
                unit_price_minor=_amount(line.get("price"), currency, "a line price"),
            )
            for line in _lines(order)
        ],
        stock=_WOO_STOCK.get(str(order.get("status") or ""), "open"),
    )
