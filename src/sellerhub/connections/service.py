"""Connections: create them from validated credentials, list and inspect them (secrets masked),
test them live, disconnect them (secrets wiped). Every lifecycle event is audited."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.connections import refresh, repository, vault
from sellerhub.connections.errors import CarrierUnavailable, CredentialsRejected
from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.connections.providers.base import ClientSecrets, RefreshFailed
from sellerhub.connections.providers.registry import get_provider
from sellerhub.connections.refresh import RefreshContext
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.connections.repository import find_for_webhook as _find_for_webhook
from sellerhub.connections.schemas import CarrierCredentials, ConnectionOut, ConnectionSummary
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, NotFound, ValidationFailed
from sellerhub.db.reads import Read
from sellerhub.identity.principal import Principal
from sellerhub.jobs.app import enqueue


def describe(connection: Connection) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        provider=connection.provider,
        external_account_id=connection.external_account_id,
        environment=connection.environment,
        display_name=connection.display_name,
        status=connection.status,
        status_reason=connection.status_reason,
        scopes=list(connection.scopes or []),
        client_id_hint=vault.mask(connection.client_id),
        has_secret=connection.client_secret is not None,
        access_expires_at=connection.access_expires_at,
        last_refreshed_at=connection.last_refreshed_at,
        details=dict(connection.details or {}),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


async def activate(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    provider: str,
    account: str,
    display_name: str = "",
    scopes: list[str] | None = None,
    must_exist: bool | None = None,
) -> tuple[Connection, bool]:
    """The organization's active connection for (provider, account), created when missing, and
    marked ``connected`` with its failure state cleared: the common end of every connect flow.
    ``must_exist`` True refuses to create (404), False refuses to replace (409). Returns
    (connection, created); the caller then stores secrets and details."""
    repo = ConnectionRepository(session)
    connection = await repo.active_for_account(provider, account)
    if connection is None and must_exist:
        raise NotFound(f"no {provider} connection for {account} to replace")
    if connection is not None and must_exist is False:
        raise Conflict(f"{provider} credentials for {account} exist already; use PUT to replace")
    created = connection is None
    if connection is None:
        connection = Connection(
            organization_id=organization_id,
            provider=provider,
            external_account_id=account,
            display_name=display_name,
            scopes=list(scopes or []),
            details={},
        )
        connection.ensure_id()
        repo.add(connection)
    connection.status = ConnectionStatus.CONNECTED
    connection.status_reason = None
    connection.refresh_failures = 0
    connection.next_refresh_at = None
    connection.last_refreshed_at = utcnow()
    refresh.forget(connection.id)
    return connection, created


async def record_connected(
    session: AsyncSession,
    connection: Connection,
    *,
    actor_user_id: uuid.UUID | None,
    data: dict[str, object],
    action: str = "CHANNEL_CONNECTED",
) -> None:
    """The audit event that ends every connect flow (after the secrets are stored)."""
    await session.flush()
    await audit.record(
        session,
        organization_id=connection.organization_id,
        action=action,
        actor_user_id=actor_user_id,
        target_type="connection",
        target_id=str(connection.id),
        data={"provider": connection.provider, **data},
    )


async def mark_disconnected(
    session: AsyncSession,
    connection: Connection,
    *,
    reason: str,
    actor_user_id: uuid.UUID | None,
    actor_type: str = "user",
    data: dict[str, object] | None = None,
) -> None:
    """Stop using the connection: secrets wiped, cached token dropped, audited."""
    vault.wipe(connection)
    refresh.forget(connection.id)
    connection.status = ConnectionStatus.DISCONNECTED
    connection.status_reason = reason
    connection.disconnected_at = utcnow()
    await audit.record(
        session,
        organization_id=connection.organization_id,
        action="CHANNEL_DISCONNECTED",
        actor_user_id=actor_user_id,
        actor_type=actor_type,
        target_type="connection",
        target_id=str(connection.id),
        data={"provider": connection.provider, **(data or {})},
    )


async def request_first_sync(
    session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> None:
    """A newly connected sales channel's order history: a full sync (``commerce.sync``),
    requested in the caller's transaction."""
    await enqueue(
        session,
        "commerce.sync_request",
        {"organization_id": str(organization_id), "connection_id": str(connection_id)},
    )


async def connect_carrier(
    session: AsyncSession,
    ctx: RefreshContext,
    principal: Principal,
    provider_name: str,
    data: CarrierCredentials,
) -> tuple[Connection, bool]:
    """Validate the credentials by fetching a token, then store them (encrypted) with the token
    on the organization's connection for that account. Returns (connection, created)."""
    provider = get_provider(provider_name)
    if provider_name == "fedex" and not data.account_number:
        raise ValidationFailed(
            "account_number: FedEx needs the account number",
            errors=[{"field": "account_number", "message": "required for FedEx"}],
        )
    secrets = ClientSecrets(data.client_id, data.client_secret, data.environment)
    try:
        grant = await provider.fetch_token(ctx.http, ctx.settings, secrets)
    except RefreshFailed as exc:
        if exc.permanent or (exc.status is not None and exc.status < 500 and exc.status != 429):
            raise CredentialsRejected(exc.reason) from None
        raise CarrierUnavailable(exc.reason) from None
    external_id = data.account_number or data.client_id
    connection, created = await activate(
        session,
        organization_id=principal.organization_id,
        provider=provider_name,
        account=external_id,
        display_name=f"{provider.title} {external_id[-4:]}",
    )
    connection.environment = data.environment
    if data.account_number:
        connection.details = {**(connection.details or {}), "account_number": data.account_number}
    vault.store_client_secret(ctx.keyring, connection, data.client_id, data.client_secret)
    vault.store_tokens(ctx.keyring, connection, grant)
    await record_connected(
        session,
        connection,
        actor_user_id=principal.user_id,
        data={"account": external_id, "environment": data.environment},
    )
    await session.refresh(connection)  # server-side timestamps, for the answer
    return connection, created


async def list_connections(
    session: AsyncSession, *, include_disconnected: bool = False
) -> list[Connection]:
    """The organization's connections, newest first; disconnected ones (their secrets wiped)
    only when asked for."""
    return list(await ConnectionRepository(session).all(include_disconnected=include_disconnected))


def _summaries(rows: list[dict[str, Any]]) -> list[ConnectionSummary]:
    return [
        ConnectionSummary(
            id=uuid.UUID(row["id"]),
            provider=row["provider"],
            display_name=row["display_name"],
            external_account_id=row["external_account_id"],
            status=row["status"],
        )
        for row in rows
    ]


def summaries() -> Read[list[ConnectionSummary]]:
    """Every connection of the reader's organization, newest first, disconnected ones too, as
    pages list them (a read for ``TenantReader``: no ORM session, no secret read)."""
    return Read(repository.summaries().sql, decode=_summaries)


async def get_connection(session: AsyncSession, connection_id: uuid.UUID) -> Connection:
    connection = await ConnectionRepository(session).get(connection_id)
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED.value:
        raise NotFound("connection not found")
    return connection


async def disconnect(session: AsyncSession, principal: Principal, connection_id: uuid.UUID) -> None:
    """Disconnect and wipe the secrets. (FedEx and DHL offer no token revocation endpoint;
    their tokens lapse within the hour.)"""
    connection = await ConnectionRepository(session).get(connection_id, lock=True)
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED.value:
        raise NotFound("connection not found")
    await mark_disconnected(
        session,
        connection,
        reason="disconnected by a user",
        actor_user_id=principal.user_id,
        data={"account": connection.external_account_id},
    )


async def find_for_webhook(
    session: AsyncSession,
    *,
    provider: str,
    connection_id: uuid.UUID | None = None,
    account: str | None = None,
) -> Connection | None:
    """The active connection a webhook delivery belongs to, by id or by account (the webhook
    domain's way in: it reads connections through this service, not their repository)."""
    return await _find_for_webhook(
        session, provider=provider, connection_id=connection_id, account=account
    )
