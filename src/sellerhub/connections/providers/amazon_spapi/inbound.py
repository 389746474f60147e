"""SP-API Fulfillment Inbound v0 as a connection: inbound shipments and the quantities shipped
and received per item, which the inventory ledger cannot give (its ``Receipts`` say what
arrived, not what was sent) and which "received short" claims compare.

- ``iter_shipments(..., marketplace_id, *, updated_after, updated_before, statuses=("CLOSED",))``
  yields the raw ``ShipmentData`` entries (``getShipments``, ``QueryType=DATE_RANGE``, then
  ``NEXT_TOKEN`` pages);
- ``get_shipment_items(..., shipment_id, marketplace_id) -> list[ShipmentItem]``
  (``getShipmentItemsByShipmentId``).

Both usage plans are 2 requests per second, burst 30: a bucket per connection and operation at
90 % of it, on top of the provider client's 429 retries. Answers are wrapped in ``payload``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from sellerhub.connections import client
from sellerhub.connections.providers.amazon_spapi.reports import (
    MalformedReportAnswer,
    ReportRefused,
    ReportThrottled,
    error_text,
)
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.errors import UpstreamUnavailable

SHIPMENTS_PATH = "fba/inbound/v0/shipments"
RATE_PER_SECOND = 2.0
BURST = 30.0
PACE = 0.9
MAX_PAGES = 10_000

_buckets: dict[tuple[uuid.UUID, str], client.TokenBucket] = {}


def bucket_for(connection_id: uuid.UUID, operation: str) -> client.TokenBucket:
    return _buckets.setdefault(
        (connection_id, operation), client.TokenBucket(rate=RATE_PER_SECOND * PACE, burst=BURST)
    )


@dataclass(frozen=True)
class ShipmentItem:
    shipment_id: str
    seller_sku: str
    fnsku: str
    quantity_shipped: int
    quantity_received: int

    @classmethod
    def parse(cls, item: Any) -> ShipmentItem:
        try:
            shipped, received = item["QuantityShipped"], item.get("QuantityReceived", 0)
            if not all(isinstance(q, int) and not isinstance(q, bool) for q in (shipped, received)):
                raise TypeError
            return cls(
                str(item["ShipmentId"]),
                str(item["SellerSKU"]),
                str(item.get("FulfillmentNetworkSKU") or ""),
                shipped,
                received,
            )
        except (KeyError, TypeError, AttributeError):
            raise MalformedReportAnswer(
                "an inbound shipment item lacks its ids or counts"
            ) from None


def _payload(response: httpx.Response, operation: str) -> dict[str, Any]:
    status = response.status_code
    if status == 429:
        raise ReportThrottled(f"Amazon is still throttling {operation}")
    if status >= 500:
        raise UpstreamUnavailable(f"Amazon answered {status} to {operation}")
    if status != 200:
        raise ReportRefused(f"{operation} was refused ({status}): {error_text(response)}")
    try:
        payload = json.loads(response.content)["payload"]
    except (ValueError, KeyError, TypeError):
        raise MalformedReportAnswer(f"{operation} answered no payload") from None
    if not isinstance(payload, dict):
        raise MalformedReportAnswer(f"{operation} answered no payload object")
    return payload


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def iter_shipments(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    marketplace_id: str,
    *,
    updated_after: datetime,
    updated_before: datetime,
    statuses: Sequence[str] = ("CLOSED",),
) -> AsyncIterator[dict[str, Any]]:
    """Every shipment in those statuses last updated in the period, page after page."""
    params = [
        ("MarketplaceId", marketplace_id),
        ("QueryType", "DATE_RANGE"),
        ("ShipmentStatusList", ",".join(statuses)),
        ("LastUpdatedAfter", _iso(updated_after)),
        ("LastUpdatedBefore", _iso(updated_before)),
    ]
    for _ in range(MAX_PAGES):
        response = await client.call(
            ctx,
            organization_id,
            connection_id,
            client.ProviderCall("GET", SHIPMENTS_PATH, params),
            quota=bucket_for(connection_id, "getShipments"),
        )
        payload = _payload(response, "getShipments")
        shipments = payload.get("ShipmentData") or []
        if not isinstance(shipments, list):
            raise MalformedReportAnswer("ShipmentData is not a list")
        for shipment in shipments:
            if isinstance(shipment, dict) and shipment.get("ShipmentId"):
                yield shipment
        token = payload.get("NextToken")
        if not isinstance(token, str) or not token:
            return
        params = [
            ("MarketplaceId", marketplace_id),
            ("QueryType", "NEXT_TOKEN"),
            ("NextToken", token),
        ]
    raise MalformedReportAnswer(f"getShipments gave more than {MAX_PAGES} pages")


async def get_shipment_items(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    shipment_id: str,
    marketplace_id: str,
) -> list[ShipmentItem]:
    if not shipment_id.isalnum() or len(shipment_id) > 40:
        raise ReportRefused("not an inbound shipment id")
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall(
            "GET", f"{SHIPMENTS_PATH}/{shipment_id}/items", [("MarketplaceId", marketplace_id)]
        ),
        quota=bucket_for(connection_id, "getShipmentItemsByShipmentId"),
    )
    items = _payload(response, "getShipmentItemsByShipmentId").get("ItemData") or []
    if not isinstance(items, list):
        raise MalformedReportAnswer("ItemData is not a list")
    return [ShipmentItem.parse(item) for item in items]
