"""Everything the Amazon emulator serves under its prefix: Login with Amazon, Seller Central's
SP-API website authorization, the SP-API operations and the Amazon Ads profiles, each from its
own module, plus the shared ``_admin`` control surface."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.amazon.ads import add_ads_routes
from sellerhub_emulators.amazon.authorize import add_authorize_routes
from sellerhub_emulators.amazon.inbound import add_inbound_routes
from sellerhub_emulators.amazon.inventory_admin import add_inventory_admin_routes
from sellerhub_emulators.amazon.profile import add_profile_routes
from sellerhub_emulators.amazon.reports import add_reports_routes
from sellerhub_emulators.amazon.reports_admin import add_reports_admin_routes
from sellerhub_emulators.amazon.seller_central import add_seller_central_routes
from sellerhub_emulators.amazon.spapi import add_spapi_routes
from sellerhub_emulators.amazon.state import AmazonEmulator
from sellerhub_emulators.amazon.token import add_token_routes
from sellerhub_emulators.common.admin import build_admin_router


def build_amazon_router(emulator: AmazonEmulator) -> APIRouter:
    router = APIRouter(tags=["amazon emulator"])
    add_authorize_routes(router, emulator)
    add_token_routes(router, emulator)
    add_profile_routes(router, emulator)
    add_seller_central_routes(router, emulator)
    add_spapi_routes(router, emulator)
    add_reports_routes(router, emulator)
    add_inbound_routes(router, emulator)
    add_ads_routes(router, emulator)
    add_inventory_admin_routes(router, emulator)
    add_reports_admin_routes(router, emulator)
    router.include_router(build_admin_router(emulator))
    return router
