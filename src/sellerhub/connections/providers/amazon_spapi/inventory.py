"""FBA Inventory API v1 ``getInventorySummaries`` (providers.md §1.5, ``fbaInventory.json``):
``GET /fba/inventory/v1/summaries?details=true&granularityType=Marketplace&granularityId=<id>
&marketplaceIds=<id>[&nextToken=...]``, one marketplace per call.

The documented usage plan is 2 requests per second with a burst of 2, per selling partner and
application; every attempt (the provider client's 429 retries included) waits on a token bucket
per connection for this operation, so a sync never spends the seller's quota faster than Amazon
refills it.
The bucket refills at 90 % of the documented rate: paced at exactly 2/s, a request that meets
less network delay than the one before it reaches Amazon's bucket a little early and is
throttled. A 429 (``QuotaExceeded``, no ``Retry-After``) is retried by the provider
client after an exponential backoff; 5xx and other answers are returned for the caller to judge
(``InventoryPage.parse`` reads a 200, ``error_text`` the ``ErrorList`` of the others). A
``nextToken`` expires 30 s after it was issued: an expired one answers 400 ``InvalidInput``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from sellerhub.connections import client
from sellerhub.connections.refresh import RefreshContext

PATH = "fba/inventory/v1/summaries"
RATE_PER_SECOND = 2.0  # fbaInventory.json usage plan
BURST = 2.0
PACE = 0.9  # of the documented rate (see above)

_buckets: dict[uuid.UUID, client.TokenBucket] = {}


def bucket_for(connection_id: uuid.UUID) -> client.TokenBucket:
    """The connection's ``getInventorySummaries`` quota (per selling partner and app)."""
    return _buckets.setdefault(
        connection_id, client.TokenBucket(rate=RATE_PER_SECOND * PACE, burst=BURST)
    )


class MalformedAnswer(ValueError):
    """A 200 whose body is not an ``GetInventorySummariesResponse``."""


@dataclass(frozen=True)
class InventoryPage:
    marketplace_id: str
    summaries: list[dict[str, Any]]
    next_token: str | None

    @classmethod
    def parse(cls, marketplace_id: str, response: httpx.Response) -> InventoryPage:
        try:
            body = response.json()
        except ValueError:
            raise MalformedAnswer("the inventory answer is not JSON") from None
        payload = body.get("payload") if isinstance(body, dict) else None
        found = payload.get("inventorySummaries") if isinstance(payload, dict) else None
        if not isinstance(found, list):
            raise MalformedAnswer("the inventory answer has no payload.inventorySummaries")
        pagination = body.get("pagination")
        token = pagination.get("nextToken") if isinstance(pagination, dict) else None
        return cls(
            marketplace_id=marketplace_id,
            summaries=[s for s in found if isinstance(s, dict)],
            next_token=token if isinstance(token, str) and token else None,
        )


def error_text(response: httpx.Response) -> str:
    """``code: message`` of the first entry of an SP-API ``ErrorList`` (bounded)."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        return f"{first.get('code')}: {first.get('message')}"[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        return response.reason_phrase


async def get_inventory_summaries(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    marketplace_id: str,
    *,
    next_token: str | None = None,
    details: bool = True,
) -> httpx.Response:
    """One page of the marketplace's FBA inventory summaries, as the connection."""
    params = [
        ("details", "true" if details else "false"),
        ("granularityType", "Marketplace"),
        ("granularityId", marketplace_id),
        ("marketplaceIds", marketplace_id),
    ]
    if next_token:
        params.append(("nextToken", next_token))
    return await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall("GET", PATH, params),
        quota=bucket_for(connection_id),
    )
