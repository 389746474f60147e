"""The cross-app API (``/api/cross-app/*``, problem+json errors). The OAuth token endpoint
(``/oauth/token``, RFC 6749 errors) is in ``oauth``; reading bodies and client credentials in
``requests``.

Who authenticates how:
- ``register`` and the management of apps (``/apps``: list, show, change origins and redirect
  URLs, disable, enable, rotate the secret): a platform admin (session or bearer, like every
  user endpoint);
- ``auth``: the signed-in user (session cookie + CSRF, or bearer);
- ``validate-token``, ``refresh-token``, ``signup``, ``/oauth/token``: the app itself, with its
  client credentials: HTTP Basic ``app_id:client_secret`` or the ``app_id`` (or ``client_id``)
  and ``client_secret`` fields of the body. A browser app's page, which holds no secret (a
  public client), refreshes with its ``app_id`` alone from one of its registered origins, and
  exchanges the embedded login's code at ``/oauth/token`` (PKCE);
- ``logout``: the refresh token itself (any of the app's clients, from one of its origins);
- ``user-info``, ``user``: an app token as ``Authorization: Bearer``.
A browser's ``Origin``, when sent, must be one of the app's registered origins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from sellerhub.core.errors import ValidationFailed
from sellerhub.deps import (
    CurrentPrincipal,
    PlatformAdmin,
    SessionDep,
    TenantSessionDep,
    runtime_of,
    settings_of,
)
from sellerhub.identity.apps import service, tokens
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.errors import (
    AppDisabled,
    AppNotFound,
    InvalidAppToken,
    InvalidClient,
)
from sellerhub.identity.apps.models import App, AppKind
from sellerhub.identity.apps.oauth import oauth_router
from sellerhub.identity.apps.requests import (
    FORM,
    JSON,
    NO_STORE,
    body_fields,
    client_credentials,
    pair_response,
    policy_of,
)
from sellerhub.identity.apps.schemas import (
    AppAuthRequest,
    AppList,
    AppLogoutRequest,
    AppOut,
    AppRefreshRequest,
    AppRegistered,
    AppRegistration,
    AppSecretRotated,
    AppSecretRotation,
    AppSignupRequest,
    AppSignupResult,
    AppTokenPair,
    AppUpdate,
    AppUser,
    AppUserOrganization,
    IntrospectionRequest,
    IntrospectionResponse,
    UserInfo,
)

router = APIRouter(prefix="/api/cross-app", tags=["cross-app"])
__all__ = ["oauth_router", "router"]


async def _calling_app(
    request: Request, app_id: str | None, client_id: str | None, secret: str | None
) -> AppSnapshot:
    credentials = client_credentials(request, app_id, client_id, secret)
    app = await service.authenticate_client(runtime_of(request).sessionmaker, credentials)
    service.check_origin(app, request.headers.get("origin"))
    return app


def _form_schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": schema}, FORM: {"schema": schema}},
        }
    }


# --- introspection: first, the hottest route of the router (routes match in order) ---------


@router.post(
    "/validate-token",
    response_model=IntrospectionResponse,
    openapi_extra=_form_schema(IntrospectionRequest),
    responses={
        403: {
            "description": "the browser's Origin is not one of the app's, or the app is disabled"
        },
        503: {"description": "the database is unavailable"},
    },
)
async def validate_token(request: Request) -> Response:
    """Token introspection for the calling app (RFC 7662 style): ``{"active": true, …claims}``
    for a valid token of this app, ``{"active": false}`` for anything else — including a valid
    token of another app. 401 when the app's own credentials are wrong."""
    fields = await body_fields(request)
    app = await _calling_app(
        request, fields.get("app_id"), fields.get("client_id"), fields.get("client_secret")
    )
    token = fields.get("token")
    if not token:
        raise ValidationFailed(
            "token: is required", errors=[{"field": "token", "message": "is required"}]
        )
    runtime = runtime_of(request)
    result = await tokens.introspect(
        runtime.sessionmaker,
        runtime.keystore,
        app,
        token[:8192],
        runtime.settings.jwt_audience,
    )
    return Response(json.dumps(result, separators=(",", ":")), media_type=JSON, headers=NO_STORE)


# --- registration ------------------------------------------------------------------------------


@router.post(
    "/register",
    response_model=AppRegistered,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the app id is taken"}},
)
async def register_app(
    request: Request, body: AppRegistration, session: TenantSessionDep, principal: PlatformAdmin
) -> AppRegistered:
    """Register an app (platform administrators). The client secret is in this response only;
    sellerhub keeps its hash. 409 when the app id is taken; 422 names each bad origin or URL."""
    registered = await service.register_app(
        session, principal, body, policy_of(settings_of(request))
    )
    out = AppOut.model_validate(registered.app)
    return AppRegistered(
        **out.model_dump(), client_id=registered.app.app_id, client_secret=registered.secret
    )


# --- management (platform admins) --------------------------------------------------------------

AppIdPath = Annotated[str, Path(min_length=1, max_length=64, description="the app id")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no app has this id"}}


def _app_out(app: App) -> AppOut:
    return AppOut.model_validate(app)


@router.get("/apps", response_model=AppList)
async def list_apps(session: SessionDep, principal: PlatformAdmin) -> AppList:
    """Every registered app, enabled or not, by app id (platform administrators). Secrets are
    never shown again."""
    return AppList(items=[_app_out(a) for a in await service.list_apps(session)])


@router.get("/apps/{app_id}", response_model=AppOut, responses=_NOT_FOUND)
async def show_app(app_id: AppIdPath, session: SessionDep, principal: PlatformAdmin) -> AppOut:
    """One app (platform administrators)."""
    return _app_out(await service.get_app(session, app_id))


@router.patch("/apps/{app_id}", response_model=AppOut, responses=_NOT_FOUND)
async def update_app(
    request: Request,
    app_id: AppIdPath,
    body: AppUpdate,
    session: SessionDep,
    principal: PlatformAdmin,
) -> AppOut:
    """Change the name, allowed origins or redirect URLs (each list replaces the app's; omitted
    fields are kept). 422 names each bad origin or URL, and refuses origins or redirect URLs
    for a service app. Other processes see the change within ``SELLERHUB_APP_CACHE_SECONDS``."""
    app = await service.update_app(
        session, service.Actor.of(principal), app_id, body, policy_of(settings_of(request))
    )
    return _app_out(app)


@router.post("/apps/{app_id}/disable", response_model=AppOut, responses=_NOT_FOUND)
async def disable_app(app_id: AppIdPath, session: SessionDep, principal: PlatformAdmin) -> AppOut:
    """Disable the app: its client credentials (403 ``app-disabled``), its tokens, its
    introspection and its users' sign-ins to it are refused — at once in this process, within
    ``SELLERHUB_APP_CACHE_SECONDS`` in the others. Its users' app sign-ins are kept: enabling
    it again restores them. Idempotent."""
    app = await service.set_enabled(session, service.Actor.of(principal), app_id, False)
    return _app_out(app)


@router.post("/apps/{app_id}/enable", response_model=AppOut, responses=_NOT_FOUND)
async def enable_app(app_id: AppIdPath, session: SessionDep, principal: PlatformAdmin) -> AppOut:
    """Enable a disabled app again. Idempotent."""
    app = await service.set_enabled(session, service.Actor.of(principal), app_id, True)
    return _app_out(app)


@router.post("/apps/{app_id}/rotate-secret", response_model=AppSecretRotated, responses=_NOT_FOUND)
async def rotate_secret(
    app_id: AppIdPath,
    session: SessionDep,
    principal: PlatformAdmin,
    body: AppSecretRotation | None = None,
) -> AppSecretRotated:
    """A new client secret, in this response only. The old secret stays valid for
    ``grace_seconds`` (default 24 h, at most 30 days; 0 refuses every older secret at once — in
    other processes within ``SELLERHUB_APP_CACHE_SECONDS``). One previous secret at a time:
    rotating again during a grace keeps that grace (for the secret the clients still use) and
    ends the secret the earlier rotation showed at once."""
    grace = timedelta(seconds=(body or AppSecretRotation()).grace_seconds)
    rotated = await service.rotate_secret(session, service.Actor.of(principal), app_id, grace)
    out = _app_out(rotated.app)
    return AppSecretRotated(
        **out.model_dump(), client_id=rotated.app.app_id, client_secret=rotated.secret
    )


# --- app-scoped user tokens --------------------------------------------------------------------


@router.post(
    "/auth",
    response_model=AppTokenPair,
    responses={
        403: {
            "description": "the Origin, the app's kind or the permissions do not allow it, or "
            "the app is disabled (``app-disabled``)"
        },
        404: {"description": "no app has this id"},
    },
)
async def auth(
    request: Request, body: AppAuthRequest, session: TenantSessionDep, principal: CurrentPrincipal
) -> JSONResponse:
    """Exchange the signed-in user's session for a token of the app (audience = app id,
    permissions = requested ∩ the app's) and a refresh token bound to that app. A browser's
    Origin must be one of the app's origins (403)."""
    runtime = runtime_of(request)
    app = await app_registry.get(runtime.sessionmaker, body.app_id)
    issued = await tokens.issue_user_token(
        session,
        runtime.keystore,
        policy_of(runtime.settings),
        principal,
        app,
        requested=None if body.permissions is None else [p.value for p in body.permissions],
        origin=request.headers.get("origin"),
    )
    return pair_response(issued)


async def _refreshing_app(request: Request, body: AppRefreshRequest) -> AppSnapshot:
    """The app refreshing: authenticated by its credentials, or — a browser app's page, a
    public client without a secret — by its app id from one of its registered origins (the
    refresh token, bound to that app and rotated on every use, is then the credential)."""
    if client_credentials(request, body.app_id, body.client_id, body.client_secret) is not None:
        return await _calling_app(request, body.app_id, body.client_id, body.client_secret)
    app_id = body.app_id or body.client_id
    origin = request.headers.get("origin")
    if not app_id or origin is None:
        raise InvalidClient(
            "authenticate the app: HTTP Basic app_id:client_secret, the app_id and "
            "client_secret fields, or (a browser app's page) app_id from a registered origin"
        )
    app = await app_registry.get(runtime_of(request).sessionmaker, app_id)
    if app is None or app.kind is not AppKind.BROWSER:
        raise InvalidClient("no browser app has this app id")
    if not app.enabled:
        raise AppDisabled(f"the app {app.app_id} is disabled by a platform administrator")
    service.check_origin(app, origin)
    return app


@router.post(
    "/refresh-token",
    response_model=AppTokenPair,
    responses={
        403: {"description": "the browser's Origin is not one of the app's, or the app is disabled"}
    },
)
async def refresh_token(
    request: Request, body: AppRefreshRequest, session: SessionDep
) -> JSONResponse:
    """Rotate the app's refresh token: a new pair. Presenting a used one again revokes every
    token of that app sign-in (401 ``refresh-token-reused``); another app's refresh token, or a
    session's, is unknown here (401). A browser app's page sends ``app_id`` without a secret,
    from one of the app's registered origins."""
    app = await _refreshing_app(request, body)
    runtime = runtime_of(request)
    issued = await tokens.refresh_user_token(  # a refusal that revokes keeps its writes
        session, runtime.keystore, policy_of(runtime.settings), app, body.refresh_token
    )
    return pair_response(issued)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        403: {"description": "the browser's Origin is not one of the app's"},
        404: {"description": "no app has this id"},
        503: {"description": "the database is unavailable"},
    },
)
async def logout(request: Request, body: AppLogoutRequest, session: SessionDep) -> Response:
    """Sign out of the app: revoke the sign-in (refresh-token family) ``refresh_token`` belongs
    to, and its access tokens. Idempotent: an unknown, another app's or already revoked token
    answers 204 too. No secret (a browser app's page calls it); a browser's Origin must be one
    of the app's (403). Works for a disabled app too: ending a sign-in is always allowed."""
    app = await app_registry.get(runtime_of(request).sessionmaker, body.app_id)
    if app is None or app.kind is not AppKind.BROWSER:
        raise AppNotFound("no browser app has this id")
    service.check_origin(app, request.headers.get("origin"))
    await tokens.end_user_sign_in(session, app, body.refresh_token)
    return Response(status_code=204, headers=NO_STORE)


# --- the user behind an app token --------------------------------------------------------------


@dataclass(frozen=True)
class AppBearer:
    app: AppSnapshot
    claims: dict[str, Any]


async def app_bearer(request: Request) -> AppBearer:
    """An app token as ``Authorization: Bearer``, verified against its app (which must be
    enabled); a browser's Origin must be one of that app's origins."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise InvalidAppToken("send Authorization: Bearer <app token>")
    runtime = runtime_of(request)
    app, claims = await tokens.verify_app_token(runtime.sessionmaker, runtime.keystore, token)
    service.check_origin(app, request.headers.get("origin"))
    return AppBearer(app, claims)


AppBearerDep = Annotated[AppBearer, Depends(app_bearer)]


@router.get("/user-info", response_model=UserInfo)
async def user_info(bearer: AppBearerDep, session: SessionDep) -> UserInfo:
    """Flat user claims for the app (needs ``profile:read``)."""
    found = await tokens.token_user(session, bearer.claims)
    return UserInfo(
        sub=str(found.user.id),
        email=found.user.email,
        name=found.user.name,
        email_verified=found.user.email_verified_at is not None,
        org=str(found.organization.id),
        roles=[found.role.value],
        perms=found.permissions,
    )


@router.get("/user", response_model=AppUser)
async def user(bearer: AppBearerDep, session: SessionDep) -> AppUser:
    """The SDKs' user object: the user, the organization the token acts in with the current
    role, and what this app may do (needs ``profile:read``)."""
    found = await tokens.token_user(session, bearer.claims)
    return AppUser(
        id=found.user.id,
        email=found.user.email,
        name=found.user.name,
        email_verified=found.user.email_verified_at is not None,
        user_type=found.user.user_type,
        created_at=found.user.created_at,
        organization=AppUserOrganization(
            id=found.organization.id,
            name=found.organization.name,
            slug=found.organization.slug,
            role=found.role.value,
        ),
        permissions=found.permissions,
        app_id=bearer.app.app_id,
    )


@router.post(
    "/signup",
    response_model=AppSignupResult,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": AppSignupResult, "description": "this app had created it before"},
        403: {
            "description": "the Origin is not the app's, the app lacks users:create, or it is "
            "disabled"
        },
        409: {"description": "the email belongs to an account the app did not create"},
    },
)
async def signup(request: Request, body: AppSignupRequest, session: SessionDep) -> JSONResponse:
    """Create a credit-only account from the app (needs ``users:create``): a customer without a
    password and a personal organization, no onboarding. 201 when created, 200 with the same ids
    when this app had created it; 409 when the email belongs to an account the app did not
    create."""
    app = await _calling_app(request, body.app_id, body.client_id, body.client_secret)
    record, created = await service.signup(session, app, email=body.email, name=body.name)
    result = AppSignupResult(
        user_id=record.user_id, organization_id=record.organization_id, created=created
    )
    return JSONResponse(result.model_dump(mode="json"), status_code=201 if created else 200)
