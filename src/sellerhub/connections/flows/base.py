"""What every connect flow is given, and the audit event of a failed consent."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.core.crypto import KeyRing
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.oauth_states.service import ConsumedState


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
