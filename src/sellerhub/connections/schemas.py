from __future__ import annotations

import uuid
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
    ok: bool
    status: str
    detail: str
