"""Constants of the Stripe emulator (providers.md §8, reference-next.md §1)."""

from __future__ import annotations

PREFIX = "/stripe"
BANNER = "Stripe emulator - a local stand-in for testing, not Stripe. No real card is charged."

SECRET_KEY = "sk_test_sellerhub_emulator"  # noqa: S105 - public emulator test key
PUBLISHABLE_KEY = "pk_test_sellerhub_emulator"
WEBHOOK_SECRET = "whsec_sellerhub_development"  # noqa: S105 - public development value
API_VERSION = "2025-10-29.clover"

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
IDEMPOTENCY_KEY_MAX = 255
ACCOUNT_LINK_TTL_SECONDS = 300
CHECKOUT_TTL_SECONDS = 24 * 3600
LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100

DELIVERY_TIMEOUT_SECONDS = 10.0
DELIVERY_DELAY_SECONDS = 0.05
RETRY_DELAYS_SECONDS = (1.0, 5.0, 25.0)

ERROR_DOCS = "https://stripe.com/docs/error-codes/"

# Minimum charge amounts Stripe documents for a few currencies (minor units); others: 1.
MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "jpy": 50, "chf": 50}
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "pyg", "xof", "xaf", "ugx", "rwf"})

# Endpoint names for ``_admin`` ``stats``/``fail``/``rate_limit`` (common controls).
ENDPOINTS = (
    "customers",
    "payment_methods",
    "setup_intents",
    "payment_intents",
    "charges",
    "refunds",
    "balance",
    "events",
    "accounts",
    "account_links",
    "transfers",
    "payouts",
    "checkout",
    "products",
    "prices",
    "subscriptions",
    "invoices",
)
