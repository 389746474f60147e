"""Public constants of the Amazon emulator: where it lives, who it knows, what it grants.

Paths are relative to the emulator's prefix; the emulators app includes it at ``PREFIX`` and
the main app mounts the emulators app at ``/_emulators``, so the authorization URL is
``{public_url}/_emulators/amazon/ap/oa``. Real values (providers.md §1.2, §2):
``https://www.amazon.com/ap/oa``, ``https://api.amazon.com/auth/o2/token``,
``https://api.amazon.com/user/profile``.

Seller Central, SP-API and Amazon Ads live under the same prefix (providers.md §1, §3). The real
services are regional hosts (``sellercentral.amazon.com`` / ``sellercentral-europe.amazon.com``
/ ..., ``sellingpartnerapi-{na,eu,fe}.amazon.com``, ``advertising-api{,-eu,-fe}.amazon.com``,
LWA token hosts ``api.amazon.com`` / ``api.amazon.co.uk`` / ``api.amazon.co.jp``); choosing the
region is a setting on the sellerhub side, and every regional setting points at this one
emulator, which serves all marketplaces of the table in ``marketplaces.py``.
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

# LWA user scopes (providers.md §2) and what the consent page says about them. The Amazon Ads
# authorization uses the same consent page with the Ads scope (providers.md §3); the legacy
# ``cpc_advertising:campaign_management`` of older Ads guides is accepted too.
SCOPE_PROFILE: Final = "profile"
SCOPE_USER_ID: Final = "profile:user_id"
SCOPE_POSTAL_CODE: Final = "postal_code"
SCOPE_ADS: Final = "advertising::campaign_management"
SCOPE_ADS_LEGACY: Final = "cpc_advertising:campaign_management"
ADS_SCOPES: Final = frozenset({SCOPE_ADS, SCOPE_ADS_LEGACY})
LWA_SCOPES: Final[dict[str, str]] = {
    SCOPE_PROFILE: "your name, email address and Amazon account id",
    SCOPE_USER_ID: "your Amazon account id",
    SCOPE_POSTAL_CODE: "the postal code of your default shipping address",
    SCOPE_ADS: "your Amazon Ads accounts: profiles, campaigns and reports",
    SCOPE_ADS_LEGACY: "your Amazon Ads accounts (legacy scope name)",
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

# -- Seller Central website authorization (providers.md §1.1) -----------------------------------
SPAPI_CONSENT_PATH: Final = "/apps/authorize/consent"
# The SP-API application every fresh emulator knows; ``_admin/config`` ``spapi_apps`` adds more
# or changes it. Its LWA credentials are DEFAULT_CLIENT_ID / DEFAULT_CLIENT_SECRET.
DEFAULT_APPLICATION_ID: Final = "amzn1.sp.solution.sellerhub-emulator"
# Redirect URIs an application without an explicit list accepts: any absolute http(s) URL, on
# any host, whose path ends with this (the sellerhub callback).
DEFAULT_REDIRECT_PATH_SUFFIX: Final = "/api/auth/amazon/callback"
# The selling partner the consent page proposes (editable on the page).
DEFAULT_SELLING_PARTNER_ID: Final = "A3EMULATORSELLER1"
# Seller Central's documented authorization error codes (developer-docs "Authorization Errors").
MD_DRAFT_WITHOUT_BETA: Final = "MD1000"
MD_REDIRECT_URI_MISMATCH: Final = "MD5101"
MD_REDIRECT_URI_FRAGMENT: Final = "MD5110"
# Internal label of tokens that come from a website authorization; never sent on the wire (the
# code exchange answers no ``scope``).
SPAPI_AUTHORIZATION: Final = "sellingpartnerapi::website_authorization"

# -- SP-API (providers.md §1.3-§1.5) --------------------------------------------------------------
MARKETPLACE_PARTICIPATIONS_PATH: Final = "/sellers/v1/marketplaceParticipations"
INVENTORY_SUMMARIES_PATH: Final = "/fba/inventory/v1/summaries"
# getInventorySummaries usage plan (providers.md §1.5, fbaInventory.json): rate 2, burst 2. It is
# the default bucket of ``inventory_summaries``. getMarketplaceParticipations (.016 / 15 in the
# Sellers model) is not in providers.md, so it is limited only when configured.
INVENTORY_RATE_PER_SECOND: Final = 2.0
INVENTORY_BURST: Final = 2
NEXT_TOKEN_TTL_SECONDS: Final = 30  # providers.md §1.5 / §9: a nextToken expires after 30 s
INVENTORY_PAGE_SIZE: Final = 50  # emulator default (not documented); ``inventory_page_size``
MAX_SELLER_SKUS: Final = 50  # fbaInventory.json: sellerSkus maxItems 50

# -- Amazon Ads (providers.md §3) -----------------------------------------------------------------
ADS_PROFILES_PATH: Final = "/v2/profiles"
ADS_CLIENT_ID_HEADER: Final = "Amazon-Advertising-API-ClientId"

# Endpoint names of the Seller Central, SP-API and Ads parts (``_admin`` stats, fail, rate_limit).
ENDPOINT_SPAPI_CONSENT: Final = "spapi_consent"
ENDPOINT_MARKETPLACE_PARTICIPATIONS: Final = "marketplace_participations"
ENDPOINT_INVENTORY_SUMMARIES: Final = "inventory_summaries"
ENDPOINT_ADS_PROFILES: Final = "ads_profiles"

# -- Reports 2021-06-30 and Finances v0 (providers.md §1.6; issue 14) -----------------------------
REPORTS_PATH: Final = "/reports/2021-06-30/reports"
REPORT_DOCUMENTS_PATH: Final = "/reports/2021-06-30/documents"
DOCUMENT_DOWNLOAD_PATH: Final = "/report-documents"  # the pre-signed URLs (S3's part)
FINANCIAL_EVENTS_PATH: Final = "/finances/v0/financialEvents"
ENDPOINT_CREATE_REPORT: Final = "create_report"
ENDPOINT_GET_REPORTS: Final = "get_reports"
ENDPOINT_GET_REPORT: Final = "get_report"
ENDPOINT_CANCEL_REPORT: Final = "cancel_report"
ENDPOINT_GET_REPORT_DOCUMENT: Final = "get_report_document"
ENDPOINT_REPORT_DOWNLOAD: Final = "report_download"
ENDPOINT_FINANCIAL_EVENTS: Final = "financial_events"
# Usage plans of the models (rate per second, burst): the default buckets of those endpoints.
REPORTS_RATE_LIMITS: Final[dict[str, tuple[float, int]]] = {
    ENDPOINT_CREATE_REPORT: (0.0167, 15),
    ENDPOINT_GET_REPORTS: (0.0222, 10),
    ENDPOINT_GET_REPORT: (2.0, 15),
    ENDPOINT_CANCEL_REPORT: (0.0222, 10),
    ENDPOINT_GET_REPORT_DOCUMENT: (0.0167, 15),
    ENDPOINT_FINANCIAL_EVENTS: (0.5, 30),
}
# Fulfillment Inbound v0 (the shipped and received quantities of inbound shipments; issue 14)
INBOUND_SHIPMENTS_PATH: Final = "/fba/inbound/v0/shipments"
ENDPOINT_INBOUND_SHIPMENTS: Final = "inbound_shipments"
ENDPOINT_INBOUND_SHIPMENT_ITEMS: Final = "inbound_shipment_items"
INBOUND_RATE_LIMITS: Final[dict[str, tuple[float, int]]] = {
    ENDPOINT_INBOUND_SHIPMENTS: (2.0, 30),
    ENDPOINT_INBOUND_SHIPMENT_ITEMS: (2.0, 30),
}
INBOUND_PAGE_SIZE: Final = 20  # emulator's own (Amazon does not document one)
