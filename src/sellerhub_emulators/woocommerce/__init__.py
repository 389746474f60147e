"""WooCommerce emulator (providers.md §5): the app authentication endpoint
(``{store}/wc-auth/v1/authorize``), REST v3 orders / system_status / webhooks with key auth
(HTTP Basic or key query parameters over https, OAuth 1.0a one-legged signatures over plain
http, as WooCommerce requires), signed webhook deliveries, and the control surface of
api-contract.md §4 (plus ``_admin/emit`` and ``_admin/keys``). A store lives at
``/woocommerce/stores/{store}``, created on first use.

Endpoint names for ``_admin`` ``stats``/``fail``/``rate_limit``: ``authorize``, ``orders``,
``system_status`` and ``webhooks``.
"""

from sellerhub_emulators.woocommerce.constants import (
    AUTHORIZE_PATH,
    ORDERS_PATH,
    PREFIX,
    SYSTEM_STATUS_PATH,
    WEBHOOKS_PATH,
)
from sellerhub_emulators.woocommerce.router import build_woocommerce_router
from sellerhub_emulators.woocommerce.state import WooCommerceEmulator

__all__ = [
    "AUTHORIZE_PATH",
    "ORDERS_PATH",
    "PREFIX",
    "SYSTEM_STATUS_PATH",
    "WEBHOOKS_PATH",
    "WooCommerceEmulator",
    "build_woocommerce_router",
]
