"""What every connect flow is given, and the audit event of a failed consent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.core.crypto import KeyRing
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.amazon.client import CALLBACK_PATH
from sellerhub.identity.oauth_states import service as oauth_states
from sellerhub.identity.oauth_states.service import ConsentStart, ConsumedState


@dataclass(frozen=True)
class FlowContext:
    """The process's resources a flow uses: it opens its own transactions where a flow must
    commit in steps (a callback: the state first, then the connection)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    settings: Settings
    http: httpx.AsyncClient


async def record_connect_failure(
    ctx: FlowContext, consumed: ConsumedState, reason: str, provider: str
) -> None:
    """``CHANNEL_CONNECT_FAILED`` in the organization that started the consent."""
    organization_id = consumed.organization_id
    if organization_id is None:
        return
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        await audit.record(
            session,
            organization_id=organization_id,
            action="CHANNEL_CONNECT_FAILED",
            actor_user_id=consumed.user_id,
            target_type="provider",
            target_id=provider,
            data={"reason": reason},
        )


async def begin_amazon_consent(
    session: AsyncSession,
    ring: KeyRing,
    settings: Settings,
    *,
    purpose: str,
    cookies: Mapping[str, str],
    next_url: str | None,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    pkce: bool,
) -> tuple[str, ConsentStart]:
    """The start shared by the Amazon consents (SP-API, Ads): a state of ``purpose`` for the
    one Amazon redirect URI; answers that URI and the started state."""
    redirect_uri = settings.public_url + CALLBACK_PATH
    started = await oauth_states.begin(
        session,
        ring,
        cookies=cookies,
        allowed_origins=settings.auth_allowed_redirect_origins,
        purpose=purpose,
        next_url=next_url,
        redirect_uri=redirect_uri,
        organization_id=organization_id,
        user_id=user_id,
        pkce=pkce,
    )
    return redirect_uri, started
