"""Amazon Ads profiles and error shapes (providers.md §3).

A profile is ``{profileId (int64), countryCode, currencyCode, dailyBudget, timezone,
accountInfo: {marketplaceStringId, id, type: seller|vendor|agency, name, validPaymentMethod}}``.
Every Ads token sees the same default profiles — one seller profile per default marketplace
(US, CA, MX) of the default selling partner — unless ``_admin/config`` ``ads_profiles`` replaces
the list (``null`` restores the defaults). Ads country codes use ``UK`` for Great Britain (the
Ads profile table), where the Sellers API says ``GB``.

Errors are ``{"code", "details", "requestId"}`` with the HTTP status as the code, the shape seen
from the real API (e.g. ``{"code":"401","details":"Authentication failed","requestId":...}``,
amzn/amazon-advertising-api-php-sdk#10) [3p]; the details texts are the emulator's own. A 429
carries ``Retry-After`` (providers.md §3, [3p]).
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from starlette.responses import JSONResponse

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon.marketplaces import DEFAULT_MARKETPLACE_IDS, MARKETPLACES

DEFAULT_DAILY_BUDGET: Final = 999_999_999.0
# profileId of the default profile of each default marketplace.
DEFAULT_ADS_PROFILE_IDS: Final[dict[str, int]] = {
    marketplace_id: 3_000_000_000_000_001 + index
    for index, marketplace_id in enumerate(DEFAULT_MARKETPLACE_IDS)
}
PROFILE_TYPES: Final = ("seller", "vendor", "agency")


class _Wire(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )


class AccountInfoSpec(_Wire):
    marketplace_string_id: str = Field(min_length=1, max_length=40)
    id: str = Field(min_length=1, max_length=100)
    type: Literal["seller", "vendor", "agency"] = "seller"
    name: str = Field(min_length=1, max_length=200)
    valid_payment_method: bool | None = None


class AdsProfileSpec(_Wire):
    profile_id: int = Field(ge=1, le=2**63 - 1)
    country_code: str = Field(min_length=2, max_length=2)
    currency_code: str = Field(min_length=3, max_length=3)
    daily_budget: float | None = Field(default=None, ge=0)
    timezone: str = Field(min_length=1, max_length=64)
    account_info: AccountInfoSpec

    def wire(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "marketplaceStringId": self.account_info.marketplace_string_id,
            "id": self.account_info.id,
            "type": self.account_info.type,
            "name": self.account_info.name,
        }
        if self.account_info.valid_payment_method is not None:
            info["validPaymentMethod"] = self.account_info.valid_payment_method
        body: dict[str, Any] = {
            "profileId": self.profile_id,
            "countryCode": self.country_code,
            "currencyCode": self.currency_code,
        }
        if self.daily_budget is not None:
            body["dailyBudget"] = self.daily_budget
        body["timezone"] = self.timezone
        body["accountInfo"] = info
        return body


def default_profiles() -> list[AdsProfileSpec]:
    profiles = []
    for marketplace_id, profile_id in DEFAULT_ADS_PROFILE_IDS.items():
        m = MARKETPLACES[marketplace_id]
        wire = {
            "profileId": profile_id,
            "countryCode": "UK" if m.country_code == "GB" else m.country_code,
            "currencyCode": m.currency_code,
            "dailyBudget": DEFAULT_DAILY_BUDGET,
            "timezone": m.timezone,
            "accountInfo": {
                "marketplaceStringId": m.id,
                "id": c.DEFAULT_SELLING_PARTNER_ID,
                "type": "seller",
                "name": c.DEFAULT_NAME,
                "validPaymentMethod": True,
            },
        }
        profiles.append(AdsProfileSpec.model_validate(wire))
    return profiles


# -- errors --------------------------------------------------------------------------------------

AUTHENTICATION_FAILED = "Authentication failed"


def ads_error(status: int, details: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"code": str(status), "details": details, "requestId": uuid.uuid4().hex[:20].upper()}
    return JSONResponse(body, status_code=status, headers=headers)


def ads_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of an Ads endpoint."""
    if status == 429:
        return ads_error(429, "Too Many Requests", headers={"Retry-After": "1"})
    if status == 401:
        return ads_error(401, AUTHENTICATION_FAILED)
    if status >= 500:
        return ads_error(status, "Internal Server Error")
    return ads_error(status, f"Injected failure (HTTP {status})")
