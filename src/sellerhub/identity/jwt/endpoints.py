"""Discovery: the public signing keys and OpenID-style metadata, for any standard JWT library."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sellerhub.deps import runtime_of, settings_of
from sellerhub.identity.jwt.service import ALGORITHM

router = APIRouter(tags=["discovery"])
_CACHE = {"Cache-Control": "public, max-age=300"}


@router.get(
    "/.well-known/jwks.json",
    responses={503: {"description": "the database is unavailable (reloading the keys)"}},
)
async def jwks(request: Request) -> JSONResponse:
    """Active and recently retired public keys (a retired key stays until its tokens expire)."""
    keystore = runtime_of(request).keystore
    await keystore.refresh_if_stale()
    return JSONResponse(keystore.jwks(), headers=_CACHE)


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request) -> dict[str, Any]:
    base = settings_of(request).public_url
    return {
        "issuer": base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/oauth/token",
        "authorization_endpoint": f"{base}/api/auth/amazon/start",
        "userinfo_endpoint": f"{base}/api/auth/me",
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "org",
            "roles",
            "ut",
            "sid",
            "azp",
            "perms",
            "scope",
        ],
    }
