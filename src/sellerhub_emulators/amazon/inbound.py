"""Fulfillment Inbound v0: the seller's inbound shipments and their items with the quantities
shipped and received (what the inventory ledger's ``Receipts`` cannot say: how many were sent).

- ``GET /fba/inbound/v0/shipments?MarketplaceId=&QueryType=DATE_RANGE&ShipmentStatusList=
  CLOSED&LastUpdatedAfter=&LastUpdatedBefore=`` (or ``QueryType=SHIPMENT&ShipmentIdList=``, or
  ``QueryType=NEXT_TOKEN&NextToken=``) → ``{"payload": {"ShipmentData": [...], "NextToken"}}``,
  ``INBOUND_PAGE_SIZE`` shipments a page, oldest update first.
- ``GET /fba/inbound/v0/shipments/{shipmentId}/items?MarketplaceId=`` → ``{"payload":
  {"ItemData": [{"ShipmentId", "SellerSKU", "FulfillmentNetworkSKU", "QuantityShipped",
  "QuantityReceived", "QuantityInCase"}]}}``.

The shipments are those of the seeded history (``reports_data``): every one ``CLOSED``, last
updated the day it closed; the planted short ones received fewer units than were shipped.
Usage plans (the v0 model): 2 requests per second, burst 30, each; 429 ``QuotaExceeded``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon import spapi_errors as e
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.reports_data import InboundShipment
from sellerhub_emulators.amazon.spapi import SellerGrant, authenticate
from sellerhub_emulators.amazon.state import AmazonEmulator

STATUSES = (
    "WORKING",
    "READY_TO_SHIP",
    "SHIPPED",
    "RECEIVING",
    "CANCELLED",
    "DELETED",
    "CLOSED",
    "ERROR",
    "IN_TRANSIT",
    "DELIVERED",
    "CHECKED_IN",
)


class Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _list(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _time(raw: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"Invalid {name}: not an ISO 8601 date-time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _marketplace(request: Request, grant: SellerGrant) -> str:
    marketplace_id = request.query_params.get("MarketplaceId", "").strip()
    if not marketplace_id:
        raise Invalid("Missing required parameter: MarketplaceId")
    if marketplace_id not in MARKETPLACES or marketplace_id not in grant.marketplace_ids:
        raise Invalid(f"Invalid MarketplaceId: {marketplace_id[:40]}")
    return marketplace_id


def shipment_wire(shipment: InboundShipment) -> dict[str, Any]:
    return {
        "ShipmentId": shipment.shipment_id,
        "ShipmentName": f"FBA ({shipment.closed:%m/%d/%Y}) - {shipment.product.sku}",
        "ShipFromAddress": {
            "Name": "Emulated Seller warehouse",
            "AddressLine1": "1 Warehouse Way",
            "City": "Seattle",
            "StateOrProvinceCode": "WA",
            "CountryCode": "US",
            "PostalCode": "98109",
        },
        "DestinationFulfillmentCenterId": shipment.fc,
        "ShipmentStatus": "CLOSED",
        "LabelPrepType": "SELLER_LABEL",
        "AreCasesRequired": False,
        "BoxContentsSource": "FEED",
    }


def add_inbound_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    async def gate(endpoint: str, request: Request) -> SellerGrant | Response:
        blocked = await emulator.enter(endpoint)
        if blocked is not None:
            return blocked
        return authenticate(emulator, request)

    @router.get(c.INBOUND_SHIPMENTS_PATH)
    async def get_shipments(request: Request) -> Response:
        """``getShipments`` (v0)."""
        grant = await gate(c.ENDPOINT_INBOUND_SHIPMENTS, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_INBOUND_SHIPMENTS)
        params = request.query_params
        try:
            marketplace_id = _marketplace(request, grant)
            query_type = params.get("QueryType", "").strip()
            key_base = (grant.client_id, grant.selling_partner_id, f"inbound|{marketplace_id}")
            if query_type == "NEXT_TOKEN":
                token = params.get("NextToken", "").strip()
                if not token:
                    raise Invalid("NextToken is required when QueryType is NEXT_TOKEN")
                query = emulator.inbound_queries.get(token)
                if query is None:
                    raise Invalid("The NextToken is invalid or has expired.")
                resolved = emulator.inbound_cursors.resolve(token, (*key_base, query[0], None))
                if isinstance(resolved, str):
                    raise Invalid(resolved)
                filter_key, offset = query[0], resolved
                statuses, ids, after, before = query[1]
            elif query_type in ("SHIPMENT", "DATE_RANGE"):
                offset = 0
                statuses = tuple(_list(request, "ShipmentStatusList"))
                ids = tuple(_list(request, "ShipmentIdList"))
                if any(s not in STATUSES for s in statuses):
                    raise Invalid("Invalid ShipmentStatusList")
                if not statuses and not ids:
                    raise Invalid("ShipmentStatusList or ShipmentIdList is required")
                after = before = None
                if query_type == "DATE_RANGE":
                    if "LastUpdatedAfter" not in params or "LastUpdatedBefore" not in params:
                        raise Invalid(
                            "LastUpdatedAfter and LastUpdatedBefore are required for DATE_RANGE"
                        )
                    after = _time(params["LastUpdatedAfter"], "LastUpdatedAfter")
                    before = _time(params["LastUpdatedBefore"], "LastUpdatedBefore")
                    if after > before:
                        raise Invalid("LastUpdatedAfter must be before LastUpdatedBefore")
                filter_key = f"{statuses}|{ids}|{after}|{before}"
            else:
                raise Invalid("QueryType must be SHIPMENT, DATE_RANGE or NEXT_TOKEN")
        except Invalid as exc:
            return e.invalid_input(exc.message, rate_limit=rate)
        history = emulator.reports.history(grant.selling_partner_id, marketplace_id)
        found = [
            s
            for s in sorted(history.inbound, key=lambda s: (s.closed, s.shipment_id))
            if (not statuses or "CLOSED" in statuses)
            and (not ids or s.shipment_id in ids)
            and (after is None or s.closed >= after)
            and (before is None or s.closed <= before)
        ]
        size = c.INBOUND_PAGE_SIZE
        payload: dict[str, Any] = {
            "ShipmentData": [shipment_wire(s) for s in found[offset : offset + size]]
        }
        if offset + size < len(found):
            token = emulator.inbound_cursors.issue((*key_base, filter_key, None), offset + size)
            emulator.inbound_queries[token] = (filter_key, (statuses, ids, after, before))
            payload["NextToken"] = token
        headers = {"x-amzn-RequestId": e.request_id()}
        if rate is not None:
            headers["x-amzn-RateLimit-Limit"] = e.rate_limit_header(rate)
        return JSONResponse({"payload": payload}, headers=headers)

    @router.get(c.INBOUND_SHIPMENTS_PATH + "/{shipment_id}/items")
    async def get_shipment_items(shipment_id: str, request: Request) -> Response:
        """``getShipmentItemsByShipmentId`` (v0)."""
        grant = await gate(c.ENDPOINT_INBOUND_SHIPMENT_ITEMS, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_INBOUND_SHIPMENT_ITEMS)
        try:
            marketplace_id = _marketplace(request, grant)
        except Invalid as exc:
            return e.invalid_input(exc.message, rate_limit=rate)
        history = emulator.reports.history(grant.selling_partner_id, marketplace_id)
        items = [s for s in history.inbound if s.shipment_id == shipment_id]
        if not items:
            return e.invalid_input(f"Invalid ShipmentId: {shipment_id[:40]}", rate_limit=rate)
        body = {
            "payload": {
                "ItemData": [
                    {
                        "ShipmentId": s.shipment_id,
                        "SellerSKU": s.product.sku,
                        "FulfillmentNetworkSKU": s.product.fnsku,
                        "QuantityShipped": s.shipped,
                        "QuantityReceived": s.received,
                        "QuantityInCase": 0,
                    }
                    for s in items
                ]
            }
        }
        headers = {"x-amzn-RequestId": e.request_id()}
        if rate is not None:
            headers["x-amzn-RateLimit-Limit"] = e.rate_limit_header(rate)
        return JSONResponse(body, headers=headers)
