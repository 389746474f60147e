"""SP-API Finances v0 ``listFinancialEvents`` as a connection: the refund events of a period
(``GET /finances/v0/financialEvents?PostedAfter=&PostedBefore=&MaxResultsPerPage=&NextToken=``;
the Finances v0 model, ``RefundEventList`` of ``ShipmentEvent``).

Usage plan 0.5 requests per second, burst 30: a token bucket per connection at 90 % of it, on
top of the provider client's 429 retries. ``PostedBefore`` must be at least two minutes before
now (the model), so it defaults to now minus ``POSTED_BEFORE_LAG``. Pages follow ``NextToken``
until Amazon gives none.

Money stays exact: the body is parsed with every JSON number that has a fraction kept as the
decimal text Amazon sent (``"-19.99"``, never a float), which ``commerce.money.to_minor``
turns into integer minor units with the currency's exponent (``commerce/claims/normalise``
does it; this package is a layer below commerce and cannot import it). ``RefundEvent`` is a
typed view with ``Decimal`` amounts for callers that want one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerhub.connections import client
from sellerhub.connections.providers.amazon_spapi.reports import (
    MalformedReportAnswer,
    ReportRefused,
    ReportThrottled,
    error_text,
)
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.errors import UpstreamUnavailable

PATH = "finances/v0/financialEvents"
RATE_PER_SECOND = 0.5
BURST = 30.0
PACE = 0.9
POSTED_BEFORE_LAG = timedelta(minutes=3)
MAX_PAGES = 10_000

_buckets: dict[uuid.UUID, client.TokenBucket] = {}


def bucket_for(connection_id: uuid.UUID) -> client.TokenBucket:
    return _buckets.setdefault(
        connection_id, client.TokenBucket(rate=RATE_PER_SECOND * PACE, burst=BURST)
    )


@dataclass(frozen=True)
class Charge:
    charge_type: str
    amount: Decimal  # as Amazon sent it: negative is money back to the customer
    currency: str


@dataclass(frozen=True)
class RefundItem:
    seller_sku: str
    quantity: int
    order_adjustment_item_id: str | None
    charges: tuple[Charge, ...]

    @property
    def principal(self) -> Decimal:
        """The item's Principal adjustments summed (negative: refunded)."""
        return sum((c.amount for c in self.charges if c.charge_type == "Principal"), Decimal(0))


@dataclass(frozen=True)
class RefundEvent:
    amazon_order_id: str
    posted_date: datetime
    marketplace_name: str | None
    items: tuple[RefundItem, ...]

    @classmethod
    def parse(cls, event: dict[str, Any]) -> RefundEvent:
        """A typed view of one raw ``RefundEventList`` entry; ``MalformedReportAnswer`` when
        it lacks the order id, the posted date or an item's SKU."""
        try:
            order_id = event["AmazonOrderId"]
            posted = datetime.fromisoformat(str(event["PostedDate"]).replace("Z", "+00:00"))
            items = []
            for item in event.get("ShipmentItemAdjustmentList") or []:
                charges = tuple(
                    Charge(
                        str(c["ChargeType"]),
                        Decimal(str(c["ChargeAmount"]["CurrencyAmount"])),
                        str(c["ChargeAmount"]["CurrencyCode"]),
                    )
                    for c in item.get("ItemChargeAdjustmentList") or []
                )
                quantity = item.get("QuantityShipped", 0)
                if isinstance(quantity, bool) or not isinstance(quantity, int):
                    raise TypeError("QuantityShipped")
                items.append(
                    RefundItem(
                        str(item["SellerSKU"]),
                        quantity,
                        item.get("OrderAdjustmentItemId"),
                        charges,
                    )
                )
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
            raise MalformedReportAnswer("a refund event lacks its order, date or items") from None
        if not isinstance(order_id, str) or not order_id:
            raise MalformedReportAnswer("a refund event has no AmazonOrderId")
        if posted.tzinfo is None:
            posted = posted.replace(tzinfo=UTC)
        marketplace = event.get("MarketplaceName")
        return cls(
            order_id, posted, marketplace if isinstance(marketplace, str) else None, tuple(items)
        )


@dataclass(frozen=True)
class FinancesPage:
    refund_events: list[dict[str, Any]]
    next_token: str | None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def list_financial_events_page(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    posted_after: datetime,
    posted_before: datetime | None = None,
    page_size: int = 100,
    next_token: str | None = None,
) -> FinancesPage:
    """One page of ``listFinancialEvents``: its raw refund events (exact decimal texts)."""
    if not 1 <= page_size <= 100:
        raise ValueError("MaxResultsPerPage is 1 to 100")
    before = posted_before or datetime.now(UTC) - POSTED_BEFORE_LAG
    params = [
        ("MaxResultsPerPage", str(page_size)),
        ("PostedAfter", _iso(posted_after)),
        ("PostedBefore", _iso(before)),
    ]
    if next_token:
        params.append(("NextToken", next_token))
    response = await client.call(
        ctx,
        organization_id,
        connection_id,
        client.ProviderCall("GET", PATH, params),
        quota=bucket_for(connection_id),
    )
    status = response.status_code
    if status == 429:
        raise ReportThrottled("Amazon is still throttling listFinancialEvents")
    if status >= 500:
        raise UpstreamUnavailable(f"Amazon answered {status} to listFinancialEvents")
    if status != 200:
        raise ReportRefused(f"listFinancialEvents was refused ({status}): {error_text(response)}")
    try:
        body = json.loads(response.content, parse_float=str)
        payload = body["payload"]
        events = payload.get("FinancialEvents") or {}
        refunds = events.get("RefundEventList") or []
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MalformedReportAnswer("listFinancialEvents answered no payload") from None
    if not isinstance(refunds, list):
        raise MalformedReportAnswer("RefundEventList is not a list")
    token = payload.get("NextToken")
    return FinancesPage(
        [e for e in refunds if isinstance(e, dict)],
        token if isinstance(token, str) and token else None,
    )


async def iter_refund_events(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    *,
    posted_after: datetime,
    posted_before: datetime | None = None,
    page_size: int = 100,
) -> AsyncIterator[dict[str, Any]]:
    """Every refund event posted in [posted_after, posted_before), page after page, as the raw
    ``ShipmentEvent`` dicts (``CurrencyAmount`` as exact decimal text)."""
    before = posted_before or datetime.now(UTC) - POSTED_BEFORE_LAG
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await list_financial_events_page(
            ctx,
            organization_id,
            connection_id,
            posted_after=posted_after,
            posted_before=before,
            page_size=page_size,
            next_token=token,
        )
        for event in page.refund_events:
            yield event
        token = page.next_token
        if token is None:
            return
    raise MalformedReportAnswer(f"listFinancialEvents gave more than {MAX_PAGES} pages")
