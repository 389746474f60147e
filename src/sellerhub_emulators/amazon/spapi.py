"""SP-API operations (providers.md §1.3-§1.5): ``getMarketplaceParticipations`` and
``getInventorySummaries``.

Authentication: the LWA access token in ``x-amz-access-token`` (a SigV4 ``Authorization`` header
is ignored, as the real service does since Oct 2023). The token must come from a website
authorization (a ``spapi_oauth_code`` exchange or its refreshes); it acts for the selling partner
and the marketplaces chosen on the consent page. Failures are 403 ``Unauthorized`` with the
observed ``details``: missing token, expired token, revoked/unknown token, or a token that is not
a selling-partner authorization (an LWA sign-in, Ads or grantless token; details empty).

Every response carries ``x-amzn-RequestId``; 200/400 carry ``x-amzn-RateLimit-Limit`` when the
endpoint has a rate limit (``inventory_summaries`` has the documented 2/s, burst 2, by default).
A throttled call is 429 ``QuotaExceeded`` without that header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.amazon import constants as c
from sellerhub_emulators.amazon import spapi_errors as e
from sellerhub_emulators.amazon.inventory import CursorKey, InventoryItem
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.state import AmazonEmulator, InventoryRequest
from sellerhub_emulators.common.tokens import TokenKind, TokenStatus

# startDateTime: "no earlier than 18 months prior to the date and time when you call the API".
START_DATE_WINDOW = timedelta(days=548)


@dataclass(frozen=True, slots=True)
class SellerGrant:
    client_id: str
    selling_partner_id: str
    marketplace_ids: tuple[str, ...]


def authenticate(emulator: AmazonEmulator, request: Request) -> SellerGrant | Response:
    token = request.headers.get("x-amz-access-token", "").strip()
    if not token:
        return e.unauthorized(e.TOKEN_MISSING)
    found = emulator.tokens.lookup(token, TokenKind.ACCESS)
    if found.status is TokenStatus.EXPIRED:
        return e.unauthorized(e.TOKEN_EXPIRED)
    record = found.record
    if not found.valid or record is None:
        return e.unauthorized(e.TOKEN_INVALID)
    subject = record.subject or {}
    seller = subject.get("selling_partner_id")
    if c.SPAPI_AUTHORIZATION not in record.scopes or not seller:
        return e.unauthorized("")
    marketplaces = tuple(m for m in subject.get("marketplace_ids", "").split(",") if m)
    return SellerGrant(record.client_id, seller, marketplaces)


def _headers(rate_limit: float | None) -> dict[str, str]:
    headers = {"x-amzn-RequestId": e.request_id()}
    if rate_limit is not None:
        headers["x-amzn-RateLimit-Limit"] = e.rate_limit_header(rate_limit)
    return headers


# -- getMarketplaceParticipations -------------------------------------------------------------


def participations(grant: SellerGrant) -> list[dict[str, Any]]:
    return [
        {
            "marketplace": MARKETPLACES[marketplace_id].wire(),
            "participation": {"isParticipating": True, "hasSuspendedListings": False},
        }
        for marketplace_id in grant.marketplace_ids
        if marketplace_id in MARKETPLACES
    ]


# -- getInventorySummaries --------------------------------------------------------------------


class InvalidInput(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class InventoryQuery:
    marketplace_id: str
    details: bool
    start: datetime | None
    skus: tuple[str, ...] | None
    next_token: str | None

    def cursor_key(self, grant: SellerGrant) -> CursorKey:
        start = self.start.isoformat() if self.start is not None else None
        return (grant.client_id, grant.selling_partner_id, self.marketplace_id, start, self.skus)


def _list(params: QueryParams, name: str) -> list[str]:
    """An array query parameter: comma-separated (the models' default) and/or repeated."""
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _required(params: QueryParams, name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise InvalidInput(f"Missing required parameter: {name}")
    return value


def _parse_start(raw: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"Invalid startDateTime: {raw} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment < now - START_DATE_WINDOW:
        raise InvalidInput("startDateTime must be no earlier than 18 months before now")
    return moment


def parse_inventory_query(params: QueryParams, grant: SellerGrant, now: datetime) -> InventoryQuery:
    granularity_type = _required(params, "granularityType")
    if granularity_type != "Marketplace":
        raise InvalidInput(
            f"Invalid granularityType: {granularity_type}. The only valid value is Marketplace"
        )
    granularity_id = _required(params, "granularityId")
    marketplace_ids = _list(params, "marketplaceIds")
    if not marketplace_ids:
        raise InvalidInput("Missing required parameter: marketplaceIds")
    if len(marketplace_ids) > 1:
        raise InvalidInput("marketplaceIds accepts exactly one marketplace id")
    marketplace_id = marketplace_ids[0]
    if marketplace_id not in MARKETPLACES:
        raise InvalidInput(f"Invalid marketplaceIds: {marketplace_id}")
    if granularity_id != marketplace_id:
        raise InvalidInput("granularityId must be the marketplace id given in marketplaceIds")
    if marketplace_id not in grant.marketplace_ids:
        raise InvalidInput(
            f"The selling partner does not participate in marketplace {marketplace_id}"
        )
    details_raw = params.get("details", "false")
    if details_raw not in ("true", "false"):
        raise InvalidInput(f"Invalid details: {details_raw}. Use true or false")
    start_raw = params.get("startDateTime", "").strip()
    start = _parse_start(start_raw, now) if start_raw else None
    skus: tuple[str, ...] | None = None
    if start is None:  # with startDateTime, sellerSkus and sellerSku are ignored
        many = _list(params, "sellerSkus")
        if len(many) > c.MAX_SELLER_SKUS:
            raise InvalidInput(f"sellerSkus accepts at most {c.MAX_SELLER_SKUS} SKUs")
        single = params.get("sellerSku", "").strip()
        if many:
            skus = tuple(dict.fromkeys(many))
        elif single:
            skus = (single,)
    next_token = params.get("nextToken", "").strip() or None
    return InventoryQuery(marketplace_id, details_raw == "true", start, skus, next_token)


def select(items: Sequence[InventoryItem], query: InventoryQuery) -> list[InventoryItem]:
    if query.start is not None:
        start = query.start
        return [item for item in items if item.last_updated > start]
    if query.skus is not None:
        wanted = set(query.skus)
        return [item for item in items if item.seller_sku in wanted]
    return list(items)


def page_offset(emulator: AmazonEmulator, grant: SellerGrant, query: InventoryQuery) -> int:
    """Where the requested page starts: 0, or the offset its ``nextToken`` continues at."""
    if query.next_token is None:
        return 0
    resolved = emulator.cursors.resolve(query.next_token, query.cursor_key(grant))
    if isinstance(resolved, str):
        raise InvalidInput(resolved)
    return resolved


def inventory_page(
    emulator: AmazonEmulator, grant: SellerGrant, query: InventoryQuery, offset: int
) -> dict[str, Any]:
    items = select(emulator.inventory_of(grant.selling_partner_id, query.marketplace_id), query)
    size = emulator.inventory_page_size
    page = items[offset : offset + size]
    body: dict[str, Any] = {
        "payload": {
            "granularity": {
                "granularityType": "Marketplace",
                "granularityId": query.marketplace_id,
            },
            "inventorySummaries": [item.wire(details=query.details) for item in page],
        }
    }
    if offset + size < len(items):
        body["pagination"] = {
            "nextToken": emulator.cursors.issue(query.cursor_key(grant), offset + size)
        }
    return body


def _logged(
    emulator: AmazonEmulator,
    request: Request,
    response: Response,
    *,
    seller: str | None = None,
    page: int | None = None,
) -> Response:
    """Record the request in the emulator's inventory request log, then answer it."""
    params = request.query_params
    marketplaces = _list(params, "marketplaceIds")
    emulator.log_inventory_request(
        InventoryRequest(
            selling_partner_id=seller,
            marketplace_id=marketplaces[0] if marketplaces else None,
            next_token=params.get("nextToken", "").strip() or None,
            page=page,
            status=response.status_code,
        )
    )
    return response


def add_spapi_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    @router.get(c.MARKETPLACE_PARTICIPATIONS_PATH)
    async def marketplace_participations(request: Request) -> Response:
        """``getMarketplaceParticipations``: the marketplaces the seller authorized."""
        blocked = await emulator.enter(c.ENDPOINT_MARKETPLACE_PARTICIPATIONS)
        if blocked is not None:
            return blocked
        grant = authenticate(emulator, request)
        if isinstance(grant, Response):
            return grant
        rate = emulator.rate_limit_of(c.ENDPOINT_MARKETPLACE_PARTICIPATIONS)
        return JSONResponse({"payload": participations(grant)}, headers=_headers(rate))

    @router.get(c.INVENTORY_SUMMARIES_PATH)
    async def inventory_summaries(request: Request) -> Response:
        """``getInventorySummaries`` (v1): one page of FBA inventory summaries."""
        blocked = await emulator.enter(c.ENDPOINT_INVENTORY_SUMMARIES)
        if blocked is not None:
            return _logged(emulator, request, blocked)
        grant = authenticate(emulator, request)
        if isinstance(grant, Response):
            return _logged(emulator, request, grant)
        seller = grant.selling_partner_id
        rate = emulator.rate_limit_of(c.ENDPOINT_INVENTORY_SUMMARIES)
        try:
            query = parse_inventory_query(request.query_params, grant, emulator.wall_now())
            offset = page_offset(emulator, grant, query)
        except InvalidInput as exc:
            refused = e.invalid_input(exc.message, rate_limit=rate)
            return _logged(emulator, request, refused, seller=seller)
        number = offset // emulator.inventory_page_size + 1
        fault = emulator.take_page_fault(seller, query.marketplace_id, number)
        if fault is not None:
            failed = e.spapi_fault(fault)
            return _logged(emulator, request, failed, seller=seller, page=number)
        body = inventory_page(emulator, grant, query, offset)
        answer = JSONResponse(body, headers=_headers(rate))
        return _logged(emulator, request, answer, seller=seller, page=number)
