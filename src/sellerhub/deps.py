"""FastAPI dependencies shared by every domain: the request session (where requests commit),
the authenticated principal and role guards. Use the ``Annotated`` aliases in endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.config import Settings
from sellerhub.core.errors import Forbidden, Unauthenticated
from sellerhub.core.logging import bind_context
from sellerhub.db.reads import TenantReader
from sellerhub.db.session import finish, unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.apps import principals
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.sessions.cookies import ACCESS_COOKIE, check_csrf
from sellerhub.identity.sessions.service import session_principal
from sellerhub.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The process's runtime, typed. ``app.state`` holds it untyped; this is the one place that
    reads it (``app.py`` puts it there at startup)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def settings_of(request: Request) -> Settings:
    """The app's settings, typed (the runtime's own, once it is open)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent; rolled back when
    the endpoint raises, unless the error keeps its writes (``db.session.finish``)."""
    async with runtime_of(request).sessionmaker() as session:
        try:
            yield session
        except BaseException as exc:
            await finish(session, exc)
            raise
        await finish(session, None)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
# scope="function": the commit runs before the response is sent, so a 2xx means committed.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]


async def authenticate(request: Request, permission: str | None = None) -> Principal:
    """The caller. ``Authorization: Bearer`` carries an API key (``shk_…``, resolved through the
    per-process cache or a short transaction of its own) or an access JWT; browsers send the
    ``sh_access`` cookie instead, and then unsafe methods must pass the CSRF check. An access
    token whose sign-in was revoked is refused (``sessions.service.session_principal``). A service
    app's token (client credentials) is a caller only where ``permission`` is named: it must
    carry it, and acts in the organization named by ``X-Sellerhub-Organization``
    (``identity.apps.principals``); elsewhere it is refused (403)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    runtime = runtime_of(request)
    if header:
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send Authorization: Bearer <token>")
        if token.startswith(identity.API_KEY_PREFIX + "_"):
            principal = identity.cached_principal(token)
            if principal is None:
                async with unit_of_work(runtime_of(request).sessionmaker) as session:
                    principal = await identity.authenticate_api_key(session, token)
        elif token.count(".") == 2:
            claims = await runtime.keystore.verify_or_reload(token, runtime.settings.jwt_audience)
            if not principals.is_service_token(claims):
                principal = await session_principal(runtime.sessionmaker, claims, via="bearer")
            elif permission is None:
                raise principals.ServicePrincipalRefused(
                    "this endpoint is for users; a service token is accepted only where an "
                    "endpoint names the permission it needs"
                )
            else:
                principal = await principals.service_principal(
                    runtime.sessionmaker,
                    claims,
                    permission,
                    request.headers.get(principals.ORGANIZATION_HEADER),
                )
        else:
            raise Unauthenticated("the bearer token is not a valid API key or access token")
    else:
        cookie = request.cookies.get(ACCESS_COOKIE)
        if not cookie:
            raise Unauthenticated("sign in, or send Authorization: Bearer <token>")
        check_csrf(request)
        claims = await runtime.keystore.verify_or_reload(cookie, runtime.settings.jwt_audience)
        principal = await session_principal(runtime.sessionmaker, claims, via="session")
    if isinstance(principal, principals.ServicePrincipal):
        bind_context(organization_id=str(principal.organization_id), app_id=principal.app_id)
    else:
        bind_context(organization_id=str(principal.organization_id), user_id=str(principal.user_id))
    return principal


async def current_principal(request: Request) -> Principal:
    """The calling user (or an organization's API key); never a service app. A plain function
    too, so hot dependencies can call it without another dependency level."""
    return await authenticate(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def tenant_session(session: SessionDep, principal: CurrentPrincipal) -> AsyncSession:
    """The request session, scoped to the caller's organization."""
    set_tenant(session, principal.organization_id)
    return session


async def tenant_reader(request: Request) -> TenantReader:
    """Read-only raw reads bound to the caller's organization (see ``db.reads``). Authenticates
    by itself: one dependency level less on the hottest endpoints."""
    principal = await current_principal(request)
    return TenantReader(runtime_of(request).reads, principal.organization_id)


TenantSessionDep = Annotated[AsyncSession, Depends(tenant_session)]
TenantReaderDep = Annotated[TenantReader, Depends(tenant_reader)]


def require_role(minimum: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(minimum):
            raise Forbidden(f"this needs the {minimum.value} role or higher")
        return principal

    return guard


def require_platform_admin() -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def guard(principal: CurrentPrincipal) -> Principal:
        if not principal.is_platform_admin:
            raise Forbidden("this needs a platform administrator")
        return principal

    return guard


def require_permission(
    permission: str, *, users: Role | None = Role.MEMBER
) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """For endpoints that service apps may call: a service token must carry ``permission`` (and
    act in an organization that allows its app); users (sessions, API keys) need at least the
    role ``users``, or are refused when it is None (an endpoint for services only)."""

    async def guard(request: Request) -> Principal:
        principal = await authenticate(request, permission)
        if isinstance(principal, principals.ServicePrincipal):
            return principal
        if users is None:
            raise principals.PermissionMissing(f"this endpoint is for services with {permission}")
        if not principal.has_role(users):
            raise Forbidden(f"this needs the {users.value} role or higher")
        return principal

    return guard


def tenant_session_for(
    permission: str, *, users: Role | None = Role.MEMBER
) -> Callable[..., Coroutine[Any, Any, AsyncSession]]:
    """``require_permission``, and the request session scoped to the caller's organization (for
    a service principal, the organization it was allowed to act in, and only that one)."""
    guard = require_permission(permission, users=users)

    # A default, not an annotation: annotations are strings here, and ``guard`` is local.
    async def scoped(session: SessionDep, principal: Principal = Depends(guard)) -> AsyncSession:
        set_tenant(session, principal.organization_id)
        return session

    return scoped


AdminPrincipal = Annotated[Principal, Depends(require_role(Role.ADMIN))]
OwnerPrincipal = Annotated[Principal, Depends(require_role(Role.OWNER))]
PlatformAdmin = Annotated[Principal, Depends(require_platform_admin())]
