"""Provider order JSON → normalised order values (Shopify REST order, WooCommerce v3 order)."""

from __future__ import annotations

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


def _time(value: Any) -> datetime | None:
    """ISO 8601; a time without offset is UTC (WooCommerce's ``*_gmt`` fields)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{value!r} is not a timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def shopify(order: dict[str, Any]) -> NormalisedOrder:
    currency = str(order.get("currency") or "USD").upper()
    updated = _time(order.get("updated_at")) or _time(order.get("created_at"))
    if order.get("id") is None or updated is None:
        raise ValidationFailed("a Shopify order needs an id and updated_at")
    return NormalisedOrder(
        external_id=str(order["id"]),
        number=str(order.get("name") or order.get("order_number") or ""),
        status=str(order.get("financial_status") or ""),
        currency=currency,
        total_minor=to_minor(order.get("total_price"), currency),
        customer_email=order.get("email") or (order.get("customer") or {}).get("email"),
        placed_at=_time(order.get("created_at")),
        updated_at=updated,
        lines=[
            NormalisedLine(
                external_id=str(line.get("id", "")),
                sku=str(line.get("sku") or ""),
                title=str(line.get("title") or line.get("name") or ""),
                quantity=int(line.get("quantity") or 0),
                unit_price_minor=to_minor(line.get("price"), currency),
            )
            for line in order.get("line_items") or []
        ],
    )


def woocommerce(order: dict[str, Any]) -> NormalisedOrder:
    currency = str(order.get("currency") or "USD").upper()
    updated = _time(order.get("date_modified_gmt")) or _time(order.get("date_created_gmt"))
    if order.get("id") is None or updated is None:
        raise ValidationFailed("a WooCommerce order needs an id and date_modified_gmt")
    return NormalisedOrder(
        external_id=str(order["id"]),
        number=str(order.get("number") or order["id"]),
        status=str(order.get("status") or ""),
        currency=currency,
        total_minor=to_minor(order.get("total"), currency),
        customer_email=(order.get("billing") or {}).get("email") or None,
        placed_at=_time(order.get("date_created_gmt")),
        updated_at=updated,
        lines=[
            NormalisedLine(
                external_id=str(line.get("id", "")),
                sku=str(line.get("sku") or ""),
                title=str(line.get("name") or ""),
                quantity=int(line.get("quantity") or 0),
                unit_price_minor=to_minor(line.get("price"), currency),
            )
            for line in order.get("line_items") or []
        ],
    )
