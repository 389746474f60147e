"""Everything the Shopify emulator serves under its prefix: per-shop OAuth and Admin REST, and
``_admin`` (common controls plus ``emit`` and ``orders``)."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.shopify.delivery import build_control_router
from sellerhub_emulators.shopify.oauth import add_oauth_routes
from sellerhub_emulators.shopify.rest import add_rest_routes
from sellerhub_emulators.shopify.state import ShopifyEmulator


def build_shopify_router(emulator: ShopifyEmulator) -> APIRouter:
    router = APIRouter(tags=["shopify emulator"])
    router.include_router(build_admin_router(emulator))
    router.include_router(build_control_router(emulator))
    add_oauth_routes(router, emulator)
    add_rest_routes(router, emulator)
    return router
