"""Public constants of the DHL emulator (DHL eCommerce Americas API v4, providers.md §7).

Paths are relative to the emulator's prefix; the main app mounts the emulators app at
``/_emulators``, so the token URL is ``{public_url}/_emulators/dhl/auth/v4/accesstoken``. Real
hosts: ``https://api.dhlecs.com`` (production) and ``https://api-sandbox.dhlecs.com`` (sandbox),
with the same paths, so sellerhub's ``dhl_api_url`` setting is the only switch.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "/dhl"

# providers.md §7 (Authentication v4) and developer.dhl.com "Tracking (DHL eCommerce Americas)"
# v4.0.0, whose only operation is ``GET /tracking/v4/package/open``.
TOKEN_PATH: Final = "/auth/v4/accesstoken"  # noqa: S105 - a path, not a secret
TRACK_PATH: Final = "/tracking/v4/package/open"

# The registered client every fresh emulator knows; ``_admin/config`` ``clients`` adds more.
DEFAULT_CLIENT_ID: Final = "dhl-emulator-client"
DEFAULT_CLIENT_SECRET: Final = "dhl-emulator-secret"  # noqa: S105 - public test credential

# The pickup account every client is authorized for ("all tracking requests should be
# authorized for the Pickup"), and its sold-to account. Emulator values.
DEFAULT_PICKUP: Final = "5351244"
DEFAULT_SOLD_TO: Final = "5350001"

# Endpoint names for ``_admin/stats``, ``fail`` and ``rate_limit``.
ENDPOINT_TOKEN: Final = "token"  # noqa: S105 - an endpoint name
ENDPOINT_TRACK: Final = "track"

GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
TOKEN_TYPE: Final = "Bearer"  # noqa: S105 - the OAuth token type (observed capitalised)

# Tracking: "A single tracking request supports up to 10 package identifiers of the same kind"
# and "The max limit supported is 10".
IDENTIFIER_KINDS: Final = ("packageId", "dhlPackageId", "trackingId")
MAX_IDENTIFIERS: Final = 10
MAX_LIMIT: Final = 10

# DHL eCommerce Americas error bodies link to ``https://api.dhlecs.com/docs/errors/<code>``.
ERROR_TYPE_BASE: Final = "https://api.dhlecs.com/docs/errors/"
