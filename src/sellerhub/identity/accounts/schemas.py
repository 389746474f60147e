from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from sellerhub.identity.accounts.policy import PASSWORD_MAX_LENGTH

Email = Annotated[str, Field(max_length=320, description="the account's email address")]
Code = Annotated[str, Field(max_length=32, description="the 6-digit code from the mail")]


class SignupRequest(BaseModel):
    email: Email
    password: str = Field(
        max_length=PASSWORD_MAX_LENGTH,
        description="at least 10 characters, mixing at least two kinds "
        "(lower-case, upper-case, digits, symbols)",
    )
    name: str = Field("", max_length=200)
    organization_name: str | None = Field(
        None, max_length=200, description="the personal organization's name (default: the name)"
    )


class VerifyEmailRequest(BaseModel):
    email: Email
    code: Code


class LoginRequest(BaseModel):
    email: Email
    password: str = Field(max_length=PASSWORD_MAX_LENGTH)
    organization_id: uuid.UUID | None = Field(
        None, description="sign in to this organization (default: the first by name)"
    )


class EmailRequest(BaseModel):
    email: Email


class PasswordResetConfirm(BaseModel):
    email: Email
    code: Code
    new_password: str = Field(max_length=PASSWORD_MAX_LENGTH)


class StatusResponse(BaseModel):
    status: str
    detail: str


class LoginResponse(BaseModel):
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    access_token: str = Field(description="also set as the sh_access cookie")
    refresh_token: str = Field(description="also set as the sh_refresh cookie")
    user_id: uuid.UUID
    organization_id: uuid.UUID
    email_verified: bool
