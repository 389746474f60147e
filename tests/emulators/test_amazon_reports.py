"""The emulated Reports and Finances data and routes, in process: every planted case holds in
the rows it is made of (an oracle for the claim detection's tests), the noise holds nothing
claimable, background rows leave the rest alone, and the routes validate, list only the
seller's reports, page and let a pre-signed URL expire with the clock."""

from __future__ import annotations

import asyncio
import gzip
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sellerhub.connections.providers.amazon_spapi.documents import TsvParser
from sellerhub_emulators.amazon import report_documents as docs
from sellerhub_emulators.amazon.reports_data import History, build_history

from .conftest import FakeClock
from .lwa import ADMIN, configure
from .test_amazon_sp_api import assert_spapi_error
from .test_amazon_sp_consent import seller_tokens

US, DE = "ATVPDKIKX0DER", "A1PA6795UKMFR9"
SELLER = "A3EMULATORSELLER1"
ANCHOR = date(2026, 11, 30)
REPORTS = "/amazon/reports/2021-06-30/reports"


def _rows(history: History, report_type: str, background: int = 0) -> list[dict[str, str]]:
    parser = TsvParser()
    text = b"".join(docs.render(report_type, [history], history.start, history.end, background))
    return parser.feed(text.decode()) + parser.close()


def _day(text: str) -> date:
    if "/" in text[:10]:
        month, day, year = text[:10].split("/")
        return date(int(year), int(month), int(day))
    return date.fromisoformat(text[:10])


@pytest.mark.parametrize("marketplace", [US, DE])
def test_every_planted_case_holds_in_its_rows(marketplace: str) -> None:
    history = build_history(0, SELLER, marketplace, ANCHOR)
    ledger = _rows(history, docs.LEDGER_DETAIL)
    paid = _rows(history, docs.REIMBURSEMENTS)
    returns = _rows(history, docs.CUSTOMER_RETURNS)
    refunds = {r.order_id: r for r in history.refunds}
    by_id = {r["reimbursement-id"]: r for r in paid}
    shipments = {s.shipment_id: s for s in history.inbound}

    for case in history.planted:
        fnsku, quantity = case.fnsku, case.quantity
        after = [r for r in ledger if r["FNSKU"] == fnsku and r["Reference ID"] != case.reference]
        found = sum(int(r["Quantity"]) for r in after if r["Reason"] == "F")
        reimbursed = [by_id[i] for i in case.reimbursement_ids]
        cash = sum(int(r["quantity-reimbursed-cash"]) for r in reimbursed)
        days_ago = (ANCHOR - _day(case.event_date)).days
        assert all(r["fnsku"] == fnsku for r in reimbursed), case
        if case.kind in ("lost_warehouse", "damaged_warehouse"):
            (event,) = [
                r for r in ledger if r["Reference ID"] == case.reference and int(r["Quantity"]) < 0
            ]
            assert event["Reason"] == ("M" if case.kind == "lost_warehouse" else "E")
            lost = -int(event["Quantity"])
            if case.expected == "claim":
                assert lost - found - cash == quantity > 0, case
                assert int(event["Unreconciled Quantity"]) >= quantity or cash < 0
                assert days_ago <= 60
            elif case.expected == "outside_window":
                assert days_ago == 61 and found == cash == 0
            elif case.expected == "found":
                assert found == lost == quantity
            elif case.expected == "already_reimbursed":
                assert cash == lost == quantity and found == 0
                approved = [_day(r["approval-date"]) for r in reimbursed]
                assert all(day >= _day(case.event_date) for day in approved)
                if case.matched_by == "case_id":
                    assert [r["case-id"] for r in reimbursed] == [case.case_id]
        elif case.kind in ("refund_not_returned", "returned_different_fnsku"):
            refund = refunds[case.reference]
            assert refund.product.fnsku == fnsku and case.order_id == case.reference
            came_back = [r for r in returns if r["order-id"] == case.reference]
            assert all(r["fnsku"] != fnsku for r in came_back)
            start, end = case.window_days or (0, 0)
            if case.kind == "returned_different_fnsku":
                assert len(came_back) == 1
            if case.expected == "claim":
                assert start <= days_ago <= end and not reimbursed
            elif case.expected == "not_yet":
                assert days_ago == start - 1
            elif case.expected == "outside_window":
                assert days_ago == end + 1
            else:
                assert case.matched_by == "order_id"
                assert [r["amazon-order-id"] for r in reimbursed] == [case.reference]
        elif case.kind == "inbound_short":
            shipment = shipments[case.reference]
            received = sum(
                int(r["Quantity"])
                for r in ledger
                if r["Reference ID"] == case.reference and r["Event Type"] == "Receipts"
            )
            assert shipment.received == received == shipment.shipped - quantity
            assert cash == (quantity if case.expected == "already_reimbursed" else 0)
        else:
            assert case.kind == "reimbursed_below_value" and case.expected == "claim"
            (row,) = reimbursed
            per_unit = int(row["amount-per-unit"].replace(".", ""))
            assert (
                per_unit < case.unit_value_minor * 0.5 and int(row["quantity-reimbursed-cash"]) == 2
            )


def test_the_noise_holds_nothing_claimable() -> None:
    history = build_history(7, SELLER, US, ANCHOR)
    planted = {c.sku for c in history.planted} | {
        r.product.sku
        for r in history.returns
        if r.order_id in {c.reference for c in history.planted}
    }
    ledger = [r for r in _rows(history, docs.LEDGER_DETAIL, 3_000) if r["MSKU"] not in planted]
    net: dict[str, int] = defaultdict(int)
    for row in ledger:
        if row["Event Type"] == "Adjustments" and row["Reason"] != "D":
            net[row["FNSKU"]] += int(row["Quantity"])
    assert net and all(total == 0 for total in net.values())  # every unit misplaced was found
    disposed = [r for r in ledger if r["Reason"] == "D"]
    assert disposed and {r["Disposition"] for r in disposed} == {"CUSTOMER_DAMAGED"}
    assert {r["Reason"] for r in ledger if r["Event Type"] == "Adjustments"} == {"M", "F", "D"}
    returned = {(r.order_id, r.product.fnsku) for r in history.returns}
    noise_refunds = [r for r in history.refunds if r.product.sku not in planted]
    assert noise_refunds and all((r.order_id, r.product.fnsku) in returned for r in noise_refunds)
    shipments = [s for s in history.inbound if s.product.sku not in planted]
    assert shipments and all(s.shipped == s.received for s in shipments)
    assert {r["Event Type"] for r in ledger} >= {"Shipments", "Receipts", "WhseTransfers"}


def test_background_rows_leave_the_history_alone() -> None:
    history = build_history(0, SELLER, US, ANCHOR)
    plain = _rows(history, docs.LEDGER_DETAIL)
    busy = _rows(history, docs.LEDGER_DETAIL, 10_000)
    assert len(busy) == len(plain) + 10_000
    kept = [r for r in busy if not r["Reference ID"].startswith(("FBA15B", "9"))]
    shipped_by_background = [r for r in kept if r not in plain]
    assert all(r["Event Type"] == "Shipments" for r in shipped_by_background)
    assert [r for r in busy if r in plain] == plain  # same rows, same order
    stamps = [r["Date and Time"] for r in busy]
    assert stamps == sorted(stamps)


def test_a_date_range_selects_its_rows() -> None:
    history = build_history(0, SELLER, US, ANCHOR)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    text = b"".join(docs.render(docs.LEDGER_DETAIL, [history], start, end, 5_000)).decode()
    parser = TsvParser()
    rows = parser.feed(text) + parser.close()
    assert rows and all("2026-10-01" <= r["Date and Time"][:10] < "2026-11-01" for r in rows)


# -- routes ------------------------------------------------------------------------------------


async def _token(http: httpx.AsyncClient, seller: str = SELLER) -> dict[str, str]:
    body = await seller_tokens(http, selling_partner_id=seller, marketplace_ids=US)
    return {"x-amz-access-token": str(body["access_token"])}


async def test_create_report_refuses_bad_requests_in_the_error_list_shape(
    http: httpx.AsyncClient,
) -> None:
    auth = await _token(http)
    bad: list[tuple[Any, str]] = [
        ("not json", "not valid JSON"),
        ({"marketplaceIds": [US]}, "reportType"),
        ({"reportType": "GET_X", "marketplaceIds": [US]}, "Invalid reportType"),
        ({"reportType": docs.REIMBURSEMENTS, "marketplaceIds": []}, "1 to 25"),
        ({"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [DE]}, "does not participate"),
        (
            {
                "reportType": docs.REIMBURSEMENTS,
                "marketplaceIds": [US],
                "dataStartTime": "2026-01-02T00:00:00Z",
                "dataEndTime": "2026-01-01T00:00:00Z",
            },
            "before dataEndTime",
        ),
        ({"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [US], "x": 1}, "Unknown property"),
    ]
    for body, words in bad:
        content = body.encode() if isinstance(body, str) else None
        answer = await http.post(
            REPORTS, headers=auth, content=content, json=None if content else body
        )
        error = assert_spapi_error(answer, 400, "InvalidInput")
        assert words in error["message"], (body, error)
    assert (await http.post(REPORTS, json={"reportType": docs.REIMBURSEMENTS})).status_code == 403


async def test_get_reports_lists_the_sellers_own_reports_page_by_page(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    mine, theirs = await _token(http), await _token(http, "A3OTHERSELLER2")
    created = []
    for _ in range(3):
        answer = await http.post(
            REPORTS, headers=mine, json={"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [US]}
        )
        assert answer.status_code == 202
        created.append(answer.json()["reportId"])
        clock.advance(1)
    await http.post(
        REPORTS, headers=theirs, json={"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [US]}
    )
    await configure(http, {"rate_limit": None})

    first = await http.get(
        REPORTS, headers=mine, params={"reportTypes": docs.REIMBURSEMENTS, "pageSize": 2}
    )
    second = await http.get(REPORTS, headers=mine, params={"nextToken": first.json()["nextToken"]})

    listed = [r["reportId"] for r in first.json()["reports"] + second.json()["reports"]]
    assert listed == created[::-1] and "nextToken" not in second.json()
    other = await http.get(f"{REPORTS}/{created[0]}", headers=theirs)
    assert_spapi_error(other, 404, "NotFound")
    missing = await http.get(REPORTS, headers=mine)
    assert "reportTypes" in assert_spapi_error(missing, 400, "InvalidInput")["message"]


async def test_the_presigned_url_expires_with_the_clock(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    auth = await _token(http)
    await configure(http, {"reports": {"in_queue_polls": 0, "in_progress_polls": 0}})
    start = (datetime.now(UTC) - timedelta(days=500)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = await http.post(
        REPORTS,
        headers=auth,
        json={"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [US], "dataStartTime": start},
    )
    report_id = created.json()["reportId"]
    report: dict[str, Any] = {}
    for _ in range(100):
        report = (await http.get(f"{REPORTS}/{report_id}", headers=auth)).json()
        if report["processingStatus"] == "DONE":
            break
        clock.advance(1)  # inside getReport's 2 per second
        await asyncio.sleep(0.02)  # the document is written in a thread, in real time
    document = await http.get(
        f"/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=auth
    )
    url = document.json()["url"].removeprefix("http://testserver")
    assert (await http.get(url)).status_code == 200
    ranged = await http.get(url, headers={"Range": "bytes=10-"})
    assert ranged.status_code == 206 and ranged.headers["content-range"].startswith("bytes 10-")

    clock.advance(300)
    expired = await http.get(url)

    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.content
    stats = (await http.get(f"{ADMIN}/stats")).json()["requests"]
    assert stats["report_download"] == 3


# -- Amazon reimbursing a case (``_admin/reports/reimbursements``) ----------------------------

REIMBURSE = f"{ADMIN}/reports/reimbursements"


async def _report_rows(
    http: httpx.AsyncClient, clock: FakeClock, auth: dict[str, str], report_id: str
) -> list[dict[str, str]]:
    """The rows of a reimbursements report, once DONE."""
    report: dict[str, Any] = {}
    for _ in range(200):
        report = (await http.get(f"{REPORTS}/{report_id}", headers=auth)).json()
        if report["processingStatus"] in ("DONE", "CANCELLED", "FATAL"):
            break
        clock.advance(1)  # inside getReport's 2 per second
        await asyncio.sleep(0.02)  # the document is written in a thread, in real time
    assert report["processingStatus"] == "DONE", report
    document = await http.get(
        f"/amazon/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=auth
    )
    url = document.json()["url"].removeprefix("http://testserver")
    body = (await http.get(url)).content
    parser = TsvParser()
    return parser.feed(gzip.decompress(body).decode()) + parser.close()


async def _create(http: httpx.AsyncClient, auth: dict[str, str]) -> str:
    start = (datetime.now(UTC) - timedelta(days=500)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = await http.post(
        REPORTS,
        headers=auth,
        json={"reportType": docs.REIMBURSEMENTS, "marketplaceIds": [US], "dataStartTime": start},
    )
    assert created.status_code == 202, created.text
    return str(created.json()["reportId"])


async def _history(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get(
        f"{ADMIN}/reports/history", params={"selling_partner_id": SELLER, "marketplace_id": US}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_amazon_reimbursing_a_case_is_in_the_reports_requested_after_it(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    auth = await _token(http)
    await configure(
        http, {"rate_limit": None, "reports": {"in_queue_polls": 0, "in_progress_polls": 0}}
    )
    history = await _history(http)
    product = next(p for p in history["products"] if p["sku"] == "EMU-0041")
    seeded = history["counts"]["reimbursements"]
    planted = (
        await http.get(
            f"{ADMIN}/reports/planted", params={"selling_partner_id": SELLER, "marketplace_id": US}
        )
    ).json()["cases"]
    seeded_ids = {i for case in planted for i in case["reimbursement_ids"]}
    before = await _create(http, auth)
    clock.advance(1)

    paid = await http.post(
        REIMBURSE,
        json={
            "selling_partner_id": SELLER,
            "marketplace_id": US,
            "case_id": "12345678901",
            "fnsku": product["fnsku"],
            "reason": "Lost_Warehouse",
            "quantity": 3,
            "amount_per_unit": 2_505,
            "currency": "USD",
        },
    )
    assert paid.status_code == 201, paid.text
    row = paid.json()
    assert list(row) == list(docs.REIMBURSEMENTS_COLUMNS)
    assert row["reimbursement-id"].isdigit() and row["reimbursement-id"] not in seeded_ids
    assert (row["case-id"], row["amazon-order-id"], row["reason"]) == (
        "12345678901",
        "",
        "Lost_Warehouse",
    )
    assert (row["sku"], row["fnsku"], row["asin"]) == (
        "EMU-0041",
        product["fnsku"],
        product["asin"],
    )
    assert (row["currency-unit"], row["amount-per-unit"], row["amount-total"]) == (
        "USD",
        "25.05",
        "75.15",
    )
    assert (row["quantity-reimbursed-cash"], row["quantity-reimbursed-total"]) == ("3", "3")
    assert row["original-reimbursement-id"] == ""
    approved = datetime.fromisoformat(row["approval-date"])
    assert abs(approved - datetime.now(UTC)) < timedelta(seconds=120)  # the emulator's now
    # a second reimbursement of the same case (Amazon pays twice): another id
    again = await http.post(
        REIMBURSE,
        json={
            "selling_partner_id": SELLER,
            "marketplace_id": US,
            "case_id": "12345678901",
            "sku": "EMU-0041",
            "asin": product["asin"],
            "reason": "Damaged_Warehouse",
            "quantity": 1,
            "amount_per_unit": 999,
            "currency": "USD",
            "approval_date": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
        },
    )
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["reimbursement-id"] != row["reimbursement-id"]
    assert second["approval-date"].endswith("T00:00:00+00:00")
    assert (await _history(http))["counts"]["reimbursements"] == seeded + 2
    clock.advance(1)
    after = await _create(http, auth)

    old_rows = await _report_rows(http, clock, auth, before)
    new_rows = await _report_rows(http, clock, auth, after)
    assert all(r["case-id"] != "12345678901" for r in old_rows)  # created before: not in it
    ours = [r for r in new_rows if r["case-id"] == "12345678901"]
    assert ours == [second, row]  # by approval date, as Amazon's columns, once each
    assert [r for r in new_rows if r not in ours] == old_rows  # the rest unchanged
    other = await http.get(
        f"{ADMIN}/reports/history",
        params={"selling_partner_id": "A3OTHERSELLER2", "marketplace_id": US},
    )
    assert other.json()["counts"]["reimbursements"] == _seeded_of_other(other.json())

    await http.post(f"{ADMIN}/reset")
    assert (await _history(http))["counts"]["reimbursements"] == seeded


def _seeded_of_other(history: dict[str, Any]) -> int:
    """Another seller's history holds only its seeded reimbursements."""
    built = build_history(
        history["seed"], "A3OTHERSELLER2", US, date.fromisoformat(history["anchor"])
    )
    return len(built.reimbursements)


async def test_reimbursing_refuses_bad_input_in_the_admin_error_shape(
    http: httpx.AsyncClient,
) -> None:
    history = await _history(http)
    first, second = history["products"][40], history["products"][41]
    good: dict[str, Any] = {
        "selling_partner_id": SELLER,
        "marketplace_id": US,
        "case_id": "1234567890",
        "fnsku": first["fnsku"],
        "reason": "Lost_Warehouse",
        "quantity": 2,
        "amount_per_unit": 2_500,
        "currency": "USD",
    }
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    bad: list[tuple[Any, str]] = [
        ("not json", ""),
        ({**good, "selling_partner_id": "not a seller!"}, "selling_partner_id"),
        ({**good, "marketplace_id": "XX"}, "marketplace_id"),
        ({k: v for k, v in good.items() if k != "reason"}, "reason"),
        ({**good, "reason": "Because"}, "reason"),
        ({**good, "quantity": 0}, "quantity"),
        ({**good, "quantity": "2"}, "quantity"),
        ({**good, "amount_per_unit": 0}, "amount_per_unit"),
        ({**good, "amount_per_unit": 25.0}, "amount_per_unit"),
        ({**good, "currency": "usd"}, "currency"),
        ({**good, "currency": "EUR"}, "currency"),
        ({**good, "case_id": "CASE-1"}, "case_id"),
        ({**good, "amazon_order_id": "1234"}, "amazon_order_id"),
        ({**good, "fnsku": "X00NOTOURS"}, "sku"),
        ({**good, "sku": second["sku"]}, "sku"),  # two products named
        ({k: v for k, v in good.items() if k != "fnsku"}, ""),  # no product named
        ({**good, "approval_date": tomorrow}, "approval_date"),
        ({**good, "approval_date": "2000-01-01"}, "approval_date"),
        ({**good, "approval_date": "yesterday"}, ""),
        ({**good, "approval_date": "2026-11-01T10:00:00"}, ""),  # no offset
        ({**good, "extra": 1}, "extra"),
    ]
    for body, field in bad:
        content = body.encode() if isinstance(body, str) else None
        answer = await http.post(REIMBURSE, content=content, json=None if content else body)
        assert answer.status_code == 422, (body, answer.text)
        detail = answer.json()["detail"]
        assert isinstance(detail, list) and detail and {"loc", "msg", "type"} <= set(detail[0])
        if field:
            assert any(field in map(str, e["loc"]) for e in detail), (body, detail)
    assert (await _history(http))["counts"]["reimbursements"] == history["counts"][
        "reimbursements"
    ]  # nothing added
    assert (await http.post(REIMBURSE, json=good)).status_code == 201
