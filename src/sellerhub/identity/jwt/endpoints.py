"""Discovery: the public signing keys and the authorization server's metadata (RFC 8414), for
any standard JWT or OAuth library."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sellerhub.deps import runtime_of, settings_of

router = APIRouter(tags=["discovery"])


@router.get(
    "/.well-known/jwks.json",
    responses={
        503: {"description": "the database is unavailable and the last keys read are too old"}
    },
)
async def jwks(request: Request) -> JSONResponse:
    """The public keys: the one signing now, the next one from the moment it is created (it
    signs only after the cache lifetime below has passed), and retired ones until their tokens
    expire. Cacheable for ``SELLERHUB_JWKS_MAX_AGE_SECONDS``."""
    runtime = runtime_of(request)
    keys = await runtime.keystore.published_jwks()
    max_age = runtime.settings.jwks_max_age_seconds
    return JSONResponse(keys, headers={"Cache-Control": f"public, max-age={max_age}"})


def _metadata(request: Request) -> dict[str, Any]:
    """What is implemented, nothing more: sellerhub issues tokens at its token endpoint
    (client credentials for service apps, refresh tokens for app sessions); users sign in
    through its own pages and APIs, not through an OAuth authorization endpoint, so none is
    advertised and no response type is supported."""
    base = settings_of(request).public_url
    return {
        "issuer": base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/oauth/token",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": [],
        "service_documentation": f"{base}/docs",
    }


_METADATA_CACHE = {"Cache-Control": "public, max-age=3600"}


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: Request) -> JSONResponse:
    """OAuth 2.0 authorization server metadata (RFC 8414): issuer, JWKS and token endpoint."""
    return JSONResponse(_metadata(request), headers=_METADATA_CACHE)


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request) -> JSONResponse:
    """The same metadata at the path JWT libraries look first. sellerhub is not an OpenID
    provider (no authorization or userinfo endpoint, no ID tokens), so only the fields above
    are published; libraries that need ``issuer`` and ``jwks_uri`` find them."""
    return JSONResponse(_metadata(request), headers=_METADATA_CACHE)
