"""Everything the WooCommerce emulator serves under its prefix: stores and ``_admin``."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.woocommerce.authorize import add_authorize_routes
from sellerhub_emulators.woocommerce.control import build_control_router
from sellerhub_emulators.woocommerce.rest import add_rest_routes
from sellerhub_emulators.woocommerce.state import WooCommerceEmulator


def build_woocommerce_router(emulator: WooCommerceEmulator) -> APIRouter:
    router = APIRouter(tags=["woocommerce emulator"])
    add_authorize_routes(router, emulator)
    add_rest_routes(router, emulator)
    router.include_router(build_admin_router(emulator))
    router.include_router(build_control_router(emulator))
    return router
