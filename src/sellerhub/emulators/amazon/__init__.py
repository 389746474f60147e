"""Amazon emulator: Login with Amazon (``/ap/oa``, ``/auth/o2/token``, ``/user/profile``) per
providers.md §1.2 and §2, with the control surface of api-contract.md §4.

Seller Central SP-API consent, SP-API and Ads endpoints are added to this package later.
"""

from sellerhub.emulators.amazon.constants import (
    AUTHORIZE_PATH,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    DEFAULT_POSTAL_CODE,
    DEFAULT_USER_ID,
    PREFIX,
    PROFILE_PATH,
    TOKEN_PATH,
)
from sellerhub.emulators.amazon.router import build_amazon_router
from sellerhub.emulators.amazon.state import AmazonEmulator

__all__ = [
    "AUTHORIZE_PATH",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_EMAIL",
    "DEFAULT_NAME",
    "DEFAULT_POSTAL_CODE",
    "DEFAULT_USER_ID",
    "PREFIX",
    "PROFILE_PATH",
    "TOKEN_PATH",
    "AmazonEmulator",
    "build_amazon_router",
]
