"""The live check of a connection: does the provider accept the connection's token right now?

One cheap, documented, side-effect-free authenticated read per provider (``LIVE_CHECKS``), sent
through the one provider client (``connections/client.py``): the token is refreshed first when
due (single flight), a refused token is refreshed once and the read retried, 429s are waited
out, the circuit breaker and the SSRF-guarded HTTP client apply. The answer is judged:

- **accepted** (2xx): ``ok``; the status is left as it is (a ``connected`` connection stays
  so; an ``error`` keeps its reason — a failed webhook subscription, say — which the read did
  not fix).
- **refused** (401/403, or the provider's own "token refused" answer, after the one refresh and
  retry; or the refresh itself refused: ``invalid_grant``, revoked credentials): the connection
  moves to ``needs_reauth`` with the reason in words and stops being used until the seller
  connects it again.
- **unavailable** (429 after the retries, 5xx, a timeout, an unreachable host, an open
  circuit): nothing changes; try again later. (A refresh that was due anyway and failed is
  recorded by the refresh engine as every refresh is: ``error``, retried with backoff.)
- **failed** (any other answer, e.g. 404): nothing changes; the detail names the answer.
- **not_checked**: a connection already in ``needs_reauth`` is not sent to the provider. Its
  grant was refused and the refusal audited; only a new grant (the seller connecting again, or
  new carrier credentials) brings it back to ``connected`` — a check never does.

Every check is audited (``CONNECTION_CHECKED``: the result, the status before and after, the
provider's HTTP status), which is also where the last check of a connection is found.

The verdict is written in its own transaction after the provider answered (``unit_of_work`` on
the given sessionmaker): no row lock or transaction is held across the provider call, and a
refusal is recorded whatever the caller does next. No FastAPI: the endpoint
(``POST /api/v1/connections/{id}/test``) and ``sellerhub connections check`` call it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.connections import client, refresh
from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.connections.providers.base import Provider
from sellerhub.connections.providers.registry import get_provider
from sellerhub.connections.refresh import NeedsReauth, RefreshContext
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError, NotFound, UpstreamUnavailable
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant

log = get_logger(__name__)

AUDIT_ACTION = "CONNECTION_CHECKED"
MAX_REASON = 480  # connections.status_reason holds 500 characters


class CheckResult(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    FAILED = "failed"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class LiveCheck:
    """The read that answers "is this connection's token accepted": documented, cheap, and
    without side effects at the provider."""

    method: str
    path: str  # relative to the provider's API base (``Provider.api_base``)
    what: str  # the operation, in words, for the answer
    params: tuple[tuple[str, str], ...] = ()
    json_body: dict[str, Any] | None = None


# FedEx and DHL offer no account or "who am I" read; their check is one tracking call of a
# number that exists nowhere (a read, answered 200 with "not found" inside). A refused token is
# replaced once with the stored client credentials, so the token request is checked too.
FEDEX_CHECK_NUMBER = "123456789012"  # FedEx's published test tracking number
DHL_CHECK_PACKAGE = "SELLERHUB-LIVE-CHECK"

LIVE_CHECKS: dict[str, LiveCheck] = {
    "amazon_spapi": LiveCheck(
        "GET", "sellers/v1/marketplaceParticipations", "getMarketplaceParticipations"
    ),
    "amazon_ads": LiveCheck("GET", "v2/profiles", "GET /v2/profiles"),
    "shopify": LiveCheck("GET", "shop.json", "GET shop.json", params=(("fields", "id"),)),
    "woocommerce": LiveCheck("GET", "system_status", "GET /wp-json/wc/v3/system_status"),
    "fedex": LiveCheck(
        "POST",
        "track/v1/trackingnumbers",
        "a Track API call",
        json_body={
            "includeDetailedScans": False,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": FEDEX_CHECK_NUMBER}}],
        },
    ),
    "dhl": LiveCheck(
        "GET",
        "tracking/v4/package/open",
        "a tracking call",
        params=(("packageId", DHL_CHECK_PACKAGE), ("limit", "1")),
    ),
}


@dataclass(frozen=True)
class CheckOutcome:
    connection_id: uuid.UUID
    organization_id: uuid.UUID
    provider: str
    external_account_id: str
    ok: bool
    result: CheckResult
    status: str  # the connection's status after the check
    detail: str
    checked_at: datetime
    provider_status: int | None = None  # the provider's HTTP status, when it answered

    def as_json(self) -> dict[str, Any]:
        return {
            "connection_id": str(self.connection_id),
            "organization_id": str(self.organization_id),
            "provider": self.provider,
            "external_account_id": self.external_account_id,
            "ok": self.ok,
            "result": self.result.value,
            "status": self.status,
            "detail": self.detail,
            "provider_status": self.provider_status,
            "checked_at": self.checked_at.isoformat(),
        }


def provider_message(response: httpx.Response) -> str:
    """The provider's error in words, from the error shapes of providers.md: SP-API and FedEx
    ``{"errors": [{"code", "message"}]}``, Shopify ``{"errors": "..."}``, WooCommerce
    ``{"code", "message"}``, Ads ``{"code", "details"}``, DHL ``{"title"}``, LWA ``{"error"}``."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.reason_phrase
    text: Any = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            parts = [str(first.get(k)) for k in ("code", "message", "details") if first.get(k)]
            text = ": ".join(parts)
        elif errors:
            text = errors
        else:
            text = (
                body.get("message")
                or body.get("details")
                or body.get("title")
                or body.get("error_description")
                or body.get("error")
                or body.get("code")
            )
    if not text:
        return response.reason_phrase
    return " ".join(str(text).split())[:200]


async def _load(
    ctx: RefreshContext, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> tuple[str, str, ConnectionStatus, str | None]:
    async with ctx.sessionmaker() as session:
        set_tenant(session, organization_id)
        connection = await ConnectionRepository(session).get(connection_id)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED.value:
            raise NotFound("connection not found")
        return (
            connection.provider,
            connection.external_account_id,
            ConnectionStatus(connection.status),
            connection.status_reason,
        )


async def check_connection(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    actor_user_id: uuid.UUID | None,
    actor_type: str = "user",
) -> CheckOutcome:
    """Check the connection live and record the verdict (see the module docstring). Raises
    ``NotFound`` for a connection that is not the organization's or is disconnected; every
    provider answer, failure or outage is an outcome, never an error."""
    provider_name, account, before, reason = await _load(ctx, organization_id, connection_id)
    provider = get_provider(provider_name)
    check = LIVE_CHECKS.get(provider_name)
    provider_status: int | None = None
    if before is ConnectionStatus.NEEDS_REAUTH:
        result = CheckResult.NOT_CHECKED
        detail = (
            f"not sent to {provider.title}: the connection needs to be authorized again "
            f"({reason or 'the grant was refused'})"
        )
    elif check is None:
        result, detail = CheckResult.FAILED, f"no live check is defined for {provider.title}"
    else:
        outgoing = client.ProviderCall(
            method=check.method,
            path=check.path,
            params=list(check.params),
            headers={"accept": "application/json"}
            | ({"content-type": "application/json"} if check.json_body is not None else {}),
            content=json.dumps(check.json_body).encode() if check.json_body is not None else None,
        )
        try:
            response = await client.call(ctx, organization_id, connection_id, outgoing)
        except NeedsReauth as exc:  # the refresh was refused; the engine recorded it
            result, detail = CheckResult.REFUSED, exc.detail
        except NotFound:
            raise
        except UpstreamUnavailable as exc:  # timeouts, unreachable, open circuit, refresh 5xx
            result = CheckResult.UNAVAILABLE
            detail = f"{exc.detail}; try again later"
        except DomainError as exc:
            result, detail = CheckResult.FAILED, exc.detail
        else:
            provider_status = response.status_code
            result, detail = judge(response, provider, check)
    return await _record(
        ctx,
        organization_id,
        connection_id,
        provider=provider_name,
        account=account,
        before=before,
        result=result,
        detail=detail,
        provider_status=provider_status,
        actor_user_id=actor_user_id,
        actor_type=actor_type,
    )


def judge(
    response: httpx.Response, provider: Provider, check: LiveCheck
) -> tuple[CheckResult, str]:
    """The verdict on the provider's answer to the check's read."""
    title, what, status = provider.title, check.what, response.status_code
    if 200 <= status < 300:
        return CheckResult.ACCEPTED, f"{title} accepted the connection's token ({what})"
    message = provider_message(response)
    if status in (401, 403) or provider.token_rejected(response):
        return (
            CheckResult.REFUSED,
            f"{title} refused the connection's token ({what}: HTTP {status}, {message}); "
            "connect the account again",
        )
    if status == 429 or status >= 500:
        return (
            CheckResult.UNAVAILABLE,
            f"{title} is unavailable or throttling ({what}: HTTP {status}); try again later",
        )
    return CheckResult.FAILED, f"{title} answered {what} with HTTP {status} ({message})"


async def targets(
    session: AsyncSession,
    *,
    connection_id: uuid.UUID | None,
    organization_id: uuid.UUID | None,
    include_needs_reauth: bool,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization id, connection id) of what an operator asked to check: one connection
    (of ``organization_id`` when given), or the organization's active connections — those the
    provider can be asked about (``connected``, ``error``), plus ``needs_reauth`` ones when
    ``include_needs_reauth``. Raises ``NotFound``."""
    repo = ConnectionRepository(session)
    if connection_id is not None:
        owner = await repo.organization_of(connection_id)
        if owner is None or (organization_id is not None and owner != organization_id):
            raise NotFound(f"connection {connection_id} not found")
        return [(owner, connection_id)]
    if organization_id is None:
        raise NotFound("name a connection or an organization")
    set_tenant(session, organization_id)
    wanted = {ConnectionStatus.CONNECTED.value, ConnectionStatus.ERROR.value}
    if include_needs_reauth:
        wanted.add(ConnectionStatus.NEEDS_REAUTH.value)
    return [(organization_id, c.id) for c in await repo.all() if c.status in wanted]


async def _record(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    provider: str,
    account: str,
    before: ConnectionStatus,
    result: CheckResult,
    detail: str,
    provider_status: int | None,
    actor_user_id: uuid.UUID | None,
    actor_type: str,
) -> CheckOutcome:
    checked_at = utcnow()
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        # Only a refusal changes the row (under its lock); any other verdict only adds its
        # audit event, so that concurrent checks of one connection do not queue on the lock.
        refused = result is CheckResult.REFUSED
        connection = await ConnectionRepository(session).get(connection_id, lock=refused)
        if connection is None:
            raise NotFound("connection not found")
        if refused and connection.status in (
            ConnectionStatus.CONNECTED.value,
            ConnectionStatus.ERROR.value,
        ):
            _needs_reauth(connection, detail)
        status = ConnectionStatus(connection.status)
        await _audit(
            session,
            connection,
            result=result,
            before=before,
            detail=detail,
            provider_status=provider_status,
            actor_user_id=actor_user_id,
            actor_type=actor_type,
        )
    if status is not before:
        log.warning(
            "connection.check_changed_status",
            connection_id=str(connection_id),
            provider=provider,
            result=result.value,
            status=status.value,
        )
    return CheckOutcome(
        connection_id=connection_id,
        organization_id=organization_id,
        provider=provider,
        external_account_id=account,
        ok=result is CheckResult.ACCEPTED,
        result=result,
        status=status.value,
        detail=detail,
        checked_at=checked_at,
        provider_status=provider_status,
    )


def _needs_reauth(connection: Connection, detail: str) -> None:
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.status_reason = detail[:MAX_REASON]
    connection.next_refresh_at = None
    refresh.forget(connection.id)


async def _audit(
    session: AsyncSession,
    connection: Connection,
    *,
    result: CheckResult,
    before: ConnectionStatus,
    detail: str,
    provider_status: int | None,
    actor_user_id: uuid.UUID | None,
    actor_type: str,
) -> None:
    await audit.record(
        session,
        organization_id=connection.organization_id,
        action=AUDIT_ACTION,
        actor_user_id=actor_user_id,
        actor_type=actor_type,
        target_type="connection",
        target_id=str(connection.id),
        data={
            "provider": connection.provider,
            "result": result.value,
            "status_before": before.value,
            "status": ConnectionStatus(connection.status).value,
            "provider_status": provider_status,
            "detail": detail,
        },
    )
