"""State of the Shopify emulator: registered apps (client id → secret), authorization codes,
refresh-token families, and per shop its orders, webhook subscriptions and REST buckets."""

from __future__ import annotations

import hmac
import itertools
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, field_validator

from sellerhub_emulators.common.codes import CodeStore
from sellerhub_emulators.common.config import ConfigUpdate
from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.common.tokens import TokenKind, TokenRecord, TokenStore
from sellerhub_emulators.shopify import constants as c
from sellerhub_emulators.shopify import errors
from sellerhub_emulators.shopify.orders import new_order, now_stamp, seed_orders

DEFAULT_CLIENTS: dict[str, str] = {c.DEFAULT_CLIENT_ID: c.DEFAULT_CLIENT_SECRET}


class ShopifyConfigUpdate(ConfigUpdate):
    """Adds ``clients`` ``{"client id": "client secret"}`` (registers or re-keys apps) and the
    REST leaky bucket (``rest_bucket_size``, ``rest_leak_per_second``; providers.md §4.3)."""

    clients: dict[str, str] | None = Field(default=None, max_length=100)
    rest_bucket_size: int | None = Field(default=None, ge=1, le=100_000)
    rest_leak_per_second: float | None = Field(default=None, gt=0, le=100_000)

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, secret in (value or {}).items():
            if not key or len(key) > 100 or not key.isprintable():
                raise ValueError("a client id must be 1-100 printable characters")
            if not secret or len(secret) > 512 or not secret.isprintable():
                raise ValueError(f"the secret of {key!r} must be 1-512 printable characters")
        return value


class LeakyBucket:
    """Shopify's REST bucket: each call adds one; ``leak`` drain per second; full → 429."""

    def __init__(self, size: int, leak: float, now: float) -> None:
        self.size = size
        self.leak = leak
        self.level = 0.0
        self.last = now

    def take(self, now: float) -> tuple[bool, int, float]:
        """(allowed, used calls for the header, seconds until a call fits when refused)."""
        self.level = max(0.0, self.level - max(0.0, now - self.last) * self.leak)
        self.last = now
        if self.level + 1 > self.size + 1e-9:
            return False, self.size, (self.level + 1 - self.size) / self.leak
        self.level += 1
        return True, min(self.size, math.ceil(self.level - 1e-9)), 0.0


@dataclass
class Shop:
    domain: str
    shop_id: int
    orders: dict[int, dict[str, Any]]
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, LeakyBucket] = field(default_factory=dict)


def _same(expected: str | None, given: str) -> bool:
    return expected is not None and hmac.compare_digest(
        expected.encode("utf-8"), given.encode("utf-8")
    )


class ShopifyEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = ShopifyConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(
            "shopify",
            {
                c.ENDPOINT_AUTHORIZE: errors.authorize_fault,
                c.ENDPOINT_TOKEN: errors.token_fault,
                c.ENDPOINT_ORDERS: errors.rest_fault,
                c.ENDPOINT_WEBHOOKS: errors.rest_fault,
                c.ENDPOINT_SHOP: errors.rest_fault,
            },
            clock=clock,
        )
        self.tokens = TokenStore(clock, random_bytes=16)
        self._shop_lock = threading.Lock()
        self._init_shopify()

    def _init_shopify(self) -> None:
        self.clients: dict[str, str] = dict(DEFAULT_CLIENTS)
        self.codes = CodeStore(self.clock, ttl_seconds=c.CODE_TTL_SECONDS)
        self.rest_bucket_size = c.REST_BUCKET_SIZE
        self.rest_leak_per_second = c.REST_LEAK_PER_SECOND
        self.shops: dict[str, Shop] = {}
        self._ids = itertools.count(1_000_000_000 + secrets.randbelow(1_000_000) * 1000)
        self.refresh_family: dict[str, list[str]] = {}
        self.last_delivery: dict[str, Any] | None = None

    def next_id(self) -> int:
        with self._shop_lock:
            return next(self._ids)

    # -- apps -------------------------------------------------------------------------------

    def secret_of(self, client_id: str) -> str | None:
        return self.clients.get(client_id)

    def check_secret(self, client_id: str, secret: str) -> bool:
        return _same(self.clients.get(client_id), secret)

    # -- shops ------------------------------------------------------------------------------

    def shop(self, domain: str) -> Shop:
        with self._shop_lock:
            found = self.shops.get(domain)
            if found is None:
                seeded = seed_orders(domain)
                shop_id = 50_000_000_000 + int(seeded[0]["id"]) % 1_000_000_000
                found = Shop(domain, shop_id, {int(o["id"]): o for o in seeded})
                self.shops[domain] = found
            return found

    def take_call(self, domain: str, client_id: str) -> tuple[bool, str, float]:
        """One REST call of ``client_id`` on ``domain``: (allowed, call-limit header, wait)."""
        shop = self.shop(domain)
        now = self.clock()
        with self._shop_lock:
            bucket = shop.buckets.get(client_id)
            if bucket is None or (bucket.size, bucket.leak) != (
                self.rest_bucket_size,
                self.rest_leak_per_second,
            ):
                bucket = LeakyBucket(self.rest_bucket_size, self.rest_leak_per_second, now)
                shop.buckets[client_id] = bucket
            allowed, used, wait = bucket.take(now)
            return allowed, f"{used}/{bucket.size}", wait

    def upsert_order(self, domain: str, data: dict[str, Any]) -> dict[str, Any]:
        """Merge ``data`` into the order with its ``id`` or create a new order; ``updated_at``
        becomes now unless ``data`` sets it."""
        shop = self.shop(domain)
        with self._shop_lock:
            order_id = data.get("id")
            if isinstance(order_id, int) and order_id in shop.orders:
                order = shop.orders[order_id]
            else:
                if not isinstance(order_id, int):
                    order_id = max(shop.orders, default=5_000_000_000) + 17
                number = max((int(o["order_number"]) for o in shop.orders.values()), default=1000)
                order = new_order(domain, order_id, number + 1)
                shop.orders[order_id] = order
            order.update({k: v for k, v in data.items() if k != "id"})
            if "updated_at" not in data:
                order["updated_at"] = now_stamp()
            return dict(order)

    # -- tokens -----------------------------------------------------------------------------

    def rotate_refresh(self, used: TokenRecord) -> None:
        """``used`` was redeemed: every other refresh token of its family stops working (the
        one it replaced, and one issued from it earlier that was never used)."""
        family = used.extra.get("family", "")
        with self._shop_lock:
            members = list(self.refresh_family.get(family, []))
        for value in members:
            if value != used.value:
                found = self.tokens.lookup(value, TokenKind.REFRESH)
                if found.record is not None:
                    found.record.revoked = True

    def add_to_family(self, family: str, value: str) -> None:
        with self._shop_lock:
            self.refresh_family.setdefault(family, []).append(value)

    # -- control surface --------------------------------------------------------------------

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if isinstance(update, ShopifyConfigUpdate):
            if update.clients:
                self.clients.update(update.clients)
            if update.rest_bucket_size is not None:
                self.rest_bucket_size = update.rest_bucket_size
            if update.rest_leak_per_second is not None:
                self.rest_leak_per_second = update.rest_leak_per_second

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        snapshot["clients"] = sorted(self.clients)
        snapshot["rest_bucket_size"] = self.rest_bucket_size
        snapshot["rest_leak_per_second"] = self.rest_leak_per_second
        return snapshot

    def revoke(self) -> dict[str, int]:
        self.codes.clear()
        return super().revoke()

    def reset(self) -> None:
        super().reset()
        self._init_shopify()
