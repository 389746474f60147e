"""App-scoped tokens: user tokens for an app (issue, refresh through the shared refresh-token
family, introspect, verify, the user behind one) and service tokens (client credentials)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Unauthenticated
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.core.tokens import hash_token, same_hash
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.apps.cache import AppSnapshot, app_registry
from sellerhub.identity.apps.errors import (
    AppDisabled,
    AppKindNotAllowed,
    AppNotFound,
    AppPermissionMissing,
    AppRefreshReuseDetected,
    InvalidAppRefreshToken,
    InvalidAppToken,
    OAuthError,
)
from sellerhub.identity.apps.models import (
    KNOWN_PERMISSIONS,
    AppAuthCode,
    AppKind,
    AppRefreshToken,
    Permission,
)
from sellerhub.identity.apps.repository import AppAuthCodeRepository
from sellerhub.identity.apps.service import AppTokenPolicy, check_origin
from sellerhub.identity.jwt.service import KeyStore, unverified_claims
from sellerhub.identity.organizations.models import Organization, Role
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.principal import Principal
from sellerhub.identity.refresh_tokens import service as refresh_tokens
from sellerhub.identity.refresh_tokens.service import RefreshRefused, RefreshReused, Refusal
from sellerhub.identity.users.models import User, UserType

log = get_logger(__name__)

APP_REFRESH_PREFIX = "shar"
SERVICE_SUBJECT_PREFIX = "app:"


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
    link = AppRefreshToken(
        app_id=app_id,
        user_id=user.id,
        organization_id=organization_id,
        family_id=family_id,
        permissions=permissions,
    )
    secret, refresh_expires_at = await refresh_tokens.issue(
        session, link, prefix=APP_REFRESH_PREFIX, ttl=policy.refresh_ttl
    )
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
    if app is None:
        raise AppNotFound("no app has this id")
    if not app.enabled:
        raise AppDisabled(f"the app {app.app_id} is disabled by a platform administrator")
    if app.kind is not AppKind.BROWSER:
        raise AppKindNotAllowed("a service app gets its own tokens at /oauth/token")
    check_origin(app, origin)
    member = await refresh_tokens.member(session, principal.user_id, principal.organization_id)
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


# --- the embedded login's authorization codes (PKCE, RFC 7636 S256) ----------------------------

AUTH_CODE_TTL = timedelta(seconds=60)


def pkce_challenge(verifier: str) -> str:
    """base64url(SHA-256(ascii(verifier))), without padding (RFC 7636 §4.2, S256)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class CodeBinding:
    """What an authorization code is bound to: the app, the page's origin, the login attempt's
    nonce, the PKCE challenge, and who signed in to which organization."""

    app_id: str
    origin: str
    nonce: str
    code_challenge: str
    user_id: uuid.UUID
    organization_id: uuid.UUID


async def issue_auth_code(session: AsyncSession, binding: CodeBinding) -> str:
    """A one-time authorization code (32 random bytes, base64url), stored only as its hash,
    valid for 60 s. Audited ``APP_AUTH_CODE_ISSUED``."""
    code = secrets.token_urlsafe(32)
    record = AppAuthCode(
        code_hash=hash_token(code),
        app_id=binding.app_id,
        origin=binding.origin,
        nonce=binding.nonce,
        code_challenge=binding.code_challenge,
        user_id=binding.user_id,
        organization_id=binding.organization_id,
        expires_at=utcnow() + AUTH_CODE_TTL,
    )
    record.ensure_id()
    set_tenant(session, binding.organization_id)
    AppAuthCodeRepository(session).add(record)
    await session.flush()
    await audit.record(
        session,
        organization_id=binding.organization_id,
        action="APP_AUTH_CODE_ISSUED",
        actor_user_id=binding.user_id,
        target_type="app",
        target_id=binding.app_id,
        data={"origin": binding.origin},
    )
    return code


# An exchanged code is kept this long after it expired, so a late replay still finds it (and
# revokes the sign-in it started); then the hourly job deletes it.
AUTH_CODE_KEPT = timedelta(days=1)


async def prune_auth_codes(session: AsyncSession) -> int:
    """Delete the authorization codes that expired more than a day ago (the job)."""
    pruned = await AppAuthCodeRepository(session).prune(utcnow() - AUTH_CODE_KEPT)
    log.info("app.auth_codes_pruned", pruned=pruned)
    return pruned


class CodeReplayed(Exception):
    """A used authorization code presented again: the sign-in its first use started is revoked
    (the caller commits that revocation before answering ``invalid_grant``)."""


async def exchange_auth_code(
    session: AsyncSession,
    keystore: KeyStore,
    policy: AppTokenPolicy,
    app: AppSnapshot,
    *,
    code: str,
    verifier: str,
    origin: str | None,
) -> IssuedAppToken:
    """The ``authorization_code`` grant of the embedded login: the code must be known, unused,
    unexpired, issued to ``app``; SHA-256 of ``verifier`` must be its challenge and the request's
    ``Origin`` its page's origin. Starts a refresh-token family (remembered on the code) with all
    of the app's permissions. Audited ``APP_AUTH_CODE_EXCHANGED``. A second use revokes the
    family the first one started and raises ``CodeReplayed``."""
    repo = AppAuthCodeRepository(session)
    record = await repo.by_hash_for_update(hash_token(code))
    if record is None or record.app_id != app.app_id:
        raise OAuthError("invalid_grant", "the authorization code is unknown")
    now = utcnow()
    if record.used_at is not None:
        if record.family_id is not None:
            await refresh_tokens.end_family_by_id(session, AppRefreshToken, record.family_id)
        set_tenant(session, record.organization_id)
        await audit.record(
            session,
            organization_id=record.organization_id,
            action="APP_AUTH_CODE_REPLAYED",
            actor_type="system",
            target_type="app",
            target_id=app.app_id,
            data={"session": str(record.family_id) if record.family_id else None},
        )
        log.warning("app.auth_code_replayed", app_id=app.app_id)
        raise CodeReplayed("the authorization code was already used; that sign-in is revoked")
    if record.expires_at <= now:
        raise OAuthError("invalid_grant", "the authorization code has expired")
    if not same_hash(pkce_challenge(verifier), record.code_challenge):
        raise OAuthError("invalid_grant", "the code_verifier does not match the code_challenge")
    if origin is None or origin.lower() != record.origin:
        raise OAuthError(
            "invalid_grant", "exchange the code from the page that asked for it (its Origin)"
        )
    member = await refresh_tokens.member(session, record.user_id, record.organization_id)
    if member is None:
        raise OAuthError("invalid_grant", "this account can no longer use that organization")
    user, role = member
    permissions = _granted(app, None)
    issued = await _new_link(
        session,
        keystore,
        policy,
        app_id=app.app_id,
        user=user,
        organization_id=record.organization_id,
        role=role,
        permissions=permissions,
        family_id=uuid7(),
    )
    record.used_at = now
    record.family_id = issued.family_id
    await session.flush()
    await audit.record(
        session,
        organization_id=record.organization_id,
        action="APP_AUTH_CODE_EXCHANGED",
        actor_user_id=user.id,
        target_type="app",
        target_id=app.app_id,
        data={
            "permissions": permissions,
            "session": str(issued.family_id),
            "origin": record.origin,
            "via": "embed",
        },
    )
    return issued


async def end_user_sign_in(session: AsyncSession, app: AppSnapshot, refresh_token: str) -> bool:
    """Sign out of the app: revoke the family of ``refresh_token`` (a token of this app). False
    when there was nothing to end (unknown, another app's, or ended already): idempotent."""
    ended = await refresh_tokens.end_family(
        session, AppRefreshToken, refresh_token, client_id=app.app_id
    )
    if ended is None:
        return False
    set_tenant(session, ended.organization_id)
    await audit.record(
        session,
        organization_id=ended.organization_id,
        action="APP_SIGNED_OUT",
        actor_user_id=ended.user_id,
        target_type="app",
        target_id=app.app_id,
        data={"session": str(ended.family_id)},
    )
    log.info("app.signed_out", app_id=app.app_id)
    return True


_REFUSED = {
    Refusal.UNKNOWN: "the refresh token is unknown",
    Refusal.ENDED: "this app sign-in has ended; sign in to the app again",
    Refusal.EXPIRED: "the refresh token has expired; sign in to the app again",
    Refusal.NOT_MEMBER: "this account can no longer use that organization",
}


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
    second time revokes its whole family and raises ``AppRefreshReuseDetected``, which keeps its
    writes (the revocation is committed with the 401). The permissions stay those granted,
    narrowed to the app's current ones; ``scope`` (the OAuth refresh grant) narrows the new
    access token only, never the refresh token (RFC 6749 §6)."""
    try:
        rotated = await refresh_tokens.rotate(
            session, AppRefreshToken, refresh_token, client_id=app.app_id
        )
    except RefreshReused:
        raise AppRefreshReuseDetected(
            "this refresh token was already used; every token of this app sign-in was revoked"
        ) from None
    except RefreshRefused as exc:
        # A lost membership revoked the family: that revocation is committed with the 401.
        revoked = exc.refusal is Refusal.NOT_MEMBER
        raise InvalidAppRefreshToken(_REFUSED[exc.refusal], keep_writes=revoked) from None
    token, user, role = rotated.token, rotated.user, rotated.role
    granted = sorted(app.permissions.intersection(token.permissions))
    if scope is not None and not set(scope) <= set(granted):
        raise OAuthError("invalid_scope", "the scope exceeds what this refresh token grants")
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


def _issued_to(app: AppSnapshot, claims: dict[str, Any], api_audience: str) -> bool:
    """Whether verified ``claims`` are a token issued to ``app``: a user token of a browser
    app (audience the app, ``org``), or a service app's own client-credentials token (subject
    ``app:<app id>``, audience our API)."""
    if claims.get("azp") != app.app_id:
        return False
    if app.kind is AppKind.SERVICE:
        return (
            claims.get("sub") == SERVICE_SUBJECT_PREFIX + app.app_id
            and claims.get("aud") == api_audience
        )
    return claims.get("aud") == app.app_id and isinstance(claims.get("org"), str)


async def introspect(
    sessionmaker: async_sessionmaker[AsyncSession],
    keystore: KeyStore,
    app: AppSnapshot,
    token: str,
    api_audience: str,
) -> dict[str, Any]:
    """RFC 7662 for the calling app: active only for a valid token issued to *this* app — a
    user token of a browser app whose sign-in was not revoked (``refresh_tokens.revocations``),
    or a service app's own service token. Verified with the process's keys; a token verified
    in the last few seconds is not verified again (see ``AppRegistry.verified_claims``), and
    the revoked sign-ins are a per-process set: no database round trip on the hot path."""
    claims = app_registry.verified_claims(token)
    if claims is None:
        audience = api_audience if app.kind is AppKind.SERVICE else app.app_id
        try:
            claims = await keystore.verify_or_reload(token, audience)
        except Unauthenticated:
            return _INACTIVE
        if not _issued_to(app, claims, api_audience):
            return _INACTIVE
        app_registry.remember_verified(token, claims)
    elif not _issued_to(app, claims, api_audience):  # verified before, for another app
        return _INACTIVE
    perms = claims.get("perms")
    perms = perms if isinstance(perms, list) else []
    if app.kind is AppKind.SERVICE:
        granted = sorted(app.permissions.intersection(str(p) for p in perms))
        return {
            "active": True,
            "sub": claims["sub"],
            "perms": granted,
            "scope": " ".join(granted),
            "client_id": app.app_id,
            "aud": api_audience,
            "iss": claims["iss"],
            "exp": claims["exp"],
            "iat": claims["iat"],
        }
    if not await refresh_tokens.access_token_live(sessionmaker, claims):
        return _INACTIVE
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
    verify with that app as its audience, and its sign-in must not have been revoked. Like
    ``introspect``, a token this process verified in the last few seconds is not verified again
    (an app sends the same user token on each request: the ECDSA check was most of a consume's
    CPU); the app's state and the sign-in's revocation are checked on every call."""
    remembered = app_registry.verified_claims(token)  # this token, verified seconds ago
    if remembered is None:
        try:
            remembered = unverified_claims(token)
        except Unauthenticated:
            raise InvalidAppToken("the bearer token is not an app token") from None
        verified = False
    else:
        verified = True
    app_id = remembered.get("azp")
    if not isinstance(app_id, str) or remembered.get("aud") != app_id:
        raise InvalidAppToken("the bearer token is not an app token")
    app = await app_registry.get(sessionmaker, app_id)
    if app is None or app.kind is not AppKind.BROWSER:
        raise InvalidAppToken("the token's app is unknown")
    if not app.enabled:
        raise InvalidAppToken(f"the token's app {app_id} is disabled")
    claims = remembered
    if not verified:
        try:
            claims = await keystore.verify_or_reload(token, app_id)
        except Unauthenticated as exc:
            raise InvalidAppToken(exc.detail) from None
        if claims.get("azp") != app_id or not isinstance(claims.get("org"), str):
            raise InvalidAppToken("the bearer token is not an app token")
        app_registry.remember_verified(token, claims)
    if not await refresh_tokens.access_token_live(sessionmaker, claims):
        raise InvalidAppToken("this app sign-in has ended; sign in to the app again")
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
    member = await refresh_tokens.member(session, user_id, organization_id)
    organization = await OrganizationRepository(session).get(organization_id)
    if member is None or organization is None:
        raise InvalidAppToken("this account can no longer use that organization")
    user, role = member
    return TokenUser(user, organization, role, [str(p) for p in claims.get("perms", [])])


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
