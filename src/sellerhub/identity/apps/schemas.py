"""Request and response bodies of the cross-app API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sellerhub.identity.apps.models import APP_ID_PATTERN, AppKind, Permission

# --- registration ------------------------------------------------------------------------------


class AppRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(
        pattern=APP_ID_PATTERN,
        description="public id, lowercase letters, digits and hyphens (3-64), e.g. amzreimb; "
        "the audience of the app's tokens and its client id",
    )
    name: str = Field(min_length=1, max_length=200)
    kind: AppKind = AppKind.BROWSER
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="exact origins https://host[:port] allowed to call the cross-app API from a "
        "browser (CORS) and to request user tokens; browser apps only",
    )
    redirect_urls: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="absolute https URLs (http://localhost outside production); browser apps only",
    )
    permissions: list[Permission] = Field(default_factory=list, max_length=len(Permission))


class AppOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    app_id: str
    name: str
    kind: str
    allowed_origins: list[str]
    redirect_urls: list[str]
    permissions: list[str]
    created_at: datetime
    disabled_at: datetime | None = Field(
        None, description="set while the app is disabled: everything it does is refused"
    )
    updated_at: datetime | None = None
    secret_rotated_at: datetime | None = None
    previous_secret_expires_at: datetime | None = Field(
        None, description="the secret replaced by the last rotation is accepted until then"
    )


class AppRegistered(AppOut):
    client_id: str = Field(description="the app id, for OAuth client libraries")
    client_secret: str = Field(description="shown only in this response; stored hashed")


# --- management --------------------------------------------------------------------------------


class AppList(BaseModel):
    items: list[AppOut]


class AppUpdate(BaseModel):
    """What a platform admin may change; each list given replaces the app's (omitted: kept)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    allowed_origins: list[str] | None = Field(
        None, max_length=20, description="exact origins https://host[:port]; browser apps only"
    )
    redirect_urls: list[str] | None = Field(
        None, max_length=20, description="absolute https URLs; browser apps only"
    )


class AppSecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int = Field(
        86_400,
        ge=0,
        le=30 * 86_400,
        description="how long the old secret stays valid (default 24 h; 0: refused at once)",
    )


class AppSecretRotated(AppOut):
    client_id: str
    client_secret: str = Field(description="the new secret, shown only in this response")


# --- user tokens -------------------------------------------------------------------------------


class AppAuthRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(min_length=1, max_length=64)
    permissions: list[Permission] | None = Field(
        None,
        description="requested permissions; the token gets these ∩ the app's (default: all "
        "of the app's)",
    )


class AppTokenPair(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    permissions: list[str]
    app_id: str


class ClientFields(BaseModel):
    """Client credentials in the body, for apps that cannot send HTTP Basic."""

    app_id: str | None = Field(None, max_length=64, description="or client_id")
    client_id: str | None = Field(None, max_length=64)
    client_secret: str | None = Field(None, max_length=200)


class AppRefreshRequest(ClientFields):
    refresh_token: str = Field(min_length=1, max_length=200)


class AppLogoutRequest(BaseModel):
    """Sign-out of an app (a public browser client: no secret; the browser's Origin must be one
    of the app's)."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(min_length=1, max_length=64)
    refresh_token: str = Field(min_length=1, max_length=200)


class IntrospectionRequest(ClientFields):
    token: str = Field(max_length=8192)
    token_type_hint: str | None = None


class IntrospectionResponse(BaseModel):
    """RFC 7662: only ``active`` when the token is not valid for the calling app."""

    active: bool
    sub: str | None = None
    org: str | None = None
    roles: list[str] | None = None
    ut: str | None = None
    perms: list[str] | None = None
    scope: str | None = None
    client_id: str | None = None
    aud: str | None = None
    iss: str | None = None
    exp: int | None = None
    iat: int | None = None


# --- users -------------------------------------------------------------------------------------


class UserInfo(BaseModel):
    """``GET /api/cross-app/user-info``: flat, OpenID-userinfo-like."""

    sub: str
    email: str
    name: str
    email_verified: bool
    org: str
    roles: list[str]
    perms: list[str]


class AppUserOrganization(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    role: str


class AppUser(BaseModel):
    """``GET /api/cross-app/user``: the user object of the SDKs."""

    id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    user_type: str
    created_at: datetime
    organization: AppUserOrganization
    permissions: list[str] = Field(description="what this app may do for the user")
    app_id: str


class AppSignupRequest(ClientFields):
    email: str = Field(min_length=3, max_length=254)
    name: str = Field("", max_length=200)


class AppSignupResult(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    created: bool = Field(description="false when this app had already created the account")


# --- service tokens ----------------------------------------------------------------------------


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    scope: str


class RefreshedToken(BaseModel):
    """``/oauth/token``'s ``refresh_token`` grant: the rotated pair, RFC 6749 §5.1 names."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    scope: str


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str
