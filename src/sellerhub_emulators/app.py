"""The emulators' own ASGI app (api-contract.md §4).

The main app mounts it at ``/_emulators`` when ``SELLERHUB_EMULATORS`` is on, and
``sellerhub emulators`` serves it standalone. Each emulator lives under ``/{provider}`` and
keeps its state on this app instance only, so every call builds independent emulators.
"""

from __future__ import annotations

import time

from fastapi import FastAPI

from sellerhub import __version__
from sellerhub_emulators.amazon import PREFIX as AMAZON_PREFIX
from sellerhub_emulators.amazon import AmazonEmulator, build_amazon_router
from sellerhub_emulators.common.state import Clock, EmulatorState
from sellerhub_emulators.dhl import PREFIX as DHL_PREFIX
from sellerhub_emulators.dhl import DhlEmulator, build_dhl_router
from sellerhub_emulators.fedex import PREFIX as FEDEX_PREFIX
from sellerhub_emulators.fedex import FedexEmulator, build_fedex_router
from sellerhub_emulators.shopify import PREFIX as SHOPIFY_PREFIX
from sellerhub_emulators.shopify import ShopifyEmulator, build_shopify_router
from sellerhub_emulators.stripe import PREFIX as STRIPE_PREFIX
from sellerhub_emulators.stripe import StripeEmulator, build_stripe_router
from sellerhub_emulators.woocommerce import PREFIX as WOOCOMMERCE_PREFIX
from sellerhub_emulators.woocommerce import WooCommerceEmulator, build_woocommerce_router


def create_emulators_app(*, clock: Clock | None = None) -> FastAPI:
    """Build the app. ``clock`` (monotonic seconds) lets tests move time; default real time.

    ``app.state.emulators`` maps a provider name to its state object (e.g. for tests that want
    to inspect it directly instead of through ``_admin``).
    """
    tick = clock or time.monotonic
    app = FastAPI(
        title="sellerhub provider emulators",
        version=__version__,
        description="Local stand-ins for Amazon (LWA), following docs/providers.md.",
    )
    amazon = AmazonEmulator(clock=tick)
    app.include_router(build_amazon_router(amazon), prefix=AMAZON_PREFIX)
    emulators: dict[str, EmulatorState] = {"amazon": amazon}
    fedex = FedexEmulator(clock=tick)
    app.include_router(build_fedex_router(fedex), prefix=FEDEX_PREFIX)
    emulators["fedex"] = fedex
    dhl = DhlEmulator(clock=tick)
    app.include_router(build_dhl_router(dhl), prefix=DHL_PREFIX)
    emulators["dhl"] = dhl
    shopify = ShopifyEmulator(clock=tick)
    app.include_router(build_shopify_router(shopify), prefix=SHOPIFY_PREFIX)
    emulators["shopify"] = shopify
    woocommerce = WooCommerceEmulator(clock=tick)
    app.include_router(build_woocommerce_router(woocommerce), prefix=WOOCOMMERCE_PREFIX)
    emulators["woocommerce"] = woocommerce
    stripe = StripeEmulator(clock=tick)
    app.include_router(build_stripe_router(stripe), prefix=STRIPE_PREFIX)
    emulators["stripe"] = stripe
    app.state.emulators = emulators
    return app
