"""FBA claims: report rows normalised, Amazon's windows, and every detection rule (pure, no
database). Dates are counted from TODAY; "inside" and "outside" are the last day a claim can be
filed and the day after (or the first day and the day before)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sellerhub.commerce.claims import normalise, rules, windows
from sellerhub.commerce.claims.normalise import BadReportValue
from sellerhub.commerce.claims.rows import (
    ClaimKind,
    CustomerReturn,
    InboundShipment,
    LedgerEvent,
    Refund,
    Reimbursement,
    SalePrice,
    ShippedItem,
    ValueSource,
)

TODAY = dt.date(2026, 11, 30)


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


# --- builders -------------------------------------------------------------------------------------


def event(
    days_ago: int,
    quantity: int,
    reason: str = "M",
    *,
    fnsku: str = "X00LOST001",
    msku: str = "SKU-1",
    reference: str = "REF-1",
    event_type: str = "Adjustments",
    country: str = "US",
    unreconciled: int | None = None,
    fc: str = "ONT8",
) -> LedgerEvent:
    return LedgerEvent(
        date=ago(days_ago),
        fnsku=fnsku,
        asin="B0ASIN0001",
        msku=msku,
        title="Widget",
        event_type=event_type,
        reference_id=reference,
        quantity=quantity,
        fulfillment_center=fc,
        disposition="SELLABLE",
        reason=reason,
        country=country,
        unreconciled_quantity=unreconciled,
    )


def paid(
    days_ago: int,
    quantity: int,
    *,
    rid: str = "R-1",
    reason: str = "Lost_Warehouse",
    fnsku: str = "X00LOST001",
    sku: str = "SKU-1",
    per_unit: int = 1000,
    case_id: str = "",
    order_id: str = "",
    cash: bool = True,
    currency: str = "USD",
) -> Reimbursement:
    return Reimbursement(
        approval_date=ago(days_ago),
        reimbursement_id=rid,
        case_id=case_id,
        amazon_order_id=order_id,
        reason=reason,
        sku=sku,
        fnsku=fnsku,
        asin="B0ASIN0001",
        condition="NewItem",
        currency=currency,
        amount_per_unit_minor=per_unit,
        amount_total_minor=per_unit * quantity if cash else 0,
        quantity_cash=quantity if cash else 0,
        quantity_inventory=0 if cash else quantity,
        quantity_total=quantity,
    )


def reversal(
    days_ago: int, original: Reimbursement, quantity: int, *, rid: str = "R-REV"
) -> Reimbursement:
    return dataclasses.replace(
        original,
        approval_date=ago(days_ago),
        reimbursement_id=rid,
        reason="Reimbursement_Reversal",
        amount_total_minor=-original.amount_per_unit_minor * quantity,
        quantity_cash=-quantity,
        quantity_inventory=0,
        quantity_total=-quantity,
        original_reimbursement_id=original.reimbursement_id,
        original_reimbursement_type=original.reason,
    )


def refund(
    days_ago: int,
    *,
    order: str = "111-0000001-0000001",
    sku: str = "SKU-1",
    quantity: int = 1,
    amount: int = 2599,
    country: str = "US",
    currency: str = "USD",
) -> Refund:
    return Refund(order, sku, ago(days_ago), quantity, amount, currency, country)


def returned(
    days_ago: int,
    *,
    order: str = "111-0000001-0000001",
    sku: str = "SKU-1",
    fnsku: str = "X00LOST001",
    quantity: int = 1,
) -> CustomerReturn:
    return CustomerReturn(
        return_date=ago(days_ago),
        order_id=order,
        sku=sku,
        asin="B0ASIN0001",
        fnsku=fnsku,
        quantity=quantity,
        fulfillment_center_id="ONT8",
        detailed_disposition="SELLABLE",
        reason="NOT_AS_DESCRIBED",
        status="Unit returned to inventory",
        license_plate_number="LPN0001",
    )


def shipment(
    delivered_days_ago: int | None,
    *,
    shipped: int = 10,
    received: int = 8,
    closed_days_ago: int | None = 20,
    shipment_id: str = "FBA15ABCDEF",
) -> InboundShipment:
    return InboundShipment(
        shipment_id=shipment_id,
        sku="SKU-1",
        fnsku="X00LOST001",
        asin="B0ASIN0001",
        shipped_quantity=shipped,
        received_quantity=received,
        delivered_on=None if delivered_days_ago is None else ago(delivered_days_ago),
        closed_on=None if closed_days_ago is None else ago(closed_days_ago),
        country="US",
    )


NO_VALUES = rules.Valuation()


def lost(
    ledger: Sequence[LedgerEvent], paid_rows: Sequence[Reimbursement] = (), **kw: Any
) -> list[rules.Claim]:
    return rules.lost_in_warehouse(ledger, paid_rows, NO_VALUES, today=TODAY, **kw)


# --- normalisation --------------------------------------------------------------------------------


LEDGER_ROW = {
    "Date": "07/06/2026",
    "FNSKU": "X004XONY53",
    "ASIN": "B0G51NDRX4",
    "MSKU": "FB-COF-250",
    "Title": "Coffee 250g",
    "Event Type": "Adjustments",
    "Reference ID": "8451245872",
    "Quantity": "-2",
    "Fulfillment Center": "ACY1",
    "Disposition": "SELLABLE",
    "Reason": "M",
    "Country": "us",
    "Reconciled Quantity": "1",
    "Unreconciled Quantity": "1",
    "Date and Time": "2026-07-06T13:05:00-0700",
}

REIMBURSEMENT_ROW = {
    "approval-date": "2026-05-12T09:59:13+00:00",
    "reimbursement-id": "2951234567",
    "case-id": "17123456781",
    "amazon-order-id": "",
    "reason": "Lost_Warehouse",
    "sku": "FB-COF-250",
    "fnsku": "X004XONY53",
    "asin": "B0G51NDRX4",
    "product-name": "Coffee 250g",
    "condition": "NewItem",
    "currency-unit": "USD",
    "amount-per-unit": "12.34",
    "amount-total": "24.68",
    "quantity-reimbursed-cash": "2",
    "quantity-reimbursed-inventory": "0",
    "quantity-reimbursed-total": "2",
    "original-reimbursement-id": "",
    "original-reimbursement-type": "",
}

RETURN_ROW = {
    "return-date": "2026-09-01T10:22:33+00:00",
    "order-id": "112-1234567-7654321",
    "sku": "FB-COF-250",
    "asin": "B0G51NDRX4",
    "fnsku": "X004XONY53",
    "product-name": "Coffee 250g",
    "quantity": "1",
    "fulfillment-center-id": "ACY1",
    "detailed-disposition": "SELLABLE",
    "reason": "UNWANTED_ITEM",
    "status": "Unit returned to inventory",
    "license-plate-number": "LPNRR123456789",
    "customer-comments": "my name is Jane Doe, 1 Main St",
}


def test_column_tuples_are_amazons_and_a_row_of_them_parses() -> None:
    assert set(LEDGER_ROW) == set(normalise.LEDGER_DETAIL_COLUMNS)
    assert set(REIMBURSEMENT_ROW) == set(normalise.REIMBURSEMENTS_COLUMNS)
    assert set(RETURN_ROW) == set(normalise.CUSTOMER_RETURNS_COLUMNS)
    assert set(normalise.LEDGER_DETAIL_COLUMNS) >= normalise.LEDGER_DETAIL_OPTIONAL


def test_ledger_row_normalised() -> None:
    got = normalise.ledger_event(LEDGER_ROW)
    assert got.date == dt.date(2026, 7, 6)
    assert got.quantity == -2 and got.reason == "M" and got.country == "US"
    assert (got.reconciled_quantity, got.unreconciled_quantity) == (1, 1)
    assert got.occurred_at == dt.datetime(
        2026, 7, 6, 13, 5, tzinfo=dt.timezone(dt.timedelta(hours=-7))
    )
    # ISO dates as well, and older files without Amazon's reconciliation columns
    older = {
        k: v
        for k, v in LEDGER_ROW.items()
        if k not in {"Reconciled Quantity", "Unreconciled Quantity", "Date and Time"}
    }
    got = normalise.ledger_event({**older, "Date": "2026-07-06", "Store": ""})
    assert got.date == dt.date(2026, 7, 6)
    assert got.unreconciled_quantity is None and got.occurred_at is None


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("Quantity", "1.5", "not a whole number"),
        ("Quantity", "", "is empty"),
        ("Quantity", "99999999999", "out of range"),
        ("Date", "13/45/2026", "not a calendar day"),
        ("Date", "yesterday", "not a date and time"),
        ("Unreconciled Quantity", "x", "not a whole number"),
        ("Date and Time", "2026-07-06 noon", "not a date and time"),
    ],
)
def test_ledger_bad_value_names_its_column(column: str, value: str, words: str) -> None:
    with pytest.raises(BadReportValue) as caught:
        normalise.ledger_event({**LEDGER_ROW, column: value})
    error = caught.value
    assert error.column == column and error.report == "GET_LEDGER_DETAIL_VIEW_DATA"
    assert words in error.detail and repr(column) in error.detail
    problem = error.to_problem()
    assert problem["status"] == 422 and problem["column"] == column
    assert problem["errors"][0]["field"] == column
    assert problem["value"] == value[:60]


def test_ledger_events_reads_what_detection_uses() -> None:
    rows = [
        LEDGER_ROW,
        {**LEDGER_ROW, "Event Type": "Shipments", "Quantity": "not read"},
        {**LEDGER_ROW, "Event Type": "Receipts", "Quantity": "4"},
    ]
    assert [e.quantity for e in normalise.ledger_events(rows)] == [-2, 4]
    everything = frozenset({"Adjustments", "Receipts", "Shipments"})
    with pytest.raises(BadReportValue, match="'Quantity' is not a whole number"):
        list(normalise.ledger_events(rows, event_types=everything))
    with pytest.raises(BadReportValue, match="'Event Type' is missing"):
        list(normalise.ledger_events([{k: v for k, v in LEDGER_ROW.items() if k != "Event Type"}]))


def test_missing_required_column_is_named() -> None:
    row = {k: v for k, v in LEDGER_ROW.items() if k != "FNSKU"}
    with pytest.raises(BadReportValue, match="'FNSKU' is missing"):
        normalise.ledger_event(row)
    with pytest.raises(BadReportValue, match="'Quantity' is not text"):
        normalise.ledger_event({**LEDGER_ROW, "Quantity": 3})


def test_reimbursement_row_normalised_to_minor_units() -> None:
    got = normalise.reimbursement(REIMBURSEMENT_ROW)
    assert got.approval_date == dt.date(2026, 5, 12)
    assert (got.amount_per_unit_minor, got.amount_total_minor) == (1234, 2468)
    assert (got.quantity_cash, got.quantity_inventory, got.quantity_total) == (2, 0, 2)
    assert not got.is_reversal
    yen = normalise.reimbursement(
        {
            **REIMBURSEMENT_ROW,
            "currency-unit": "JPY",
            "amount-per-unit": "1200",
            "amount-total": "2400",
        }
    )
    assert (yen.amount_per_unit_minor, yen.amount_total_minor) == (1200, 2400)
    # a localised download's decimal comma, only where it cannot be a thousands separator
    euro = normalise.reimbursement(
        {
            **REIMBURSEMENT_ROW,
            "currency-unit": "EUR",
            "amount-per-unit": "4,10",
            "amount-total": "8,2",
        }
    )
    assert (euro.amount_per_unit_minor, euro.amount_total_minor) == (410, 820)
    reversed_row = normalise.reimbursement(
        {
            **REIMBURSEMENT_ROW,
            "reimbursement-id": "2959999999",
            "reason": "Reimbursement_Reversal",
            "amount-total": "-24.68",
            "quantity-reimbursed-cash": "-2",
            "quantity-reimbursed-total": "-2",
            "original-reimbursement-id": "2951234567",
            "original-reimbursement-type": "Lost_Warehouse",
        }
    )
    assert reversed_row.is_reversal and reversed_row.amount_total_minor == -2468


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("amount-total", "12.3.4", "not an amount in USD"),
        ("amount-total", "1,234", "not an amount in USD"),
        ("amount-total", "", "is empty"),
        ("amount-per-unit", "NaN", "not an amount in USD"),
        ("amount-total", "1e30", "not an amount in USD"),
        ("currency-unit", "US$", "ISO 4217"),
        ("quantity-reimbursed-total", "3", "is not quantity-reimbursed-cash"),
        ("quantity-reimbursed-cash", "two", "not a whole number"),
        ("approval-date", "", "is empty"),
        ("reimbursement-id", "", "is empty"),
    ],
)
def test_reimbursement_bad_value_names_its_column(column: str, value: str, words: str) -> None:
    with pytest.raises(BadReportValue) as caught:
        normalise.reimbursement({**REIMBURSEMENT_ROW, column: value})
    assert caught.value.column == column and words in caught.value.detail


def test_customer_return_row_normalised_without_the_customers_words() -> None:
    got = normalise.customer_return(RETURN_ROW)
    assert got.return_date == dt.date(2026, 9, 1) and got.quantity == 1
    assert got.license_plate_number == "LPNRR123456789"
    assert "Jane" not in repr(got)
    got = normalise.customer_return(
        {k: v for k, v in RETURN_ROW.items() if k not in {"customer-comments", "product-name"}}
    )
    assert got.order_id == "112-1234567-7654321"
    for column, value in [("quantity", "-1"), ("order-id", ""), ("return-date", "2026-02-30")]:
        with pytest.raises(BadReportValue) as caught:
            normalise.customer_return({**RETURN_ROW, column: value})
        assert caught.value.column == column


REFUND_EVENT: dict[str, Any] = {
    "AmazonOrderId": "111-7777777-0000001",
    "MarketplaceName": "Amazon.de",
    "PostedDate": "2026-09-15T08:00:00Z",
    "ShipmentItemAdjustmentList": [
        {
            "SellerSKU": "SKU-1",
            "QuantityShipped": 2,
            "ItemChargeAdjustmentList": [
                {
                    "ChargeType": "Principal",
                    "ChargeAmount": {"CurrencyCode": "EUR", "CurrencyAmount": -39.98},
                },
                {
                    "ChargeType": "Tax",
                    "ChargeAmount": {"CurrencyCode": "EUR", "CurrencyAmount": -7.6},
                },
            ],
        },
        {"SellerSKU": "SKU-FEE-ONLY", "QuantityShipped": 0, "ItemChargeAdjustmentList": []},
    ],
}


def test_refund_event_normalised() -> None:
    (got,) = normalise.refunds(REFUND_EVENT)
    assert got == Refund("111-7777777-0000001", "SKU-1", dt.date(2026, 9, 15), 2, 3998, "EUR", "DE")


def test_refund_amounts_as_decimal_text_or_numbers() -> None:
    item = REFUND_EVENT["ShipmentItemAdjustmentList"][0]
    for amount in ("-19.99", Decimal("-19.99"), -19.99):
        charge = {
            "ChargeType": "Principal",
            "ChargeAmount": {"CurrencyCode": "EUR", "CurrencyAmount": amount},
        }
        event = {
            **REFUND_EVENT,
            "ShipmentItemAdjustmentList": [{**item, "ItemChargeAdjustmentList": [charge]}],
        }
        assert [r.amount_minor for r in normalise.refunds(event)] == [1999]


def test_refund_bad_values_name_the_field() -> None:
    item = REFUND_EVENT["ShipmentItemAdjustmentList"][0]
    bad_quantity = {
        **REFUND_EVENT,
        "ShipmentItemAdjustmentList": [{**item, "QuantityShipped": "2"}],
    }
    with pytest.raises(BadReportValue) as caught:
        normalise.refunds(bad_quantity)
    assert caught.value.column == "ShipmentItemAdjustmentList[0].QuantityShipped"
    charge = {
        "ChargeType": "Principal",
        "ChargeAmount": {"CurrencyCode": "EUR", "CurrencyAmount": "abc"},
    }
    bad_amount = {
        **REFUND_EVENT,
        "ShipmentItemAdjustmentList": [{**item, "ItemChargeAdjustmentList": [charge]}],
    }
    with pytest.raises(BadReportValue) as caught:
        normalise.refunds(bad_amount)
    assert caught.value.column.endswith("ItemChargeAdjustmentList[0].ChargeAmount.CurrencyAmount")
    with pytest.raises(BadReportValue, match="'PostedDate' is missing"):
        normalise.refunds({k: v for k, v in REFUND_EVENT.items() if k != "PostedDate"})


def test_inbound_joins_shipped_items_with_ledger_receipts() -> None:
    ledger = [
        event(40, 5, "", event_type="Receipts", reference="FBA15ABCDEF"),
        event(38, 3, "", event_type="Receipts", reference="FBA15ABCDEF"),
        event(38, 4, "", event_type="Receipts", reference="FBA15OTHER"),
        event(30, -1, "M", reference="FBA15ABCDEF"),  # an adjustment, not a receipt
    ]
    shipped = [
        ShippedItem("FBA15ABCDEF", "SKU-1", "X00LOST001", 10, closed_on=ago(20)),
        ShippedItem("FBA15NONE", "SKU-1", "X00LOST001", 6, closed_on=None, delivered_on=ago(3)),
    ]
    first, second = normalise.inbound(shipped, ledger)
    assert (first.shipped_quantity, first.received_quantity) == (10, 8)
    assert first.delivered_on == ago(40) and first.asin == "B0ASIN0001"
    assert (second.received_quantity, second.delivered_on) == (0, ago(3))


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False))
def test_amounts_are_exact_minor_units(amount: Any) -> None:
    row = {**REIMBURSEMENT_ROW, "amount-total": str(amount)}
    assert normalise.reimbursement(row).amount_total_minor == int(amount * 100)


# --- windows --------------------------------------------------------------------------------------


def test_every_kind_has_a_fallback_window_with_a_source() -> None:
    for kind in ClaimKind:
        assert any(w.kind == kind and w.countries == windows.ANY for w in windows.WINDOWS)
    for w in windows.WINDOWS:
        assert "https://" in w.source and w.seen <= TODAY
        assert 0 <= w.opens_after_days < w.closes_after_days


def test_window_table_figures() -> None:
    day = dt.date(2026, 1, 10)
    assert windows.deadline(ClaimKind.WAREHOUSE_LOST, "US", day) == dt.date(2026, 3, 11)
    assert windows.deadline(
        ClaimKind.WAREHOUSE_DAMAGED, "A1PA6795UKMFR9", day
    ) == day + dt.timedelta(60)
    us = windows.window(ClaimKind.CUSTOMER_RETURN, "ATVPDKIKX0DER")
    assert (us.opens_after_days, us.closes_after_days, us.verified) == (60, 120, True)
    de = windows.window(ClaimKind.CUSTOMER_RETURN, "Amazon.de")
    assert (de.opens_after_days, de.closes_after_days) == (45, 105)
    assert windows.window(ClaimKind.CUSTOMER_RETURN, "uk") is windows.window(
        ClaimKind.CUSTOMER_RETURN, "GB"
    )
    jp = windows.window(ClaimKind.CUSTOMER_RETURN, "A1VC38T7YXB528")
    assert (jp.opens_after_days, jp.closes_after_days, jp.verified) == (60, 105, False)
    assert windows.window(ClaimKind.CUSTOMER_RETURN, "") is jp
    assert windows.eligible_from(ClaimKind.INBOUND_SHORTAGE, "US", day) == day + dt.timedelta(15)
    assert windows.deadline(ClaimKind.INBOUND_SHORTAGE, "US", day) == day + dt.timedelta(60)
    assert windows.country_of("Amazon.co.uk") == "GB" and windows.country_of("nowhere") == ""


# --- lost in a fulfillment center -----------------------------------------------------------------


def test_lost_window_boundaries() -> None:
    (inside,) = lost([event(60, -1)])
    assert inside.kind is ClaimKind.WAREHOUSE_LOST and inside.deadline == TODAY
    assert inside.quantity == 1 and inside.reference == "REF-1"
    assert lost([event(61, -1)]) == []
    # Amazon's own reimbursement gets a week before a claim is due
    (first_day,) = lost([event(rules.GRACE_DAYS, -1)])
    assert first_day.eligible_from == TODAY
    assert lost([event(rules.GRACE_DAYS - 1, -1)]) == []


def test_lost_then_found_is_not_claimed() -> None:
    assert lost([event(30, -2), event(20, 2, "F", reference="REF-F")]) == []
    (claim,) = lost([event(30, -3), event(20, 1, "N", reference="REF-F")])
    assert claim.quantity == 2 and len(claim.evidence) == 2
    # found long before the loss is another story
    (claim,) = lost([event(30, -2), event(40, 2, "F", reference="REF-F")])
    assert claim.quantity == 2
    # another FNSKU's found unit does not offset
    (claim,) = lost([event(30, -1), event(20, 1, "F", fnsku="X00OTHER01", reference="REF-F")])
    assert claim.quantity == 1


def test_amazons_unreconciled_quantity_caps_the_claim() -> None:
    (claim,) = lost([event(30, -3, unreconciled=1)])
    assert claim.quantity == 1
    assert lost([event(30, -3, unreconciled=0)]) == []


def test_reimbursed_loss_is_never_claimed() -> None:
    assert lost([event(30, -3)], [paid(25, 3)]) == []
    # inventory put back instead of cash counts the same
    assert lost([event(30, -3)], [paid(25, 3, cash=False)]) == []
    # reimbursed as damage rather than loss: still paid
    assert lost([event(30, -1)], [paid(25, 1, reason="Damaged_Warehouse")]) == []
    # by SKU when the reimbursement has no FNSKU
    assert lost([event(30, -1)], [paid(25, 1, fnsku="")]) == []


def test_reimbursement_of_another_kind_item_or_time_leaves_the_loss_claimable() -> None:
    assert len(lost([event(30, -1)], [paid(25, 1, fnsku="X00OTHER01", sku="SKU-2")])) == 1
    assert len(lost([event(30, -1)], [paid(25, 1, order_id="111-0000001-0000001")])) == 1
    assert len(lost([event(30, -1)], [paid(25, 1, reason="Lost_Inbound")])) == 1
    assert len(lost([event(30, -1)], [paid(30 + rules.MATCH_BEFORE_DAYS + 1, 1)])) == 1


def test_partial_reimbursement_leaves_the_rest_claimable() -> None:
    partial = paid(25, 1, per_unit=1500)
    (claim,) = rules.lost_in_warehouse(
        [event(30, -3)], [partial], rules.valuation([partial], today=TODAY), today=TODAY
    )
    assert claim.quantity == 2 and partial in claim.evidence
    assert (claim.value_minor, claim.currency) == (3000, "USD")
    assert claim.value_source is ValueSource.REIMBURSEMENT_HISTORY


def test_reversed_reimbursement_reopens_the_claim() -> None:
    original = paid(25, 3)
    (claim,) = lost([event(30, -3)], [original, reversal(10, original, 3)])
    assert claim.quantity == 3 and original in claim.evidence
    (claim,) = lost([event(30, -3)], [original, reversal(10, original, 1)])
    assert claim.quantity == 1
    # a cash clawback without a quantity takes back the units its amount paid for
    clawback = dataclasses.replace(
        reversal(10, original, 2), quantity_cash=0, quantity_total=0, amount_total_minor=-2000
    )
    (claim,) = lost([event(30, -3)], [original, clawback])
    assert claim.quantity == 2
    # a reversal of a reimbursement outside the reports changes nothing
    stray = reversal(10, paid(200, 5, rid="R-OLD"), 5)
    assert lost([event(30, -3)], [original, stray]) == []


def test_one_reimbursement_is_not_counted_twice() -> None:
    claims = lost(
        [event(30, -1, reference="A"), event(29, -1, reference="B")], [paid(25, 1), paid(25, 1)]
    )
    assert [c.quantity for c in claims] == [1]  # the same row twice is one reimbursement
    assert lost([event(30, -1, reference="A"), event(29, -1, reference="B")],
                [paid(25, 1), paid(24, 1, rid="R-2")]) == []  # fmt: skip


def test_exact_quantity_then_nearest_event_takes_the_reimbursement() -> None:
    claims = lost([event(40, -2, reference="A"), event(30, -1, reference="B")], [paid(29, 2)])
    assert [(c.reference, c.quantity) for c in claims] == [("B", 1)]


def test_reimbursement_of_the_filed_case_matches_whatever_its_date() -> None:
    (claim,) = lost([event(30, -2)])
    late = paid(30 + rules.MATCH_BEFORE_DAYS + 1, 2, case_id="17123456781")  # far from the loss
    assert lost([event(30, -2)], [late]) != []
    assert lost([event(30, -2)], [late], filed={claim.key: "17123456781"}) == []


def test_keys_are_stable_across_runs_and_overlapping_reports() -> None:
    ledger = [event(30, -1, reference="A"), event(20, -2, reference="B"), event(10, -1, "E")]
    first = lost(ledger)
    again = lost(list(reversed(ledger)) + ledger[:1])  # overlap: a row delivered twice
    assert [c.key for c in first] == [c.key for c in lost(ledger)]
    # a repeated identical row is a second event (the ledger has no event id) ...
    assert len({c.key for c in again}) == len(again) == 3
    assert {c.key for c in first} < {c.key for c in again}
    # ... and a partial reimbursement changes the quantity, not the key
    (partly,) = lost(ledger[1:2], [paid(18, 1)])
    assert partly.quantity == 1 and partly.key == first[1].key


def test_claim_value_from_history_else_sale_price_else_unknown() -> None:
    history = [paid(100, 1, rid="H1", per_unit=900), paid(90, 1, rid="H2", per_unit=1100),
               paid(80, 1, rid="H3", per_unit=1000, fnsku="X00OTHER01")]  # fmt: skip
    prices = [SalePrice("SKU-1", 2599, "USD", fnsku="X00LOST001"), SalePrice("SKU-9", 1500, "USD")]
    values = rules.valuation(history, prices, today=TODAY)
    (claim,) = rules.lost_in_warehouse([event(30, -2)], [], values, today=TODAY)
    assert (claim.value_minor, claim.value_source) == (1800, ValueSource.REIMBURSEMENT_HISTORY)
    (claim,) = rules.lost_in_warehouse([event(30, -2, fnsku="X00NEW0001", msku="SKU-9")], [],
                                       values, today=TODAY)  # fmt: skip
    assert (claim.value_minor, claim.value_source) == (3000, ValueSource.SALE_PRICE)
    (claim,) = rules.lost_in_warehouse([event(30, -1, fnsku="X00NONE001", msku="SKU-0")], [],
                                       values, today=TODAY)  # fmt: skip
    assert (claim.value_minor, claim.currency, claim.value_source) == (None, None, None)
    # history older than a year, or reversed, does not price an item
    old = rules.valuation([paid(400, 1, per_unit=5000)], prices, today=TODAY)
    assert old.by_fnsku["X00LOST001"].source is ValueSource.SALE_PRICE
    taken_back = paid(50, 1, per_unit=5000)
    gone = rules.valuation([taken_back, reversal(40, taken_back, 1)], today=TODAY)
    assert gone.of(fnsku="X00LOST001", sku="SKU-1") is None


def test_sale_prices_are_the_median_refunded_principal_per_unit() -> None:
    found = normalise.sale_prices(
        [
            refund(10, amount=2599),
            refund(20, quantity=2, amount=5000),  # 2,500 a unit
            refund(30, amount=3100),
            refund(40, amount=2700),  # even count: the lower middle (2,599 and 2,700 → 2,599)
            refund(5, sku="SKU-2", quantity=3, amount=1000),  # 333 a unit (whole minor units)
            refund(5, sku="SKU-2", amount=900, currency="CAD"),
            refund(5, sku="SKU-3", quantity=0, amount=100),  # no units, no money: nothing said
            refund(5, sku="SKU-3", amount=0),
            refund(5, sku="", amount=100),
        ]
    )
    assert found == [
        SalePrice("SKU-1", 2599, "USD"),
        SalePrice("SKU-2", 900, "CAD"),
        SalePrice("SKU-2", 333, "USD"),
    ]
    # an item never reimbursed is valued at what it sold for
    values = rules.valuation([], found, today=TODAY)
    (claim,) = rules.lost_in_warehouse([event(30, -2)], [], values, today=TODAY)
    assert (claim.value_minor, claim.currency, claim.value_source) == (
        5198,
        "USD",
        ValueSource.SALE_PRICE,
    )


# --- damaged in a fulfillment center --------------------------------------------------------------


def damaged(
    ledger: Sequence[LedgerEvent], paid_rows: Sequence[Reimbursement] = ()
) -> list[rules.Claim]:
    return rules.damaged_in_warehouse(ledger, paid_rows, NO_VALUES, today=TODAY)


@pytest.mark.parametrize("code", sorted(rules.DAMAGED_CODES))
def test_damaged_codes_are_claimed(code: str) -> None:
    (claim,) = damaged([event(30, -1, code), event(30, 1, "P")])
    assert claim.kind is ClaimKind.WAREHOUSE_DAMAGED and claim.quantity == 1


def test_damaged_window_and_reimbursement() -> None:
    assert len(damaged([event(60, -1, "E")])) == 1
    assert damaged([event(61, -1, "E")]) == []
    assert damaged([event(30, -2, "E")], [paid(20, 2, reason="Damaged_Warehouse")]) == []
    (claim,) = damaged([event(30, -2, "E")], [paid(20, 1, reason="Damaged_Warehouse")])
    assert claim.quantity == 1
    # disposals, disposition moves and found units are not damage claims
    assert damaged([event(30, -1, "D"), event(30, -1, "Q"), event(30, 1, "F")]) == []
    assert lost([event(30, -1, "E")]) == []


# --- customer refunded, item not returned ---------------------------------------------------------


def returns_rule(
    refunds: Sequence[Refund],
    returns: Sequence[CustomerReturn] = (),
    paid_rows: Sequence[Reimbursement] = (),
    **kw: Any,
) -> list[rules.Claim]:
    return rules.refunded_not_returned(
        refunds, returns, paid_rows, today=TODAY, fnskus={"SKU-1": "X00LOST001"}, **kw
    )


@pytest.mark.parametrize(
    ("country", "opens", "closes"), [("US", 60, 120), ("DE", 45, 105), ("JP", 60, 105)]
)
def test_refund_window_boundaries_by_marketplace(country: str, opens: int, closes: int) -> None:
    assert returns_rule([refund(opens - 1, country=country)]) == []
    (first,) = returns_rule([refund(opens, country=country)])
    assert first.eligible_from == TODAY and first.kind is ClaimKind.CUSTOMER_RETURN
    (last,) = returns_rule([refund(closes, country=country)])
    assert last.deadline == TODAY and last.reference == "111-0000001-0000001"
    assert returns_rule([refund(closes + 1, country=country)]) == []


def test_refund_returned_is_not_claimed_but_another_item_returned_is() -> None:
    assert returns_rule([refund(70)], [returned(50)]) == []
    (claim,) = returns_rule([refund(70)], [returned(50, fnsku="X00WRONG01")])
    assert claim.quantity == 1 and returned(50, fnsku="X00WRONG01") in claim.evidence
    (claim,) = returns_rule([refund(70)], [returned(50, sku="SKU-2", fnsku="X00OTHER01")])
    assert claim.quantity == 1
    # a return of another order does not count
    assert len(returns_rule([refund(70)], [returned(50, order="111-9999999-0000001")])) == 1


def test_partly_returned_refund_claims_the_rest_at_the_refunded_price() -> None:
    (claim,) = returns_rule([refund(70, quantity=3, amount=7500)], [returned(50)])
    assert (claim.quantity, claim.value_minor, claim.currency) == (2, 5000, "USD")
    assert claim.value_source is ValueSource.SALE_PRICE
    (claim,) = returns_rule(
        [refund(80, quantity=1, amount=2500), refund(70, quantity=1, amount=2500)]
    )
    assert (claim.quantity, claim.value_minor, claim.event_date) == (2, 5000, ago(80))


def test_refund_reimbursed_by_order_is_not_claimed() -> None:
    order = "111-0000001-0000001"
    by_order = paid(10, 2, reason="CustomerReturn", order_id=order)
    assert returns_rule([refund(70, quantity=2)], [], [by_order]) == []
    (claim,) = returns_rule([refund(70, quantity=2)], [], [paid(10, 1, order_id=order)])
    assert claim.quantity == 1
    (claim,) = returns_rule([refund(70, quantity=2)], [], [by_order, reversal(5, by_order, 2)])
    assert claim.quantity == 2
    # a reimbursement of another item of the same order does not settle this one
    other = paid(10, 2, order_id=order, sku="SKU-2", fnsku="X00OTHER01")
    assert len(returns_rule([refund(70, quantity=2)], [], [other])) == 1
    # the filed case's reimbursement settles it even without the order id
    (claim,) = returns_rule([refund(70)])
    by_case = paid(5, 1, case_id="C-9", reason="CustomerReturn")
    assert returns_rule([refund(70)], [], [by_case], filed={claim.key: "C-9"}) == []


# --- inbound shipment received short --------------------------------------------------------------


def inbound(
    shipments: Sequence[InboundShipment], paid_rows: Sequence[Reimbursement] = ()
) -> list[rules.Claim]:
    return rules.inbound_shortage(shipments, paid_rows, NO_VALUES, today=TODAY)


def test_inbound_shortage_window_boundaries() -> None:
    assert inbound([shipment(14, closed_days_ago=14)]) == []
    (first,) = inbound([shipment(15, closed_days_ago=15)])
    assert (first.quantity, first.eligible_from, first.reference) == (2, TODAY, "FBA15ABCDEF")
    (last,) = inbound([shipment(60)])
    assert last.deadline == TODAY
    assert inbound([shipment(61)]) == []


def test_inbound_shortage_only_after_the_shipment_closed() -> None:
    assert inbound([shipment(30, closed_days_ago=None)]) == []
    assert inbound([shipment(30, closed_days_ago=0)]) != []
    assert inbound([shipment(30, received=10)]) == []
    assert inbound([shipment(30, received=12)]) == []  # an overage is no claim
    # no delivery day known: counted from the day it closed
    (claim,) = inbound([shipment(None, closed_days_ago=20)])
    assert claim.deadline == ago(20) + dt.timedelta(60)


def test_inbound_shortage_reimbursed_or_partly() -> None:
    assert inbound([shipment(30)], [paid(20, 2, reason="Lost_Inbound")]) == []
    (claim,) = inbound([shipment(30)], [paid(20, 1, reason="Lost_Inbound")])
    assert claim.quantity == 1
    # a warehouse reimbursement is not an inbound one
    assert inbound([shipment(30)], [paid(20, 2)])[0].quantity == 2


# --- reimbursed below value -----------------------------------------------------------------------


def history(*per_unit: int) -> list[Reimbursement]:
    return [paid(200 - i, 1, rid=f"H{i}", per_unit=p) for i, p in enumerate(per_unit)]


def below(rows: list[Reimbursement], **kw: Any) -> list[rules.Claim]:
    return rules.reimbursed_below_value(rows, today=TODAY, country="US", **kw)


def test_reimbursed_below_value_claims_the_difference() -> None:
    low = paid(30, 2, rid="LOW", per_unit=800)
    (claim,) = below([*history(1000, 1000, 1200), low])
    assert claim.kind is ClaimKind.REIMBURSED_BELOW_VALUE and claim.reference == "LOW"
    assert (claim.quantity, claim.value_minor, claim.currency) == (2, 400, "USD")
    assert claim.value_source is ValueSource.REIMBURSEMENT_HISTORY
    # within the tolerance, or too little history: nothing
    assert below([*history(1000, 1000), paid(30, 1, rid="OK", per_unit=901)]) == []
    assert below([*history(1000), paid(30, 1, rid="LOW", per_unit=100)]) == []
    # other currencies, other FNSKUs and reversed ones are not history
    assert below([*history(1000), paid(150, 1, rid="X", per_unit=1000, currency="CAD"), low]) == []
    taken = paid(150, 1, rid="T", per_unit=1000)
    assert below([*history(1000), taken, reversal(140, taken, 1), low]) == []


def test_reimbursed_below_value_window_boundaries() -> None:
    assert len(below([*history(1000, 1000), paid(60, 1, rid="LOW", per_unit=500)])) == 1
    assert below([*history(1000, 1000), paid(61, 1, rid="LOW", per_unit=500)]) == []


def test_reimbursed_below_value_settled_by_a_top_up_or_reversed() -> None:
    low = paid(30, 1, rid="LOW", per_unit=500)
    top_up = dataclasses.replace(
        paid(20, 0, rid="TOP", per_unit=0), amount_total_minor=300, original_reimbursement_id="LOW"
    )
    (claim,) = below([*history(1000, 1000), low, top_up])
    assert claim.value_minor == 200 and top_up in claim.evidence
    # the top-up itself, one unit at 3.00, is not a reimbursement below value
    priced_top_up = dataclasses.replace(
        top_up, quantity_cash=1, quantity_total=1, amount_per_unit_minor=300
    )
    assert [c.reference for c in below([*history(1000, 1000), low, priced_top_up])] == ["LOW"]
    full = dataclasses.replace(top_up, amount_total_minor=500)
    assert below([*history(1000, 1000), low, full]) == []
    assert below([*history(1000, 1000), low, reversal(10, low, 1)]) == []


# --- all rules together ---------------------------------------------------------------------------


def test_detect_runs_every_rule_and_a_second_run_changes_nothing() -> None:
    ledger = [
        event(30, -2, reference="LOST"),
        event(25, -1, "E", reference="DMG"),
        event(40, 6, "", event_type="Receipts", reference="FBA15ABCDEF"),
    ]
    shipped = [
        ShippedItem("FBA15ABCDEF", "SKU-1", "X00LOST001", 8, closed_on=ago(30), country="US")
    ]
    reports: dict[str, Any] = {
        "ledger": ledger,
        "reimbursements": [
            *history(1000, 1000),
            paid(20, 1, rid="LOW", per_unit=700, fnsku="X00OTHER01", sku="SKU-2"),
            paid(300, 1, rid="H9", per_unit=1000, fnsku="X00OTHER01", sku="SKU-2"),
            paid(290, 1, rid="H8", per_unit=1000, fnsku="X00OTHER01", sku="SKU-2"),
        ],
        "returns": [],
        "refunds": [refund(70)],
        "shipments": normalise.inbound(shipped, ledger),
        "sale_prices": [SalePrice("SKU-1", 2599, "USD")],
    }  # fmt: skip
    first = rules.detect(today=TODAY, country="US", **reports)
    kinds = [c.kind for c in first]
    assert sorted(kinds) == sorted(ClaimKind)
    assert [c.deadline for c in first] == sorted(c.deadline for c in first)
    assert len({c.key for c in first}) == len(first)
    assert rules.detect(today=TODAY, country="US", **reports) == first
    # the day after every deadline, nothing is claimable any more
    last = max(c.deadline for c in first)
    assert rules.detect(today=last + dt.timedelta(days=1), country="US", **reports) == []
