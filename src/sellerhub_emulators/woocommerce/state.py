"""State of the WooCommerce emulator: stores (created on first use) with their seeded orders,
REST API keys and webhooks, plus the common control surface.

``expire`` changes nothing: WooCommerce API keys do not expire. ``revoke`` deletes every issued
key, as a shop manager revoking them in WooCommerce > Settings > Advanced > REST API would
(REST answers 401 afterwards).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.woocommerce import constants as c
from sellerhub_emulators.woocommerce import errors

SEED_START = datetime(2024, 1, 1, tzinfo=UTC)
_PRODUCTS = (
    ("WOO-TSHIRT", "T-Shirt", 1800),
    ("WOO-HOODIE", "Hoodie", 4500),
    ("WOO-BEANIE", "Beanie", 1800),
    ("WOO-CAP", "Cap", 1600),
    ("WOO-MUG", "Mug", 1200),
)
_SEED_STATUSES = ("processing", "completed", "completed", "on-hold", "pending", "cancelled")


def wc_date(moment: datetime) -> str:
    """WooCommerce's REST date format: ``2024-01-01T10:00:00`` (no zone; the store is UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def rand_hash() -> str:
    """``wc_rand_hash()``: 40 lower-case hex characters."""
    return secrets.token_hex(20)


@dataclass
class ApiKey:
    key_id: int
    store: str
    consumer_key: str
    consumer_secret: str
    permissions: str
    app_name: str
    user_id: str
    # OAuth 1.0a nonces used with this key (nonce -> its oauth_timestamp), like WooCommerce's
    # ``nonces`` column of the key row; entries older than the window are dropped on use.
    nonces: dict[str, float] = field(default_factory=dict)


@dataclass
class Webhook:
    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    created: datetime
    modified: datetime
    failures: int = 0

    @property
    def resource(self) -> str:
        return self.topic.split(".", 1)[0]

    @property
    def event(self) -> str:
        return self.topic.split(".", 1)[1]

    def as_json(self, links_base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "topic": self.topic,
            "resource": self.resource,
            "event": self.event,
            "hooks": list(c.WEBHOOK_HOOKS.get(self.topic, [])),
            "delivery_url": self.delivery_url,
            "date_created": wc_date(self.created),
            "date_created_gmt": wc_date(self.created),
            "date_modified": wc_date(self.modified),
            "date_modified_gmt": wc_date(self.modified),
            "_links": {
                "self": [{"href": f"{links_base}{c.WEBHOOKS_PATH}/{self.id}"}],
                "collection": [{"href": f"{links_base}{c.WEBHOOKS_PATH}"}],
            },
        }


@dataclass
class Delivery:
    """One webhook delivery as sent, kept so ``duplicate`` can resend it byte for byte."""

    webhook_id: int
    delivery_url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Store:
    name: str
    orders: list[dict[str, Any]]
    next_order_id: int
    webhooks: dict[int, Webhook] = field(default_factory=dict)
    next_webhook_id: int = 1
    last_deliveries: dict[str, list[Delivery]] = field(default_factory=dict)


def make_order(
    order_id: int, created: datetime, modified: datetime, status: str, rng: random.Random
) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    total = 0
    for index, (sku, name, price) in enumerate(rng.sample(_PRODUCTS, rng.randint(1, 3)), start=1):
        quantity = rng.randint(1, 3)
        total += price * quantity
        lines.append(
            {
                "id": order_id * 10 + index,
                "name": name,
                "product_id": 100 + _PRODUCTS.index((sku, name, price)),
                "variation_id": 0,
                "quantity": quantity,
                "subtotal": money(price * quantity),
                "total": money(price * quantity),
                "sku": sku,
                "price": price / 100,
            }
        )
    return {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{hashlib.sha256(str(order_id).encode()).hexdigest()[:13]}",
        "created_via": "checkout",
        "status": status,
        "currency": c.CURRENCY,
        "date_created": wc_date(created),
        "date_created_gmt": wc_date(created),
        "date_modified": wc_date(modified),
        "date_modified_gmt": wc_date(modified),
        "total": money(total),
        "customer_id": 0,
        "billing": {
            "first_name": "Customer",
            "last_name": str(order_id),
            "email": f"customer{order_id}@example.com",
        },
        "line_items": lines,
    }


def seed_orders(store: str) -> list[dict[str, Any]]:
    """The same orders for the same store name on every run."""
    rng = random.Random(int.from_bytes(hashlib.sha256(store.encode()).digest()[:8], "big"))  # noqa: S311
    orders = []
    for order_id in range(1, c.SEEDED_ORDERS + 1):
        created = SEED_START + timedelta(hours=7 * order_id, minutes=rng.randint(0, 59))
        modified = created + timedelta(hours=rng.randint(0, 72))
        orders.append(make_order(order_id, created, modified, rng.choice(_SEED_STATUSES), rng))
    return orders


class WooCommerceEmulator(EmulatorState):
    def __init__(self, *, clock: Clock = time.monotonic, wall_clock: Clock = time.time) -> None:
        super().__init__(
            "woocommerce",
            {
                c.ENDPOINT_AUTHORIZE: errors.page_fault,
                c.ENDPOINT_ORDERS: errors.rest_fault,
                c.ENDPOINT_SYSTEM_STATUS: errors.rest_fault,
                c.ENDPOINT_WEBHOOKS: errors.rest_fault,
            },
            clock=clock,
        )
        self.lock = threading.Lock()
        # Unix seconds, for OAuth 1.0a timestamps (``clock`` is monotonic); tests may replace it.
        self.wall_clock = wall_clock
        self.stores: dict[str, Store] = {}
        self.keys: dict[str, ApiKey] = {}
        self._next_key_id = 1

    def store(self, name: str) -> Store:
        """The store called ``name``, created (with its seeded orders) on first use."""
        with self.lock:
            found = self.stores.get(name)
            if found is None:
                orders = seed_orders(name)
                found = Store(name=name, orders=orders, next_order_id=len(orders) + 1)
                self.stores[name] = found
            return found

    def issue_key(self, store: str, *, app_name: str, user_id: str, permissions: str) -> ApiKey:
        with self.lock:
            key = ApiKey(
                key_id=self._next_key_id,
                store=store,
                consumer_key=c.KEY_PREFIX + rand_hash(),
                consumer_secret=c.SECRET_PREFIX + rand_hash(),
                permissions=permissions,
                app_name=app_name,
                user_id=user_id,
            )
            self._next_key_id += 1
            self.keys[key.consumer_key] = key
        return key

    def delete_key(self, consumer_key: str) -> None:
        with self.lock:
            self.keys.pop(consumer_key, None)

    def find_key(self, store: str, consumer_key: str) -> ApiKey | None:
        with self.lock:
            key = self.keys.get(consumer_key)
        return key if key is not None and key.store == store else None

    @staticmethod
    def secret_matches(key: ApiKey, secret: str) -> bool:
        return hmac.compare_digest(key.consumer_secret.encode(), secret.encode())

    def use_nonce(self, key: ApiKey, nonce: str, timestamp: float, window: float) -> bool:
        """Record ``nonce`` for ``key``; False when it was already used within ``window``
        seconds. WooCommerce keeps one nonce per timestamp second (a later request in the same
        second replaces the earlier nonce); the emulator keeps all of them, so it never misses
        a replay that WooCommerce would catch."""
        now = self.wall_clock()
        with self.lock:
            if nonce in key.nonces:
                return False
            key.nonces[nonce] = timestamp
            for used, stamp in list(key.nonces.items()):
                if stamp < now - window:
                    del key.nonces[used]
        return True

    # -- control surface --------------------------------------------------------------------

    def expire(self) -> dict[str, int]:
        """WooCommerce API keys never expire: nothing changes."""
        return {"expired_access_tokens": 0}

    def revoke(self) -> dict[str, int]:
        """Every issued API key is deleted (REST 401 afterwards)."""
        with self.lock:
            count = len(self.keys)
            self.keys.clear()
        return {"revoked_tokens": count}

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.stores.clear()
            self.keys.clear()
            self._next_key_id = 1
