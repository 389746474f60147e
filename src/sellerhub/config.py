"""Settings: one typed object, read from ``SELLERHUB_*`` environment variables and ``.env``.

Every setting is documented in ``docs/configuration.md``. ``Settings.problems()`` lists what is
unsafe for the current environment; ``production`` refuses to start while it is non-empty.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - a marker, refused in production
# The Stripe emulator's keys (sellerhub_emulators.stripe), the development defaults.
STRIPE_DEVELOPMENT_SECRET_KEY = "sk_test_sellerhub_emulator"  # noqa: S105 - refused in production
STRIPE_DEVELOPMENT_PUBLISHABLE_KEY = "pk_test_sellerhub_emulator"
STRIPE_API = "https://api.stripe.com"
# Stripe's minimum charge per currency (minor units), for the currencies of Amazon's
# marketplaces: a commission below it is not charged (billing/commissions/rules.py).
COMMISSION_MINIMUMS = {
    "USD": 50,
    "CAD": 50,
    "MXN": 1000,
    "BRL": 50,
    "GBP": 30,
    "EUR": 50,
    "SEK": 300,
    "PLN": 200,
    "AED": 200,
    "INR": 50,
    "JPY": 50,
    "AUD": 50,
    "SGD": 50,
}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """A setting is missing or unsafe; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SELLERHUB_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path(".sellerhub")
    database_url: SecretStr | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # The longest a request waits for a database connection before it is answered 503 (while
    # the database is down, at once rather than after a client's own timeout).
    database_timeout_seconds: float = Field(default=1.0, gt=0, le=60)
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # uvicorn by measurement (bench/): on the authenticated database route it serves as many
    # requests/s as granian with a lower p99 (35 vs 41 ms); granian is ahead (6-26 %) only on
    # a trivial route.
    server: Literal["granian", "uvicorn"] = "uvicorn"
    web_workers: int = Field(default=1, ge=1, le=64)
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    encryption_keys: SecretStr | None = None
    # A key-ring file instead (same entries, one a line): read again by running processes when
    # it changes, so a new key reaches them without a restart (docs/configuration.md).
    encryption_keys_file: Path | None = None
    emulators: bool | None = None
    log_level: str = "INFO"
    log_json: bool | None = None
    jobs_concurrency: int = Field(default=4, ge=1, le=100)
    outbox_redrive_after_seconds: int = Field(default=30, ge=1)
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    cookie_secure_flag: bool | None = Field(
        default=None, alias="SELLERHUB_COOKIE_SECURE", description="default: on unless development"
    )
    jwt_audience: str = "sellerhub"
    # Signing keys (identity.jwt): how long verifiers may cache the JWKS, how often each process
    # reloads the keys, and how often the worker rotates the signing key (0: never).
    jwks_max_age_seconds: int = Field(default=300, ge=0, le=86_400)
    signing_key_reload_seconds: float = Field(default=60.0, ge=0.5, le=300)
    signing_key_rotation_days: int = Field(default=30, ge=0, le=365)
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    auth_allowed_redirect_origins: list[str] = Field(default_factory=list)
    spapi_application_id: str = "amzn1.sp.solution.sellerhub-emulator"
    spapi_client_id: str = "amzn1.application-oa2-client.sellerhub-emulator"
    spapi_client_secret: SecretStr = SecretStr("sellerhub-emulator-secret")
    spapi_draft: bool = False
    spapi_consent_url: str | None = None
    spapi_endpoint_na: str | None = None
    spapi_endpoint_eu: str | None = None
    spapi_endpoint_fe: str | None = None
    spapi_sandbox: bool = False
    ads_client_id: str = "amzn1.application-oa2-client.sellerhub-emulator"
    ads_client_secret: SecretStr = SecretStr("sellerhub-emulator-secret")
    ads_authorize_urls: dict[str, str] = Field(default_factory=dict)
    ads_token_urls: dict[str, str] = Field(default_factory=dict)
    ads_api_urls: dict[str, str] = Field(default_factory=dict)
    shopify_shop_url_template: str | None = None
    shopify_scopes: str = "read_orders,read_products"
    shopify_api_version: str = "2026-10"
    shopify_client_id: str = "shopify-emulator-client"
    shopify_client_secret: SecretStr = SecretStr("shopify-emulator-secret")
    stripe_webhook_secret: SecretStr = SecretStr("whsec_sellerhub_development")
    # A Connect endpoint (events of connected accounts) has its own signing secret at Stripe;
    # when both endpoints deliver to /webhooks/stripe, a delivery signed with either is accepted.
    stripe_connect_webhook_secret: SecretStr | None = None
    # Stripe (docs/billing.md): the API base (unset: the emulator at /_emulators/stripe while the
    # emulators are mounted, else https://api.stripe.com), the keys (the emulator's by default,
    # refused in production), each call's timeout and how often the SDK retries a call that is
    # safe to retry (connection errors, 409, 5xx; every POST carries an Idempotency-Key).
    stripe_api_base: str | None = None
    stripe_secret_key: SecretStr = SecretStr(STRIPE_DEVELOPMENT_SECRET_KEY)
    stripe_publishable_key: str = STRIPE_DEVELOPMENT_PUBLISHABLE_KEY
    stripe_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    stripe_max_network_retries: int = Field(default=2, ge=0, le=10)
    # The commission on recoveries (docs/billing.md): the default rate in basis points (an
    # organization may have its own), the smallest charge per currency in minor units (below
    # it nothing is charged), the days between retries after a decline, and how long an
    # attempt whose outcome is unknown waits before it is looked up at Stripe.
    billing_commission_rate_bps: int = Field(default=2000, ge=0, le=10_000)
    billing_commission_minimums: dict[str, int] = Field(
        default_factory=lambda: dict(COMMISSION_MINIMUMS)
    )
    billing_commission_retry_days: list[int] = Field(default_factory=lambda: [1, 3, 7])
    billing_commission_recheck_seconds: int = Field(default=300, ge=1, le=86_400)
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=26_214_400)
    # Every other request (core.inputs): a body above the limit gets 413; a body still arriving
    # after the body timeout gets 408; a request whose headers are not complete after the header
    # timeout is closed (both servers).
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=26_214_400)
    request_body_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    request_header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Bulk inventory imports (commerce/inventory/imports) stream their body instead of going
    # through the limit above: their own size limit (413 beyond it), and how many rows are
    # applied while the upload waits (more answer 202 and continue in a job).
    inventory_import_max_bytes: int = Field(default=104_857_600, ge=1024, le=2_147_483_648)
    inventory_import_sync_rows: int = Field(default=5000, ge=0, le=1_000_000)
    fedex_api_url: str | None = None
    fedex_sandbox_api_url: str | None = None
    dhl_api_url: str | None = None
    dhl_sandbox_api_url: str | None = None
    connection_refresh_margin_seconds: int = Field(default=300, ge=30, le=3600)
    connection_max_refresh_failures: int = Field(default=5, ge=1, le=50)
    breaker_threshold: int = Field(default=5, ge=1, le=100)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0, le=3600)
    lwa_client_id: str = "amzn1.application-oa2-client.sellerhub-emulator"
    lwa_client_secret: SecretStr = SecretStr("sellerhub-emulator-secret")
    lwa_scope: str = "profile"
    lwa_authorize_url: str | None = None
    lwa_token_url: str | None = None
    lwa_profile_url: str | None = None
    seed_admin_email: str = "admin@sellerhub.local"
    seed_admin_password: SecretStr = SecretStr("sellerhub-demo")
    # Mail (docs/identity.md): "outbox" keeps messages in the mail_outbox table (the delivery in
    # development and tests), "smtp" sends them; unset means smtp in production, outbox otherwise.
    mail_backend: Literal["outbox", "smtp"] | None = None
    mail_from: str = "sellerhub <no-reply@sellerhub.local>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Rate limits (core.ratelimit, fixed windows in PostgreSQL), per window of seconds.
    ratelimit_login_per_account: int = Field(default=5, ge=1)
    ratelimit_login_per_ip: int = Field(default=30, ge=1)
    ratelimit_login_window_seconds: int = Field(default=900, ge=1, le=86400)
    ratelimit_code_per_account: int = Field(default=5, ge=1)
    ratelimit_code_per_ip: int = Field(default=30, ge=1)
    ratelimit_code_window_seconds: int = Field(default=900, ge=1, le=86400)
    ratelimit_signup_per_ip: int = Field(default=10, ge=1)
    ratelimit_signup_window_seconds: int = Field(default=3600, ge=1, le=86400)
    ratelimit_mail_per_address: int = Field(default=5, ge=1)
    ratelimit_mail_window_seconds: int = Field(default=3600, ge=1, le=86400)
    # Cross-app identity (identity/apps): lifetimes of app-scoped user tokens and of service
    # tokens (at most 15 minutes, like every access token), and how long a process reuses an
    # app's registration (client-credential checks, token audiences, CORS origins; 0 disables).
    app_access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    app_refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    service_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    app_cache_seconds: float = Field(default=10.0, ge=0, le=300)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def _emulator_url(self, path: str) -> str:
        return f"{self.public_url}/_emulators{path}"

    @property
    def lwa_authorize(self) -> str:
        """Login with Amazon consent page (providers.md §2); the emulator when unset."""
        return self.lwa_authorize_url or self._emulator_url("/amazon/ap/oa")

    @property
    def lwa_token(self) -> str:
        return self.lwa_token_url or self._emulator_url("/amazon/auth/o2/token")

    @property
    def lwa_profile(self) -> str:
        return self.lwa_profile_url or self._emulator_url("/amazon/user/profile")

    @property
    def spapi_consent(self) -> str:
        """Seller Central consent page (providers.md §1.1); real e.g.
        https://sellercentral.amazon.com/apps/authorize/consent."""
        return self.spapi_consent_url or self._emulator_url("/amazon/apps/authorize/consent")

    def spapi_endpoint(self, region: str, environment: str = "production") -> str:
        """Regional SP-API host (providers.md §1.3); the sandbox host when asked for."""
        configured = {
            "na": self.spapi_endpoint_na,
            "eu": self.spapi_endpoint_eu,
            "fe": self.spapi_endpoint_fe,
        }.get(region)
        base = configured or self._emulator_url("/amazon")
        if environment == "sandbox" and configured and "://sandbox." not in configured:
            return configured.replace("://", "://sandbox.", 1)
        return base

    def ads_region_url(self, kind: str, region: str) -> str:
        """Amazon Ads per-region URLs (providers.md §3) from ``SELLERHUB_ADS_{AUTHORIZE,TOKEN,
        API}_URLS`` (JSON objects keyed na/eu/fe); the emulator when unset."""
        table = {
            "authorize": (self.ads_authorize_urls, "/amazon/ap/oa"),
            "token": (self.ads_token_urls, "/amazon/auth/o2/token"),
            "api": (self.ads_api_urls, "/amazon"),
        }
        configured, emulated = table[kind]
        return configured.get(region) or self._emulator_url(emulated)

    def shopify_shop_url(self, shop: str) -> str:
        """Base URL of a shop (providers.md §4: the shop domain is the API host); a template
        with ``{shop}`` so the emulator can serve ``*.myshopify.com`` locally."""
        template = self.shopify_shop_url_template or self._emulator_url("/shopify/{shop}")
        return template.replace("{shop}", shop)

    @property
    def fedex_api_base(self) -> str:
        """FedEx API host (token at ``/oauth/token``); real: https://apis.fedex.com."""
        return self.fedex_api_url or self._emulator_url("/fedex")

    @property
    def fedex_sandbox_api_base(self) -> str:
        return self.fedex_sandbox_api_url or self._emulator_url("/fedex")

    @property
    def dhl_api_base(self) -> str:
        """DHL eCommerce Americas host (token at ``/auth/v4/accesstoken``); real:
        https://api.dhlecs.com."""
        return self.dhl_api_url or self._emulator_url("/dhl")

    @property
    def dhl_sandbox_api_base(self) -> str:
        return self.dhl_sandbox_api_url or self._emulator_url("/dhl")

    @property
    def stripe_api(self) -> str:
        """Stripe's API base (``/v1/…`` below it): the configured one; else the emulator while
        the emulators are mounted; else Stripe's."""
        if self.stripe_api_base:
            return self.stripe_api_base.rstrip("/")
        return self._emulator_url("/stripe") if self.emulators_enabled else STRIPE_API

    @property
    def stripe_emulated(self) -> bool:
        """Stripe is the development emulator (which serves a hosted card page)."""
        return self.stripe_api.endswith("/_emulators/stripe")

    def operator_hosts(self) -> frozenset[str]:
        """Host names of the provider URLs the operator configured (the emulators' when unset):
        destinations the operator chose, unlike a store URL a user typed in. The production
        provider client checks only the latter for global routability (``core.http``)."""
        regions = ("na", "eu", "fe")
        urls = [
            self.lwa_authorize,
            self.lwa_token,
            self.lwa_profile,
            self.spapi_consent,
            *(self.spapi_endpoint(r, e) for r in regions for e in ("production", "sandbox")),
            *(self.ads_region_url(k, r) for k in ("authorize", "token", "api") for r in regions),
            self.shopify_shop_url("shop.invalid"),
            self.fedex_api_base,
            self.fedex_sandbox_api_base,
            self.dhl_api_base,
            self.dhl_sandbox_api_base,
        ]
        hosts = {urlsplit(url).hostname for url in urls}
        return frozenset(h for h in hosts if h and h != "shop.invalid")

    @property
    def cookie_secure(self) -> bool:
        if self.cookie_secure_flag is not None:
            return self.cookie_secure_flag
        return self.env is not Environment.DEVELOPMENT

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def emulators_enabled(self) -> bool:
        if self.emulators is None:
            return self.env is not Environment.PRODUCTION
        return self.emulators

    @property
    def json_logs(self) -> bool:
        if self.log_json is None:
            return self.is_production
        return self.log_json

    def problems(self) -> list[str]:
        """Why this configuration must not run; empty when it may."""
        if not self.is_production:
            return []
        found: list[str] = []
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            found.append(
                "SELLERHUB_SECRET_KEY is the development default or shorter than 32 characters"
            )
        keys_set = self.encryption_keys is not None and bool(
            self.encryption_keys.get_secret_value().strip()
        )
        if not keys_set and self.encryption_keys_file is None:
            found.append("SELLERHUB_ENCRYPTION_KEYS is not set (production needs a key ring)")
        if keys_set and self.encryption_keys_file is not None:
            found.append(
                "SELLERHUB_ENCRYPTION_KEYS and SELLERHUB_ENCRYPTION_KEYS_FILE are both set: "
                "choose one"
            )
        if self.emulators_enabled:
            found.append("SELLERHUB_EMULATORS must be false in production")
        if not self.cookie_secure:
            found.append("SELLERHUB_COOKIE_SECURE must not be false in production")
        if self.database_url is None:
            found.append("SELLERHUB_DATABASE_URL is not set (production needs a real PostgreSQL)")
        if self.seed_admin_password.get_secret_value() == "sellerhub-demo":
            found.append("SELLERHUB_SEED_ADMIN_PASSWORD is the development default")
        if self.lwa_client_secret.get_secret_value() == "sellerhub-emulator-secret":
            found.append("SELLERHUB_LWA_CLIENT_SECRET is the emulator's default")
        if self.spapi_client_secret.get_secret_value() == "sellerhub-emulator-secret":
            found.append("SELLERHUB_SPAPI_CLIENT_SECRET is the emulator's default")
        if self.shopify_client_secret.get_secret_value() == "shopify-emulator-secret":
            found.append("SELLERHUB_SHOPIFY_CLIENT_SECRET is the emulator's default")
        if self.stripe_webhook_secret.get_secret_value() == "whsec_sellerhub_development":
            found.append("SELLERHUB_STRIPE_WEBHOOK_SECRET is the development default")
        if self.stripe_secret_key.get_secret_value() == STRIPE_DEVELOPMENT_SECRET_KEY:
            found.append("SELLERHUB_STRIPE_SECRET_KEY is the emulator's default")
        if self.stripe_publishable_key == STRIPE_DEVELOPMENT_PUBLISHABLE_KEY:
            found.append("SELLERHUB_STRIPE_PUBLISHABLE_KEY is the emulator's default")
        if self.ads_client_secret.get_secret_value() == "sellerhub-emulator-secret":
            found.append("SELLERHUB_ADS_CLIENT_SECRET is the emulator's default")
        for kind in ("authorize", "token", "api"):
            if set(getattr(self, f"ads_{kind}_urls")) != {"na", "eu", "fe"}:
                found.append(f"SELLERHUB_ADS_{kind.upper()}_URLS must name na, eu and fe")
        for name in (
            "lwa_authorize_url",
            "lwa_token_url",
            "lwa_profile_url",
            "shopify_shop_url_template",
            "spapi_consent_url",
            "spapi_endpoint_na",
            "spapi_endpoint_eu",
            "spapi_endpoint_fe",
            "fedex_api_url",
            "fedex_sandbox_api_url",
            "dhl_api_url",
            "dhl_sandbox_api_url",
        ):
            if getattr(self, name) is None:
                found.append(
                    f"SELLERHUB_{name.upper()} is not set (production talks to the real provider)"
                )
        if not self.public_url.startswith("https://"):
            found.append("SELLERHUB_PUBLIC_URL must be an https:// URL in production")
        if self.mail_backend == "outbox":
            found.append("SELLERHUB_MAIL_BACKEND=outbox keeps mail undelivered; use smtp")
        if self.smtp_password is not None and not (self.smtp_starttls or self.smtp_ssl):
            found.append(
                "SELLERHUB_SMTP_PASSWORD would travel unencrypted: enable SELLERHUB_SMTP_STARTTLS "
                "or SELLERHUB_SMTP_SSL"
            )
        return found

    def check(self) -> None:
        """Raise ``ConfigurationError`` naming the first unsafe setting."""
        found = self.problems()
        if found:
            raise ConfigurationError(found[0])


@functools.cache
def get_settings() -> Settings:
    return Settings()
