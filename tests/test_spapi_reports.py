"""The SP-API Reports and Finances client against the Amazon emulator, over real HTTP through the
live server: a report polled through IN_QUEUE and IN_PROGRESS to DONE, FATAL (with the text of
its error document) and CANCELLED (by rule, and automatically when empty); a gzip document
streamed and parsed chunk by chunk without being held whole; a connection cut mid-download and a
503 resumed by Range without a row read twice; 429s retried until the quota allows; an expired
pre-signed URL refused in S3's words and renewed; the seeded history the same for the same seed
and anchor; refund events paged with NextToken and exact amounts; a report is its seller's."""

from __future__ import annotations

import asyncio
import hashlib
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.config import Settings
from sellerhub.connections.providers.amazon_spapi import documents, finances, inbound, reports
from sellerhub.connections.providers.amazon_spapi import report_columns as cols
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.errors import NotFound
from sellerhub.runtime import Runtime
from sellerhub_emulators.amazon import report_documents as emulated
from tests.browser import Browser

US = "ATVPDKIKX0DER"
SELLER = "A3EMULATORSELLER1"
OTHER_SELLER = "A3OTHERSELLER2"
ANCHOR = datetime.now(UTC).date()
HISTORY_START = datetime.combine(ANCHOR - timedelta(days=540), datetime.min.time(), UTC)
POLL = 0.05


@pytest.fixture(autouse=True)
def _reset_amazon(live_server: str) -> Iterator[None]:
    yield
    httpx.post(f"{live_server}/_emulators/amazon/_admin/reset", timeout=10)


def _admin(live_server: str, path: str, body: Any = None, **params: str) -> dict[str, Any]:
    url = f"{live_server}/_emulators/amazon/_admin/{path}"
    answer = (
        httpx.post(url, json=body, timeout=10)
        if body is not None
        else httpx.get(url, params=params, timeout=10)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _configure(live_server: str, **reports_config: Any) -> None:
    _admin(live_server, "config", {"reports": {"anchor": ANCHOR.isoformat(), **reports_config}})


def _connect(browser: Browser, seller: str = SELLER) -> str:
    start = browser.client.get("/api/v1/connections/amazon-sp/authorize?next=/done")
    assert start.status_code == 200, start.text
    page = browser.get(start.json()["auth_url"])
    overrides = {"selling_partner_id": seller, "marketplace_ids": US}
    back = browser.submit(page, ("decision", "approve"), follow=False, overrides=overrides)
    assert browser.get(back.headers["location"], follow=False).status_code == 302
    (connection,) = [
        c
        for c in browser.client.get("/api/v1/connections").json()
        if c["provider"] == "amazon_spapi" and c["status"] != "disconnected"
    ]
    return str(connection["id"])


class Seller:
    """A connection of the signed-in seller, and what the client needs to call as it."""

    def __init__(self, ctx: RefreshContext, organization_id: uuid.UUID, connection_id: uuid.UUID):
        self.ctx, self.org, self.conn = ctx, organization_id, connection_id

    async def rows(self, report_type: str, **kwargs: Any) -> list[dict[str, str]]:
        start = kwargs.pop("data_start", HISTORY_START)
        return [
            row
            async for row in reports.fetch_report_rows(
                self.ctx,
                self.org,
                self.conn,
                report_type,
                [US],
                data_start=start,
                poll_seconds=POLL,
                **kwargs,
            )
        ]


async def _seller(
    browser: Browser, runtime: Runtime, settings: Settings, live_server: str, who: str = SELLER
) -> Seller:
    connection_id = uuid.UUID(_connect(browser, who))
    async with runtime.engine.connect() as conn:
        organization_id = await conn.scalar(
            text("SELECT organization_id FROM connections WHERE id = :id"), {"id": connection_id}
        )
    live = settings.model_copy(update={"public_url": live_server})
    ctx = RefreshContext(runtime.sessionmaker, runtime.keyring, live, runtime.http)
    return Seller(ctx, organization_id, connection_id)


@pytest.fixture
async def amazon(seller: Browser, runtime: Runtime, settings: Settings, live_server: str) -> Seller:
    _configure(live_server)
    return await _seller(seller, runtime, settings, live_server)


def _digest(rows: list[dict[str, str]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update("\t".join(f"{k}={v}" for k, v in row.items()).encode() + b"\n")
    return h.hexdigest()


def _emulated_reports(live_server: str) -> list[dict[str, Any]]:
    return list(_admin(live_server, "reports/list")["reports"])


# -- columns and polling ---------------------------------------------------------------------


def test_the_emulator_writes_the_columns_the_client_documents() -> None:
    assert emulated.LEDGER_DETAIL_COLUMNS == cols.LEDGER_DETAIL_COLUMNS
    assert emulated.REIMBURSEMENTS_COLUMNS == cols.REIMBURSEMENTS_COLUMNS
    assert emulated.CUSTOMER_RETURNS_COLUMNS == cols.CUSTOMER_RETURNS_COLUMNS
    assert set(emulated.REPORT_TYPES) == set(cols.COLUMNS)


async def test_a_report_is_polled_through_its_states_and_its_rows_keyed_by_amazons_columns(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, in_queue_polls=2, in_progress_polls=2)

    rows = await amazon.rows(cols.REIMBURSEMENTS)

    (report,) = _emulated_reports(live_server)
    assert report["processingStatus"] == "DONE" and report["rows"] == len(rows) > 5
    assert report["reportType"] == cols.REIMBURSEMENTS and report["selling_partner_id"] == SELLER
    assert all(tuple(row) == cols.REIMBURSEMENTS_COLUMNS for row in rows)
    planted = _admin(live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US)
    reimbursed = {i for case in planted["cases"] for i in case["reimbursement_ids"]}
    assert reimbursed <= {row["reimbursement-id"] for row in rows}
    reversal = next(r for r in rows if r["reason"] == "Reimbursement_Reversal")
    assert reversal["original-reimbursement-id"] in {r["reimbursement-id"] for r in rows}
    assert reversal["amount-total"].startswith("-") and reversal["currency-unit"] == "USD"

    ledger = await amazon.rows(cols.LEDGER_DETAIL)
    assert all(tuple(row) == cols.LEDGER_DETAIL_COLUMNS for row in ledger)
    assert not cols.missing_columns(cols.LEDGER_DETAIL, ledger[0])
    lost = next(c for c in planted["cases"] if c["kind"] == "lost_warehouse")
    (event,) = [r for r in ledger if r["Reference ID"] == lost["reference"]]
    assert (event["FNSKU"], event["Event Type"], event["Reason"]) == (
        lost["fnsku"],
        "Adjustments",
        "M",
    )
    assert int(event["Quantity"]) == -lost["quantity"] and event["Title"].startswith("Emulated")
    assert {r["Event Type"] for r in ledger} == set(cols.LEDGER_EVENT_TYPES)

    returns = await amazon.rows(cols.CUSTOMER_RETURNS)
    assert returns and all(tuple(row) == cols.CUSTOMER_RETURNS_COLUMNS for row in returns)


async def test_a_fatal_report_raises_with_the_text_of_its_error_document(
    amazon: Seller, live_server: str
) -> None:
    details = "Report processing failed: the data is temporarily unavailable."
    _configure(
        live_server,
        outcomes=[
            {"report_type": cols.LEDGER_DETAIL, "outcome": "FATAL", "error_details": details}
        ],
    )

    with pytest.raises(reports.ReportFatal) as caught:
        await amazon.rows(cols.LEDGER_DETAIL)

    assert details in caught.value.details and caught.value.report_id
    (report,) = _emulated_reports(live_server)
    assert report["processingStatus"] == "FATAL" and report["reportDocumentId"]
    # The rule was used up: the next report of that type is produced.
    assert len(await amazon.rows(cols.LEDGER_DETAIL)) > 100

    # A FATAL report whose error document cannot be read still raises ReportFatal, saying so.
    _configure(
        live_server,
        outcomes=[{"report_type": cols.LEDGER_DETAIL, "outcome": "FATAL"}],
        download_fail=[{"status": 500}],
    )
    with pytest.raises(reports.ReportFatal, match=r"could not be read \(HTTP 500\)"):
        await amazon.rows(cols.LEDGER_DETAIL)


async def test_a_cancelled_report_raises_and_an_empty_period_is_cancelled_by_amazon(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, outcomes=[{"report_type": cols.REIMBURSEMENTS, "outcome": "CANCELLED"}])

    with pytest.raises(reports.ReportCancelled):
        await amazon.rows(cols.REIMBURSEMENTS)

    # No reimbursement was approved in the last day before the anchor: nothing to report.
    day_before = datetime.combine(ANCHOR - timedelta(days=1), datetime.min.time(), UTC)
    with pytest.raises(reports.ReportCancelled):
        await amazon.rows(
            cols.REIMBURSEMENTS, data_start=day_before, data_end=day_before + timedelta(hours=23)
        )
    statuses = [r["processingStatus"] for r in _emulated_reports(live_server)]
    assert statuses == ["CANCELLED", "CANCELLED"]
    assert all("reportDocumentId" not in r for r in _emulated_reports(live_server))


async def test_cancel_report_cancels_only_a_queued_report(amazon: Seller, live_server: str) -> None:
    report_id = await reports.create_report(
        amazon.ctx, amazon.org, amazon.conn, cols.REIMBURSEMENTS, [US], data_start=HISTORY_START
    )
    await reports.cancel_report(amazon.ctx, amazon.org, amazon.conn, report_id)
    with pytest.raises(reports.ReportCancelled):
        await reports.wait_for_report(amazon.ctx, amazon.org, amazon.conn, report_id)

    _configure(live_server, in_queue_polls=0)
    running = await reports.create_report(
        amazon.ctx, amazon.org, amazon.conn, cols.REIMBURSEMENTS, [US], data_start=HISTORY_START
    )
    report = await reports.get_report(amazon.ctx, amazon.org, amazon.conn, running)
    assert report.processing_status == "IN_PROGRESS"
    with pytest.raises(reports.ReportRefused, match="only IN_QUEUE"):
        await reports.cancel_report(amazon.ctx, amazon.org, amazon.conn, running)


async def test_wait_gives_up_with_a_retryable_error_naming_the_report(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, in_queue_polls=100)
    report_id = await reports.create_report(
        amazon.ctx, amazon.org, amazon.conn, cols.REIMBURSEMENTS, [US]
    )

    with pytest.raises(reports.ReportNotReady) as caught:
        await reports.wait_for_report(
            amazon.ctx, amazon.org, amazon.conn, report_id, poll_seconds=POLL, max_wait=0.3
        )

    assert caught.value.report_id == report_id and caught.value.status == 503
    assert caught.value.processing_status == "IN_QUEUE"


async def test_bad_report_requests_are_refused_in_words(amazon: Seller) -> None:
    with pytest.raises(reports.ReportRefused, match="Invalid reportType"):
        await reports.create_report(amazon.ctx, amazon.org, amazon.conn, "GET_NOTHING", [US])
    with pytest.raises(reports.ReportRefused, match="does not participate"):
        await reports.create_report(
            amazon.ctx, amazon.org, amazon.conn, cols.REIMBURSEMENTS, ["A1PA6795UKMFR9"]
        )
    with pytest.raises(reports.ReportRefused, match="404"):
        await reports.get_report(amazon.ctx, amazon.org, amazon.conn, "12345")


# -- the document ----------------------------------------------------------------------------


async def _done_document(amazon: Seller, report_type: str) -> str:
    report_id = await reports.create_report(
        amazon.ctx, amazon.org, amazon.conn, report_type, [US], data_start=HISTORY_START
    )
    report = await reports.wait_for_report(
        amazon.ctx, amazon.org, amazon.conn, report_id, poll_seconds=POLL
    )
    assert report.report_document_id is not None
    return report.report_document_id


async def test_a_gzip_document_is_streamed_and_parsed_without_being_held_whole(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, ledger_rows=120_000)
    document_id = await _done_document(amazon, cols.LEDGER_DETAIL)
    stats = documents.DownloadStats()
    bytes_at_first_row: int | None = None
    text_bytes = 0
    count = 0

    tracemalloc.start()
    try:
        async for row in reports.iter_report_rows(
            amazon.ctx, amazon.org, amazon.conn, document_id, stats=stats
        ):
            if bytes_at_first_row is None:
                bytes_at_first_row = stats.compressed_bytes
            text_bytes += sum(len(v) + 3 for v in row.values())
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == stats.rows >= 120_000
    (report,) = _emulated_reports(live_server)
    assert report["rows"] == count
    assert text_bytes > 15_000_000  # the text of the rows
    assert peak < 4_000_000  # what the client held at its peak: a chunk, a line, a row
    assert stats.chunks > 20 and stats.largest_chunk <= documents.CHUNK_BYTES
    assert bytes_at_first_row is not None and bytes_at_first_row <= documents.CHUNK_BYTES
    assert stats.resumes == stats.restarts == stats.renewals == 0


async def test_a_cut_connection_and_a_503_mid_download_resume_by_range(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, ledger_rows=40_000)
    document_id = await _done_document(amazon, cols.LEDGER_DETAIL)
    clean = [
        r async for r in reports.iter_report_rows(amazon.ctx, amazon.org, amazon.conn, document_id)
    ]
    _configure(
        live_server,
        download_fail=[{"cut_after_bytes": 150_000}, {"status": 503}, {"cut_after_bytes": 70_000}],
    )
    stats = documents.DownloadStats()

    resumed = [
        r
        async for r in reports.iter_report_rows(
            amazon.ctx, amazon.org, amazon.conn, document_id, stats=stats
        )
    ]

    assert len(resumed) == len(clean) > 40_000 and _digest(resumed) == _digest(clean)
    assert stats.failures == ["RemoteProtocolError", "HTTP 503", "RemoteProtocolError"]
    assert stats.resumes == 2 and stats.restarts == 0  # two 206 continuations, nothing re-read
    assert _admin(live_server, "config")["reports"]["download_fail"] == []


async def test_without_range_support_a_cut_download_restarts_and_skips_the_rows_given(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, ledger_rows=20_000)
    document_id = await _done_document(amazon, cols.LEDGER_DETAIL)
    clean = [
        r async for r in reports.iter_report_rows(amazon.ctx, amazon.org, amazon.conn, document_id)
    ]
    _configure(live_server, honour_range=False, download_fail=[{"cut_after_bytes": 120_000}])
    stats = documents.DownloadStats()

    again = [
        r
        async for r in reports.iter_report_rows(
            amazon.ctx, amazon.org, amazon.conn, document_id, stats=stats
        )
    ]

    assert len(again) == len(clean) > 20_000 and _digest(again) == _digest(clean)
    assert stats.failures == ["RemoteProtocolError"]
    assert (stats.resumes, stats.restarts) == (0, 1)  # the range was ignored: read again


async def test_a_download_that_keeps_failing_gives_up_in_words(
    amazon: Seller, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "BACKOFF_SECONDS", (0.01,))
    document_id = await _done_document(amazon, cols.REIMBURSEMENTS)
    _configure(live_server, download_fail=[{"status": 503}] * 10)
    with pytest.raises(documents.DocumentDownloadFailed, match="HTTP 503"):
        async for _ in reports.iter_report_rows(amazon.ctx, amazon.org, amazon.conn, document_id):
            pass


async def test_an_expired_presigned_url_is_refused_then_renewed(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, url_ttl_seconds=1)
    document_id = await _done_document(amazon, cols.REIMBURSEMENTS)
    document = await reports.get_report_document(amazon.ctx, amazon.org, amazon.conn, document_id)
    assert document.compression == "GZIP" and "X-Amz-Signature=" in document.url
    await asyncio.sleep(1.2)

    with pytest.raises(documents.DocumentUrlExpired, match="AccessDenied: Request has expired"):
        async for _ in documents.iter_document_rows(amazon.ctx.http, document):
            pass
    raw = await amazon.ctx.http.get(document.url)
    assert raw.status_code == 403 and raw.headers["content-type"].startswith("application/xml")
    tampered = await amazon.ctx.http.get(
        document.url.replace("X-Amz-Expires=1", "X-Amz-Expires=900")
    )
    assert tampered.status_code == 403 and b"SignatureDoesNotMatch" in tampered.content

    async def renew() -> documents.ReportDocument:
        return await reports.get_report_document(amazon.ctx, amazon.org, amazon.conn, document_id)

    stats = documents.DownloadStats()
    rows = [
        r
        async for r in documents.iter_document_rows(
            amazon.ctx.http, document, renew=renew, stats=stats
        )
    ]
    assert rows and stats.renewals == 1


# -- rate limits -----------------------------------------------------------------------------


async def test_429s_are_retried_until_the_quota_allows(amazon: Seller, live_server: str) -> None:
    _configure(live_server, in_queue_polls=2, in_progress_polls=2)
    _admin(
        live_server,
        "config",
        {"rate_limit": {"endpoint": "get_report", "per_second": 1.0, "burst": 1}},
    )
    report_id = await reports.create_report(
        amazon.ctx, amazon.org, amazon.conn, cols.REIMBURSEMENTS, [US], data_start=HISTORY_START
    )
    started = time.monotonic()

    report = await reports.wait_for_report(
        amazon.ctx, amazon.org, amazon.conn, report_id, poll_seconds=0.01
    )

    assert report.processing_status == "DONE"
    calls = _admin(live_server, "stats")["requests"]["get_report"]
    assert calls > 5  # 5 answered polls and the throttled attempts between them
    assert time.monotonic() - started >= 4 * 0.9  # one poll a second got through


async def test_the_client_paces_each_operation_to_its_usage_plan(amazon: Seller) -> None:
    bucket = reports.bucket_for(amazon.conn, "createReport")
    assert (bucket.rate, bucket.burst) == (0.0167 * reports.PACE, 15.0)
    assert reports.bucket_for(amazon.conn, "getReport").rate == 2.0 * reports.PACE
    assert finances.bucket_for(amazon.conn).rate == 0.5 * finances.PACE


# -- the seeded history ----------------------------------------------------------------------


async def test_the_seeded_history_is_the_same_for_the_same_seed_and_anchor(
    amazon: Seller, live_server: str
) -> None:
    _configure(live_server, seed=42, ledger_rows=5_000)
    first = await amazon.rows(cols.LEDGER_DETAIL)
    planted = _admin(live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US)
    _configure(live_server, seed=42)
    again = await amazon.rows(cols.LEDGER_DETAIL)
    _configure(live_server, seed=43)
    other = await amazon.rows(cols.LEDGER_DETAIL)
    other_planted = _admin(
        live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US
    )

    assert _digest(first) == _digest(again) and len(first) > 5_000
    assert _digest(other) != _digest(first)
    assert [c["kind"] for c in planted["cases"]] == [c["kind"] for c in other_planted["cases"]]
    assert planted["cases"] != other_planted["cases"]
    kinds = {c["kind"] for c in planted["cases"]}
    assert kinds == {
        "lost_warehouse",
        "damaged_warehouse",
        "refund_not_returned",
        "returned_different_fnsku",
        "inbound_short",
        "reimbursed_below_value",
    }
    expected = {c["expected"] for c in planted["cases"]}
    assert expected == {"claim", "already_reimbursed", "found", "outside_window", "not_yet"}
    dates = [r["Date and Time"] for r in first]
    assert dates == sorted(dates)


async def test_another_seller_has_another_history(amazon: Seller, live_server: str) -> None:
    mine = _admin(live_server, "reports/history", selling_partner_id=SELLER, marketplace_id=US)
    theirs = _admin(
        live_server, "reports/history", selling_partner_id=OTHER_SELLER, marketplace_id=US
    )
    assert mine["products"][0]["fnsku"] != theirs["products"][0]["fnsku"]
    short = [s for s in mine["inbound_shipments"] if s["quantity_shipped"] > s["quantity_received"]]
    assert len(short) == 2 and mine["anchor"] == ANCHOR.isoformat()


# -- finances --------------------------------------------------------------------------------


async def test_refund_events_are_paged_with_next_token_and_exact_amounts(
    amazon: Seller, live_server: str
) -> None:
    after = datetime.now(UTC) - timedelta(days=539)
    small = [
        e
        async for e in finances.iter_refund_events(
            amazon.ctx, amazon.org, amazon.conn, posted_after=after, page_size=3
        )
    ]
    pages = _admin(live_server, "stats")["requests"]["financial_events"]
    whole = [
        e
        async for e in finances.iter_refund_events(
            amazon.ctx, amazon.org, amazon.conn, posted_after=after
        )
    ]

    assert small == whole and len(whole) > 10
    assert pages == -(-len(whole) // 3)  # ceil: one request per page of 3
    planted = _admin(live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US)
    refunded = {c["order_id"] for c in planted["cases"] if c["order_id"]}
    assert refunded <= {e["AmazonOrderId"] for e in whole}
    event = next(e for e in whole if e["AmazonOrderId"] in refunded)
    (item,) = event["ShipmentItemAdjustmentList"]
    principal = item["ItemChargeAdjustmentList"][0]
    assert principal["ChargeType"] == "Principal"
    amount = principal["ChargeAmount"]["CurrencyAmount"]
    assert isinstance(amount, str) and amount.startswith("-")  # the decimal text, not a float
    case = next(c for c in planted["cases"] if c["order_id"] == event["AmazonOrderId"])
    typed = finances.RefundEvent.parse(event)
    assert -typed.items[0].principal * 100 == case["unit_value_minor"]
    assert typed.items[0].seller_sku == case["sku"] and typed.posted_date.tzinfo is not None


async def test_posted_before_too_recent_is_refused(amazon: Seller) -> None:
    with pytest.raises(reports.ReportRefused, match="two minutes"):
        await finances.list_financial_events_page(
            amazon.ctx,
            amazon.org,
            amazon.conn,
            posted_after=datetime.now(UTC) - timedelta(days=3),
            posted_before=datetime.now(UTC),
        )


# -- inbound shipments ------------------------------------------------------------------------


async def test_closed_inbound_shipments_page_and_their_items_say_what_was_sent(
    amazon: Seller, live_server: str
) -> None:
    shipments = [
        s
        async for s in inbound.iter_shipments(
            amazon.ctx,
            amazon.org,
            amazon.conn,
            US,
            updated_after=HISTORY_START,
            updated_before=datetime.now(UTC),
        )
    ]
    history = _admin(live_server, "reports/history", selling_partner_id=SELLER, marketplace_id=US)
    expected = {s["shipment_id"]: s for s in history["inbound_shipments"]}
    assert sorted(s["ShipmentId"] for s in shipments) == sorted(expected)
    assert len(shipments) > 20 and {s["ShipmentStatus"] for s in shipments} == {"CLOSED"}
    pages = _admin(live_server, "stats")["requests"]["inbound_shipments"]
    assert pages == -(-len(shipments) // 20)  # NextToken pages of 20

    planted = _admin(live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US)
    short = next(c for c in planted["cases"] if c["kind"] == "inbound_short")
    (item,) = await inbound.get_shipment_items(
        amazon.ctx, amazon.org, amazon.conn, short["reference"], US
    )
    assert (item.fnsku, item.seller_sku) == (short["fnsku"], short["sku"])
    assert item.quantity_shipped - item.quantity_received == short["quantity"]
    ledger = await amazon.rows(cols.LEDGER_DETAIL)
    receipts = [r for r in ledger if r["Reference ID"] == short["reference"]]
    assert sum(int(r["Quantity"]) for r in receipts) == item.quantity_received
    with pytest.raises(reports.ReportRefused, match="Invalid ShipmentId"):
        await inbound.get_shipment_items(amazon.ctx, amazon.org, amazon.conn, "FBA15NOPE", US)


# -- isolation -------------------------------------------------------------------------------


def _other_browser(live_server: str) -> Browser:
    browser = Browser(live_server)
    browser.client.base_url = httpx.URL(live_server)
    page = browser.get("/api/auth/amazon/start?next=/")
    overrides = {
        "user_id": f"amzn1.account.OTHER{uuid.uuid4().hex[:12].upper()}",
        "email": f"other-{uuid.uuid4().hex[:8]}@example.com",
        "name": "Other Seller",
    }
    callback = browser.submit(page, ("decision", "approve"), follow=False, overrides=overrides)
    assert browser.get(callback.headers["location"], follow=False).status_code == 302
    return browser


async def test_a_report_is_its_sellers_and_a_connection_its_organizations(
    amazon: Seller, live_server: str, runtime: Runtime, settings: Settings
) -> None:
    document_id = await _done_document(amazon, cols.REIMBURSEMENTS)
    (report,) = _emulated_reports(live_server)
    browser = _other_browser(live_server)
    try:
        other = await _seller(browser, runtime, settings, live_server, OTHER_SELLER)
    finally:
        browser.close()

    # Another seller's connection: Amazon answers 404 for the report and its document.
    with pytest.raises(reports.ReportRefused, match="404"):
        await reports.get_report(other.ctx, other.org, other.conn, report["reportId"])
    with pytest.raises(reports.ReportRefused, match="404"):
        await reports.get_report_document(other.ctx, other.org, other.conn, document_id)
    # Another organization cannot call as this connection at all.
    with pytest.raises(NotFound):
        await reports.get_report(other.ctx, other.org, amazon.conn, report["reportId"])
