"""Keeping access tokens fresh.

* On demand: ``access_token_for`` returns a token valid for at least the refresh margin
  (5 minutes by default), refreshing first when needed.
* Single flight: within a process, concurrent callers for one connection share one in-flight
  refresh (an ``asyncio`` future); across processes, the refresh runs under the connection's
  row lock and re-reads the row first, so a refresh done meanwhile by another process is used
  instead of repeated. A rotated refresh token is stored in the same transaction as the access
  token it came with, so it can never be lost.
* Failures: a permanent refusal (``invalid_grant``, revoked credentials) or too many
  consecutive transient failures moves the connection to ``needs_reauth`` with the reason in
  words and stops refreshing it; a transient failure marks it ``error`` and backs off.
  Every transition is audited (``TOKEN_REFRESHED``, ``TOKEN_REFRESH_FAILED``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.config import Settings
from sellerhub.connections import vault
from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.connections.providers.base import Grant, RefreshFailed
from sellerhub.connections.providers.registry import get_provider
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import Conflict, NotFound, UpstreamUnavailable
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant

log = get_logger(__name__)


class NeedsReauth(Conflict):
    code = "connection-needs-reauth"
    title = "The connection must be authorized again"


class ProviderUnavailable(UpstreamUnavailable):
    status = 502
    code = "provider-unavailable"
    title = "The provider could not refresh the connection's token"


@dataclass(frozen=True)
class FreshToken:
    access_token: str
    expires_at: datetime | None
    refreshed: bool
    provider: str = ""
    environment: str = "production"
    details: dict[str, Any] = field(default_factory=dict)


def _fresh(connection: Connection, token: str, refreshed: bool) -> FreshToken:
    return FreshToken(
        token,
        connection.access_expires_at,
        refreshed,
        connection.provider,
        connection.environment,
        dict(connection.details or {}),
    )


# Tokens this process read or refreshed recently, so hot paths (the proxy) skip the database:
# kept for CACHE_SECONDS and never past the refresh margin. A disconnect or a failed refresh in
# this process drops the entry at once; in other processes it ages out within CACHE_SECONDS.
CACHE_SECONDS = 5.0
_cache: dict[uuid.UUID, tuple[float, uuid.UUID, FreshToken]] = {}


def forget(connection_id: uuid.UUID) -> None:
    _cache.pop(connection_id, None)


def _cached(
    organization_id: uuid.UUID, connection_id: uuid.UUID, margin: timedelta
) -> FreshToken | None:
    entry = _cache.get(connection_id)
    if entry is None:
        return None
    stored_at, owner, fresh = entry
    if owner != organization_id:
        return None  # never another organization's connection
    if time.monotonic() - stored_at > CACHE_SECONDS or (
        fresh.expires_at is not None and fresh.expires_at <= utcnow() + margin
    ):
        _cache.pop(connection_id, None)
        return None
    return fresh


def _remember(organization_id: uuid.UUID, connection_id: uuid.UUID, fresh: FreshToken) -> None:
    _cache[connection_id] = (time.monotonic(), organization_id, fresh)


@dataclass
class RefreshContext:
    sessionmaker: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    settings: Settings
    http: httpx.AsyncClient


_inflight: dict[uuid.UUID, asyncio.Future[FreshToken]] = {}


def backoff(failures: int) -> timedelta:
    """30 s, 60 s, 120 s … capped at 30 minutes."""
    return timedelta(seconds=min(30 * 2 ** max(failures - 1, 0), 1800))


def _usable(connection: Connection, margin: timedelta, now: datetime) -> bool:
    return connection.access_token is not None and (
        connection.access_expires_at is None or connection.access_expires_at > now + margin
    )


async def access_token_for(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    force: bool = False,
    stale_token: str | None = None,
) -> FreshToken:
    """A usable access token for the connection. ``force`` refreshes even if the stored token
    looks valid (a provider answered 401); ``stale_token`` is the token that got the 401, so a
    caller arriving after someone else already replaced it does not refresh again."""
    margin = timedelta(seconds=ctx.settings.connection_refresh_margin_seconds)
    if force:
        forget(connection_id)
    else:
        cached = _cached(organization_id, connection_id, margin)
        if cached is not None:
            return cached
        async with ctx.sessionmaker() as session:
            set_tenant(session, organization_id)
            connection = await ConnectionRepository(session).get(connection_id)
            if connection is None:
                raise NotFound("connection not found")
            _check_status(connection)
            if _usable(connection, margin, utcnow()):
                fresh = _fresh(connection, vault.access_token(ctx.keyring, connection) or "", False)
                _remember(organization_id, connection_id, fresh)
                return fresh
    pending = _inflight.get(connection_id)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[FreshToken] = asyncio.get_running_loop().create_future()
    _inflight[connection_id] = future
    try:
        result = await _refresh_locked(ctx, organization_id, connection_id, force, stale_token)
        _remember(organization_id, connection_id, result)
    except BaseException as exc:
        forget(connection_id)
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nothing is logged as unhandled
        raise
    else:
        future.set_result(result)
        return result
    finally:
        _inflight.pop(connection_id, None)


def _check_status(connection: Connection) -> None:
    if connection.status == ConnectionStatus.DISCONNECTED.value:
        raise NotFound("connection not found")
    if connection.status == ConnectionStatus.NEEDS_REAUTH.value:
        raise NeedsReauth(connection.status_reason or "authorize the connection again")


async def _refresh_locked(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    force: bool,
    stale_token: str | None,
) -> FreshToken:
    margin = timedelta(seconds=ctx.settings.connection_refresh_margin_seconds)
    failure: RefreshFailed | None = None
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        connection = await ConnectionRepository(session).get(connection_id, lock=True)
        if connection is None:
            raise NotFound("connection not found")
        _check_status(connection)
        current = vault.access_token(ctx.keyring, connection)
        already_replaced = stale_token is not None and current != stale_token
        if (not force or already_replaced) and _usable(connection, margin, utcnow()):
            return _fresh(connection, current or "", False)
        provider = get_provider(connection.provider)
        secrets = vault.client_secrets(ctx.keyring, connection)
        if provider.grant is Grant.API_KEYS:
            return _fresh(connection, current or "", False)
        try:
            grant = await provider.fetch_token(ctx.http, ctx.settings, secrets)
        except RefreshFailed as exc:
            failure = exc
            await _record_failure(ctx, session, connection, exc)
        else:
            vault.store_tokens(ctx.keyring, connection, grant)
            connection.last_refreshed_at = utcnow()
            connection.refresh_failures = 0
            connection.next_refresh_at = None
            connection.status = ConnectionStatus.CONNECTED
            connection.status_reason = None
            await audit.record(
                session,
                organization_id=organization_id,
                action="TOKEN_REFRESHED",
                actor_type="system",
                target_type="connection",
                target_id=str(connection.id),
                data={"provider": connection.provider, "expires_at": str(grant.expires_at)},
            )
            log.info("connection.token_refreshed", connection_id=str(connection.id))
            return _fresh(connection, grant.access_token, True)
    # The failure is committed (status, audit); now tell the caller.
    assert failure is not None
    if failure.permanent or connection.status == ConnectionStatus.NEEDS_REAUTH.value:
        raise NeedsReauth(connection.status_reason or failure.reason)
    raise ProviderUnavailable(failure.reason)


async def _record_failure(
    ctx: RefreshContext, session: AsyncSession, connection: Connection, exc: RefreshFailed
) -> None:
    connection.refresh_failures += 1
    too_many = connection.refresh_failures >= ctx.settings.connection_max_refresh_failures
    if exc.permanent or too_many:
        connection.status = ConnectionStatus.NEEDS_REAUTH
        connection.status_reason = (
            exc.reason if exc.permanent else f"{exc.reason} ({connection.refresh_failures} times)"
        )
        connection.next_refresh_at = None
    else:
        connection.status = ConnectionStatus.ERROR
        connection.status_reason = exc.reason
        connection.next_refresh_at = utcnow() + backoff(connection.refresh_failures)
    await audit.record(
        session,
        organization_id=connection.organization_id,
        action="TOKEN_REFRESH_FAILED",
        actor_type="system",
        target_type="connection",
        target_id=str(connection.id),
        data={
            "provider": connection.provider,
            "reason": exc.reason,
            "permanent": exc.permanent,
            "failures": connection.refresh_failures,
            "status": connection.status,
        },
    )
    log.warning(
        "connection.token_refresh_failed",
        connection_id=str(connection.id),
        permanent=exc.permanent,
        failures=connection.refresh_failures,
    )
