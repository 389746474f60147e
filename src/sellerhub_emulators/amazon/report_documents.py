"""Report documents as Amazon writes them: tab-separated text, a header line of Amazon's column
names, one line per row, ``\\n`` line ends, UTF-8. The inventory ledger quotes every field in
double quotes (as Seller Central's ledger downloads do); the FBA flat files do not.

The column lists below are Amazon's; the client's
``connections/providers/amazon_spapi/report_columns.py`` holds the same lists with their
sources, and ``tests/test_spapi_reports.py`` keeps the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sellerhub_emulators.amazon.reports_data import (
    History,
    LedgerEvent,
    Reimbursement,
    ledger_lines,
    money_text,
)

LEDGER_DETAIL = "GET_LEDGER_DETAIL_VIEW_DATA"
REIMBURSEMENTS = "GET_FBA_REIMBURSEMENTS_DATA"
CUSTOMER_RETURNS = "GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA"
REPORT_TYPES = (LEDGER_DETAIL, REIMBURSEMENTS, CUSTOMER_RETURNS)

LEDGER_DETAIL_COLUMNS = (
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
REIMBURSEMENTS_COLUMNS = (
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
CUSTOMER_RETURNS_COLUMNS = (
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


def _plain(values: Iterable[str]) -> bytes:
    return ("\t".join(v.replace("\t", " ").replace("\n", " ") for v in values) + "\n").encode()


def _quoted(values: Iterable[str]) -> bytes:
    cells = ('"' + v.replace('"', '""').replace("\t", " ").replace("\n", " ") + '"' for v in values)
    return ("\t".join(cells) + "\n").encode()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def reimbursement_cells(r: Reimbursement, currency: str) -> tuple[str, ...]:
    """One ``GET_FBA_REIMBURSEMENTS_DATA`` line's cells, in ``REIMBURSEMENTS_COLUMNS`` order."""
    p = r.product
    return (
        _stamp(r.approval),
        r.reimbursement_id,
        r.case_id,
        r.order_id,
        r.reason,
        p.sku,
        p.fnsku,
        p.asin,
        p.title,
        r.condition,
        currency,
        money_text(r.amount_per_unit, currency),
        money_text(r.amount_per_unit * r.quantity_cash, currency),
        str(r.quantity_cash),
        str(r.quantity_inventory),
        str(r.quantity_cash + r.quantity_inventory),
        r.original_id,
        r.original_type,
    )


def render(
    report_type: str,
    histories: list[History],
    start: datetime,
    end: datetime,
    ledger_rows: int,
) -> Iterator[bytes]:
    if report_type == LEDGER_DETAIL:
        yield _quoted(LEDGER_DETAIL_COLUMNS)
        for history in histories:

            def line(e: LedgerEvent, country: str = history.country) -> bytes:
                p = e.product
                return _quoted(
                    (
                        e.moment.strftime("%m/%d/%Y"),
                        p.fnsku,
                        p.asin,
                        p.sku,
                        p.title,
                        e.event_type,
                        e.reference,
                        str(e.quantity),
                        e.fc,
                        e.disposition,
                        e.reason,
                        country,
                        str(e.reconciled),
                        str(e.unreconciled),
                        _stamp(e.moment),
                    )
                )

            yield from ledger_lines(history, start, end, ledger_rows, line)
    elif report_type == REIMBURSEMENTS:
        yield _plain(REIMBURSEMENTS_COLUMNS)
        for history in histories:
            for r in history.reimbursements:
                if not start <= r.approval < end:
                    continue
                yield _plain(reimbursement_cells(r, history.currency))
    elif report_type == CUSTOMER_RETURNS:
        yield _plain(CUSTOMER_RETURNS_COLUMNS)
        for history in histories:
            for c in history.returns:
                if not start <= c.moment < end:
                    continue
                p = c.product
                yield _plain(
                    (
                        _stamp(c.moment),
                        c.order_id,
                        p.sku,
                        p.asin,
                        p.fnsku,
                        p.title,
                        str(c.quantity),
                        c.fc,
                        c.disposition,
                        c.reason,
                        c.status,
                        c.lpn,
                        c.comments,
                    )
                )
    else:  # pragma: no cover - createReport refuses other types
        raise ValueError(report_type)
