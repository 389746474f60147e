"""Everything the Stripe emulator serves under its prefix: ``/v1``, hosted ``pages/`` and
``_admin`` (common controls plus the Stripe ones)."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.stripe.admin import build_stripe_admin_router
from sellerhub_emulators.stripe.api import add_api_routes
from sellerhub_emulators.stripe.pages import (
    add_checkout_routes,
    add_onboarding_routes,
    add_page_routes,
)
from sellerhub_emulators.stripe.state import StripeEmulator


def build_stripe_router(emulator: StripeEmulator) -> APIRouter:
    router = APIRouter(tags=["stripe emulator"])
    router.include_router(build_admin_router(emulator))
    router.include_router(build_stripe_admin_router(emulator))
    add_page_routes(router, emulator)
    add_onboarding_routes(router, emulator)
    add_checkout_routes(router, emulator)
    add_api_routes(router, emulator)
    return router
