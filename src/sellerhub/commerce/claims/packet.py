"""The claim packet: the message a seller pastes into Seller Central's case form (what, how
many units, FNSKU/ASIN, dates, value, the evidence summarised), and the evidence rows as CSV to
attach. Pure functions of a stored claim."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, Final

from sellerhub.commerce.claims.models import Claim
from sellerhub.commerce.claims.rows import ClaimKind
from sellerhub.commerce.money import exponent

_WHAT: Final[dict[str, str]] = {
    ClaimKind.WAREHOUSE_LOST.value: "units lost in an Amazon fulfillment center and not found",
    ClaimKind.WAREHOUSE_DAMAGED.value: "units damaged in an Amazon fulfillment center",
    ClaimKind.CUSTOMER_RETURN.value: "units refunded to a customer but not returned to inventory",
    ClaimKind.INBOUND_SHORTAGE.value: "units of an inbound shipment that were not received",
    ClaimKind.REIMBURSED_BELOW_VALUE.value: "units reimbursed below their value",
}
_REFERENCE: Final[dict[str, str]] = {
    ClaimKind.WAREHOUSE_LOST.value: "Inventory ledger reference ID",
    ClaimKind.WAREHOUSE_DAMAGED.value: "Inventory ledger reference ID",
    ClaimKind.CUSTOMER_RETURN.value: "Order ID",
    ClaimKind.INBOUND_SHORTAGE.value: "Shipment ID",
    ClaimKind.REIMBURSED_BELOW_VALUE.value: "Reimbursement ID",
}
_ASK: Final[dict[str, str]] = {
    ClaimKind.WAREHOUSE_LOST.value: "Please investigate and reimburse the units that were not "
    "found or returned to my inventory.",
    ClaimKind.WAREHOUSE_DAMAGED.value: "Please reimburse the units damaged while in Amazon's "
    "custody.",
    ClaimKind.CUSTOMER_RETURN.value: "The customer was refunded and the return window has "
    "passed without the item coming back to my inventory (or a different item came back). "
    "Please reimburse the units.",
    ClaimKind.INBOUND_SHORTAGE.value: "The shipment is closed and fewer units were received "
    "than were shipped. Please reconcile the shipment and reimburse the missing units.",
    ClaimKind.REIMBURSED_BELOW_VALUE.value: "The amount paid is below what Amazon paid for the "
    "same item over the past year. Please review the reimbursement and pay the difference.",
}
_VALUE_SOURCE: Final[dict[str, str]] = {
    "reimbursement_history": "the median Amazon reimbursed for this item over the past year",
    "sale_price": "the item's sale price",
}


def money(minor: int | None, currency: str | None) -> str:
    """``1999, "USD"`` → ``"19.99 USD"``; exact (integer arithmetic, no float)."""
    if minor is None or currency is None:
        return "unknown"
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**places)
    return f"{sign}{whole}.{part:0{places}d} {currency}" if places else f"{sign}{whole} {currency}"


def subject(claim: Claim) -> str:
    return (
        f"Reimbursement request: {claim.quantity} {_WHAT[str(claim.kind)]} "
        f"(FNSKU {claim.fnsku or claim.sku})"
    )


def summary(row: dict[str, Any]) -> str:
    kind = row.get("type", "")
    if kind == "LedgerEvent":
        code = f", reason {row.get('reason')}" if row.get("reason") else ""
        return (
            f"{row.get('date')}: ledger {row.get('event_type')} of {row.get('quantity')} "
            f"unit(s) at {row.get('fulfillment_center')}{code}, reference "
            f"{row.get('reference_id')}, disposition {row.get('disposition')}"
        )
    if kind == "Reimbursement":
        return (
            f"{row.get('approval_date')}: reimbursement {row.get('reimbursement_id')} "
            f"({row.get('reason')}) of {row.get('quantity_total')} unit(s), "
            f"{money(row.get('amount_total_minor'), row.get('currency'))}"
            + (
                f", reverses {row.get('original_reimbursement_id')}"
                if row.get("original_reimbursement_id")
                else ""
            )
        )
    if kind == "Refund":
        return (
            f"{row.get('posted_date')}: refund of order {row.get('order_id')}, "
            f"{row.get('quantity')} unit(s) of SKU {row.get('sku')}, "
            f"{money(row.get('amount_minor'), row.get('currency'))}"
        )
    if kind == "CustomerReturn":
        return (
            f"{row.get('return_date')}: return of order {row.get('order_id')}, "
            f"{row.get('quantity')} unit(s) of FNSKU {row.get('fnsku')} "
            f"({row.get('detailed_disposition')}, {row.get('status')})"
        )
    if kind == "InboundShipment":
        return (
            f"shipment {row.get('shipment_id')}: {row.get('shipped_quantity')} shipped, "
            f"{row.get('received_quantity')} received (closed {row.get('closed_on')}, "
            f"delivered {row.get('delivered_on')})"
        )
    return ", ".join(f"{k} {v}" for k, v in row.items() if k != "type")


def text(claim: Claim) -> str:
    """The message, in the words a seller pastes into the case form."""
    kind = str(claim.kind)
    lines = [
        subject(claim),
        "",
        "Hello,",
        "",
        f"I am requesting a reimbursement for {claim.quantity} {_WHAT[kind]}.",
        "",
        f"SKU: {claim.sku or '-'}",
        f"FNSKU: {claim.fnsku or '-'}",
        f"ASIN: {claim.asin or '-'}",
        f"{_REFERENCE[kind]}: {claim.reference or '-'}",
        f"Units: {claim.quantity}",
        f"Date of the event: {claim.event_date.isoformat()}",
    ]
    if claim.value_minor is not None:
        source = _VALUE_SOURCE.get(claim.value_source or "", "an estimate")
        lines.append(f"Estimated value: {money(claim.value_minor, claim.currency)} ({source})")
    if claim.country:
        lines.append(f"Marketplace: {claim.country}")
    lines += ["", "Evidence:"]
    evidence: Sequence[dict[str, Any]] = claim.evidence
    lines += [f"- {summary(row)}" for row in evidence] or ["- (none recorded)"]
    lines += [
        "",
        _ASK[kind],
        f"This claim is within Amazon's filing window (eligible from "
        f"{claim.eligible_from.isoformat()}, deadline {claim.deadline.isoformat()}).",
        "",
        "Thank you.",
    ]
    return "\n".join(lines) + "\n"


def evidence_csv(claim: Claim) -> str:
    """The evidence rows as CSV: the row type first, then every field any row has, in the order
    they first appear (a row lacking a field leaves its cell empty). A cell starting with
    ``=``, ``+``, ``-`` or ``@`` that is not a number is prefixed with ``'`` so a spreadsheet
    does not run it as a formula."""
    columns: dict[str, None] = {"type": None}
    for row in claim.evidence:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in claim.evidence:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value
