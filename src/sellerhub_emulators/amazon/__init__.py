"""Amazon emulator, with the control surface of api-contract.md §4:

- Login with Amazon (providers.md §1.2, §2): ``/ap/oa``, ``/auth/o2/token``, ``/user/profile``.
- Seller Central website authorization (§1.1): ``/apps/authorize/consent``.
- SP-API (§1.3-§1.5): ``/sellers/v1/marketplaceParticipations``, ``/fba/inventory/v1/summaries``.
- SP-API Reports 2021-06-30 and Finances v0 (§1.6, ``reports``): ``/reports/2021-06-30/reports``,
  ``/reports/2021-06-30/documents/{id}``, the pre-signed ``/report-documents/{id}`` and
  ``/finances/v0/financialEvents``, over a seeded FBA history with planted claim cases
  (``reports_data``; ``_admin/reports/...`` in ``reports_admin``). Endpoint names for
  ``fail`` and ``rate_limit``: ``create_report``, ``get_reports``, ``get_report``,
  ``cancel_report``, ``get_report_document``, ``report_download``, ``financial_events``.
- Fulfillment Inbound v0 (``inbound``): ``/fba/inbound/v0/shipments`` and
  ``/fba/inbound/v0/shipments/{id}/items`` (shipped and received quantities); endpoint names
  ``inbound_shipments``, ``inbound_shipment_items``.
- Amazon Ads (§3): ``/v2/profiles`` (the Ads OAuth is LWA's ``/ap/oa`` and token endpoint).

Every regional host of the real services (Seller Central, SP-API NA/EU/FE, Ads NA/EU/FE, LWA
token hosts) maps to this one emulator; the region is a sellerhub setting.
"""

from sellerhub_emulators.amazon.ads_model import DEFAULT_ADS_PROFILE_IDS
from sellerhub_emulators.amazon.constants import (
    ADS_PROFILES_PATH,
    AUTHORIZE_PATH,
    DEFAULT_APPLICATION_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    DEFAULT_POSTAL_CODE,
    DEFAULT_SELLING_PARTNER_ID,
    DEFAULT_USER_ID,
    INVENTORY_SUMMARIES_PATH,
    MARKETPLACE_PARTICIPATIONS_PATH,
    PREFIX,
    PROFILE_PATH,
    SCOPE_ADS,
    SPAPI_CONSENT_PATH,
    TOKEN_PATH,
)
from sellerhub_emulators.amazon.marketplaces import DEFAULT_MARKETPLACE_IDS, MARKETPLACES
from sellerhub_emulators.amazon.router import build_amazon_router
from sellerhub_emulators.amazon.state import AmazonEmulator

__all__ = [
    "ADS_PROFILES_PATH",
    "AUTHORIZE_PATH",
    "DEFAULT_ADS_PROFILE_IDS",
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_EMAIL",
    "DEFAULT_MARKETPLACE_IDS",
    "DEFAULT_NAME",
    "DEFAULT_POSTAL_CODE",
    "DEFAULT_SELLING_PARTNER_ID",
    "DEFAULT_USER_ID",
    "INVENTORY_SUMMARIES_PATH",
    "MARKETPLACES",
    "MARKETPLACE_PARTICIPATIONS_PATH",
    "PREFIX",
    "PROFILE_PATH",
    "SCOPE_ADS",
    "SPAPI_CONSENT_PATH",
    "TOKEN_PATH",
    "AmazonEmulator",
    "build_amazon_router",
]
