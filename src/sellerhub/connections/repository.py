from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, LiteralString

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context

# The organization's connections as pages list them (no secrets, not even masked ones), newest
# first, disconnected ones included: rendered by PostgreSQL in one round trip.
_SUMMARIES_SQL: LiteralString = (
    "SELECT coalesce(json_agg(json_build_object('id', id, 'provider', provider,"
    " 'display_name', display_name, 'external_account_id', external_account_id,"
    " 'status', status) ORDER BY created_at DESC, id DESC), '[]'::json)"
    " FROM connections WHERE organization_id = %(organization_id)s"
)


class ConnectionRepository:
    """Queries on ``connections``; tenant scope is applied centrally to the session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, connection: Connection) -> None:
        self.session.add(connection)

    async def get(self, connection_id: uuid.UUID, *, lock: bool = False) -> Connection | None:
        stmt = select(Connection).where(Connection.id == connection_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def active_for_account(
        self, provider: str, external_account_id: str
    ) -> Connection | None:
        return await self.session.scalar(
            select(Connection)
            .where(
                Connection.provider == provider,
                Connection.external_account_id == external_account_id,
                Connection.status != ConnectionStatus.DISCONNECTED.value,
            )
            .with_for_update()
        )

    async def all(self, *, include_disconnected: bool = False) -> Sequence[Connection]:
        stmt = select(Connection).order_by(Connection.created_at.desc(), Connection.id.desc())
        if not include_disconnected:
            stmt = stmt.where(Connection.status != ConnectionStatus.DISCONNECTED.value)
        return (await self.session.execute(stmt)).scalars().all()

    async def organization_of(self, connection_id: uuid.UUID) -> uuid.UUID | None:
        """The organization a connection belongs to, whichever it is: for an operator's check
        of a connection named by id only (``sellerhub connections check``)."""
        stmt = select(Connection.organization_id).where(Connection.id == connection_id)
        with system_context(self.session, "operator check: find a connection's organization"):
            return await self.session.scalar(stmt)

    async def due_for_refresh(
        self, *, before: datetime, now: datetime, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(organization id, connection id) of connections whose token expires before
        ``before``, fairly across organizations: every organization's most urgent connection
        first, then every organization's second, and so on."""
        ranked = (
            select(
                Connection.id,
                Connection.organization_id,
                Connection.access_expires_at,
                func.row_number()
                .over(
                    partition_by=Connection.organization_id,
                    order_by=Connection.access_expires_at,
                )
                .label("rank"),
            )
            .where(
                Connection.status.in_(
                    [ConnectionStatus.CONNECTED.value, ConnectionStatus.ERROR.value]
                ),
                Connection.access_expires_at.is_not(None),
                Connection.access_expires_at < before,
                (Connection.next_refresh_at.is_(None)) | (Connection.next_refresh_at <= now),
            )
            .subquery()
        )
        stmt = (
            select(ranked.c.organization_id, ranked.c.id)
            .order_by(ranked.c.rank, ranked.c.access_expires_at)
            .limit(limit)
        )
        with system_context(self.session, "proactive token refresh: find due connections"):
            rows = (await self.session.execute(stmt)).all()
        return [(org, cid) for org, cid in rows]


async def find_for_webhook(
    session: AsyncSession,
    *,
    provider: str,
    connection_id: uuid.UUID | None = None,
    account: str | None = None,
) -> Connection | None:
    """The active connection a webhook delivery belongs to (by id or by account). Deliveries
    arrive before any tenant is known, hence the per-request system context."""
    stmt = select(Connection).where(
        Connection.provider == provider,
        Connection.status != ConnectionStatus.DISCONNECTED.value,
    )
    if connection_id is not None:
        stmt = stmt.where(Connection.id == connection_id)
    if account is not None:
        stmt = stmt.where(Connection.external_account_id == account)
    with system_context(session, "resolve a webhook's connection", per_request=True):
        return await session.scalar(stmt.limit(1))


def summaries() -> Read[list[dict[str, Any]]]:
    return Read(_SUMMARIES_SQL)
