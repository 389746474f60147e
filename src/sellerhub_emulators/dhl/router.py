"""Everything the DHL emulator serves under its prefix: authentication, tracking and
``_admin``."""

from __future__ import annotations

from fastapi import APIRouter

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.dhl.state import DhlEmulator
from sellerhub_emulators.dhl.token import add_token_routes
from sellerhub_emulators.dhl.track import add_track_routes


def build_dhl_router(emulator: DhlEmulator) -> APIRouter:
    router = APIRouter(tags=["dhl emulator"])
    add_token_routes(router, emulator)
    add_track_routes(router, emulator)
    router.include_router(build_admin_router(emulator))
    return router
