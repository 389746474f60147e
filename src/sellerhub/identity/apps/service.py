"""Business rules of the cross-app API: registration, app-scoped user tokens (issue, refresh,
introspect), the user behind a token, credit-only signups and service tokens."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, Unauthenticated, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.core.tokens import hash_token, new_token, same_hash
from sellerhub.db.session import after_commit
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.errors import (
    AccountExists,
    AppAlreadyRegistered,
    AppKindNotAllowed,
    AppNotFound,
    AppPermissionMissing,
    AppRefreshReuseDetected,
    InvalidAppRefreshToken,
    InvalidAppToken,
    InvalidClient,
    OAuthError,
    OriginNotAllowed,
)
from sellerhub.identity.apps.models import (
    KNOWN_PERMISSIONS,
    App,
    AppKind,
    AppRefreshToken,
    AppSignup,
    Permission,
)
from sellerhub.identity.apps.repository import (
    AppRefreshTokenRepository,
    AppRepository,
    AppSignupRepository,
)
from sellerhub.identity.apps.schemas import AppRegistration
from sellerhub.identity.apps.validation import normalize_origin, normalize_redirect_url
from sellerhub.identity.jwt.service import KeyStore, unverified_claims
from sellerhub.identity.organizations.models import Organization, Role
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import User, UserType
from sellerhub.identity.users.repository import UserRepository

log = get_logger(__name__)

CLIENT_SECRET_PREFIX = "sha"  # noqa: S105 - a prefix, not a secret
APP_REFRESH_PREFIX = "shar"
SERVICE_SUBJECT_PREFIX = "app:"
# Compared against when the app is unknown, so a miss costs the same as a wrong secret.
_NO_SUCH_APP_HASH = hash_token("sellerhub: no such app")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


@dataclass(frozen=True)
class AppTokenPolicy:
    access_ttl: timedelta
    refresh_ttl: timedelta
    service_ttl: timedelta
    api_audience: str  # our own API's audience: reserved, never an app id
    allow_local_http: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> AppTokenPolicy:
        return cls(
            access_ttl=timedelta(seconds=settings.app_access_token_ttl_seconds),
            refresh_ttl=timedelta(days=settings.app_refresh_token_ttl_days),
            service_ttl=timedelta(seconds=settings.service_token_ttl_seconds),
            api_audience=settings.jwt_audience,
            allow_local_http=not settings.is_production,
        )


@dataclass(frozen=True)
class ClientCredentials:
    app_id: str
    secret: str


@dataclass(frozen=True)
class RegisteredApp:
    app: App
    secret: str  # shown once


@dataclass(frozen=True)
class IssuedAppToken:
    app_id: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    permissions: list[str]
    family_id: uuid.UUID


@dataclass(frozen=True)
class IssuedServiceToken:
    access_token: str
    expires_at: datetime
    permissions: list[str]


# --- registration ------------------------------------------------------------------------------


def _normalized(
    values: Iterable[str],
    field: str,
    check: Callable[..., str],
    errors: list[dict[str, str]],
    local: bool,
) -> list[str]:
    out: list[str] = []
    for index, value in enumerate(values):
        try:
            normalized = check(value, allow_local_http=local)
        except ValueError as exc:
            errors.append({"field": f"{field}.{index}", "message": str(exc)})
            continue
        if normalized not in out:
            out.append(normalized)
    return out


async def register_app(
    session: AsyncSession, principal: Principal, data: AppRegistration, policy: AppTokenPolicy
) -> RegisteredApp:
    """Register an app (platform admins only; the endpoint checks). The client secret is
    returned once and stored as its SHA-256 hash."""
    errors: list[dict[str, str]] = []
    if data.app_id == policy.api_audience:
        errors.append({"field": "app_id", "message": "is reserved for the sellerhub API itself"})
    local = policy.allow_local_http
    origins = _normalized(data.allowed_origins, "allowed_origins", normalize_origin, errors, local)
    redirects = _normalized(
        data.redirect_urls, "redirect_urls", normalize_redirect_url, errors, local
    )
    if data.kind is AppKind.SERVICE and (data.allowed_origins or data.redirect_urls):
        errors.append(
            {
                "field": "kind",
                "message": "a service app is called server to server: it has no allowed "
                "origins or redirect URLs",
            }
        )
    if errors:
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors
        )
    repo = AppRepository(session)
    if await repo.by_app_id(data.app_id) is not None:
        raise AppAlreadyRegistered(f"the app id {data.app_id!r} is taken")
    secret = new_token(CLIENT_SECRET_PREFIX)
    app = App(
        app_id=data.app_id,
        name=data.name.strip() or data.app_id,
        kind=data.kind.value,
        allowed_origins=origins,
        redirect_urls=redirects,
        permissions=sorted({p.value for p in data.permissions}),
        client_secret_hash=hash_token(secret),
        created_by_user_id=principal.user_id,
    )
    app.ensure_id()
    try:
        async with session.begin_nested():
            repo.add(app)
            await session.flush()
    except IntegrityError:  # registered concurrently
        raise AppAlreadyRegistered(f"the app id {data.app_id!r} is taken") from None
    await session.refresh(app, ["created_at"])
    set_tenant(session, principal.organization_id)
    await audit.record(
        session,
        organization_id=principal.organization_id,
        action="APP_REGISTERED",
        actor_user_id=principal.user_id,
        target_type="app",
        target_id=app.app_id,
        data={
            "name": app.name,
            "kind": app.kind,
            "allowed_origins": origins,
            "redirect_urls": redirects,
            "permissions": app.permissions,
        },
    )
    snapshot = AppSnapshot.of(app)

    async def publish() -> None:
        app_registry.invalidate(snapshot.app_id)
        app_registry.put(snapshot.app_id, snapshot)

    after_commit(session, publish)
    log.info("app.registered", app_id=app.app_id, kind=app.kind)
    return RegisteredApp(app=app, secret=secret)


# --- client authentication ---------------------------------------------------------------------


async def authenticate_client(
    sessionmaker: async_sessionmaker[AsyncSession], credentials: ClientCredentials | None
) -> AppSnapshot:
    """The enabled app these credentials belong to. The secret's hash is compared in constant
    time, against a dummy for unknown apps; the app comes from the per-process cache."""
    if credentials is None:
        raise InvalidClient(
            "authenticate the app: HTTP Basic app_id:client_secret, or the app_id and "
            "client_secret fields"
        )
    app = await app_registry.get(sessionmaker, credentials.app_id)
    usable = app is not None and app.enabled
    expected = app.secret_hash if app is not None and usable else _NO_SUCH_APP_HASH
    matches = same_hash(hash_token(credentials.secret), expected)
    if app is None or not usable or not matches:
        raise InvalidClient("the app id or client secret is wrong, or the app is disabled")
    return app


# --- app-scoped user tokens --------------------------------------------------------------------


def _granted(app: AppSnapshot, requested: Iterable[str] | None) -> list[str]:
    if requested is None:
        return sorted(app.permissions)
    return sorted(app.permissions.intersection(requested))


def app_token_claims(
    *,
    app_id: str,
    organization_id: uuid.UUID,
    role: Role,
    user_type: UserType,
    permissions: list[str],
    family_id: uuid.UUID,
) -> dict[str, Any]:
    return {
        "azp": app_id,
        "org": str(organization_id),
        "roles": [role.value],
        "ut": user_type.value,
        "perms": permissions,
        "sid": str(family_id),
    }


async def _new_link(
    session: AsyncSession,
    keystore: KeyStore,
    policy: AppTokenPolicy,
    *,
    app_id: str,
    user: User,
    organization_id: uuid.UUID,
    role: Role,
    permissions: list[str],
    family_id: uuid.UUID,
    access_permissions: list[str] | None = None,
) -> IssuedAppToken:
    """A new refresh token of the family (granting ``permissions``) and an access token
    (``access_permissions``, by default the same)."""
    access_permissions = permissions if access_permissions is None else access_permissions
    secret = new_token(APP_REFRESH_PREFIX)
    refresh_expires_at = utcnow() + policy.refresh_ttl
    AppRefreshTokenRepository(session).add(
        AppRefreshToken(
            app_id=app_id,
            user_id=user.id,
            organization_id=organization_id,
            family_id=family_id,
            token_hash=hash_token(secret),
            permissions=permissions,
            expires_at=refresh_expires_at,
        )
    )
    await session.flush()
    claims = app_token_claims(
        app_id=app_id,
        organization_id=organization_id,
        role=role,
        user_type=UserType(user.user_type),
        permissions=access_permissions,
        family_id=family_id,
    )
    access, access_expires_at = keystore.issue(
        subject=str(user.id), audience=app_id, ttl=policy.access_ttl, claims=claims
    )
    return IssuedAppToken(
        app_id=app_id,
        access_token=access,
        access_expires_at=access_expires_at,
        refresh_token=secret,
        refresh_expires_at=refresh_expires_at,
        permissions=access_permissions,
        family_id=family_id,
    )


async def _member(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID
) -> tuple[User, Role] | None:
    """The active user and their role in the organization (the session's tenant)."""
    set_tenant(session, organization_id)
    membership = await OrganizationRepository(session).membership_of(user_id)
    user = await UserRepository(session).get(user_id)
    if membership is None or user is None or not user.is_active:
        return None
    return user, Role(membership.role)


def check_origin(app: AppSnapshot, origin: str | None) -> None:
    """A browser's ``Origin`` must be one the app registered (absent: not a browser call)."""
    if origin is not None and origin.lower() not in app.allowed_origins:
        raise OriginNotAllowed(f"the origin {origin[:100]!r} is not registered for this app")


async def issue_user_token(
    session: AsyncSession,
    keystore: KeyStore,
    policy: AppTokenPolicy,
    principal: Principal,
    app: AppSnapshot | None,
    *,
    requested: Iterable[str] | None,
    origin: str | None,
) -> IssuedAppToken:
    """An app-scoped token pair for the signed-in user: audience = the app id, permissions =
    requested ∩ the app's. Starts a new refresh-token family."""
    if app is None or not app.enabled:
        raise AppNotFound("no enabled app has this id")
    if app.kind is not AppKind.BROWSER:
        raise AppKindNotAllowed("a service app gets its own tokens at /oauth/token")
    check_origin(app, origin)
    member = await _member(session, principal.user_id, principal.organization_id)
    if member is None:
        raise Unauthenticated("this account cannot act in that organization")
    user, role = member
    permissions = _granted(app, requested)
    issued = await _new_link(
        session,
        keystore,
        policy,
        app_id=app.app_id,
        user=user,
        organization_id=principal.organization_id,
        role=role,
        permissions=permissions,
        family_id=uuid7(),
    )
    await audit.record(
        session,
        organization_id=principal.organization_id,
        action="APP_TOKEN_ISSUED",
        actor_user_id=principal.user_id,
        target_type="app",
        target_id=app.app_id,
        data={"permissions": permissions, "session": str(issued.family_id), "via": principal.via},
    )
    return issued


async def refresh_user_token(
    session: AsyncSession,
    keystore: KeyStore,
    policy: AppTokenPolicy,
    app: AppSnapshot,
    refresh_token: str,
    *,
    scope: list[str] | None = None,
) -> IssuedAppToken:
    """Rotate an app refresh token (only the app it was issued to may). A token presented a
    second time revokes its whole family and raises ``AppRefreshReuseDetected``: the caller must
    commit before answering. The permissions stay those granted, narrowed to the app's current
    ones; ``scope`` (the OAuth refresh grant) narrows the new access token only, never the
    refresh token (RFC 6749 §6)."""
    repo = AppRefreshTokenRepository(session)
    token = await repo.by_hash_for_update(hash_token(refresh_token))
    now = utcnow()
    if token is None or token.app_id != app.app_id:
        raise InvalidAppRefreshToken("the refresh token is unknown")
    if token.revoked_at is not None:
        raise InvalidAppRefreshToken("this app sign-in has ended; sign in to the app again")
    if token.used_at is not None:
        await repo.revoke_family(token.family_id, now)
        set_tenant(session, token.organization_id)
        await audit.record(
            session,
            organization_id=token.organization_id,
            action="APP_REFRESH_TOKEN_REUSED",
            actor_user_id=token.user_id,
            actor_type="system",
            target_type="app",
            target_id=app.app_id,
            data={"session": str(token.family_id)},
        )
        raise AppRefreshReuseDetected(
            "this refresh token was already used; every token of this app sign-in was revoked"
        )
    if token.expires_at <= now:
        raise InvalidAppRefreshToken("the refresh token has expired; sign in to the app again")
    member = await _member(session, token.user_id, token.organization_id)
    if member is None:
        await repo.revoke_family(token.family_id, now)
        raise InvalidAppRefreshToken("this account can no longer use that organization")
    user, role = member
    granted = sorted(app.permissions.intersection(token.permissions))
    if scope is not None and not set(scope) <= set(granted):
        raise OAuthError("invalid_scope", "the scope exceeds what this refresh token grants")
    token.used_at = now
    return await _new_link(
        session,
        keystore,
        policy,
        app_id=app.app_id,
        user=user,
        organization_id=token.organization_id,
        role=role,
        permissions=granted,
        family_id=token.family_id,
        access_permissions=None if scope is None else sorted(set(scope)),
    )


_INACTIVE: dict[str, Any] = {"active": False}


async def introspect(keystore: KeyStore, app: AppSnapshot, token: str) -> dict[str, Any]:
    """RFC 7662 for the calling app: active only for a valid user token of *this* app. Verified
    with the process's keys alone (no database round trip); a token verified in the last few
    seconds is not verified again (see ``AppRegistry.verified_claims``)."""
    claims = app_registry.verified_claims(token)
    if claims is None:
        try:
            claims = await keystore.verify_or_reload(token, app.app_id)
        except Unauthenticated:
            return _INACTIVE
        if claims.get("azp") != app.app_id or not isinstance(claims.get("org"), str):
            return _INACTIVE
        app_registry.remember_verified(token, claims)
    elif claims["aud"] != app.app_id:  # verified before, for the app it was issued to
        return _INACTIVE
    perms = claims.get("perms")
    perms = perms if isinstance(perms, list) else []
    return {
        "active": True,
        "sub": claims["sub"],
        "org": claims["org"],
        "roles": claims.get("roles", []),
        "ut": claims.get("ut"),
        "perms": perms,
        "scope": " ".join(str(p) for p in perms),
        "client_id": app.app_id,
        "aud": app.app_id,
        "iss": claims["iss"],
        "exp": claims["exp"],
        "iat": claims["iat"],
    }


async def verify_app_token(
    sessionmaker: async_sessionmaker[AsyncSession], keystore: KeyStore, token: str
) -> tuple[AppSnapshot, dict[str, Any]]:
    """The app and claims of a user token presented as ``Bearer`` to the cross-app API (and,
    later, the credit API). The app is read from ``azp`` and must be enabled; the token must then
    verify with that app as its audience."""
    try:
        unverified = unverified_claims(token)
    except Unauthenticated:
        raise InvalidAppToken("the bearer token is not an app token") from None
    app_id = unverified.get("azp")
    if not isinstance(app_id, str) or unverified.get("aud") != app_id:
        raise InvalidAppToken("the bearer token is not an app token")
    app = await app_registry.get(sessionmaker, app_id)
    if app is None or not app.enabled or app.kind is not AppKind.BROWSER:
        raise InvalidAppToken("the token's app is unknown or disabled")
    try:
        claims = await keystore.verify_or_reload(token, app_id)
    except Unauthenticated as exc:
        raise InvalidAppToken(exc.detail) from None
    if claims.get("azp") != app_id or not isinstance(claims.get("org"), str):
        raise InvalidAppToken("the bearer token is not an app token")
    return app, claims


def require_permission(claims: dict[str, Any], permission: Permission) -> None:
    perms = claims.get("perms")
    if not isinstance(perms, list) or permission.value not in perms:
        raise AppPermissionMissing(f"the app token lacks the {permission.value} permission")


@dataclass(frozen=True)
class TokenUser:
    user: User
    organization: Organization
    role: Role
    permissions: list[str]


async def token_user(session: AsyncSession, claims: dict[str, Any]) -> TokenUser:
    """The user behind an app token (``profile:read``), with their current role."""
    require_permission(claims, Permission.PROFILE_READ)
    try:
        user_id, organization_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["org"])
    except (KeyError, ValueError, TypeError):
        raise InvalidAppToken("the app token lacks its subject") from None
    member = await _member(session, user_id, organization_id)
    organization = await OrganizationRepository(session).get(organization_id)
    if member is None or organization is None:
        raise InvalidAppToken("this account can no longer use that organization")
    user, role = member
    return TokenUser(user, organization, role, [str(p) for p in claims.get("perms", [])])


# --- credit-only accounts ----------------------------------------------------------------------


def _email(value: str) -> str:
    email = value.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed(
            "email: is not an email address",
            errors=[{"field": "email", "message": "is not an email address"}],
        )
    return email


async def _existing_signup(session: AsyncSession, app: AppSnapshot, email: str) -> AppSignup | None:
    """This app's earlier signup of ``email``; None when there is no such user. A user this
    app did not create is a conflict: the app must sign them in instead."""
    user = await UserRepository(session).by_email(email)
    if user is None:
        return None
    signup = await AppSignupRepository(session).get(app.app_id, user.id)
    if signup is None:
        raise AccountExists(
            "an account with this email already exists; sign the user in to the app instead"
        )
    return signup


async def signup(
    session: AsyncSession, app: AppSnapshot, *, email: str, name: str
) -> tuple[AppSignup, bool]:
    """Create a credit-only account for ``email`` (a customer without a password, with a
    personal organization, no onboarding), idempotent for the same app: (signup, created)."""
    if Permission.USERS_CREATE.value not in app.permissions:
        raise AppPermissionMissing("the app lacks the users:create permission")
    email = _email(email)
    name = name.strip()
    # Concurrent signups of one email wait for each other (until the first one's commit), so
    # the later ones find its account instead of racing it to the unique index.
    await AppSignupRepository(session).lock_email(email)
    existing = await _existing_signup(session, app, email)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            user = await identity.create_user(session, email=email, name=name)
            org = await identity.create_organization(
                session, name=name or email.split("@", 1)[0], owner=user
            )
            record = AppSignup(app_id=app.app_id, user_id=user.id, organization_id=org.id)
            record.ensure_id()
            AppSignupRepository(session).add(record)
            await session.flush()
    except IntegrityError:  # the same email (or org slug) signed up concurrently
        existing = await _existing_signup(session, app, email)
        if existing is None:
            raise Conflict("a concurrent signup got in the way; retry") from None
        return existing, False
    await audit.record(
        session,
        organization_id=org.id,
        action="CROSS_APP_SIGNUP",
        actor_type="app",
        target_type="user",
        target_id=str(user.id),
        data={"app_id": app.app_id},
    )
    log.info("app.signup", app_id=app.app_id, user_id=str(user.id))
    return record, True


# --- service tokens (client credentials) -------------------------------------------------------


def parse_scope(scope: str | None, allowed: frozenset[str]) -> list[str]:
    """RFC 6749 §3.3 scope ⊆ ``allowed``; absent or empty means all of ``allowed``."""
    if scope is None or not scope.strip():
        return sorted(allowed)
    requested = scope.split(" ")
    if any(not s for s in requested):
        raise OAuthError("invalid_scope", "scope is a list of permissions separated by one space")
    unknown = [s for s in requested if s not in KNOWN_PERMISSIONS]
    if unknown:
        raise OAuthError("invalid_scope", f"unknown scope {unknown[0][:64]!r}")
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise OAuthError("invalid_scope", f"the client may not request {refused[0]!r}")
    return sorted(set(requested))


def issue_service_token(
    keystore: KeyStore, policy: AppTokenPolicy, app: AppSnapshot, scope: str | None
) -> IssuedServiceToken:
    """A service-to-service token (RFC 6749 §4.4): subject ``app:<app id>``, audience our own
    API, the granted permissions in ``perms`` and ``scope``."""
    if app.kind is not AppKind.SERVICE:
        raise OAuthError(
            "unauthorized_client", "only service apps may use the client_credentials grant"
        )
    permissions = parse_scope(scope, app.permissions)
    token, expires_at = keystore.issue(
        subject=SERVICE_SUBJECT_PREFIX + app.app_id,
        audience=policy.api_audience,
        ttl=policy.service_ttl,
        claims={
            "azp": app.app_id,
            "client_id": app.app_id,
            "perms": permissions,
            "scope": " ".join(permissions),
        },
    )
    log.info("app.service_token_issued", app_id=app.app_id, scope=" ".join(permissions))
    return IssuedServiceToken(token, expires_at, permissions)
