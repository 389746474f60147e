"""FedEx emulator: API Authorization (``POST /oauth/token``, providers.md §6) and the Track API
(``POST /track/v1/trackingnumbers``), with the control surface of api-contract.md §4.

Endpoint names for ``_admin`` ``stats``/``fail``/``rate_limit``: ``token`` and ``track``.
"""

from sellerhub_emulators.fedex.constants import (
    DEFAULT_ACCOUNT_NUMBER,
    DEFAULT_CHILD_KEY,
    DEFAULT_CHILD_SECRET,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PREFIX,
    TOKEN_PATH,
    TRACK_PATH,
)
from sellerhub_emulators.fedex.router import build_fedex_router
from sellerhub_emulators.fedex.state import FedexEmulator

__all__ = [
    "DEFAULT_ACCOUNT_NUMBER",
    "DEFAULT_CHILD_KEY",
    "DEFAULT_CHILD_SECRET",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "PREFIX",
    "TOKEN_PATH",
    "TRACK_PATH",
    "FedexEmulator",
    "build_fedex_router",
]
