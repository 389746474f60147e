"""The report types sellerhub reads for FBA reimbursement claims and their exact columns: the
keys of every row ``reports.iter_report_rows`` yields (Amazon's names, as in the file's header).

Sources:

- ``GET_LEDGER_DETAIL_VIEW_DATA``: SP-API "FBA Inventory reports attributes" (Date, FNSKU, ASIN,
  MSKU, Title, Event Type, Reference ID, Quantity, Fulfillment Center, Disposition, Reason,
  Country, Reconciled Quantity, Unreconciled Quantity), and the downloaded file's header, which
  spells them with spaces, quotes every field and ends with "Date and Time" (reference-next.md
  §4.1; Seller Central help "Inventory Ledger report", field table "Date, FNSKU, ASIN, MSKU,
  Title, Event type, Reference ID, Quantity, Fulfillment center, Disposition, Reason, Country").
  Event types: Shipments, Receipts, CustomerReturns, Adjustments, WhseTransfers, VendorReturns.
  ``Reason`` carries the adjustment code of ``ADJUSTMENT_REASONS``.
- ``GET_FBA_REIMBURSEMENTS_DATA``: SP-API "FBA Payments reports attributes" (providers.md §1.6,
  reference-next.md §4.1).
- ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA``: SP-API "FBA Customer Concessions reports
  attributes" (reference-next.md §4.1 lists the same without product-name, which the
  attributes page has).

Amazon says the returned fields "may vary" with the marketplace and region: the parser keys rows
by the header it reads, and ``missing_columns`` says which of these a file lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

LEDGER_DETAIL: Final = "GET_LEDGER_DETAIL_VIEW_DATA"
REIMBURSEMENTS: Final = "GET_FBA_REIMBURSEMENTS_DATA"
CUSTOMER_RETURNS: Final = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"

LEDGER_DETAIL_COLUMNS: Final = (
    "Date",
    "FNSKU",
    "ASIN",
    "MSKU",
    "Title",
    "Event Type",
    "Reference ID",
    "Quantity",
    "Fulfillment Center",
    "Disposition",
    "Reason",
    "Country",
    "Reconciled Quantity",
    "Unreconciled Quantity",
    "Date and Time",
)

REIMBURSEMENTS_COLUMNS: Final = (
    "approval-date",
    "reimbursement-id",
    "case-id",
    "amazon-order-id",
    "reason",
    "sku",
    "fnsku",
    "asin",
    "product-name",
    "condition",
    "currency-unit",
    "amount-per-unit",
    "amount-total",
    "quantity-reimbursed-cash",
    "quantity-reimbursed-inventory",
    "quantity-reimbursed-total",
    "original-reimbursement-id",
    "original-reimbursement-type",
)

CUSTOMER_RETURNS_COLUMNS: Final = (
    "return-date",
    "order-id",
    "sku",
    "asin",
    "fnsku",
    "product-name",
    "quantity",
    "fulfillment-center-id",
    "detailed-disposition",
    "reason",
    "status",
    "license-plate-number",
    "customer-comments",
)

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    LEDGER_DETAIL: LEDGER_DETAIL_COLUMNS,
    REIMBURSEMENTS: REIMBURSEMENTS_COLUMNS,
    CUSTOMER_RETURNS: CUSTOMER_RETURNS_COLUMNS,
}

# Ledger event types (the "Event Type" column).
LEDGER_EVENT_TYPES: Final = (
    "Shipments",
    "Receipts",
    "CustomerReturns",
    "Adjustments",
    "WhseTransfers",
    "VendorReturns",
)

# Inventory adjustment reason codes (the ledger's "Reason" of Adjustments): Seller Central help
# "Adjustment types and reason codes" (a copy: gist tspicer/006f51f798b9803bf0b0ef3fc93b4266),
# reference-next.md §4.1. The sign is the usual direction of the quantity.
ADJUSTMENT_REASONS: Final[dict[str, str]] = {
    "M": "Inventory misplaced (-): lost in the fulfillment center",
    "5": "Unrecoverable inventory (-): lost",
    "F": "Inventory found (+)",
    "N": "Transferring ownership / inventory found (+)",
    "E": "Damaged at Amazon fulfillment center (-): a sellable decrease, followed by P",
    "6": "Damaged at Amazon fulfillment center (-): a carrier-damaged decrease, followed by P",
    "7": "Damaged at Amazon fulfillment center (-): an expired decrease, followed by P",
    "H": "Damaged at Amazon fulfillment center (-): a customer-damaged decrease, followed by P",
    "K": "Damaged at Amazon fulfillment center (-): a defective decrease, followed by P",
    "U": "Damaged at Amazon fulfillment center (-): a distributor-damaged decrease, followed by P",
    "P": "Damaged at Amazon fulfillment center (+): the warehouse-damaged increase",
    "Q": "Damaged - miscellaneous (-)",
    "D": "Disposed of (-)",
    "O": "Inventory correction",
}
LOST_REASONS: Final = frozenset({"M", "5"})
FOUND_REASONS: Final = frozenset({"F", "N"})
WAREHOUSE_DAMAGE_REASONS: Final = frozenset({"E", "6", "7", "H", "K", "U"})


def missing_columns(report_type: str, header: Iterable[str]) -> list[str]:
    """The documented columns of ``report_type`` that ``header`` lacks, in documented order."""
    present = set(header)
    return [name for name in COLUMNS.get(report_type, ()) if name not in present]
