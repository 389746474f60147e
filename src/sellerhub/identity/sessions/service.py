"""Browser and API sessions: a short-lived JWT access token plus an opaque refresh token that
rotates on every use; reuse of a rotated one revokes the whole family (RFC 9700 §4.14)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.core.errors import Unauthenticated
from sellerhub.core.ids import uuid7
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.jwt.service import KeyStore
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.principal import Principal
from sellerhub.identity.refresh_tokens import service as refresh_tokens
from sellerhub.identity.refresh_tokens.service import RefreshRefused, RefreshReused, Refusal
from sellerhub.identity.sessions.models import RefreshToken
from sellerhub.identity.users.models import UserType
from sellerhub.identity.users.repository import UserRepository

REFRESH_PREFIX = "shr"


@dataclass(frozen=True)
class SessionPolicy:
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta


@dataclass(frozen=True)
class IssuedSession:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    csrf_token: str
    family_id: uuid.UUID


class RefreshReuseDetected(Unauthenticated):
    code = "refresh-token-reused"
    title = "Refresh token reuse detected"
    keep_writes = True  # the family's revocation is committed with the 401


def access_claims(organization_id: uuid.UUID, role: Role, user_type: UserType) -> dict[str, Any]:
    return {"org": str(organization_id), "roles": [role.value], "ut": user_type.value}


def principal_from_claims(claims: dict[str, Any], via: str) -> Principal:
    try:
        return Principal(
            user_id=uuid.UUID(claims["sub"]),
            organization_id=uuid.UUID(claims["org"]),
            role=Role(claims["roles"][0]),
            user_type=UserType(claims["ut"]),
            via=via,
        )
    except (KeyError, IndexError, ValueError, TypeError):
        raise Unauthenticated("the access token lacks sellerhub claims") from None


async def session_principal(
    sessionmaker: async_sessionmaker[AsyncSession], claims: dict[str, Any], via: str
) -> Principal:
    """The principal of a verified access token, unless its sign-in (``sid``) was revoked:
    sign-out, refresh-token reuse, sign-out everywhere (``refresh_tokens.revocations``: at once
    in the revoking process, within its poll period in the others)."""
    principal = principal_from_claims(claims, via)
    if not await refresh_tokens.access_token_live(sessionmaker, claims):
        raise Unauthenticated("this sign-in has ended; sign in again")
    return principal


def _issue(
    keystore: KeyStore,
    policy: SessionPolicy,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    role: Role,
    user_type: UserType,
    family_id: uuid.UUID,
) -> tuple[str, datetime]:
    claims = access_claims(organization_id, role, user_type) | {"sid": str(family_id)}
    return keystore.issue(
        subject=str(user_id), audience=policy.audience, ttl=policy.access_ttl, claims=claims
    )


async def start_session(
    session: AsyncSession,
    keystore: KeyStore,
    policy: SessionPolicy,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    user_agent: str | None = None,
    method: str,
) -> IssuedSession:
    """Sign ``user_id`` in to ``organization_id`` (they must be a member)."""
    set_tenant(session, organization_id)
    membership = await OrganizationRepository(session).membership_of(user_id)
    user = await UserRepository(session).get(user_id)
    if membership is None or user is None or not user.is_active:
        raise Unauthenticated("this account cannot sign in to that organization")
    family_id = uuid7()
    issued = await _new_link(
        session,
        keystore,
        policy,
        user_id=user_id,
        organization_id=organization_id,
        role=Role(membership.role),
        user_type=UserType(user.user_type),
        family_id=family_id,
        user_agent=user_agent,
    )
    await audit.record(
        session,
        organization_id=organization_id,
        action="SESSION_STARTED",
        actor_user_id=user_id,
        target_type="session",
        target_id=str(family_id),
        data={"method": method},
    )
    return issued


async def _new_link(
    session: AsyncSession,
    keystore: KeyStore,
    policy: SessionPolicy,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    role: Role,
    user_type: UserType,
    family_id: uuid.UUID,
    user_agent: str | None,
) -> IssuedSession:
    link = RefreshToken(
        user_id=user_id,
        organization_id=organization_id,
        family_id=family_id,
        user_agent=(user_agent or "")[:300] or None,
    )
    secret, refresh_expires_at = await refresh_tokens.issue(
        session, link, prefix=REFRESH_PREFIX, ttl=policy.refresh_ttl
    )
    access, access_expires_at = _issue(
        keystore,
        policy,
        user_id=user_id,
        organization_id=organization_id,
        role=role,
        user_type=user_type,
        family_id=family_id,
    )
    return IssuedSession(
        access_token=access,
        access_expires_at=access_expires_at,
        refresh_token=secret,
        refresh_expires_at=refresh_expires_at,
        csrf_token=secrets.token_urlsafe(24),
        family_id=family_id,
    )


_REFUSED = {
    Refusal.UNKNOWN: "the refresh token is unknown",
    Refusal.ENDED: "this sign-in has ended; sign in again",
    Refusal.EXPIRED: "the refresh token has expired; sign in again",
    Refusal.NOT_MEMBER: "this account can no longer use that organization",
}


async def refresh_session(
    session: AsyncSession,
    keystore: KeyStore,
    policy: SessionPolicy,
    refresh_token: str,
    user_agent: str | None = None,
) -> IssuedSession:
    """Rotate (``refresh_tokens.rotate``): the presented token is used up and a successor is
    issued. A token presented a second time means it leaked: the whole family is revoked and
    ``RefreshReuseDetected`` is raised (it keeps its writes: the revocation is committed with
    the 401)."""
    try:
        rotated = await refresh_tokens.rotate(session, RefreshToken, refresh_token)
    except RefreshReused:
        raise RefreshReuseDetected(
            "this refresh token was already used; every session of this sign-in was revoked"
        ) from None
    except RefreshRefused as exc:
        # A lost membership revoked the family: that revocation is committed with the 401.
        revoked = exc.refusal is Refusal.NOT_MEMBER
        raise Unauthenticated(_REFUSED[exc.refusal], keep_writes=revoked) from None
    token = rotated.token
    return await _new_link(
        session,
        keystore,
        policy,
        user_id=token.user_id,
        organization_id=token.organization_id,
        role=rotated.role,
        user_type=UserType(rotated.user.user_type),
        family_id=token.family_id,
        user_agent=user_agent,
    )


async def end_session(session: AsyncSession, refresh_token: str) -> None:
    """Sign out: revoke the family of this refresh token (unknown tokens are ignored)."""
    token = await refresh_tokens.end_family(session, RefreshToken, refresh_token)
    if token is None:
        return
    set_tenant(session, token.organization_id)
    await audit.record(
        session,
        organization_id=token.organization_id,
        action="SESSION_ENDED",
        actor_user_id=token.user_id,
        target_type="session",
        target_id=str(token.family_id),
    )
