"""State of the Stripe emulator: every object by id (scoped to the platform or a connected
account), idempotency records, events and their deliveries, fault rules and configuration.

Handlers are synchronous and never await while they change state, so a request's changes are
atomic under asyncio (the server's model); ``_lock`` guards what background delivery touches.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from sellerhub_emulators.common.config import ConfigUpdate
from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe import errors
from sellerhub_emulators.stripe.cards import CardSpec
from sellerhub_emulators.stripe.errors import StripeError

_ALPHABET = string.ascii_letters + string.digits

DeliveryMode = Literal["auto", "hold", "off"]
FaultMode = Literal["error", "after", "drop", "after_drop"]


class FaultRule(BaseModel):
    """The next ``count`` requests whose method is ``method`` (or any, ``*``) and whose path
    starts with ``path`` (e.g. ``/v1/payment_intents``):

    - ``error``: answer ``status`` (500 ``api_error``, 429 ``rate_limit``) without running;
      nothing is stored under the Idempotency-Key, so a retry with the same key runs;
    - ``after``: run, then answer 500 — stored under the key like Stripe stores a 500, so a
      retry with the same key replays the 500 (only a lookup finds what happened);
    - ``after_drop``: run, store the real answer under the key, then break the connection
      mid-answer (a retry with the same key gets the stored answer);
    - ``drop``: break the connection without running."""

    model_config = ConfigDict(extra="forbid", strict=True)

    method: str = Field(default="*", pattern=r"^(\*|GET|POST|DELETE)$")
    path: str = Field(pattern=r"^/v1(/.*)?$", max_length=300)
    mode: FaultMode = "error"
    status: int = Field(default=500, ge=400, le=599)
    count: int = Field(default=1, ge=1, le=1_000_000)


class StripeConfigUpdate(ConfigUpdate):
    """Adds the keys, the webhook endpoint, the delivery switches and the search lag.

    ``webhook_url``: where events are POSTed (``""`` turns delivery off; unset: when the
    emulator is mounted at ``/_emulators`` of sellerhub, ``{origin}/webhooks/stripe``).
    ``connect_webhook_url``/``connect_webhook_secret``: where Connect events (with ``account``)
    go; unset: the same endpoint. ``delivery``: ``auto`` sends each event after the API answer,
    ``hold`` keeps them until ``_admin/deliver``, ``off`` never sends. ``retry_delays``: seconds
    between attempts after a non-2xx answer. ``search_lag_seconds``: how long a new or changed
    PaymentIntent stays invisible to search (Stripe's search is eventually consistent)."""

    secret_key: str | None = Field(default=None, pattern=r"^sk_test_[A-Za-z0-9_]{4,200}$")
    publishable_key: str | None = Field(default=None, pattern=r"^pk_test_[A-Za-z0-9_]{4,200}$")
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9_]{4,200}$")
    connect_webhook_url: str | None = Field(default=None, max_length=2000)
    connect_webhook_secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9_]{4,200}$")
    delivery: DeliveryMode | None = None
    delivery_delay_seconds: float | None = Field(default=None, ge=0, le=60)
    retry_delays: list[float] | None = Field(default=None, max_length=10)
    search_lag_seconds: float | None = Field(default=None, ge=0, le=3600)
    faults: list[FaultRule] | None = Field(default=None, max_length=100)


@dataclass
class IdempotencyRecord:
    method: str
    path: str
    params: list[tuple[str, str]]
    created: float
    request_id: str = ""
    in_flight: bool = True
    status: int = 0
    body: bytes = b""


@dataclass
class Settings:
    secret_key: str = c.SECRET_KEY
    publishable_key: str = c.PUBLISHABLE_KEY
    webhook_url: str | None = None  # None: automatic (see StripeConfigUpdate)
    webhook_secret: str = c.WEBHOOK_SECRET
    connect_webhook_url: str | None = None
    connect_webhook_secret: str | None = None
    delivery: DeliveryMode = "auto"
    delivery_delay_seconds: float = c.DELIVERY_DELAY_SECONDS
    retry_delays: tuple[float, ...] = c.RETRY_DELAYS_SECONDS
    search_lag_seconds: float = 0.0


@dataclass
class Private:
    """What Stripe knows about an object but does not show."""

    card: CardSpec | None = None  # a card PaymentMethod's behaviour
    set_up: bool = False  # authenticated through a SetupIntent (off-session exemptions)
    seq: int = 0
    visible_at: float = 0.0  # search lag
    extra: dict[str, Any] = field(default_factory=dict)


class StripeEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = StripeConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__("stripe", dict.fromkeys(c.ENDPOINTS, errors.fault_response), clock=clock)
        self._wall_offset = time.time() - clock()
        self._state_lock = threading.Lock()
        self.skew = 0.0  # seconds added by _admin/advance_clock
        # Webhook deliveries (and their retries) in flight: a reset cancels them, so an event of
        # one test is never delivered into the next one's database.
        self.deliveries_in_flight: set[asyncio.Task[None]] = set()
        self._init_stripe()

    def _init_stripe(self) -> None:
        self.settings = Settings()
        self.auto_webhook_url: str | None = None
        self.objects: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str | None] = {}
        self.by_kind: dict[tuple[str, str | None], list[str]] = {}  # ids in creation order
        # PaymentIntent ids per (account, metadata key, value), for search.
        self.metadata_index: dict[tuple[str | None, str, str], set[str]] = {}
        self.private: dict[str, Private] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.events: list[str] = []
        self.deliveries: list[dict[str, Any]] = []
        self.held: list[str] = []
        self.faults: list[FaultRule] = []
        self.account_links: dict[str, dict[str, Any]] = {}
        self._seq = itertools.count(1)
        self.pending: list[str] = []  # events emitted by the request being served
        self.balances: dict[tuple[str | None, str], int] = {}  # (account, currency) -> available

    def credit(self, account: str | None, currency: str, amount: int) -> None:
        key = (account, currency)
        self.balances[key] = self.balances.get(key, 0) + amount

    # -- time and ids -------------------------------------------------------------------------

    def now(self) -> int:
        """Unix seconds on the emulator's clock (moves with a test's fake clock)."""
        return int(self._wall_offset + self.elapsed())

    def elapsed(self) -> float:
        """The monotonic clock plus the skew of ``_admin/advance_clock``."""
        return self.clock() + self.skew

    @staticmethod
    def new_id(prefix: str, length: int = 24) -> str:
        return f"{prefix}_1" + "".join(secrets.choice(_ALPHABET) for _ in range(length - 1))

    # -- objects ------------------------------------------------------------------------------

    def put(self, obj: dict[str, Any], account: str | None, **private: Any) -> dict[str, Any]:
        ident = obj["id"]
        if ident not in self.private:
            self.by_kind.setdefault((obj["object"], account), []).append(ident)
        self.objects[ident] = obj
        self.owner[ident] = account
        info = self.private.setdefault(ident, Private(seq=next(self._seq)))
        info.visible_at = self.elapsed() + self.settings.search_lag_seconds
        for key, value in private.items():
            setattr(info, key, value)
        return obj

    def index_metadata(self, obj: dict[str, Any], before: dict[str, str]) -> None:
        account = self.owner.get(obj["id"])
        for key, value in before.items():
            self.metadata_index.get((account, key, value), set()).discard(obj["id"])
        for key, value in obj["metadata"].items():
            self.metadata_index.setdefault((account, key, value), set()).add(obj["id"])

    def touch(self, ident: str) -> None:
        """A change: the object leaves search results until the lag has passed again."""
        self.private[ident].visible_at = self.elapsed() + self.settings.search_lag_seconds

    def find(
        self, ident: str, account: str | None, kind: str | None = None
    ) -> dict[str, Any] | None:
        obj = self.objects.get(ident)
        if obj is None or self.owner.get(ident) != account:
            return None
        if kind is not None and obj.get("object") != kind:
            return None
        return obj

    def get(
        self, ident: str, account: str | None, kind: str, *, param: str | None = None
    ) -> dict[str, Any]:
        obj = self.find(ident, account, kind)
        if obj is None:
            raise errors.missing(kind, ident, param=param)
        return obj

    def all_of(self, kind: str, account: str | None) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``account``, newest first."""
        ids = self.by_kind.get((kind, account), [])
        return [self.objects[i] for i in reversed(ids) if i in self.objects]

    def any_scope(self, ident: str) -> dict[str, Any] | None:
        return self.objects.get(ident)

    # -- idempotency ----------------------------------------------------------------------------

    def prune_idempotency(self) -> None:
        """Forget keys first used 24 h ago or more. Records are kept in the order they were
        made, so the scan stops at the first younger one (a key in flight is kept)."""
        cutoff = self.elapsed() - c.IDEMPOTENCY_TTL_SECONDS
        stale = []
        for key, record in self.idempotency.items():
            if record.created > cutoff:
                break
            if not record.in_flight:
                stale.append(key)
        for key in stale:
            del self.idempotency[key]

    # -- faults -------------------------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        with self._state_lock:
            for i, rule in enumerate(self.faults):
                if rule.method in ("*", method) and path.startswith(rule.path):
                    if rule.count <= 1:
                        del self.faults[i]
                    else:
                        self.faults[i] = rule.model_copy(update={"count": rule.count - 1})
                    return rule
        return None

    # -- control surface ----------------------------------------------------------------------

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if not isinstance(update, StripeConfigUpdate):
            return
        s = self.settings
        given = update.model_fields_set
        for name in ("secret_key", "publishable_key", "webhook_secret", "delivery"):
            value = getattr(update, name)
            if value is not None:
                setattr(s, name, value)
        if "webhook_url" in given:
            s.webhook_url = update.webhook_url
        if "connect_webhook_url" in given:
            s.connect_webhook_url = update.connect_webhook_url
        if "connect_webhook_secret" in given:
            s.connect_webhook_secret = update.connect_webhook_secret
        if update.delivery_delay_seconds is not None:
            s.delivery_delay_seconds = update.delivery_delay_seconds
        if update.retry_delays is not None:
            s.retry_delays = tuple(update.retry_delays)
        if update.search_lag_seconds is not None:
            s.search_lag_seconds = update.search_lag_seconds
        if "faults" in given:
            with self._state_lock:
                self.faults = list(update.faults or [])

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        s = self.settings
        snapshot.update(
            secret_key=s.secret_key,
            publishable_key=s.publishable_key,
            webhook_url=s.webhook_url,
            effective_webhook_url=self.webhook_target(connect=False)[0],
            webhook_secret=s.webhook_secret,
            connect_webhook_url=s.connect_webhook_url,
            delivery=s.delivery,
            delivery_delay_seconds=s.delivery_delay_seconds,
            retry_delays=list(s.retry_delays),
            search_lag_seconds=s.search_lag_seconds,
            faults=[r.model_dump() for r in self.faults],
        )
        return snapshot

    def webhook_target(self, *, connect: bool) -> tuple[str | None, str]:
        s = self.settings
        url = s.webhook_url if s.webhook_url is not None else self.auto_webhook_url
        secret = s.webhook_secret
        if connect:
            if s.connect_webhook_url is not None:
                url = s.connect_webhook_url
            if s.connect_webhook_secret is not None:
                secret = s.connect_webhook_secret
        return (url or None), secret

    def reset(self) -> None:
        super().reset()
        self.skew = 0.0
        for task in list(self.deliveries_in_flight):
            task.cancel()
        self.deliveries_in_flight.clear()
        self._init_stripe()

    def snapshot(self, ident: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[ident])


__all__ = [
    "FaultRule",
    "IdempotencyRecord",
    "Private",
    "StripeConfigUpdate",
    "StripeEmulator",
    "StripeError",
]
