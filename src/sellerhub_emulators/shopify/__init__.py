"""Shopify emulator (providers.md §4): per-shop authorization-code grant (offline, online and
expiring offline tokens with refresh), Admin REST orders, the Shop resource and webhook
subscriptions with a leaky bucket, signed webhook delivery on demand, and the control surface of
api-contract.md §4.

Shops are served by path: ``/shopify/{shop}/admin/...`` with ``{shop}`` a ``*.myshopify.com``
hostname. Endpoint names for ``_admin`` ``stats``/``fail``/``rate_limit``: ``authorize``,
``token``, ``orders``, ``webhooks``, ``shop``.
"""

from sellerhub_emulators.shopify.constants import (
    DEFAULT_API_VERSION,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PREFIX,
)
from sellerhub_emulators.shopify.router import build_shopify_router
from sellerhub_emulators.shopify.signing import host_param, query_hmac, webhook_hmac
from sellerhub_emulators.shopify.state import ShopifyEmulator

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "PREFIX",
    "ShopifyEmulator",
    "build_shopify_router",
    "host_param",
    "query_hmac",
    "webhook_hmac",
]
