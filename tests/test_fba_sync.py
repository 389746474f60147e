"""The Amazon FBA inventory sync over real HTTP, through the live server, its SP-API emulator
and the job worker: connecting a seller syncs every page of every marketplace into the FBA
locations with a dated snapshot; a 503 mid-way resumes from the saved cursor without reading a
page twice; 429s are retried within the documented rate; quantities set at the emulator become
levels and snapshot items; a second run journals only the differences; an expired nextToken
reads the marketplace again; snapshots are the organization's own; a sign-in with Amazon and the
hourly schedule request syncs."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.commerce.inventory.fba import tasks as fba_tasks
from sellerhub.commerce.sync import service as sync
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.jobs_helpers import run_worker

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
SELLER = "A3EMULATORSELLER1"


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the emulators of the live server, like a deployed worker."""
    before = jobs.resources()
    live = settings.model_copy(update={"public_url": live_server})
    jobs.configure(dataclasses.replace(before, settings=live))
    yield
    jobs.configure(before)


@pytest.fixture(autouse=True)
def _reset_amazon(live_server: str) -> Iterator[None]:
    yield
    httpx.post(f"{live_server}/_emulators/amazon/_admin/reset", timeout=5)


def _admin(live_server: str, path: str, body: Any = None) -> dict[str, Any]:
    url = f"{live_server}/_emulators/amazon/_admin/{path}"
    answer = httpx.post(url, json=body, timeout=10) if body is not None else httpx.get(url)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _requests(live_server: str) -> list[dict[str, Any]]:
    return list(_admin(live_server, "inventory/requests")["requests"])


def _item(sku: str, fulfillable: int, **details: Any) -> dict[str, Any]:
    return {
        "sellerSku": sku,
        "asin": f"B0{sku[-8:]:0>8}",
        "fnSku": f"X0{sku[-8:]:0>8}",
        "productName": f"Product {sku}",
        "inventoryDetails": {"fulfillableQuantity": fulfillable, **details},
    }


def _inventory(live_server: str, items: dict[str, list[dict[str, Any]]], page_size: int) -> None:
    _admin(
        live_server,
        "config",
        {"inventory": {SELLER: items}, "inventory_page_size": page_size},
    )


def _connect(browser: Browser, marketplaces: str = US, seller: str = SELLER) -> str:
    start = browser.client.get("/api/v1/connections/amazon-sp/authorize?next=/done")
    assert start.status_code == 200, start.text
    page = browser.get(start.json()["auth_url"])
    overrides = {"selling_partner_id": seller, "marketplace_ids": marketplaces}
    back = browser.submit(page, ("decision", "approve"), follow=False, overrides=overrides)
    assert browser.get(back.headers["location"], follow=False).status_code == 302
    (connection,) = [
        c
        for c in browser.client.get("/api/v1/connections").json()
        if c["provider"] == "amazon_spapi"
    ]
    return str(connection["id"])


def _jobs(browser: Browser) -> list[dict[str, Any]]:
    answer = browser.client.get("/api/v1/sync-jobs")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _snapshots(browser: Browser) -> list[dict[str, Any]]:
    answer = browser.client.get("/api/v1/inventory/fba/snapshots")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _snapshot_items(browser: Browser, snapshot_id: str, limit: int = 7) -> list[dict[str, Any]]:
    """Every item, read page by page (the cursor is the endpoint's own)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        answer = browser.client.get(
            f"/api/v1/inventory/fba/snapshots/{snapshot_id}/items", params=params
        )
        assert answer.status_code == 200, answer.text
        found += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


async def _levels(runtime: Runtime) -> dict[tuple[str, str], tuple[int, int]]:
    """(location code, SKU) → (on_hand, reserved), read past the API (every organization)."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT l.code, p.sku, s.on_hand, s.reserved FROM stock_levels s"
                " JOIN locations l ON l.id = s.location_id JOIN products p ON p.id = s.product_id"
            )
        )
        return {(code, sku): (on_hand, reserved) for code, sku, on_hand, reserved in rows}


async def _movements(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.sku, l.code, m.delta_on_hand, m.on_hand_after, m.reason, m.source,"
                " m.idempotency_key FROM stock_movements m JOIN products p ON p.id = m.product_id"
                " JOIN locations l ON l.id = m.location_id ORDER BY m.id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def _replay_equals_levels(runtime: Runtime) -> None:
    """The journal replayed (deltas summed per level) equals the levels."""
    async with runtime.engine.connect() as conn:
        mismatched = await conn.scalar(
            text(
                "SELECT count(*) FROM stock_levels s FULL JOIN (SELECT organization_id,"
                " product_id, location_id, sum(delta_on_hand) AS on_hand FROM stock_movements"
                " GROUP BY 1, 2, 3) j USING (organization_id, product_id, location_id)"
                " WHERE coalesce(s.on_hand, 0) <> coalesce(j.on_hand, 0)"
            )
        )
    assert mismatched == 0


def _skus(count: int, prefix: str = "SKU") -> list[dict[str, Any]]:
    return [_item(f"{prefix}-{n:04d}", n % 9, inboundShippedQuantity=n % 4) for n in range(count)]


# -- paging, failures and rate limits --------------------------------------------------------


async def test_a_503_mid_way_resumes_from_the_cursor_without_reading_a_page_twice(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _inventory(live_server, {US: _skus(35), CA: _skus(12, "CAN")}, page_size=10)
    _admin(
        live_server, "config", {"inventory_fail": {"marketplace_id": US, "page": 3, "status": 503}}
    )
    _connect(seller, f"{US},{CA}")

    await run_worker()  # the sync requested with the connection: pages 1-2, then the 503

    (job,) = _jobs(seller)
    assert job["resource"] == "fba_inventory" and job["channel"] == "amazon_spapi"
    # Canada (2 pages) then the US (2 pages): marketplaces are read in id order
    assert job["status"] == "queued" and job["pages"] == 4 and job["fetched"] == 12 + 20, job
    assert "503" in (job["last_error"] or "")
    (partial,) = _snapshots(seller)
    assert partial["status"] == "partial" and partial["items"] == 32
    assert partial["sync_job_id"] == job["id"] and partial["completed_at"] is None
    await asyncio.sleep(2.5)  # the queue's backoff before the retry
    await run_worker()

    (job,) = _jobs(seller)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    assert job["pages"] == 4 + 2 and job["fetched"] == 35 + 12 and job["last_error"] is None
    log = _requests(live_server)
    served = Counter((r["marketplace_id"], r["next_token"]) for r in log if r["status"] == 200)
    assert set(served.values()) == {1}  # no page token was served twice
    assert [(r["marketplace_id"], r["page"], r["status"]) for r in log] == [
        (CA, 1, 200),  # marketplaces in id order
        (CA, 2, 200),
        (US, 1, 200),
        (US, 2, 200),
        (US, 3, 503),
        (US, 3, 200),  # the resumed run: the saved token of page 3
        (US, 4, 200),
    ]
    failed = next(r for r in log if r["status"] == 503)
    assert served[(US, failed["next_token"])] == 1
    (snapshot,) = _snapshots(seller)
    assert snapshot["status"] == "complete" and snapshot["items"] == 47
    assert snapshot["completed_at"] is not None
    items = _snapshot_items(seller, snapshot["id"])
    assert len(items) == 47
    assert [(i["marketplace_id"], i["seller_sku"]) for i in items] == sorted(
        (i["marketplace_id"], i["seller_sku"]) for i in items
    )
    levels = await _levels(runtime)
    assert len(levels) == 47
    assert levels[(f"fba-{US}", "SKU-0034")] == (34 % 9, 0)
    assert levels[(f"fba-{CA}", "CAN-0011")] == (11 % 9, 0)
    await _replay_equals_levels(runtime)


async def test_429s_are_retried_within_the_documented_rate(
    seller: Browser, live_server: str, live_jobs: None
) -> None:
    _inventory(live_server, {US: _skus(30)}, page_size=5)  # 6 pages, more than the burst
    _admin(
        live_server,
        "config",
        {"inventory_fail": {"marketplace_id": US, "page": 2, "status": 429, "count": 2}},
    )
    _connect(seller, US)

    await run_worker()

    (job,) = _jobs(seller)
    assert job["status"] == "succeeded" and job["attempts"] == 1, job
    assert job["pages"] == 6 and job["fetched"] == 30
    log = _requests(live_server)
    assert [(r["page"], r["status"]) for r in log] == [
        (1, 200),
        (2, 429),
        (2, 429),
        (2, 200),
        (3, 200),
        (4, 200),
        (5, 200),
        (6, 200),
    ]
    # The emulator enforces the usage plan (2/s, burst 2): a request over it would be a 429
    # refused before its page is known (page None). There is none.
    assert all(r["page"] is not None for r in log)


async def test_still_throttled_after_the_retries_is_counted_and_waited_out(
    seller: Browser, live_server: str, live_jobs: None
) -> None:
    _inventory(live_server, {US: _skus(4)}, page_size=5)
    _admin(
        live_server,
        "config",
        {"inventory_fail": {"marketplace_id": US, "page": 1, "status": 429, "count": 4}},
    )
    _connect(seller, US)

    await run_worker()

    (job,) = _jobs(seller)
    assert job["status"] == "succeeded" and job["throttled"] == 1, job
    assert [r["status"] for r in _requests(live_server)] == [429, 429, 429, 429, 200]


async def test_an_expired_next_token_reads_the_marketplace_again(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _inventory(live_server, {US: _skus(25)}, page_size=10)
    _admin(
        live_server, "config", {"inventory_fail": {"marketplace_id": US, "page": 2, "status": 500}}
    )
    _connect(seller, US)
    await run_worker()
    (job,) = _jobs(seller)
    assert job["status"] == "queued" and job["pages"] == 1
    _admin(live_server, "inventory/expire-tokens", {})  # as 30 s would
    await asyncio.sleep(2.5)
    await run_worker()

    (job,) = _jobs(seller)
    assert job["status"] == "succeeded" and job["fetched"] == 10 + 25, job
    statuses = [(r["page"], r["status"]) for r in _requests(live_server)]
    assert statuses == [(1, 200), (2, 500), (None, 400), (1, 200), (2, 200), (3, 200)]
    (snapshot,) = _snapshots(seller)
    assert snapshot["status"] == "complete" and snapshot["items"] == 25
    # Page 1 applied twice changed nothing the second time: one movement per level.
    movements = await _movements(runtime)
    nonzero = [m for m in movements if m["delta_on_hand"] != 0]
    assert len(movements) == len(nonzero) == len({m["sku"] for m in nonzero})
    await _replay_equals_levels(runtime)


# -- levels, snapshot and journal ------------------------------------------------------------


async def test_quantities_become_levels_and_snapshot_items_and_a_second_run_journals_only_changes(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _inventory(
        live_server,
        {
            US: [
                _item(
                    "WIDGET-1",
                    17,
                    inboundWorkingQuantity=1,
                    inboundShippedQuantity=2,
                    inboundReceivingQuantity=3,
                    reservedQuantity={
                        "pendingCustomerOrderQuantity": 4,
                        "pendingTransshipmentQuantity": 5,
                        "fcProcessingQuantity": 6,
                    },
                    researchingQuantity={
                        "researchingQuantityBreakdown": [
                            {"name": "researchingQuantityInShortTerm", "quantity": 7}
                        ]
                    },
                    unfulfillableQuantity={"customerDamagedQuantity": 8, "expiredQuantity": 9},
                ),
                _item("WIDGET-2", 0, inboundShippedQuantity=40),
                _item("WIDGET-3", 5),
            ]
        },
        page_size=2,
    )
    connection_id = _connect(seller, US)
    await run_worker()

    (first_job,) = _jobs(seller)
    assert first_job["status"] == "succeeded" and first_job["changed"] == 2, first_job
    assert await _levels(runtime) == {
        (f"fba-{US}", "WIDGET-1"): (17, 0),
        (f"fba-{US}", "WIDGET-2"): (0, 0),
        (f"fba-{US}", "WIDGET-3"): (5, 0),
    }
    (snapshot,) = _snapshots(seller)
    items = {i["seller_sku"]: i for i in _snapshot_items(seller, snapshot["id"])}
    widget = items["WIDGET-1"]
    assert widget["asin"] == "B0WIDGET-1" and widget["fnsku"] == "X0WIDGET-1"
    assert widget["condition"] == "NewItem" and widget["product_id"]
    assert (widget["fulfillable"], widget["inbound_working"]) == (17, 1)
    assert (widget["inbound_shipped"], widget["inbound_receiving"]) == (2, 3)
    assert widget["reserved"] == 15 and widget["reserved_customer_orders"] == 4
    assert widget["reserved_transshipment"] == 5 and widget["reserved_fc_processing"] == 6
    assert widget["researching"] == 7
    assert widget["unfulfillable"] == 17 and widget["unfulfillable_customer_damaged"] == 8
    assert widget["unfulfillable_expired"] == 9 and widget["unfulfillable_defective"] == 0
    assert widget["total_quantity"] == 17 + 6 + 15 + 7 + 17
    assert items["WIDGET-2"]["inbound_shipped"] == 40
    # Unknown SKUs became products with Amazon's identifiers.
    products = seller.client.get("/api/v1/products", params={"limit": 50})
    if products.status_code == 200:  # the catalog API (another part of the issue)
        by_sku = {p["sku"]: p for p in products.json()["items"]}
        assert by_sku["WIDGET-3"]["asin"] == "B0WIDGET-3"
    async with runtime.engine.connect() as conn:
        identifiers = (
            await conn.execute(
                text("SELECT asin, fnsku, title FROM products WHERE sku = 'WIDGET-3'")
            )
        ).one()
    assert tuple(identifiers) == ("B0WIDGET-3", "X0WIDGET-3", "Product WIDGET-3")
    first = await _movements(runtime)
    assert sorted((m["sku"], m["delta_on_hand"], m["on_hand_after"]) for m in first) == [
        ("WIDGET-1", 17, 17),
        ("WIDGET-3", 5, 5),
    ]  # WIDGET-2 has nothing fulfillable: its level is created at 0, nothing moved
    assert {m["reason"] for m in first} == {"fba_sync"}
    assert {m["source"] for m in first} == {f"fba-sync:{first_job['id']}"}
    assert all(m["idempotency_key"].startswith(f"fba-sync:{first_job['id']}:") for m in first)

    # Amazon ships 3 of WIDGET-1 and receives WIDGET-2's inbound units; WIDGET-3 is unchanged.
    _admin(
        live_server,
        "inventory/quantities",
        {
            "selling_partner_id": SELLER,
            "marketplace_id": US,
            "items": [
                {"sellerSku": "WIDGET-1", "inventoryDetails": {"fulfillableQuantity": 14}},
                {"sellerSku": "WIDGET-2", "inventoryDetails": {"fulfillableQuantity": 40}},
            ],
        },
    )
    started = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": connection_id, "resource": "fba_inventory"},
        headers=seller.csrf(),
    )
    assert started.status_code == 202, started.text
    assert started.json()["resource"] == "fba_inventory" and started.json()["mode"] == "full"
    await run_worker()

    second_job = seller.client.get(f"/api/v1/sync-jobs/{started.json()['id']}").json()
    assert second_job["status"] == "succeeded" and second_job["changed"] == 2, second_job
    added = (await _movements(runtime))[len(first) :]
    assert sorted((m["sku"], m["delta_on_hand"], m["on_hand_after"]) for m in added) == [
        ("WIDGET-1", -3, 14),
        ("WIDGET-2", 40, 40),
    ]
    assert {m["source"] for m in added} == {f"fba-sync:{second_job['id']}"}
    assert (await _levels(runtime))[(f"fba-{US}", "WIDGET-1")] == (14, 0)
    newest, oldest = _snapshots(seller)
    assert oldest["id"] == snapshot["id"] and newest["sync_job_id"] == second_job["id"]
    assert newest["taken_at"] > oldest["taken_at"]
    again = {i["seller_sku"]: i for i in _snapshot_items(seller, newest["id"])}
    assert again["WIDGET-2"]["fulfillable"] == 40 and again["WIDGET-2"]["inbound_shipped"] == 0
    assert items["WIDGET-2"]["fulfillable"] == 0  # the old snapshot keeps what it saw
    kept = _snapshot_items(seller, oldest["id"])
    assert {i["seller_sku"]: i["fulfillable"] for i in kept}["WIDGET-1"] == 17
    await _replay_equals_levels(runtime)


async def test_the_seeded_catalogue_syncs_in_full(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _connect(seller, US)  # the emulator's own catalogue: hundreds of SKUs, 50 a page
    expected = _admin(live_server, f"inventory?selling_partner_id={SELLER}&marketplace_id={US}")
    summaries = expected["inventorySummaries"]

    await run_worker()

    (job,) = _jobs(seller)
    assert job["status"] == "succeeded", job
    assert job["fetched"] == len(summaries) >= 150
    assert job["pages"] == -(-len(summaries) // 50)
    levels = await _levels(runtime)
    assert {sku: q for (code, sku), q in levels.items() if code == f"fba-{US}"} == {
        s["sellerSku"]: (s["inventoryDetails"]["fulfillableQuantity"], 0) for s in summaries
    }
    (snapshot,) = _snapshots(seller)
    items = _snapshot_items(seller, snapshot["id"], limit=1000)
    assert [i["total_quantity"] for i in items] == [s["totalQuantity"] for s in summaries]
    assert [i["fnsku"] for i in items] == [s["fnSku"] for s in summaries]


# -- tenancy and errors ----------------------------------------------------------------------


def _other_seller(live_server: str) -> Browser:
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


async def test_another_organization_cannot_see_the_snapshots(
    seller: Browser, live_server: str, live_jobs: None
) -> None:
    _inventory(live_server, {US: _skus(3)}, page_size=10)
    _connect(seller, US)
    await run_worker()
    (snapshot,) = _snapshots(seller)
    other = _other_seller(live_server)
    try:
        assert _snapshots(other) == []
        for path in ("", "/items"):
            answer = other.client.get(f"/api/v1/inventory/fba/snapshots/{snapshot['id']}{path}")
            assert answer.status_code == 404, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
        (job,) = _jobs(seller)
        assert other.client.get(f"/api/v1/sync-jobs/{job['id']}").status_code == 404
        mine = seller.client.get(f"/api/v1/inventory/fba/snapshots/{snapshot['id']}")
        assert mine.status_code == 200 and mine.json()["items"] == 3
    finally:
        other.close()


async def test_only_an_amazon_seller_has_fba_inventory(seller: Browser, live_server: str) -> None:
    fedex = seller.client.post(
        "/api/v1/carriers/fedex/credentials",
        json={
            "client_id": "fedex-emulator-client",
            "client_secret": "fedex-emulator-secret",
            "account_number": "740561073",
        },
        headers=seller.csrf(),
    )
    assert fedex.status_code == 201, fedex.text
    refused = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": fedex.json()["id"], "resource": "fba_inventory"},
        headers=seller.csrf(),
    )
    assert refused.status_code == 422 and refused.json()["code"] == "not-an-amazon-seller"
    unknown = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": str(uuid.uuid4()), "resource": "fba_inventory"},
        headers=seller.csrf(),
    )
    assert unknown.status_code == 404
    bad = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": fedex.json()["id"], "resource": "stock"},
        headers=seller.csrf(),
    )
    assert bad.status_code == 422
    missing = seller.client.get(f"/api/v1/inventory/fba/snapshots/{uuid.uuid4()}/items")
    assert missing.status_code == 404
    cursor = seller.client.get(f"/api/v1/inventory/fba/snapshots/{uuid.uuid4()}/items?cursor=x")
    assert cursor.status_code in (404, 422)


# -- when syncs are requested ----------------------------------------------------------------


async def test_connect_then_sign_in_with_amazon_then_hourly(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _inventory(live_server, {US: _skus(3)}, page_size=10)
    connection_id = _connect(seller, US)
    async with runtime.engine.connect() as conn:
        outbox = [t for (t,) in await conn.execute(text("SELECT task_name FROM job_outbox"))]
    assert "commerce.fba_sync_after_connect" in outbox
    await run_worker()
    assert [j["resource"] for j in _jobs(seller)] == ["fba_inventory"]

    # Signing in with Amazon again: the organization has a seller, but its sync is fresh.
    again = Browser(live_server)
    again.client.base_url = httpx.URL(live_server)
    try:
        page = again.get("/api/auth/amazon/start?next=/")
        callback = again.submit(page, ("decision", "approve"), follow=False)
        assert again.get(callback.headers["location"], follow=False).status_code == 302
        await run_worker()
        assert len(_jobs(seller)) == 1
        # Once the last sync is older than the freshness window, a sign-in requests one.
        monkeypatch.setattr(fba_tasks, "LOGIN_FRESHNESS", fba_tasks.LOGIN_FRESHNESS * 0)
        page = again.get("/api/auth/amazon/start?next=/")
        callback = again.submit(page, ("decision", "approve"), follow=False)
        assert again.get(callback.headers["location"], follow=False).status_code == 302
    finally:
        again.close()
    await run_worker()
    newest = _jobs(seller)[0]
    assert len(_jobs(seller)) == 2 and newest["resource"] == "fba_inventory"
    assert newest["status"] == "succeeded" and newest["connection_id"] == connection_id

    # The hourly pass: one request per connected seller without an active FBA sync.
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await sync.schedule_fba(session) == 1
    await run_worker()
    assert len(_jobs(seller)) == 3 and len(_snapshots(seller)) == 3
    assert "commerce.fba_sync_schedule" in {
        name for name, t in jobs.queue_app.tasks.items() if t.queue == "maintenance"
    }


async def test_a_sign_in_without_an_amazon_seller_requests_nothing(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    other = _other_seller(live_server)  # a new organization: no connection, nothing enqueued
    other.close()
    again = Browser(live_server)
    again.client.base_url = httpx.URL(live_server)
    try:
        page = again.get("/api/auth/amazon/start?next=/")
        callback = again.submit(page, ("decision", "approve"), follow=False)
        assert again.get(callback.headers["location"], follow=False).status_code == 302
    finally:
        again.close()
    async with runtime.engine.connect() as conn:
        tasks = [t for (t,) in await conn.execute(text("SELECT task_name FROM job_outbox"))]
    assert "commerce.fba_sync_after_login" in tasks  # the seller signed in again
    await run_worker()
    assert _jobs(seller) == []
