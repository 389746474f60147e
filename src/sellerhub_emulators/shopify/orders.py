"""Deterministic orders per shop (the same shop always starts with the same 30 orders) and the
filters of ``GET /admin/api/{version}/orders.json`` (providers.md §4.4).

Fields are a subset of Shopify's REST ``Order``: ``id, admin_graphql_api_id, name,
order_number, email, created_at, updated_at, processed_at, closed_at, cancelled_at, currency,
total_price, subtotal_price, financial_status, fulfillment_status, line_items[{id, sku, title,
quantity, price, product_id, variant_id}], customer{id, email}``. Times carry the shop's offset
(``-05:00``), prices are decimal strings, as in Shopify.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sellerhub_emulators.shopify import constants as c

SHOP_TZ = timezone(timedelta(hours=-5))
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=SHOP_TZ)
PRODUCTS = (
    ("EMU-TEE-BLK-M", "Emulator T-Shirt - Black / M", 1999),
    ("EMU-TEE-WHT-L", "Emulator T-Shirt - White / L", 1999),
    ("EMU-MUG-11OZ", "Emulator Mug 11oz", 1250),
    ("EMU-CAP-RED", "Emulator Cap - Red", 2400),
    ("EMU-STICKER-5", "Sticker Pack (5)", 500),
    ("EMU-HOODIE-GRY-S", "Emulator Hoodie - Grey / S", 4900),
)


def stamp(moment: datetime) -> str:
    return moment.astimezone(SHOP_TZ).replace(microsecond=0).isoformat()


def now_stamp() -> str:
    return stamp(datetime.now(UTC))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _seed(shop: str) -> int:
    return int.from_bytes(hashlib.sha256(shop.encode()).digest()[:8], "big")


def build_order(
    rng: random.Random,
    *,
    order_id: int,
    number: int,
    created: datetime,
    updated: datetime,
    status: str,
) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    total = 0
    for index in range(rng.randint(1, 3)):
        sku, title, price = PRODUCTS[rng.randrange(len(PRODUCTS))]
        quantity = rng.randint(1, 3)
        items.append(
            {
                "id": order_id * 10 + index + 1,
                "product_id": 7_000_000_000 + PRODUCTS.index((sku, title, price)),
                "variant_id": 40_000_000_000 + PRODUCTS.index((sku, title, price)),
                "sku": sku,
                "title": title,
                "quantity": quantity,
                "price": _money(price),
            }
        )
        total += quantity * price
    customer_id = 6_000_000_000 + rng.randrange(1_000_000)
    email = f"customer{customer_id % 10_000}@example.com"
    order: dict[str, Any] = {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "email": email,
        "created_at": stamp(created),
        "updated_at": stamp(updated),
        "processed_at": stamp(created),
        "closed_at": None,
        "cancelled_at": None,
        "currency": "USD",
        "total_price": _money(total),
        "subtotal_price": _money(total),
        "financial_status": "paid",
        "fulfillment_status": None,
        "line_items": items,
        "customer": {"id": customer_id, "email": email},
    }
    if status == "closed":
        order["closed_at"] = stamp(updated)
        order["fulfillment_status"] = "fulfilled"
    elif status == "cancelled":
        order["cancelled_at"] = stamp(updated)
        order["financial_status"] = "refunded"
    elif rng.random() < 0.25:
        order["financial_status"] = "pending"
    elif rng.random() < 0.2:
        order["fulfillment_status"] = "partial"
    return order


def seed_orders(shop: str) -> list[dict[str, Any]]:
    seed = _seed(shop)
    rng = random.Random(seed)  # noqa: S311 - deterministic test data
    base_id = 5_000_000_000 + (seed % 100_000) * 1_000
    orders = []
    for i in range(c.SEEDED_ORDERS):
        created = EPOCH + timedelta(hours=7 * i, minutes=rng.randrange(60))
        updated = created + timedelta(hours=rng.randrange(1, 48))
        status = "cancelled" if i % 10 == 9 else ("closed" if i % 5 == 3 else "open")
        orders.append(
            build_order(
                rng,
                order_id=base_id + i * 17 + 1,
                number=1001 + i,
                created=created,
                updated=updated,
                status=status,
            )
        )
    return orders


def new_order(shop: str, order_id: int, number: int) -> dict[str, Any]:
    """An open, paid order created now (``orders/create`` and ``_admin/orders``)."""
    rng = random.Random(_seed(shop) ^ order_id)  # noqa: S311 - deterministic test data
    now = datetime.now(UTC)
    return build_order(
        rng, order_id=order_id, number=number, created=now, updated=now, status="open"
    )


def order_status(order: dict[str, Any]) -> str:
    if order.get("cancelled_at"):
        return "cancelled"
    if order.get("closed_at"):
        return "closed"
    return "open"


_FULFILLMENT: dict[str, set[str | None]] = {
    "shipped": {"fulfilled"},
    "partial": {"partial"},
    "unshipped": {None},
    "unfulfilled": {None, "partial"},
}


class FilterError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _time(value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise FilterError(field, "is invalid") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


FILTER_FIELDS = (
    "status",
    "since_id",
    "ids",
    "created_at_min",
    "created_at_max",
    "updated_at_min",
    "updated_at_max",
    "processed_at_min",
    "processed_at_max",
    "financial_status",
    "fulfillment_status",
)


def matches(order: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether ``order`` passes every filter (values already validated by ``validate``)."""
    status = filters.get("status", "open")
    if status != "any" and order_status(order) != status:
        return False
    if "since_id" in filters and int(order["id"]) <= int(filters["since_id"]):
        return False
    if "ids" in filters and str(order["id"]) not in filters["ids"].split(","):
        return False
    for prefix in ("created_at", "updated_at", "processed_at"):
        moment = _time(str(order[prefix]), prefix)
        low = filters.get(f"{prefix}_min")
        high = filters.get(f"{prefix}_max")
        if low is not None and moment < _time(low, f"{prefix}_min"):
            return False
        if high is not None and moment > _time(high, f"{prefix}_max"):
            return False
    financial = filters.get("financial_status", "any")
    if financial != "any" and order["financial_status"] != financial:
        return False
    fulfillment = filters.get("fulfillment_status", "any")
    return fulfillment == "any" or order["fulfillment_status"] in _FULFILLMENT[fulfillment]


def validate(filters: dict[str, str]) -> None:
    """Raise ``FilterError`` for a value Shopify would refuse ([unconfirmed] messages)."""
    if filters.get("status", "open") not in ("open", "closed", "cancelled", "any"):
        raise FilterError("status", "is invalid")
    if "since_id" in filters and not filters["since_id"].isdigit():
        raise FilterError("since_id", "must be an integer")
    if "ids" in filters and not all(p.strip().isdigit() for p in filters["ids"].split(",")):
        raise FilterError("ids", "must be a comma-separated list of integers")
    for name in FILTER_FIELDS:
        if name.endswith(("_min", "_max")) and name in filters:
            _time(filters[name], name)
    if filters.get("fulfillment_status", "any") not in ("any", *_FULFILLMENT):
        raise FilterError("fulfillment_status", "is invalid")
