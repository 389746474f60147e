"""The rules of refresh tokens, once for every kind (RFC 9700 §4.14): opaque, stored as SHA-256
hashes, rotated on every use; presenting a used one again revokes its whole family; a family of
a user who left the organization (or was disabled) ends at its next use; ``end_all_for_user``
ends every family of every kind at once (password reset, sign-out everywhere).

Failures are ``RefreshRefused`` (and ``RefreshReused``, a subclass) with a ``Refusal``; each kind
turns them into its own answer. A reuse (and a lost membership) revokes before raising: the
caller must commit that revocation before answering."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import sellerhub.db.models  # noqa: F401 - every kind's model registered for end_all_for_user
from sellerhub.audit import service as audit
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.core.tokens import hash_token, new_token
from sellerhub.db.session import after_commit
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.refresh_tokens.models import REFRESH_TOKEN_MODELS, RefreshTokenColumns
from sellerhub.identity.refresh_tokens.repository import (
    RefreshTokenRepository,
    RevokedFamilyRepository,
)
from sellerhub.identity.refresh_tokens.revocations import HORIZON, revocations
from sellerhub.identity.users.models import User
from sellerhub.identity.users.repository import UserRepository

log = get_logger(__name__)

T = TypeVar("T", bound=RefreshTokenColumns)


def _refuse_access_tokens(session: AsyncSession, family_ids: set[uuid.UUID]) -> None:
    """Once the revocation commits, this process refuses the families' access tokens at once
    (the others within their poll period: ``revocations``)."""

    async def publish() -> None:
        revocations.add(family_ids)

    if family_ids:
        after_commit(session, publish)


class Refusal(StrEnum):
    UNKNOWN = "unknown"  # no such token (of this kind, for this client)
    ENDED = "ended"  # its family was revoked: sign-out, reuse, password reset
    REUSED = "reused"  # used before: the family is revoked now
    EXPIRED = "expired"
    NOT_MEMBER = "not_member"  # the user left the organization or was disabled: family revoked


class RefreshRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


class RefreshReused(RefreshRefused):
    def __init__(self) -> None:
        super().__init__(Refusal.REUSED)


@dataclass(frozen=True)
class Rotated(Generic[T]):
    """A rotation that passed every check: the used-up link, and the user and their current
    role in the family's organization (the session's tenant is now that organization)."""

    token: T
    user: User
    role: Role


async def issue(
    session: AsyncSession,
    token: T,
    *,
    prefix: str,
    ttl: timedelta,
) -> tuple[str, datetime]:
    """Store ``token`` (its user, organization, family and kind's columns set by the caller)
    with a new secret: (the secret, shown once, and when it expires)."""
    secret = new_token(prefix)
    token.token_hash = hash_token(secret)
    token.expires_at = utcnow() + ttl
    RefreshTokenRepository(session, type(token)).add(token)
    await session.flush()
    return secret, token.expires_at


async def member(
    session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID
) -> tuple[User, Role] | None:
    """The active user and their role in the organization (now the session's tenant)."""
    set_tenant(session, organization_id)
    membership = await OrganizationRepository(session).membership_of(user_id)
    user = await UserRepository(session).get(user_id)
    if membership is None or user is None or not user.is_active:
        return None
    return user, Role(membership.role)


async def rotate(
    session: AsyncSession,
    model: type[T],
    presented: str,
    *,
    client_id: str | None = None,
) -> Rotated[T]:
    """Use up the presented token of ``model``'s kind. ``client_id`` must be the client the
    token is bound to (apps; None for sessions): another client's token is unknown here. The
    caller issues the successor in ``rotated.token.family_id``."""
    repo = RefreshTokenRepository(session, model)
    token = await repo.by_hash_for_update(hash_token(presented))
    now = utcnow()
    if token is None or token.bound_client() != client_id:
        raise RefreshRefused(Refusal.UNKNOWN)
    if token.revoked_at is not None:
        raise RefreshRefused(Refusal.ENDED)
    if token.used_at is not None:
        await repo.revoke_family(token.family_id, now)
        _refuse_access_tokens(session, {token.family_id})
        set_tenant(session, token.organization_id)
        target_type, target_id, data = token.audit_target()
        await audit.record(
            session,
            organization_id=token.organization_id,
            action=model.reuse_action,
            actor_user_id=token.user_id,
            actor_type="system",
            target_type=target_type,
            target_id=target_id,
            data=data,
        )
        log.warning("refresh_token.reused", kind=model.kind, family_id=str(token.family_id))
        raise RefreshReused()
    if token.expires_at <= now:
        raise RefreshRefused(Refusal.EXPIRED)
    found = await member(session, token.user_id, token.organization_id)
    if found is None:
        await repo.revoke_family(token.family_id, now)
        _refuse_access_tokens(session, {token.family_id})
        raise RefreshRefused(Refusal.NOT_MEMBER)
    token.used_at = now
    user, role = found
    return Rotated(token, user, role)


async def end_family(
    session: AsyncSession, model: type[T], presented: str, *, client_id: str | None = None
) -> T | None:
    """Revoke the family of the presented token (sign-out): the token, or None when it was
    unknown (or bound to another client than ``client_id``) or its family had ended already."""
    repo = RefreshTokenRepository(session, model)
    token = await repo.by_hash_for_update(hash_token(presented))
    if token is None or token.bound_client() != client_id or token.revoked_at is not None:
        return None
    await repo.revoke_family(token.family_id, utcnow())
    _refuse_access_tokens(session, {token.family_id})
    return token


async def end_family_by_id(session: AsyncSession, model: type[T], family_id: uuid.UUID) -> None:
    """Revoke a family known by its id (a replayed authorization code revokes the sign-in its
    first use started); its access tokens are refused once this commits."""
    await RefreshTokenRepository(session, model).revoke_family(family_id, utcnow())
    _refuse_access_tokens(session, {family_id})


@dataclass(frozen=True)
class EndedFamilies:
    """How many families of each kind ``end_all_for_user`` ended."""

    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def of(self, kind: str) -> int:
        return self.by_kind.get(kind, 0)


async def end_all_for_user(session: AsyncSession, user_id: uuid.UUID, reason: str) -> EndedFamilies:
    """Sign the user out everywhere: every live refresh token of every kind (sessions and apps
    alike) is revoked, and the access tokens of those families are refused (``revocations``)."""
    now = utcnow()
    ended: dict[str, int] = {}
    for model in REFRESH_TOKEN_MODELS:
        families = await RefreshTokenRepository(session, model).revoke_user(user_id, now)
        ended[model.kind] = ended.get(model.kind, 0) + len(families)
        _refuse_access_tokens(session, families)
    log.info("refresh_token.user_signed_out", user_id=str(user_id), reason=reason, **ended)
    return EndedFamilies(ended)


async def prune_revocations(session: AsyncSession) -> int:
    """Forget revoked families whose access tokens have all expired (the job)."""
    pruned = await RevokedFamilyRepository(session).prune(utcnow() - HORIZON)
    log.info("refresh_token.revocations_pruned", pruned=pruned)
    return pruned


async def access_token_live(
    sessionmaker: async_sessionmaker[AsyncSession], claims: dict[str, Any]
) -> bool:
    """Whether a verified user access token's sign-in (``sid``) still stands; the check of
    every place that accepts users' access tokens (``revocations``: per process, bounded)."""
    return await revocations.check(sessionmaker, claims)
