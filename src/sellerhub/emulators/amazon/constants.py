"""Public constants of the Amazon emulator: where it lives, who it knows, what it grants.

Paths are relative to the emulator's prefix; the emulators app includes it at ``PREFIX`` and
the main app mounts the emulators app at ``/_emulators``, so the authorization URL is
``{public_url}/_emulators/amazon/ap/oa``. Real values (providers.md §1.2, §2):
``https://www.amazon.com/ap/oa``, ``https://api.amazon.com/auth/o2/token``,
``https://api.amazon.com/user/profile``.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "/amazon"

# Login with Amazon (providers.md §1.2, §2)
AUTHORIZE_PATH: Final = "/ap/oa"
TOKEN_PATH: Final = "/auth/o2/token"  # noqa: S105 - a path, not a secret
PROFILE_PATH: Final = "/user/profile"

# The registered client every fresh emulator knows; ``_admin/config`` ``clients`` adds more.
DEFAULT_CLIENT_ID: Final = "amzn1.application-oa2-client.sellerhub-emulator"
DEFAULT_CLIENT_SECRET: Final = "sellerhub-emulator-secret"  # noqa: S105 - public test credential

# The identity the consent page proposes (editable on the page).
DEFAULT_USER_ID: Final = "amzn1.account.EMULATOR0000000000000001"
DEFAULT_NAME: Final = "Emulated Seller"
DEFAULT_EMAIL: Final = "seller@example.com"
DEFAULT_POSTAL_CODE: Final = "98052"  # the example value of the LWA customer-profile docs

# Endpoint names for ``_admin/stats``, ``fail`` and ``rate_limit``.
ENDPOINT_AUTHORIZE: Final = "authorize"
ENDPOINT_TOKEN: Final = "token"  # noqa: S105 - an endpoint name
ENDPOINT_PROFILE: Final = "profile"

# LWA user scopes (providers.md §2) and what the consent page says about them.
SCOPE_PROFILE: Final = "profile"
SCOPE_USER_ID: Final = "profile:user_id"
SCOPE_POSTAL_CODE: Final = "postal_code"
LWA_SCOPES: Final[dict[str, str]] = {
    SCOPE_PROFILE: "your name, email address and Amazon account id",
    SCOPE_USER_ID: "your Amazon account id",
    SCOPE_POSTAL_CODE: "the postal code of your default shipping address",
}

# Grantless (client_credentials) scopes: the two of providers.md §1.2, plus the one the SP-API
# Application Management API uses to rotate client secrets.
GRANTLESS_SCOPES: Final = frozenset(
    {
        "sellingpartnerapi::notifications",
        "sellingpartnerapi::migration",
        "sellingpartnerapi::client_credential:rotation",
    }
)

# providers.md §1.2: access tokens start with "Atza|", refresh tokens with "Atzr|".
ACCESS_TOKEN_PREFIX: Final = "Atza|"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX: Final = "Atzr|"  # noqa: S105 - a prefix, not a secret
CODE_TTL_SECONDS: Final = 300  # providers.md §1.1 Step B: the code expires after 5 minutes
