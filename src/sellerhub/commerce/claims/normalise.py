"""Report rows (dicts keyed by Amazon's exact column names) into ``rows`` dataclasses.

A value that cannot be read raises ``BadReportValue`` naming the report, the column and the
value, never a bare ``ValueError``: one bad row of a million must say where it is. The report
types and their column lists are the reports client's (``amazon_spapi.report_columns``, which a
test keeps equal to the emulator's); this module adds which columns may be missing.

Sources of the column lists (seen 2026-11-30):

- ``GET_LEDGER_DETAIL_VIEW_DATA``: SP-API "FBA Inventory reports attributes"
  (developer-docs.amazon.com/sp-api/docs/fba-inventory-reports-attributes) lists Date, FNSKU,
  ASIN, MSKU, Title, EventType, ReferenceID, Quantity, FulfillmentCenter, Disposition, Reason,
  Country, ReconciledQuantity, UnreconciledQuantity; the downloaded file spells them with spaces
  and adds "Date and Time" (and lately "Store"), as parsers of real exports read them. Date is
  written MM/DD/YYYY, Date and Time as ISO 8601 with an offset.
- ``GET_FBA_REIMBURSEMENTS_DATA``: SP-API "FBA Payments reports attributes"; approval-date is
  ISO 8601 with an offset.
- ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``: SP-API "FBA Customer Concessions reports
  attributes".
- Refunds: Finances API v0 ``listFinancialEvents``, ``RefundEventList`` of ``ShipmentEvent``
  (``AmazonOrderId``, ``MarketplaceName``, ``PostedDate``, ``ShipmentItemAdjustmentList`` of
  ``ShipmentItem``: ``SellerSKU``, ``QuantityShipped``, ``ItemChargeAdjustmentList`` of
  ``ChargeComponent`` {``ChargeType``, ``ChargeAmount`` {``CurrencyCode``, ``CurrencyAmount``}}).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

from sellerhub.commerce.claims.rows import (
    CustomerReturn,
    InboundShipment,
    LedgerEvent,
    Refund,
    Reimbursement,
    SalePrice,
    ShippedItem,
)
from sellerhub.commerce.claims.windows import country_of
from sellerhub.commerce.money import to_minor
from sellerhub.connections.providers.amazon_spapi import report_columns as columns
from sellerhub.core.errors import ValidationFailed

# The client's report types and column lists, under the names detection has always used.
LEDGER_DETAIL: Final = columns.LEDGER_DETAIL
REIMBURSEMENTS: Final = columns.REIMBURSEMENTS
CUSTOMER_RETURNS: Final = columns.CUSTOMER_RETURNS
LEDGER_DETAIL_COLUMNS: Final = columns.LEDGER_DETAIL_COLUMNS
REIMBURSEMENTS_COLUMNS: Final = columns.REIMBURSEMENTS_COLUMNS
CUSTOMER_RETURNS_COLUMNS: Final = columns.CUSTOMER_RETURNS_COLUMNS
FINANCES_REFUNDS: Final = "listFinancialEvents RefundEventList"

# Columns older or regional files may lack; a missing one reads as empty.
LEDGER_DETAIL_OPTIONAL: Final = frozenset(
    {"Reconciled Quantity", "Unreconciled Quantity", "Date and Time"}
)

REIMBURSEMENTS_OPTIONAL: Final = frozenset(
    {"product-name", "original-reimbursement-id", "original-reimbursement-type"}
)

# customer-comments is free text written by a buyer: never read, never stored by detection.
CUSTOMER_RETURNS_OPTIONAL: Final = frozenset(
    {"product-name", "license-plate-number", "customer-comments"}
)

# Quantities beyond this are malformed input, not stock (PostgreSQL integer with room to sum).
MAX_QUANTITY: Final = 10**9
_VALUE_SHOWN: Final = 60


class BadReportValue(ValidationFailed):
    """A report row has a missing column or a value that cannot be read. ``report``,
    ``column`` and ``value`` (cut to 60 characters) say which; ``errors`` carries the column as
    the ``field`` of every 422."""

    code = "claims-report-value"
    title = "A report row has a value that cannot be read"

    def __init__(self, report: str, column: str, value: object, problem: str) -> None:
        shown = "" if value is None else str(value)[:_VALUE_SHOWN]
        super().__init__(
            f"{report}: column {column!r} {problem} (value {shown!r})",
            report=report,
            column=column,
            value=shown,
            errors=[{"field": column, "message": problem}],
        )
        self.report = report
        self.column = column


def _cell(report: str, row: Mapping[str, Any], column: str, optional: frozenset[str]) -> str:
    if column not in row:
        if column in optional:
            return ""
        raise BadReportValue(report, column, None, "is missing")
    value = row[column]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadReportValue(report, column, value, "is not text")
    return value.strip()


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def _datetime(report: str, column: str, raw: str) -> dt.datetime:
    text = raw.replace(" UTC", "+00:00").replace(" ", "T", 1) if " " in raw else raw
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            value = dt.datetime.fromisoformat(_OFFSET_NO_COLON.sub(r"\1:\2", text))
        except ValueError:
            raise BadReportValue(report, column, raw, "is not a date and time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _date(report: str, column: str, raw: str) -> dt.date:
    """``MM/DD/YYYY`` (the ledger), ``YYYY-MM-DD``, or an ISO date and time (its own day, in
    the offset Amazon wrote: the marketplace's day)."""
    if not raw:
        raise BadReportValue(report, column, raw, "is empty")
    match = _US_DATE.match(raw)
    if match:
        month, day, year = (int(part) for part in match.groups())
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise BadReportValue(report, column, raw, "is not a calendar day") from None
    if len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise BadReportValue(report, column, raw, "is not a date") from None
    return _datetime(report, column, raw).date()


def _int(report: str, column: str, raw: str, *, empty: int | None = None) -> int:
    if not raw:
        if empty is None:
            raise BadReportValue(report, column, raw, "is empty")
        return empty
    try:
        value = int(raw)
    except ValueError:
        raise BadReportValue(report, column, raw, "is not a whole number") from None
    if abs(value) > MAX_QUANTITY:
        raise BadReportValue(report, column, raw, "is out of range")
    return value


def _optional_int(report: str, column: str, raw: str) -> int | None:
    return None if not raw else _int(report, column, raw)


_DECIMAL_COMMA = re.compile(r"^-?\d+,\d{1,2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _currency(report: str, column: str, raw: str) -> str:
    if not _CURRENCY.match(raw):
        raise BadReportValue(report, column, raw, "is not an ISO 4217 currency code")
    return raw


def _minor(report: str, column: str, raw: str, currency: str) -> int:
    """A decimal amount in minor units. A decimal comma (``4,10``, as a localised download
    writes) is read only where it cannot be a thousands separator (one or two digits after it)."""
    if not raw:
        raise BadReportValue(report, column, raw, "is empty")
    text = raw.replace(",", ".") if _DECIMAL_COMMA.match(raw) else raw
    try:
        return to_minor(Decimal(text), currency)
    except (ArithmeticError, ValueError, ValidationFailed):
        raise BadReportValue(report, column, raw, f"is not an amount in {currency}") from None


_LEDGER_REQUIRED: Final = frozenset(LEDGER_DETAIL_COLUMNS) - LEDGER_DETAIL_OPTIONAL
# The ledger events detection reads: adjustments (lost, found, damaged) and receipts (what an
# inbound shipment received). Shipments, customer returns and transfers are most of a ledger.
DETECTION_EVENT_TYPES: Final = frozenset({"Adjustments", "Receipts"})


def _cells(
    report: str, row: Mapping[str, Any], columns: tuple[str, ...], required: frozenset[str]
) -> list[str]:
    """Every column's text, stripped, in ``columns`` order (one pass: the ledger has millions)."""
    missing = required - row.keys()
    if missing:
        raise BadReportValue(report, min(missing, key=columns.index), None, "is missing")
    out = []
    for column in columns:
        value = row.get(column)
        if value is None:
            out.append("")
        elif isinstance(value, str):
            out.append(value.strip())
        else:
            raise BadReportValue(report, column, value, "is not text")
    return out


def ledger_event(row: Mapping[str, Any]) -> LedgerEvent:
    """One ``GET_LEDGER_DETAIL_VIEW_DATA`` row."""
    r = LEDGER_DETAIL
    (
        date,
        fnsku,
        asin,
        msku,
        title,
        event_type,
        reference_id,
        quantity,
        fulfillment_center,
        disposition,
        reason,
        country,
        reconciled,
        unreconciled,
        occurred,
    ) = _cells(r, row, LEDGER_DETAIL_COLUMNS, _LEDGER_REQUIRED)
    return LedgerEvent(
        date=_date(r, "Date", date),
        fnsku=fnsku,
        asin=asin,
        msku=msku,
        title=title,
        event_type=event_type,
        reference_id=reference_id,
        quantity=_int(r, "Quantity", quantity),
        fulfillment_center=fulfillment_center,
        disposition=disposition,
        reason=reason,
        country=country.upper(),
        reconciled_quantity=_optional_int(r, "Reconciled Quantity", reconciled),
        unreconciled_quantity=_optional_int(r, "Unreconciled Quantity", unreconciled),
        occurred_at=_datetime(r, "Date and Time", occurred) if occurred else None,
    )


def ledger_events(
    rows: Iterable[Mapping[str, Any]], *, event_types: frozenset[str] = DETECTION_EVENT_TYPES
) -> Iterator[LedgerEvent]:
    """The rows of ``event_types`` normalised, the others skipped unread (a row without an
    Event Type column is read, so that it fails naming the column)."""
    for row in rows:
        kind = row.get("Event Type")
        if isinstance(kind, str) and kind.strip() not in event_types:
            continue
        yield ledger_event(row)


def reimbursement(row: Mapping[str, Any]) -> Reimbursement:
    """One ``GET_FBA_REIMBURSEMENTS_DATA`` row."""
    r = REIMBURSEMENTS

    def cell(column: str) -> str:
        return _cell(r, row, column, REIMBURSEMENTS_OPTIONAL)

    currency = _currency(r, "currency-unit", cell("currency-unit").upper())
    reimbursement_id = cell("reimbursement-id")
    if not reimbursement_id:
        raise BadReportValue(r, "reimbursement-id", "", "is empty")
    cash = _int(r, "quantity-reimbursed-cash", cell("quantity-reimbursed-cash"), empty=0)
    inventory = _int(
        r, "quantity-reimbursed-inventory", cell("quantity-reimbursed-inventory"), empty=0
    )
    total_raw = cell("quantity-reimbursed-total")
    total = _int(r, "quantity-reimbursed-total", total_raw) if total_raw else cash + inventory
    if total != cash + inventory:
        raise BadReportValue(
            r,
            "quantity-reimbursed-total",
            total_raw,
            f"is not quantity-reimbursed-cash + quantity-reimbursed-inventory ({cash + inventory})",
        )
    per_unit_raw = cell("amount-per-unit")
    return Reimbursement(
        approval_date=_date(r, "approval-date", cell("approval-date")),
        reimbursement_id=reimbursement_id,
        case_id=cell("case-id"),
        amazon_order_id=cell("amazon-order-id"),
        reason=cell("reason"),
        sku=cell("sku"),
        fnsku=cell("fnsku"),
        asin=cell("asin"),
        condition=cell("condition"),
        currency=currency,
        amount_per_unit_minor=_minor(r, "amount-per-unit", per_unit_raw, currency)
        if per_unit_raw
        else 0,
        amount_total_minor=_minor(r, "amount-total", cell("amount-total"), currency),
        quantity_cash=cash,
        quantity_inventory=inventory,
        quantity_total=total,
        original_reimbursement_id=cell("original-reimbursement-id"),
        original_reimbursement_type=cell("original-reimbursement-type"),
    )


def customer_return(row: Mapping[str, Any]) -> CustomerReturn:
    """One ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA`` row (customer-comments is not read)."""
    r = CUSTOMER_RETURNS

    def cell(column: str) -> str:
        return _cell(r, row, column, CUSTOMER_RETURNS_OPTIONAL)

    order_id = cell("order-id")
    if not order_id:
        raise BadReportValue(r, "order-id", "", "is empty")
    quantity = _int(r, "quantity", cell("quantity"))
    if quantity < 0:
        raise BadReportValue(r, "quantity", str(quantity), "is negative")
    return CustomerReturn(
        return_date=_date(r, "return-date", cell("return-date")),
        order_id=order_id,
        sku=cell("sku"),
        asin=cell("asin"),
        fnsku=cell("fnsku"),
        quantity=quantity,
        fulfillment_center_id=cell("fulfillment-center-id"),
        detailed_disposition=cell("detailed-disposition"),
        reason=cell("reason"),
        status=cell("status"),
        license_plate_number=cell("license-plate-number"),
    )


def _field(event: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(event, Mapping) or name not in event:
        raise BadReportValue(FINANCES_REFUNDS, f"{where}{name}", None, "is missing")
    return event[name]


def refunds(event: Mapping[str, Any]) -> list[Refund]:
    """The refunded items of one ``RefundEventList`` entry (a Finances API ``ShipmentEvent``).

    The amount is the item's ``Principal`` charge adjustments (negative: money back to the
    customer) as a positive number; fees and taxes are not the item's value."""
    r = FINANCES_REFUNDS
    order_id = _field(event, "AmazonOrderId", "")
    posted = _field(event, "PostedDate", "")
    if not isinstance(order_id, str) or not order_id.strip():
        raise BadReportValue(r, "AmazonOrderId", order_id, "is empty")
    if not isinstance(posted, str):
        raise BadReportValue(r, "PostedDate", posted, "is not a date and time")
    posted_date = _datetime(r, "PostedDate", posted.strip()).date()
    marketplace = event.get("MarketplaceName")
    country = country_of(marketplace) if isinstance(marketplace, str) and marketplace else ""
    items = event.get("ShipmentItemAdjustmentList") or []
    if not isinstance(items, list):
        raise BadReportValue(r, "ShipmentItemAdjustmentList", items, "is not a list")
    out: list[Refund] = []
    for index, item in enumerate(items):
        where = f"ShipmentItemAdjustmentList[{index}]."
        sku = _field(item, "SellerSKU", where)
        if not isinstance(sku, str) or not sku.strip():
            raise BadReportValue(r, where + "SellerSKU", sku, "is empty")
        quantity = _field(item, "QuantityShipped", where)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise BadReportValue(r, where + "QuantityShipped", quantity, "is not a count")
        if quantity > MAX_QUANTITY:
            raise BadReportValue(r, where + "QuantityShipped", quantity, "is out of range")
        amount = 0
        currency = ""
        charges = item.get("ItemChargeAdjustmentList") or []
        if not isinstance(charges, list):
            raise BadReportValue(r, where + "ItemChargeAdjustmentList", charges, "is not a list")
        for c_index, charge in enumerate(charges):
            c_where = f"{where}ItemChargeAdjustmentList[{c_index}]."
            if _field(charge, "ChargeType", c_where) != "Principal":
                continue
            money = _field(charge, "ChargeAmount", c_where)
            code = _field(money, "CurrencyCode", c_where + "ChargeAmount.")
            if not isinstance(code, str):
                raise BadReportValue(r, c_where + "ChargeAmount.CurrencyCode", code, "is not text")
            code = _currency(r, c_where + "ChargeAmount.CurrencyCode", code.strip().upper())
            if currency and code != currency:
                raise BadReportValue(
                    r, c_where + "ChargeAmount.CurrencyCode", code, f"differs from {currency}"
                )
            currency = code
            raw = _field(money, "CurrencyAmount", c_where + "ChargeAmount.")
            if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
                raise BadReportValue(
                    r, c_where + "ChargeAmount.CurrencyAmount", raw, "is not a number"
                )
            # Decimal text as the Finances client keeps it; a float's shortest repr is the
            # decimal Amazon sent.
            amount += _minor(r, c_where + "ChargeAmount.CurrencyAmount", str(raw).strip(), code)
        if not currency:
            continue  # no principal refunded for this item (a fee-only adjustment)
        out.append(
            Refund(
                order_id=order_id.strip(),
                sku=sku.strip(),
                posted_date=posted_date,
                quantity=quantity,
                amount_minor=-amount,
                currency=currency,
                country=country,
            )
        )
    return out


def inbound(shipped: Iterable[ShippedItem], ledger: Iterable[LedgerEvent]) -> list[InboundShipment]:
    """Shipped against received per shipment and FNSKU. Received is the sum of the ledger's
    ``Receipts`` quantities whose Reference ID is the shipment id; ``delivered_on`` is the
    carrier's delivery day when the shipment has one, else the first receipt's day."""
    received: dict[tuple[str, str], int] = defaultdict(int)
    first: dict[tuple[str, str], dt.date] = {}
    asins: dict[str, str] = {}
    for event in ledger:
        if event.asin:
            asins.setdefault(event.fnsku, event.asin)
        if event.event_type != "Receipts" or not event.reference_id:
            continue
        key = (event.reference_id, event.fnsku)
        received[key] += event.quantity
        if key not in first or event.date < first[key]:
            first[key] = event.date
    out: list[InboundShipment] = []
    for item in shipped:
        key = (item.shipment_id, item.fnsku)
        out.append(
            InboundShipment(
                shipment_id=item.shipment_id,
                sku=item.sku,
                fnsku=item.fnsku,
                asin=asins.get(item.fnsku, ""),
                shipped_quantity=item.quantity_shipped,
                received_quantity=received.get(key, 0),
                delivered_on=item.delivered_on or first.get(key),
                closed_on=item.closed_on,
                country=item.country,
            )
        )
    return out


def sale_prices(refunds: Iterable[Refund]) -> list[SalePrice]:
    """What a unit of each SKU sold for, read off the refunds (the principal the customer paid
    and got back for the item, per unit): the median per SKU and currency, the lower middle
    value of an even count. The prices Amazon's claims value when no reimbursement history
    exists for the item (``rules.valuation``); a refund of no units or no money says nothing."""
    per_unit: dict[tuple[str, str], list[int]] = defaultdict(list)
    for refund in refunds:
        if refund.quantity > 0 and refund.amount_minor > 0 and refund.sku:
            per_unit[refund.sku, refund.currency].append(refund.amount_minor // refund.quantity)
    prices = []
    for (sku, currency), amounts in sorted(per_unit.items()):
        amounts.sort()
        prices.append(SalePrice(sku, amounts[(len(amounts) - 1) // 2], currency))
    return prices
