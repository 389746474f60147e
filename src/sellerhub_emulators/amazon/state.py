"""State of the Amazon emulator: the common control surface plus registered LWA clients,
outstanding authorization codes, registered SP-API applications, FBA inventory, inventory
``nextToken`` cursors and Ads profiles.

``_admin/config`` keys added to the common ones (api-contract.md §4):

- ``clients`` ``{"client id": "client secret"}`` registers (or re-keys) LWA clients.
- ``spapi_apps`` ``{"application id": {"redirect_uris": [...] | null, "draft": bool,
  "client_id": "..."} | null}`` registers or replaces SP-API applications (``null`` removes
  one). ``redirect_uris`` null (the default) accepts any absolute http(s) URL whose path ends
  with ``/api/auth/amazon/callback``; a list accepts exactly those URIs (the first is used when
  the consent request has none). ``client_id`` is the application's LWA client (default
  ``DEFAULT_CLIENT_ID``).
- ``inventory`` ``{"selling partner id": {"marketplace id": [InventorySummary, ...]}}`` replaces
  the FBA inventory of those pairs (``inventory.InventoryItemSpec``: the wire shape, only
  ``sellerSku`` required).
- ``inventory_page_size`` (1-50): summaries per page of ``getInventorySummaries``.
- ``inventory_fail`` ``{"marketplace_id": "...", "page": n, "status": 503, "count": 1,
  "selling_partner_id": "..." | null} | null``: the next ``count`` requests for page ``n``
  (1-based, at the current page size) of that marketplace answer ``status`` in the SP-API error
  shape, after authentication and the parameter checks, before the page is served (a 429 says
  ``QuotaExceeded``). ``null`` clears every such rule, ``count: 0`` the one named.
- ``ads_profiles`` ``[Profile, ...] | null``: the profiles every Ads token sees (``null``: the
  defaults).
- ``reports`` ``{"seed", "anchor", "ledger_rows", "in_queue_polls", "in_progress_polls",
  "url_ttl_seconds", "outcomes", "download_fail"}``: the Reports emulator's history and rules
  (``reports_state``).

``inventory_summaries`` starts with the documented usage plan as its rate limit (2/s, burst 2),
and so do the Reports, Finances and Fulfillment Inbound operations
(``constants.REPORTS_RATE_LIMITS``, ``INBOUND_RATE_LIMITS``);
``rate_limit: null`` clears it with every other bucket and ``reset`` restores it.

Every ``getInventorySummaries`` request is also logged with its marketplace, ``nextToken``, the
page it asked for and the status it got (``_admin/inventory/requests``, see
``inventory_admin``), so a test can count the requests per page token.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sellerhub_emulators.amazon import ads_model, errors, spapi_errors
from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.ads_model import AdsProfileSpec
from sellerhub_emulators.amazon.inventory import (
    CursorStore,
    InventoryItem,
    InventoryItemSpec,
    item_from_spec,
    seeded_inventory,
)
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.reports_state import ReportsConfig, ReportsState
from sellerhub_emulators.amazon.s3_errors import s3_fault
from sellerhub_emulators.common.codes import CodeStore
from sellerhub_emulators.common.config import ConfigUpdate
from sellerhub_emulators.common.httputil import is_absolute_http_url
from sellerhub_emulators.common.ratelimit import TokenBucket
from sellerhub_emulators.common.state import Clock, EmulatorState

DEFAULT_CLIENTS: dict[str, str] = {c.DEFAULT_CLIENT_ID: c.DEFAULT_CLIENT_SECRET}
SELLING_PARTNER_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
MAX_INVENTORY_ITEMS = 2_000


def _printable_id(value: str, what: str, max_bytes: int = 200) -> str:
    if not value or len(value.encode()) > max_bytes or not value.isprintable() or " " in value:
        raise ValueError(f"{what} must be 1-{max_bytes} bytes of printable characters, no spaces")
    return value


class SpApiAppSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    redirect_uris: list[str] | None = Field(default=None, min_length=1, max_length=20)
    draft: bool = False
    client_id: str = c.DEFAULT_CLIENT_ID

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, value: list[str] | None) -> list[str] | None:
        for uri in value or []:
            if len(uri) > 2048 or not is_absolute_http_url(uri):
                raise ValueError(f"{uri!r} is not an absolute http(s) URL without a fragment")
        return value

    @field_validator("client_id")
    @classmethod
    def _client(cls, value: str) -> str:
        return _printable_id(value, "client_id", 100)


class InventoryFailSpec(BaseModel):
    """The next ``count`` requests for ``page`` of a marketplace fail with ``status``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    marketplace_id: str
    page: int = Field(ge=1, le=100_000)
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=0, le=1_000_000)
    selling_partner_id: str | None = None

    @field_validator("marketplace_id")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        if value not in MARKETPLACES:
            raise ValueError(f"unknown marketplace id {value!r}")
        return value


PageFaultKey = tuple[str | None, str, int]  # (selling partner or any, marketplace, page)


@dataclass(frozen=True, slots=True)
class InventoryRequest:
    """One ``getInventorySummaries`` request as the emulator saw it."""

    selling_partner_id: str | None  # None when refused before authentication
    marketplace_id: str | None
    next_token: str | None
    page: int | None  # 1-based; None when the token could not be resolved
    status: int

    def wire(self) -> dict[str, Any]:
        return {
            "selling_partner_id": self.selling_partner_id,
            "marketplace_id": self.marketplace_id,
            "next_token": self.next_token,
            "page": self.page,
            "status": self.status,
        }


MAX_LOGGED_REQUESTS = 10_000


class AmazonConfigUpdate(ConfigUpdate):
    """The common keys plus ``clients``, ``spapi_apps``, ``inventory``,
    ``inventory_page_size`` and ``ads_profiles`` (see the module docstring)."""

    clients: dict[str, str] | None = Field(default=None, max_length=100)
    spapi_apps: dict[str, SpApiAppSpec | None] | None = Field(default=None, max_length=50)
    inventory: dict[str, dict[str, list[InventoryItemSpec]]] | None = Field(
        default=None, max_length=100
    )
    inventory_page_size: int | None = Field(default=None, ge=1, le=c.INVENTORY_PAGE_SIZE)
    inventory_fail: InventoryFailSpec | None = None
    ads_profiles: list[AdsProfileSpec] | None = Field(default=None, max_length=100)
    reports: ReportsConfig | None = None

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for client_id, secret in (value or {}).items():
            # LWA: "client_id: Maximum size of 100 bytes" (authorization-code-grant page).
            if not client_id or len(client_id.encode()) > 100 or not client_id.isprintable():
                raise ValueError("a client id must be 1-100 bytes of printable characters")
            if not secret or len(secret) > 512 or not secret.isprintable():
                raise ValueError(f"the secret of {client_id!r} must be 1-512 printable characters")
        return value

    @field_validator("spapi_apps")
    @classmethod
    def _apps(
        cls, value: dict[str, SpApiAppSpec | None] | None
    ) -> dict[str, SpApiAppSpec | None] | None:
        for application_id in value or {}:
            _printable_id(application_id, "an application id")
        return value

    @field_validator("inventory")
    @classmethod
    def _inventory(
        cls, value: dict[str, dict[str, list[InventoryItemSpec]]] | None
    ) -> dict[str, dict[str, list[InventoryItemSpec]]] | None:
        for seller, by_marketplace in (value or {}).items():
            if not SELLING_PARTNER_ID.fullmatch(seller):
                raise ValueError(f"{seller!r} is not a selling partner id (1-64 letters/digits)")
            for marketplace_id, items in by_marketplace.items():
                if marketplace_id not in MARKETPLACES:
                    raise ValueError(f"unknown marketplace id {marketplace_id!r}")
                if len(items) > MAX_INVENTORY_ITEMS:
                    raise ValueError(f"at most {MAX_INVENTORY_ITEMS} items per marketplace")
                skus = [item.seller_sku for item in items]
                if len(set(skus)) != len(skus):
                    raise ValueError(f"repeated sellerSku in {seller}/{marketplace_id}")
        return value

    @field_validator("ads_profiles")
    @classmethod
    def _profiles(cls, value: list[AdsProfileSpec] | None) -> list[AdsProfileSpec] | None:
        ids = [p.profile_id for p in value or []]
        if len(set(ids)) != len(ids):
            raise ValueError("repeated profileId")
        return value


@dataclass(frozen=True, slots=True)
class SpApiApp:
    application_id: str
    redirect_uris: tuple[str, ...] | None  # None: any URL ending in the sellerhub callback path
    draft: bool
    client_id: str

    def accepts(self, redirect_uri: str) -> bool:
        if self.redirect_uris is not None:
            return redirect_uri in self.redirect_uris
        if not is_absolute_http_url(redirect_uri):
            return False
        return urlsplit(redirect_uri).path.endswith(c.DEFAULT_REDIRECT_PATH_SUFFIX)

    def snapshot(self) -> dict[str, Any]:
        uris = list(self.redirect_uris) if self.redirect_uris is not None else None
        return {"redirect_uris": uris, "draft": self.draft, "client_id": self.client_id}


def _default_apps() -> dict[str, SpApiApp]:
    app = SpApiApp(c.DEFAULT_APPLICATION_ID, None, draft=False, client_id=c.DEFAULT_CLIENT_ID)
    return {app.application_id: app}


InventoryKey = tuple[str, str]  # (selling partner id, marketplace id)


class AmazonEmulator(EmulatorState):
    config_model: ClassVar[type[ConfigUpdate]] = AmazonConfigUpdate

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        super().__init__(
            "amazon",
            {
                c.ENDPOINT_AUTHORIZE: errors.authorize_fault,
                c.ENDPOINT_TOKEN: errors.token_fault,
                c.ENDPOINT_PROFILE: errors.profile_fault,
                c.ENDPOINT_SPAPI_CONSENT: spapi_errors.consent_fault,
                c.ENDPOINT_MARKETPLACE_PARTICIPATIONS: spapi_errors.spapi_fault,
                c.ENDPOINT_INVENTORY_SUMMARIES: spapi_errors.spapi_fault,
                c.ENDPOINT_ADS_PROFILES: ads_model.ads_fault,
                **dict.fromkeys(c.REPORTS_RATE_LIMITS, spapi_errors.spapi_fault),
                **dict.fromkeys(c.INBOUND_RATE_LIMITS, spapi_errors.spapi_fault),
                c.ENDPOINT_REPORT_DOWNLOAD: s3_fault,
            },
            clock=clock,
        )
        self.clients: dict[str, str] = dict(DEFAULT_CLIENTS)
        self.codes = CodeStore(clock, ttl_seconds=c.CODE_TTL_SECONDS)
        self.cursors = CursorStore(clock)
        # Wall-clock time that moves with ``clock`` (so a fake clock moves it too).
        self._wall_origin = datetime.now(UTC).replace(microsecond=0)
        self._clock_origin = clock()
        self.spapi_apps: dict[str, SpApiApp] = _default_apps()
        self._inventory: dict[InventoryKey, list[InventoryItem]] = {}
        self._seeded: dict[InventoryKey, list[InventoryItem]] = {}
        self.inventory_page_size = c.INVENTORY_PAGE_SIZE
        self._page_faults: dict[PageFaultKey, tuple[int, int]] = {}  # -> (status, remaining)
        self._inventory_requests: list[InventoryRequest] = []
        self._ads_profiles: list[AdsProfileSpec] | None = None
        self.reports = ReportsState(self.wall_now)
        self.report_cursors = CursorStore(clock, ttl_seconds=300)
        self.report_queries: dict[str, dict[str, Any]] = {}
        self.finance_cursors = CursorStore(clock, ttl_seconds=600)
        self.inbound_cursors = CursorStore(clock, ttl_seconds=600)
        self.inbound_queries: dict[str, tuple[str, Any]] = {}
        self._install_default_rate_limits()

    # -- time and rate limits ----------------------------------------------------------------

    def wall_now(self) -> datetime:
        return self._wall_origin + timedelta(seconds=self.clock() - self._clock_origin)

    def _install_default_rate_limits(self) -> None:
        with self._lock:
            self._buckets[c.ENDPOINT_INVENTORY_SUMMARIES] = TokenBucket(
                c.INVENTORY_RATE_PER_SECOND, c.INVENTORY_BURST, self.clock
            )
            for endpoint, (rate, burst) in (
                *c.REPORTS_RATE_LIMITS.items(),
                *c.INBOUND_RATE_LIMITS.items(),
            ):
                self._buckets[endpoint] = TokenBucket(rate, burst, self.clock)

    def rate_limit_of(self, endpoint: str) -> float | None:
        """The rate (requests per second) of the endpoint's bucket, None when unlimited."""
        with self._lock:
            bucket = self._buckets.get(endpoint)
        return None if bucket is None else float(bucket.per_second)

    # -- LWA clients -------------------------------------------------------------------------

    def is_client(self, client_id: str) -> bool:
        return client_id in self.clients

    def check_secret(self, client_id: str, secret: str) -> bool:
        expected = self.clients.get(client_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    # -- FBA inventory and Ads profiles ------------------------------------------------------

    def inventory_of(self, selling_partner_id: str, marketplace_id: str) -> list[InventoryItem]:
        """The pair's items sorted by SKU: configured ones, else the seeded ones."""
        key = (selling_partner_id, marketplace_id)
        with self._lock:
            configured = self._inventory.get(key)
            if configured is not None:
                return configured
            seeded = self._seeded.get(key)
        if seeded is None:
            anchor = self._wall_origin
            seeded = seeded_inventory(selling_partner_id, marketplace_id, anchor=anchor)
            with self._lock:
                self._seeded[key] = seeded
        return seeded

    def set_inventory_items(
        self, selling_partner_id: str, marketplace_id: str, specs: list[InventoryItemSpec]
    ) -> int:
        """Replace or add the given SKUs of a pair, keeping its other items (seeded or
        configured). A replaced item keeps its ASIN, FNSKU and product name unless given; its
        ``lastUpdatedTime`` becomes now unless given. Returns the pair's item count."""
        current = {
            item.seller_sku: item for item in self.inventory_of(selling_partner_id, marketplace_id)
        }
        now = self.wall_now()
        for spec in specs:
            old = current.get(spec.seller_sku)
            if old is not None:
                keep = {
                    "asin": spec.asin or old.summary["asin"],
                    "fn_sku": spec.fn_sku or old.summary["fnSku"],
                    "product_name": spec.product_name or old.summary["productName"],
                }
                spec = spec.model_copy(update=keep)
            current[spec.seller_sku] = item_from_spec(spec, now=now)
        items = sorted(current.values(), key=lambda item: item.seller_sku)
        with self._lock:
            self._inventory[(selling_partner_id, marketplace_id)] = items
        return len(items)

    def take_page_fault(
        self, selling_partner_id: str, marketplace_id: str, page: int
    ) -> int | None:
        """The status an ``inventory_fail`` rule answers for this page, if one is due."""
        with self._lock:
            for key in ((selling_partner_id, marketplace_id, page), (None, marketplace_id, page)):
                rule = self._page_faults.get(key)
                if rule is None:
                    continue
                status, remaining = rule
                if remaining <= 1:
                    del self._page_faults[key]
                else:
                    self._page_faults[key] = (status, remaining - 1)
                return status
        return None

    def log_inventory_request(self, request: InventoryRequest) -> None:
        with self._lock:
            if len(self._inventory_requests) < MAX_LOGGED_REQUESTS:
                self._inventory_requests.append(request)

    def inventory_requests(self) -> list[InventoryRequest]:
        with self._lock:
            return list(self._inventory_requests)

    def ads_profiles(self) -> list[AdsProfileSpec]:
        with self._lock:
            configured = self._ads_profiles
        return list(configured) if configured is not None else ads_model.default_profiles()

    # -- control surface ---------------------------------------------------------------------

    def apply_config(self, update: ConfigUpdate) -> None:
        super().apply_config(update)
        if not isinstance(update, AmazonConfigUpdate):
            return
        given = update.model_fields_set
        now = self.wall_now()
        with self._lock:
            if update.clients:
                self.clients.update(update.clients)
            for application_id, spec in (update.spapi_apps or {}).items():
                if spec is None:
                    self.spapi_apps.pop(application_id, None)
                    continue
                uris = tuple(spec.redirect_uris) if spec.redirect_uris is not None else None
                self.spapi_apps[application_id] = SpApiApp(
                    application_id, uris, draft=spec.draft, client_id=spec.client_id
                )
            for seller, by_marketplace in (update.inventory or {}).items():
                for marketplace_id, specs in by_marketplace.items():
                    items = [item_from_spec(spec, now=now) for spec in specs]
                    items.sort(key=lambda item: item.seller_sku)
                    self._inventory[(seller, marketplace_id)] = items
            if update.inventory_page_size is not None:
                self.inventory_page_size = update.inventory_page_size
            if "inventory_fail" in given:
                fail = update.inventory_fail
                if fail is None:
                    self._page_faults.clear()
                else:
                    key = (fail.selling_partner_id, fail.marketplace_id, fail.page)
                    if fail.count == 0:
                        self._page_faults.pop(key, None)
                    else:
                        self._page_faults[key] = (fail.status, fail.count)
            if "ads_profiles" in given:
                self._ads_profiles = (
                    list(update.ads_profiles) if update.ads_profiles is not None else None
                )
        if update.reports is not None:
            self.reports.apply(update.reports)

    def config_snapshot(self) -> dict[str, Any]:
        snapshot = super().config_snapshot()
        with self._lock:
            snapshot["clients"] = sorted(self.clients)
            snapshot["spapi_apps"] = {
                app_id: app.snapshot() for app_id, app in sorted(self.spapi_apps.items())
            }
            inventory: dict[str, dict[str, int]] = {}
            for (seller, marketplace_id), items in sorted(self._inventory.items()):
                inventory.setdefault(seller, {})[marketplace_id] = len(items)
            snapshot["inventory"] = inventory
            snapshot["inventory_page_size"] = self.inventory_page_size
            snapshot["inventory_fail"] = [
                {
                    "selling_partner_id": seller,
                    "marketplace_id": marketplace_id,
                    "page": page,
                    "status": status,
                    "count": remaining,
                }
                for (seller, marketplace_id, page), (status, remaining) in sorted(
                    self._page_faults.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][2])
                )
            ]
            snapshot["ads_profiles"] = (
                None if self._ads_profiles is None else [p.profile_id for p in self._ads_profiles]
            )
        snapshot["reports"] = self.reports.snapshot()
        return snapshot

    def revoke(self) -> dict[str, int]:
        """Tokens stop working and outstanding codes can no longer be exchanged."""
        result = super().revoke()
        result["revoked_codes"] = self.codes.clear()
        self.cursors.clear()
        return result

    def reset(self) -> None:
        super().reset()
        self.codes.clear()
        self.cursors.clear()
        self.report_cursors.clear()
        self.finance_cursors.clear()
        self.inbound_cursors.clear()
        self.inbound_queries.clear()
        self.report_queries.clear()
        self.reports.reset()
        with self._lock:
            self.clients = dict(DEFAULT_CLIENTS)
            self.spapi_apps = _default_apps()
            self._inventory.clear()
            self._seeded.clear()
            self.inventory_page_size = c.INVENTORY_PAGE_SIZE
            self._page_faults.clear()
            self._inventory_requests.clear()
            self._ads_profiles = None
        self._install_default_rate_limits()
