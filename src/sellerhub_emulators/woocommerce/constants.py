"""Public constants of the WooCommerce emulator (providers.md §5).

One emulator hosts many stores by path: a store's URL (what WooCommerce calls the site URL) is
``{public_url}/_emulators/woocommerce/stores/{store}``; a store is created on first use. Paths
below are relative to the emulator's prefix (``STORE_PATH``) or to a store URL (the others).
"""

from __future__ import annotations

import re
from typing import Final

PREFIX: Final = "/woocommerce"
STORE_PATH: Final = "/stores/{store}"
# A store name: lower-case letters, digits and hyphens (like a host label).
STORE_NAME: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# providers.md §5.1 / §5.2 (relative to the store URL).
AUTHORIZE_PATH: Final = "/wc-auth/v1/authorize"
REST_BASE: Final = "/wp-json/wc/v3"
ORDERS_PATH: Final = REST_BASE + "/orders"
SYSTEM_STATUS_PATH: Final = REST_BASE + "/system_status"
WEBHOOKS_PATH: Final = REST_BASE + "/webhooks"

# Endpoint names for ``_admin/stats``, ``fail`` and ``rate_limit``.
ENDPOINT_AUTHORIZE: Final = "authorize"
ENDPOINT_ORDERS: Final = "orders"
ENDPOINT_SYSTEM_STATUS: Final = "system_status"
ENDPOINT_WEBHOOKS: Final = "webhooks"

SCOPES: Final = ("read", "write", "read_write")
KEY_PREFIX: Final = "ck_"
SECRET_PREFIX: Final = "cs_"  # noqa: S105 - a prefix, not a secret

# Test-only relaxation (providers.md §9): WooCommerce refuses a callback_url that is not
# https:// and, through wp_safe_remote_post, any private or loopback destination. The emulator
# also accepts plain http:// for these hosts (and posts to loopback addresses), nothing else.
LOCAL_CALLBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# The emulator's own timeout for the key POST and webhook deliveries (WooCommerce: 60 s).
OUTBOUND_TIMEOUT_SECONDS: Final = 10.0

# Versions the emulator reports (User-Agent of deliveries, system_status).
WC_VERSION: Final = "9.3.3"
WP_VERSION: Final = "6.6.2"
USER_AGENT: Final = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"

# REST list defaults (WP_REST_Controller collection params).
DEFAULT_PER_PAGE: Final = 10
MAX_PER_PAGE: Final = 100
SEEDED_ORDERS: Final = 25
CURRENCY: Final = "USD"

ORDER_STATUSES: Final = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
)
ORDERBY: Final = ("date", "id", "include", "title", "slug", "modified")

# Webhooks (class-wc-webhook.php): resources, events, and the failure limit after which a
# webhook is disabled ("more than 5 consecutive failures").
WEBHOOK_RESOURCES: Final = ("coupon", "customer", "order", "product")
WEBHOOK_EVENTS: Final = ("created", "updated", "deleted", "restored")
WEBHOOK_STATUSES: Final = ("active", "paused", "disabled")
MAX_DELIVERY_FAILURES: Final = 5
WEBHOOK_HOOKS: Final[dict[str, list[str]]] = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post"],
    "order.restored": ["untrashed_post"],
}
