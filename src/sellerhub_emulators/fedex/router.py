"""Everything the FedEx emulator serves under its prefix: OAuth, Track and ``_admin``."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.fedex.state import FedexEmulator
from sellerhub_emulators.fedex.token import add_token_routes
from sellerhub_emulators.fedex.track import add_track_routes


def build_fedex_router(emulator: FedexEmulator) -> APIRouter:
    router = APIRouter(tags=["fedex emulator"])
    add_token_routes(router, emulator)
    add_track_routes(router, emulator)
    router.include_router(build_admin_router(emulator))
    return router
