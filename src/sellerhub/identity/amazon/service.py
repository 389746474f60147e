"""Login with Amazon: link the Amazon account to a sellerhub user (by Amazon ``user_id`` only,
never by email), create the user and a personal organization on first sign-in, keep the LWA
tokens encrypted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import Conflict
from sellerhub.db.encrypted import seal
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.amazon.client import AmazonProfile, LwaTokens
from sellerhub.identity.amazon.models import AmazonLogin
from sellerhub.identity.users.models import User
from sellerhub.identity.users.repository import UserRepository
from sellerhub.jobs.app import enqueue

# Requested by name (identity does not import commerce): syncs the FBA inventory of the
# organization's Amazon sellers, if it has any (commerce.inventory.fba.tasks; seed 000 1.2.7).
FBA_SYNC_AFTER_LOGIN = "commerce.fba_sync_after_login"


class EmailAlreadyRegistered(Conflict):
    code = "email-already-registered"
    title = "An account with this email already exists"


class AmazonAccountTaken(Conflict):
    code = "amazon-account-linked-elsewhere"
    title = "This Amazon account belongs to another user"


@dataclass(frozen=True)
class AmazonSignIn:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    created: bool


async def _store_tokens(
    session: AsyncSession, ring: KeyRing, user: User, profile: AmazonProfile, tokens: LwaTokens
) -> None:
    row = await session.scalar(select(AmazonLogin).where(AmazonLogin.user_id == user.id))
    if row is None:
        row = AmazonLogin(user_id=user.id, amazon_user_id=profile.user_id, access_token="")
        row.ensure_id()
        session.add(row)
    row.amazon_user_id = profile.user_id
    row.scope = tokens.scope
    row.access_expires_at = tokens.expires_at
    seal(ring, row, "access_token", tokens.access_token)
    seal(ring, row, "refresh_token", tokens.refresh_token)


async def complete_login(
    session: AsyncSession,
    ring: KeyRing,
    *,
    profile: AmazonProfile,
    tokens: LwaTokens,
    linking_user_id: uuid.UUID | None,
) -> AmazonSignIn:
    """The user behind ``profile`` and the organization to sign in to."""
    users = UserRepository(session)
    user = await users.by_amazon_id(profile.user_id)
    created = False
    if linking_user_id is not None:
        # Started while signed in: link Amazon to that account.
        if user is not None and user.id != linking_user_id:
            raise AmazonAccountTaken("this Amazon account is already linked to another user")
        user = await users.get(linking_user_id)
        if user is None:
            raise Conflict("the account that started this link no longer exists")
        user.amazon_user_id = profile.user_id
    elif user is None:
        email = profile.email or f"{profile.user_id}@amazon.invalid"
        if await users.by_email(email) is not None:
            raise EmailAlreadyRegistered(
                "an account with this email already exists: sign in with your password, then "
                "link Amazon from your account settings"
            )
        user = await identity.create_user(session, email=email, name=profile.name)
        user.amazon_user_id = profile.user_id
        user.email_verified_at = None if profile.email is None else utcnow()  # Amazon-verified
        created = True
    else:
        user.name = profile.name or user.name
    await session.flush()
    await _store_tokens(session, ring, user, profile, tokens)
    if created:
        org = await identity.create_organization(
            session, name=f"{profile.name or 'My'} organization".strip(), owner=user
        )
        organization_id = org.id
    else:
        memberships = await users.organizations_of(user.id)
        if not memberships:
            org = await identity.create_organization(
                session, name=f"{user.name or 'My'} organization".strip(), owner=user
            )
            organization_id = org.id
        else:
            organization_id = memberships[0][0].id
    set_tenant(session, organization_id)
    await audit.record(
        session,
        organization_id=organization_id,
        action="AMAZON_LINKED" if linking_user_id else "SIGNED_IN_WITH_AMAZON",
        actor_user_id=user.id,
        target_type="user",
        target_id=str(user.id),
        data={"amazon_user_id": profile.user_id, "new_user": created},
    )
    if not created:  # a new organization has no connection yet
        await enqueue(session, FBA_SYNC_AFTER_LOGIN, {"organization_id": str(organization_id)})
    return AmazonSignIn(user_id=user.id, organization_id=organization_id, created=created)
