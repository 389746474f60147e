from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class RefreshRequest(BaseModel):
    refresh_token: str | None = Field(
        None, description="API clients; browsers send the sh_refresh cookie instead"
    )


class TokenResponse(BaseModel):
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    access_token: str | None = Field(None, description="only when the request was not by cookie")
    refresh_token: str | None = Field(None, description="only when the request was not by cookie")


class MeUser(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    user_type: str
    email_verified: bool
    amazon_linked: bool
    created_at: datetime


class MeOrganization(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    role: str


class MeResponse(BaseModel):
    user: MeUser
    organization_id: uuid.UUID = Field(description="the organization this session acts in")
    role: str
    via: str
    organizations: list[MeOrganization]
