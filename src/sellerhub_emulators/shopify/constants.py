"""Public constants of the Shopify emulator (providers.md §4).

Every shop endpoint lives under ``{PREFIX}/{shop}/...`` where ``{shop}`` is a ``*.myshopify.com``
hostname, so one local server hosts many shops: sellerhub's shop base URL template becomes
``{public_url}/_emulators/shopify/{shop}`` (real Shopify: ``https://{shop}``).
"""

from __future__ import annotations

import re
from typing import Final

PREFIX: Final = "/shopify"

# The app every fresh emulator knows; ``_admin/config`` ``clients`` adds more.
DEFAULT_CLIENT_ID: Final = "shopify-emulator-client"
DEFAULT_CLIENT_SECRET: Final = "shopify-emulator-secret"  # noqa: S105 - public test credential

# Paths relative to ``{PREFIX}/{shop}`` (providers.md §4.1, §4.4, §4.2).
AUTHORIZE_PATH: Final = "/admin/oauth/authorize"
ACCESS_TOKEN_PATH: Final = "/admin/oauth/access_token"  # noqa: S105 - a path
ORDERS_PATH: Final = "/admin/api/{version}/orders.json"
WEBHOOKS_PATH: Final = "/admin/api/{version}/webhooks.json"
SHOP_PATH: Final = "/admin/api/{version}/shop.json"

# The API version used for webhooks sent to ``addresses`` given to ``_admin/emit``.
DEFAULT_API_VERSION: Final = "2025-10"
API_VERSION_RE: Final = re.compile(r"^(\d{4}-(0[1-9]|1[0-2])|unstable)$")

# Endpoint names for ``_admin/stats``, ``fail`` and ``rate_limit``.
ENDPOINT_AUTHORIZE: Final = "authorize"
ENDPOINT_TOKEN: Final = "token"  # noqa: S105 - an endpoint name
ENDPOINT_ORDERS: Final = "orders"
ENDPOINT_WEBHOOKS: Final = "webhooks"
ENDPOINT_SHOP: Final = "shop"

# Token shapes: ``shpat_`` offline, ``shpua_`` online (observed prefixes); ``shprt_`` for
# refresh tokens is [unconfirmed].
OFFLINE_TOKEN_PREFIX: Final = "shpat_"  # noqa: S105 - a prefix
ONLINE_TOKEN_PREFIX: Final = "shpua_"  # noqa: S105 - a prefix
REFRESH_TOKEN_PREFIX: Final = "shprt_"  # noqa: S105 - a prefix
# [unconfirmed] Shopify does not publish these; 90 days and 10 minutes are the emulator's.
REFRESH_TOKEN_TTL: Final = 90 * 86_400
CODE_TTL_SECONDS: Final = 600
ONLINE_ASSOCIATED_USER: Final = {
    "id": 902541635,
    "first_name": "Emu",
    "last_name": "Lator",
    "email": "owner@example.com",
    "email_verified": True,
    "account_owner": True,
    "locale": "en",
    "collaborator": False,
}

# providers.md §4.3: REST leaky bucket, 40 requests, leaking 2 per second (standard plan).
REST_BUCKET_SIZE: Final = 40
REST_LEAK_PER_SECOND: Final = 2.0

# providers.md §4.4.
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 250
SEEDED_ORDERS: Final = 30

# Shop hostnames served here: the myshopify.com branch of the JS lib's ``sanitizeShop``.
SHOP_RE: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*\.myshopify\.com$")
SCOPE_RE: Final = re.compile(r"^(unauthenticated_)?(read|write)_[a-z_]+$")

ORDER_TOPICS: Final = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/delete",
    }
)
COMPLIANCE_TOPICS: Final = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
TOPICS: Final = ORDER_TOPICS | COMPLIANCE_TOPICS | {"app/uninstalled"}

# providers.md §4.2: 1 s connect / 5 s total.
WEBHOOK_TIMEOUT_SECONDS: Final = 5.0
WEBHOOK_CONNECT_TIMEOUT_SECONDS: Final = 1.0
