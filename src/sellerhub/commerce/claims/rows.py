"""Normalised report rows, the input of the detection rules (``rules.py``).

Each class is one row of an Amazon source, with Amazon's strings kept as they are (codes,
dispositions, reasons) and every number made exact: quantities are signed ``int``s, money is
integer minor units of its currency (``commerce.money``), days are ``datetime.date``. They are
built by ``normalise.py`` from the dicts the SP-API reports client yields (keyed by Amazon's TSV
column names), or by the caller where the source is not a report (``Refund`` from the Finances
API, ``ShippedItem`` from the Fulfillment Inbound API, ``SalePrice`` from the orders).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class ClaimKind(StrEnum):
    """What Amazon owes, one kind per detection rule (and per row of ``windows.WINDOWS``)."""

    WAREHOUSE_LOST = "warehouse_lost"
    WAREHOUSE_DAMAGED = "warehouse_damaged"
    CUSTOMER_RETURN = "customer_return"
    INBOUND_SHORTAGE = "inbound_shortage"
    REIMBURSED_BELOW_VALUE = "reimbursed_below_value"


class ValueSource(StrEnum):
    """Where an estimated value comes from. Since 2025-03-10 Amazon reimburses lost and damaged
    units at their (estimated) manufacturing cost, so what Amazon itself paid for the same FNSKU
    is the better predictor and is preferred; the sale price is the fallback."""

    REIMBURSEMENT_HISTORY = "reimbursement_history"
    SALE_PRICE = "sale_price"


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One row of ``GET_LEDGER_DETAIL_VIEW_DATA`` (the Inventory Ledger, detailed view).

    ``quantity`` is signed as Amazon writes it (a lost unit is -1, a found one +1). ``reason`` is
    the adjustment reason code of ``Adjustments`` rows (``M`` misplaced, ``F`` found, ``E``
    damaged at the fulfillment center, ...), empty for other events. ``reference_id`` is the
    adjustment's transaction id, or the inbound shipment id of a ``Receipts`` row.
    ``reconciled_quantity``/``unreconciled_quantity`` are Amazon's own account of a loss
    (``None`` when the report has no such column or the cell is empty)."""

    date: dt.date
    fnsku: str
    asin: str
    msku: str
    title: str
    event_type: str
    reference_id: str
    quantity: int
    fulfillment_center: str
    disposition: str
    reason: str
    country: str
    reconciled_quantity: int | None = None
    unreconciled_quantity: int | None = None
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Reimbursement:
    """One row of ``GET_FBA_REIMBURSEMENTS_DATA``. A reversal is a row of its own (reason
    ``Reimbursement_Reversal``, negative amounts or quantities) naming the reimbursement it
    reverses in ``original_reimbursement_id``."""

    approval_date: dt.date
    reimbursement_id: str
    case_id: str
    amazon_order_id: str
    reason: str
    sku: str
    fnsku: str
    asin: str
    condition: str
    currency: str
    amount_per_unit_minor: int
    amount_total_minor: int
    quantity_cash: int
    quantity_inventory: int
    quantity_total: int
    original_reimbursement_id: str = ""
    original_reimbursement_type: str = ""

    @property
    def is_reversal(self) -> bool:
        return (
            "reversal" in self.reason.lower()
            or "reversal" in self.original_reimbursement_type.lower()
            or self.amount_total_minor < 0
            or self.quantity_total < 0
        )


@dataclass(frozen=True, slots=True)
class CustomerReturn:
    """One row of ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``: a unit that came back to a
    fulfillment center, under the FNSKU Amazon scanned (which may differ from the one sold)."""

    return_date: dt.date
    order_id: str
    sku: str
    asin: str
    fnsku: str
    quantity: int
    fulfillment_center_id: str
    detailed_disposition: str
    reason: str
    status: str
    license_plate_number: str


@dataclass(frozen=True, slots=True)
class Refund:
    """One refunded order item: a ``ShipmentItem`` of a ``RefundEventList`` entry of the Finances
    API (``listFinancialEvents``). ``amount_minor`` is what the customer got back for the item's
    principal, as a positive number (Amazon books it as a negative charge adjustment);
    ``country`` comes from the event's ``MarketplaceName`` when known."""

    order_id: str
    sku: str
    posted_date: dt.date
    quantity: int
    amount_minor: int
    currency: str
    country: str = ""


@dataclass(frozen=True, slots=True)
class ShippedItem:
    """What the seller sent in one inbound shipment for one FNSKU, from the Fulfillment Inbound
    API (``QuantityShipped`` of the shipment's items; the shipment's status ``CLOSED`` and the
    day it was seen closed; the carrier's delivery day when known)."""

    shipment_id: str
    sku: str
    fnsku: str
    quantity_shipped: int
    closed_on: dt.date | None
    delivered_on: dt.date | None = None
    country: str = ""


@dataclass(frozen=True, slots=True)
class InboundShipment:
    """Shipped against received for one shipment and FNSKU: ``ShippedItem`` joined with the
    ledger's ``Receipts`` rows whose Reference ID is the shipment id (``normalise.inbound``).
    ``delivered_on`` is the carrier's delivery day, or else the first receipt's day (the
    earliest sign of arrival the ledger gives)."""

    shipment_id: str
    sku: str
    fnsku: str
    asin: str
    shipped_quantity: int
    received_quantity: int
    delivered_on: dt.date | None
    closed_on: dt.date | None
    country: str


@dataclass(frozen=True, slots=True)
class SalePrice:
    """The price a unit sells for (the seller's average selling price, from the orders)."""

    sku: str
    unit_price_minor: int
    currency: str
    fnsku: str = ""


@dataclass(frozen=True, slots=True)
class ItemValue:
    """The estimated value of one unit of an item, and where the estimate comes from."""

    sku: str
    fnsku: str
    value_minor: int
    currency: str
    source: ValueSource


Evidence = LedgerEvent | Reimbursement | CustomerReturn | Refund | InboundShipment
