"""Public constants of the FedEx emulator: where it lives, who it knows, what it grants.

Paths are relative to the emulator's prefix; the main app mounts the emulators app at
``/_emulators``, so the token URL is ``{public_url}/_emulators/fedex/oauth/token``. Real hosts
(providers.md §6): ``https://apis.fedex.com`` (production) and ``https://apis-sandbox.fedex.com``
(sandbox), with the same paths, so sellerhub's ``fedex_api_url`` setting is the only switch.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "/fedex"

# providers.md §6 (OAuth) and FedEx's Track API 1.0.0 OpenAPI (``trackByTrackingNumber``).
TOKEN_PATH: Final = "/oauth/token"  # noqa: S105 - a path, not a secret
TRACK_PATH: Final = "/track/v1/trackingnumbers"

# The registered project every fresh emulator knows; ``_admin/config`` ``clients`` adds more.
# 740561073 is the account number FedEx hands out for sandbox testing; the Track API does not
# take an account number, it is here for callers that store one with the credentials.
DEFAULT_CLIENT_ID: Final = "fedex-emulator-client"
DEFAULT_CLIENT_SECRET: Final = "fedex-emulator-secret"  # noqa: S105 - public test credential
DEFAULT_ACCOUNT_NUMBER: Final = "740561073"

# Customer key / customer password for the ``csp_credentials`` and ``client_pc_credentials``
# grants (providers.md §6: form fields ``child_Key`` and ``child_secret``); ``_admin/config``
# ``child_credentials`` adds more.
DEFAULT_CHILD_KEY: Final = "fedex-emulator-child-key"
DEFAULT_CHILD_SECRET: Final = "fedex-emulator-child-secret"  # noqa: S105 - public test credential

# Endpoint names for ``_admin/stats``, ``fail`` and ``rate_limit``.
ENDPOINT_TOKEN: Final = "token"  # noqa: S105 - an endpoint name
ENDPOINT_TRACK: Final = "track"

# providers.md §6: the three grant types and their form fields (note the capital K).
GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
GRANT_CSP_CREDENTIALS: Final = "csp_credentials"
GRANT_CLIENT_PC_CREDENTIALS: Final = "client_pc_credentials"
CHILD_GRANTS: Final = frozenset({GRANT_CSP_CREDENTIALS, GRANT_CLIENT_PC_CREDENTIALS})
CHILD_KEY_FIELD: Final = "child_Key"
CHILD_SECRET_FIELD: Final = "child_secret"  # noqa: S105 - a form field name

# providers.md §6: ``{"token_type":"bearer", ..., "scope":"CXS"}``.
TOKEN_TYPE: Final = "bearer"  # noqa: S105 - the OAuth token type
GRANTED_SCOPE: Final = "CXS"

# Track API: "At least one occurrence of TrackingInfo is required. Maximum limit is 30."
MAX_TRACKING_NUMBERS: Final = 30
