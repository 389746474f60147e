"""Identity backbone: create organizations with their first owner, authenticate API keys."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from sellerhub.core.passwords import hash_password
from sellerhub.core.tokens import hash_token, new_token
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.apikeys.cache import principal_cache
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.apikeys.repository import ApiKeyRepository
from sellerhub.identity.organizations.models import Membership, Organization, Role
from sellerhub.identity.organizations.repository import OrganizationRepository
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import User, UserType
from sellerhub.identity.users.repository import UserRepository

API_KEY_PREFIX = "shk"
_LAST_USED_PRECISION = timedelta(minutes=5)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80] or "org"


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    name: str = "",
    password: str | None = None,
    user_type: UserType = UserType.CUSTOMER,
) -> User:
    users = UserRepository(session)
    if await users.by_email(email) is not None:
        raise Conflict("a user with this email already exists")
    user = User(
        email=email.strip(),
        name=name,
        user_type=user_type.value,
        password_hash=hash_password(password) if password else None,
    )
    user.ensure_id()
    users.add(user)
    await session.flush()
    return user


async def create_organization(
    session: AsyncSession, *, name: str, owner: User, slug: str | None = None
) -> Organization:
    """A new tenant with ``owner`` as its owner. Scopes the session to it."""
    orgs = OrganizationRepository(session)
    slug = slug or slugify(name)
    if await orgs.by_slug(slug) is not None:
        slug = f"{slug}-{uuid.uuid4().hex[:6]}"
    org = Organization(name=name, slug=slug)
    org.ensure_id()
    orgs.add(org)
    await session.flush()
    set_tenant(session, org.id)
    orgs.add(Membership(organization_id=org.id, user_id=owner.id, role=Role.OWNER.value))
    await audit.record(
        session,
        organization_id=org.id,
        action="ORGANIZATION_CREATED",
        actor_user_id=owner.id,
        target_type="organization",
        target_id=str(org.id),
        data={"name": name},
    )
    return org


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    secret: str  # shown once


async def issue_api_key(session: AsyncSession, principal: Principal, name: str) -> IssuedApiKey:
    if not principal.has_role(Role.ADMIN):
        raise Forbidden("only an owner or admin can create API keys")
    secret = new_token(API_KEY_PREFIX)
    key = ApiKey(
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        name=name,
        prefix=secret[:8],
        key_hash=hash_token(secret),
    )
    key.ensure_id()
    ApiKeyRepository(session).add(key)
    await session.flush()
    await audit.record(
        session,
        organization_id=principal.organization_id,
        action="API_KEY_CREATED",
        actor_user_id=principal.user_id,
        target_type="api_key",
        target_id=str(key.id),
        data={"name": name, "prefix": key.prefix},
    )
    return IssuedApiKey(key=key, secret=secret)


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> None:
    if not principal.has_role(Role.ADMIN):
        raise Forbidden("only an owner or admin can revoke API keys")
    key = await ApiKeyRepository(session).get(principal.organization_id, key_id)
    if key is None or key.revoked_at is not None:
        raise NotFound("API key not found")
    key.revoked_at = utcnow()
    principal_cache.invalidate(key.key_hash)
    await audit.record(
        session,
        organization_id=principal.organization_id,
        action="API_KEY_REVOKED",
        actor_user_id=principal.user_id,
        target_type="api_key",
        target_id=str(key.id),
    )


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    return list(await ApiKeyRepository(session).list(principal.organization_id))


def cached_principal(secret: str) -> Principal | None:
    """The principal of a recently resolved API key, without touching the database."""
    return principal_cache.get(hash_token(secret))


async def authenticate_api_key(session: AsyncSession, secret: str) -> Principal:
    """Resolve a bearer API key into a principal and scope the session to its organization."""
    if not secret.startswith(API_KEY_PREFIX + "_"):
        raise Unauthenticated("the bearer token is not a valid API key")
    key_hash = hash_token(secret)
    principal = principal_cache.get(key_hash)
    if principal is None:
        row = await ApiKeyRepository(session).resolve(key_hash)
        if row is None:
            raise Unauthenticated("the API key is unknown or revoked")
        key, role, user_type = row
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > _LAST_USED_PRECISION:
            key.last_used_at = now
        principal = Principal(
            user_id=key.user_id,
            organization_id=key.organization_id,
            role=Role(role),
            user_type=UserType(user_type),
            via="api_key",
            credential_id=key.id,
        )
        principal_cache.put(key_hash, principal)
    set_tenant(session, principal.organization_id)
    return principal


async def current_organization(session: AsyncSession, principal: Principal) -> Organization:
    org = await OrganizationRepository(session).get(principal.organization_id)
    if org is None:
        raise NotFound("organization not found")
    return org


async def members(session: AsyncSession) -> list[Membership]:
    return await OrganizationRepository(session).members()


async def members_with_users(session: AsyncSession) -> list[tuple[Membership, User | None]]:
    """The organization's memberships (oldest first) with each member's user, for pages that
    name the members (the session must be scoped to the organization)."""
    return await OrganizationRepository(session).members_with_users()
