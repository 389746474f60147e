"""The explicit list of providers. Add a provider here when its package exists."""

from __future__ import annotations

from sellerhub.connections.providers.amazon_ads.adapter import AmazonAdsProvider
from sellerhub.connections.providers.amazon_spapi.adapter import AmazonSpApiProvider
from sellerhub.connections.providers.base import Provider
from sellerhub.connections.providers.dhl.adapter import DhlProvider
from sellerhub.connections.providers.fedex.adapter import FedexProvider
from sellerhub.connections.providers.shopify.adapter import ShopifyProvider
from sellerhub.connections.providers.woocommerce.adapter import WooCommerceProvider
from sellerhub.core.errors import NotFound

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        AmazonSpApiProvider(),
        AmazonAdsProvider(),
        ShopifyProvider(),
        WooCommerceProvider(),
        FedexProvider(),
        DhlProvider(),
    )
}


def get_provider(name: str) -> Provider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise NotFound(f"unknown provider {name!r}")
    return provider
