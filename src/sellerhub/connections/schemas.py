from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CarrierCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=300, description="API key / client id")
    client_secret: str = Field(min_length=1, max_length=500, description="secret key")
    account_number: str | None = Field(
        None, min_length=1, max_length=64, description="carrier account number (FedEx: required)"
    )
    environment: Literal["production", "sandbox"] = "production"


class ConnectionOut(BaseModel):
    id: uuid.UUID
    provider: str
    external_account_id: str
    environment: str
    display_name: str
    status: str
    status_reason: str | None
    scopes: list[str]
    client_id_hint: str | None = Field(description="the client id's last characters")
    has_secret: bool
    access_expires_at: datetime | None
    last_refreshed_at: datetime | None
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ConnectionTest(BaseModel):
    """The answer of a live check (``connections/flows/check.py``)."""

    ok: bool = Field(description="the provider accepted the connection's token just now")
    status: str = Field(
        description="the connection's status after the check: connected, error, needs_reauth"
    )
    result: Literal["accepted", "refused", "unavailable", "failed", "not_checked"] = Field(
        description="accepted; refused (now needs_reauth); unavailable (provider down or "
        "throttling: nothing changed, try again); failed (another answer: nothing changed); "
        "not_checked (already needs_reauth: connect again)"
    )
    detail: str = Field(description="what happened, in words")
    provider_status: int | None = Field(
        description="the provider's HTTP status for the check's read, when it answered"
    )
    checked_at: datetime


# --- connect flows -------------------------------------------------------------------------

WC_KEY_PATTERN = r"^ck_[0-9a-f]{40}$"
WC_SECRET_PATTERN = r"^cs_[0-9a-f]{40}$"  # noqa: S105 - a pattern, not a secret


class ConnectRequest(BaseModel):
    """The WooCommerce key grant's start."""

    model_config = ConfigDict(extra="forbid")
    store_url: str = Field(min_length=4, max_length=500)
    next: str | None = Field(None, max_length=2000)


class ConnectStart(BaseModel):
    auth_url: str


class GrantKeys(BaseModel):
    """What the store POSTs to the key grant's callback."""

    key_id: int | str | None = None
    user_id: str = Field(min_length=10, max_length=200)
    consumer_key: str = Field(pattern=WC_KEY_PATTERN)
    consumer_secret: str = Field(pattern=WC_SECRET_PATTERN)
    key_permissions: str | None = None


class WooCommerceCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_url: str = Field(min_length=4, max_length=500)
    consumer_key: str = Field(pattern=WC_KEY_PATTERN, description="ck_ + 40 hex characters")
    consumer_secret: str = Field(pattern=WC_SECRET_PATTERN, description="cs_ + 40 hex characters")


class AmazonCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selling_partner_id: str = Field(pattern=r"^[A-Z0-9]{8,20}$")
    refresh_token: str = Field(pattern=r"^Atzr\|\S{10,2040}$", description="LWA refresh token")
    region: Literal["na", "eu", "fe"] = "na"
    lwa_client_id: str | None = Field(None, max_length=200)
    lwa_client_secret: str | None = Field(None, max_length=500)


@dataclass(frozen=True, slots=True)
class ConnectionSummary:
    """A connection as a page lists it: what it is and its state, nothing secret."""

    id: uuid.UUID
    provider: str
    display_name: str
    external_account_id: str
    status: str
