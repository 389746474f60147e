"""DHL emulator: DHL eCommerce Americas v4 - authentication (``POST /auth/v4/accesstoken``,
providers.md §7) and tracking (``GET /tracking/v4/package/open``), with the control surface of
api-contract.md §4. Other DHL API families (Parcel DE, Express MyDHL, Unified Tracking) are not
emulated.

Endpoint names for ``_admin`` ``stats``/``fail``/``rate_limit``: ``token`` and ``track``.
"""

from sellerhub_emulators.dhl.constants import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PICKUP,
    PREFIX,
    TOKEN_PATH,
    TRACK_PATH,
)
from sellerhub_emulators.dhl.router import build_dhl_router
from sellerhub_emulators.dhl.state import DhlEmulator

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PICKUP",
    "PREFIX",
    "TOKEN_PATH",
    "TRACK_PATH",
    "DhlEmulator",
    "build_dhl_router",
]
