"""The OAuth token endpoint (``/oauth/token``, RFC 6749 errors): client credentials for service
apps, the refresh grant for app refresh tokens, and the authorization-code grant (PKCE, no
secret: a public browser client) of the embedded login (``/embed/login``)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sellerhub.core.clock import utcnow
from sellerhub.core.inputs import request_body
from sellerhub.db.session import unit_of_work
from sellerhub.deps import runtime_of
from sellerhub.identity.apps import service, tokens
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.errors import (
    AmbiguousClientAuthentication,
    AppDisabled,
    AppRefreshReuseDetected,
    InvalidAppRefreshToken,
    InvalidClient,
    MalformedRequest,
    OAuthError,
)
from sellerhub.identity.apps.models import KNOWN_PERMISSIONS, AppKind
from sellerhub.identity.apps.requests import (
    FORM,
    MAX_FORM_BYTES,
    NO_STORE,
    client_credentials,
    form_fields,
    media_type,
    pair_response,
    policy_of,
)
from sellerhub.identity.apps.schemas import (
    AppTokenPair,
    OAuthErrorBody,
    RefreshedToken,
    ServiceToken,
)

oauth_router = APIRouter(tags=["oauth"])
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1

# --- OAuth token endpoint ----------------------------------------------------------------------


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sellerhub"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _oauth_client(request: Request, fields: dict[str, str]) -> service.ClientCredentials:
    try:
        credentials = client_credentials(
            request, None, fields.get("client_id"), fields.get("client_secret")
        )
    except AmbiguousClientAuthentication as exc:
        raise OAuthError("invalid_request", exc.detail) from None
    except InvalidClient as exc:
        raise OAuthError("invalid_client", exc.detail, 401) from None
    if credentials is None:
        raise OAuthError(
            "invalid_client",
            "authenticate with HTTP Basic, or client_id and client_secret parameters",
            401,
        )
    return credentials


@oauth_router.post(
    "/oauth/token",
    # one shape per grant: client_credentials, refresh_token, authorization_code
    response_model=ServiceToken | RefreshedToken | AppTokenPair,
    responses={
        400: {"model": OAuthErrorBody},
        401: {"model": OAuthErrorBody},
        503: {"description": "the database is unavailable"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {
                                "enum": [
                                    "client_credentials",
                                    "refresh_token",
                                    "authorization_code",
                                ]
                            },
                            "scope": {"type": "string"},
                            "refresh_token": {"type": "string"},
                            "code": {
                                "type": "string",
                                "description": "authorization_code: the code /embed/login posted",
                            },
                            "code_verifier": {
                                "type": "string",
                                "description": "authorization_code: the PKCE verifier (S256)",
                            },
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> JSONResponse:
    """RFC 6749 token endpoint. ``client_credentials`` (§4.4): a service token for a registered
    service app (sub ``app:<app id>``, audience the sellerhub API, ``scope`` ⊆ the app's
    permissions, default all). ``refresh_token`` (§6): rotates an app refresh token of the
    authenticated app, like ``/api/cross-app/refresh-token``. ``authorization_code`` (§4.1.3 with
    PKCE, RFC 7636): a browser app's page exchanges the one-time code ``/embed/login`` posted to
    it (``code``, ``code_verifier``, ``client_id``; no secret) from the origin it was issued to,
    for the pair ``/api/cross-app/auth`` answers. Errors are RFC 6749 §5.2 JSON."""
    try:
        if media_type(request) != FORM:
            raise OAuthError("invalid_request", f"send the parameters as {FORM}")
        body = await request_body(request)
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "the request body is too large")
        try:
            fields = form_fields(body)
        except MalformedRequest as exc:
            raise OAuthError("invalid_request", exc.detail) from None
        grant_type = fields.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in ("client_credentials", "refresh_token", "authorization_code"):
            raise OAuthError(
                "unsupported_grant_type",
                "grant_type must be client_credentials, refresh_token or authorization_code",
            )
        if grant_type == "authorization_code":
            return await _code_grant(request, fields)
        credentials = _oauth_client(request, fields)
        runtime = runtime_of(request)
        try:
            app = await service.authenticate_client(runtime.sessionmaker, credentials)
        except InvalidClient as exc:
            raise OAuthError("invalid_client", exc.detail, 401) from None
        except AppDisabled as exc:  # the right credentials of a disabled app
            raise OAuthError("unauthorized_client", exc.detail) from None
        policy = policy_of(runtime.settings)
        if grant_type == "client_credentials":
            issued = tokens.issue_service_token(runtime.keystore, policy, app, fields.get("scope"))
            out = ServiceToken(
                access_token=issued.access_token,
                expires_in=int((issued.expires_at - utcnow()).total_seconds()),
                scope=" ".join(issued.permissions),
            )
            return JSONResponse(out.model_dump(), headers=NO_STORE)
        return await _refresh_grant(request, app, fields, policy)
    except OAuthError as exc:
        return _oauth_error(exc)


async def _refresh_grant(
    request: Request, app: AppSnapshot, fields: dict[str, str], policy: service.AppTokenPolicy
) -> JSONResponse:
    presented = fields.get("refresh_token")
    if not presented:
        raise OAuthError("invalid_request", "refresh_token is required")
    scope = fields.get("scope")
    requested = tokens.parse_scope(scope, KNOWN_PERMISSIONS) if scope else None
    runtime = runtime_of(request)
    failure: OAuthError | None = None
    async with unit_of_work(runtime.sessionmaker) as session:
        try:
            issued = await tokens.refresh_user_token(
                session, runtime.keystore, policy, app, presented, scope=requested
            )
        except (AppRefreshReuseDetected, InvalidAppRefreshToken) as exc:
            failure = OAuthError("invalid_grant", exc.detail)  # a revocation still commits
    if failure is not None:
        raise failure
    out = RefreshedToken(
        access_token=issued.access_token,
        expires_in=int((issued.access_expires_at - utcnow()).total_seconds()),
        refresh_token=issued.refresh_token,
        scope=" ".join(issued.permissions),
    )
    return JSONResponse(out.model_dump(), headers=NO_STORE)


async def _code_grant(request: Request, fields: dict[str, str]) -> JSONResponse:
    """The embedded login's code exchange: a public client (no secret), bound by PKCE and the
    page's Origin instead."""
    if fields.get("client_secret") is not None or request.headers.get("authorization"):
        raise OAuthError(
            "invalid_request", "a browser app exchanges its code without client credentials"
        )
    for name in ("code", "code_verifier", "client_id"):
        if not fields.get(name):
            raise OAuthError("invalid_request", f"{name} is required")
    verifier = fields["code_verifier"]
    if not _VERIFIER.fullmatch(verifier):
        raise OAuthError(
            "invalid_request", "code_verifier must be 43-128 characters of [A-Za-z0-9._~-]"
        )
    runtime = runtime_of(request)
    app = await app_registry.get(runtime.sessionmaker, fields["client_id"][:64])
    if app is None:
        raise OAuthError("invalid_client", "no app has this client_id", 401)
    if not app.enabled:
        raise OAuthError("unauthorized_client", f"the app {app.app_id} is disabled")
    if app.kind is not AppKind.BROWSER:
        raise OAuthError(
            "unauthorized_client", "only browser apps may use the authorization_code grant"
        )
    failure: OAuthError | None = None
    async with unit_of_work(runtime.sessionmaker) as session:
        try:
            issued = await tokens.exchange_auth_code(
                session,
                runtime.keystore,
                policy_of(runtime.settings),
                app,
                code=fields["code"][:200],
                verifier=verifier,
                origin=request.headers.get("origin"),
            )
        except tokens.CodeReplayed as exc:  # the revocation commits with the refusal
            failure = OAuthError("invalid_grant", str(exc))
    if failure is not None:
        raise failure
    return pair_response(issued)
