"""Order sync jobs over HTTP through the live server and the Shopify emulator: a connected shop's
whole order history (``status=any``, every ``Link`` page) arrives once; the job is tracked at
/api/v1/sync-jobs; a provider failure mid-sync is retried from the saved cursor; a cancelled
job resumes; a run that died is taken over; a tight call limit is waited out; tenants are
isolated."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, text

from sellerhub.commerce.sync import channels, service
from sellerhub.commerce.sync.models import SyncJob
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import system_context
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.conftest import make_tenant
from tests.jobs_helpers import run_worker

SEEDED = 30  # the Shopify emulator seeds every shop with 30 orders (3 cancelled, 6 closed)


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the emulators of the live server, like a deployed worker."""
    before = jobs.resources()
    live = settings.model_copy(update={"public_url": live_server})
    jobs.configure(dataclasses.replace(before, settings=live))
    yield
    jobs.configure(before)
    async with httpx.AsyncClient(timeout=5) as http:
        await http.post(
            f"{live_server}/_emulators/shopify/_admin/config",
            json={"fail": None, "rest_bucket_size": 40, "rest_leak_per_second": 2},
        )


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "SHOPIFY_PAGE", 10)


def _connect_shop(seller: Browser, shop: str) -> str:
    page = seller.get(f"/api/v1/auth/shopify/install?shop={shop}&next=/shop-connected")
    back = seller.submit(page, ("decision", "approve"), follow=False)
    assert urlsplit(back.headers["location"]).path == "/api/v1/auth/shopify/callback"
    landed = seller.get(back.headers["location"], follow=False)
    assert landed.status_code == 302, landed.text
    (connection,) = [
        c
        for c in seller.client.get("/api/v1/connections").json()
        if c["external_account_id"] == shop
    ]
    return str(connection["id"])


def _jobs(seller: Browser, **params: str) -> list[dict[str, Any]]:
    answer = seller.client.get("/api/v1/sync-jobs", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _orders(seller: Browser, channel: str = "shopify") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "200", "channel": channel} | ({"cursor": cursor} if cursor else {})
        page = seller.client.get("/api/v1/orders", params=params).json()
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def _emulator(live_server: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = f"{live_server}/_emulators/shopify/_admin/{path}"
    answer = httpx.post(url, json=body, timeout=10) if body is not None else httpx.get(url)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _shop() -> str:
    return f"sync-{uuid.uuid4().hex[:8]}.myshopify.com"


async def test_connecting_a_shop_syncs_its_whole_history_once(
    seller: Browser, live_server: str, live_jobs: None, small_pages: None
) -> None:
    shop = _shop()
    connection_id = _connect_shop(seller, shop)
    await run_worker()  # the full sync requested with the connection
    (job,) = _jobs(seller)
    assert job["connection_id"] == connection_id and job["channel"] == "shopify"
    assert job["status"] == "succeeded", job
    assert job["mode"] == "full" and job["pages"] == 3 and job["fetched"] == SEEDED
    assert job["changed"] == SEEDED and job["skipped"] == 0 and job["last_error"] is None
    orders = _orders(seller)
    assert len(orders) == SEEDED  # status=any: cancelled and closed orders too
    expected = {str(o["id"]) for o in _emulator(live_server, f"orders?shop={shop}")["orders"]}
    assert {o["external_id"] for o in orders} == expected
    # A second full sync reads everything again and changes nothing.
    again = seller.client.post(
        "/api/v1/sync-jobs", json={"connection_id": connection_id}, headers=seller.csrf()
    )
    assert again.status_code == 202, again.text
    await run_worker()
    latest = seller.client.get(f"/api/v1/sync-jobs/{again.json()['id']}").json()
    assert latest["status"] == "succeeded" and latest["fetched"] == SEEDED
    assert latest["changed"] == 0
    assert len(_orders(seller)) == SEEDED


async def test_incremental_sync_reads_only_updated_orders(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    shop = _shop()
    connection_id = _connect_shop(seller, shop)
    await run_worker()
    newest = max(_emulator(live_server, f"orders?shop={shop}")["orders"], key=lambda o: o["id"])
    _emulator(
        live_server, "orders", {"shop": shop, "order": {"id": newest["id"], "email": "x@y.z"}}
    )
    # The periodic schedule asks for an incremental sync of every connected channel.
    async with unit_of_work(runtime.sessionmaker) as session:
        requested, revived = await service.schedule(session)
    assert requested == 1 and revived == 0
    await run_worker()
    latest = _jobs(seller)[0]
    assert latest["mode"] == "incremental" and latest["status"] == "succeeded", latest
    assert latest["since"] is not None
    assert latest["fetched"] == 1 and latest["changed"] == 1
    (changed,) = [o for o in _orders(seller) if o["external_id"] == str(newest["id"])]
    assert changed["customer_email"] == "x@y.z"
    assert connection_id == latest["connection_id"]


async def test_a_provider_failure_mid_sync_retries_from_the_saved_cursor(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = _shop()
    _connect_shop(seller, shop)
    # After the first page is committed, the shop starts answering 503.
    real_apply = service._apply_page

    async def apply_then_break(*args: object, **kwargs: object) -> str:
        status = await real_apply(*args, **kwargs)  # type: ignore[arg-type]
        _emulator(
            live_server, "config", {"fail": {"endpoint": "orders", "status": 503, "count": 1}}
        )
        monkeypatch.setattr(service, "_apply_page", real_apply)
        return status

    monkeypatch.setattr(service, "_apply_page", apply_then_break)
    calls_before = _emulator(live_server, "stats")["requests"].get("orders", 0)
    await run_worker()
    (job,) = _jobs(seller)
    assert job["status"] == "queued" and job["pages"] == 1 and job["fetched"] == 10, job
    assert "503" in (job["last_error"] or "")
    await asyncio.sleep(2.5)  # the queue's backoff before the retry
    await run_worker()
    (job,) = _jobs(seller)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    assert job["pages"] == 3 and job["fetched"] == SEEDED and job["changed"] == SEEDED
    # Page 1 once, the failed call of page 2, then pages 2 and 3: nothing fetched twice.
    calls = _emulator(live_server, "stats")["requests"]["orders"] - calls_before
    assert calls == 4
    assert len(_orders(seller)) == SEEDED


async def test_cancel_then_resume(seller: Browser, live_server: str, live_jobs: None) -> None:
    connection_id = _connect_shop(seller, _shop())
    await run_worker()  # the automatic full sync
    started = seller.client.post(
        "/api/v1/sync-jobs", json={"connection_id": connection_id}, headers=seller.csrf()
    )
    assert started.status_code == 202 and started.json()["status"] == "queued"
    job_id = started.json()["id"]
    busy = seller.client.post(
        "/api/v1/sync-jobs", json={"connection_id": connection_id}, headers=seller.csrf()
    )
    assert busy.status_code == 409 and busy.json()["code"] == "sync-job-active"
    cancelled = seller.client.post(f"/api/v1/sync-jobs/{job_id}/cancel", headers=seller.csrf())
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["resumable"] is True
    await run_worker()  # the run finds the job cancelled and does nothing
    assert seller.client.get(f"/api/v1/sync-jobs/{job_id}").json()["pages"] == 0
    again = seller.client.post(f"/api/v1/sync-jobs/{job_id}/cancel", headers=seller.csrf())
    assert again.status_code == 409
    resumed = seller.client.post(f"/api/v1/sync-jobs/{job_id}/resume", headers=seller.csrf())
    assert resumed.status_code == 202 and resumed.json()["status"] == "queued"
    await run_worker()
    done = seller.client.get(f"/api/v1/sync-jobs/{job_id}").json()
    assert done["status"] == "succeeded" and done["fetched"] == SEEDED
    assert done["changed"] == 0  # the automatic sync had them all
    finished = seller.client.post(f"/api/v1/sync-jobs/{job_id}/resume", headers=seller.csrf())
    assert finished.status_code == 409 and finished.json()["code"] == "sync-job-not-resumable"
    assert len(_orders(seller)) == SEEDED


class WorkerDied(Exception):
    """Stands for the worker process dying: nothing of the run's own cleanup happens."""


async def test_a_run_that_died_is_taken_over_from_its_cursor(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    runtime: Runtime,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _connect_shop(seller, _shop())
    real_apply = service._apply_page

    async def apply_then_die(*args: object, **kwargs: object) -> str:
        await real_apply(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(service, "_apply_page", real_apply)
        raise WorkerDied

    monkeypatch.setattr(service, "_apply_page", apply_then_die)
    await run_worker()
    (job,) = _jobs(seller)
    assert job["status"] == "running" and job["pages"] == 1, job  # left as the dead run left it
    async with unit_of_work(runtime.sessionmaker) as session:  # …and then silent for too long
        with system_context(session, "test: the run's heartbeat ages"):
            row = await session.scalar(select(SyncJob).where(SyncJob.id == uuid.UUID(job["id"])))
            assert row is not None and row.cursor is not None and row.lease is not None
            row.heartbeat_at = utcnow() - service.LEASE - timedelta(seconds=1)
            await session.flush()
    async with unit_of_work(runtime.sessionmaker) as session:
        requested, revived = await service.schedule(session)
    assert revived == 1 and requested == 0  # the shop has an active job: no new one
    await run_worker()
    done = seller.client.get(f"/api/v1/sync-jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done
    assert done["pages"] == 3 and done["fetched"] == SEEDED and done["changed"] == SEEDED
    assert len(_orders(seller)) == SEEDED


async def test_a_tight_call_limit_is_waited_out(
    seller: Browser, live_server: str, live_jobs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "SHOPIFY_PAGE", 5)
    shop = _shop()
    _emulator(live_server, "config", {"rest_bucket_size": 3, "rest_leak_per_second": 4})
    _connect_shop(seller, shop)
    await run_worker()
    (job,) = _jobs(seller)
    assert job["status"] == "succeeded", job
    assert job["pages"] == 6 and job["fetched"] == SEEDED
    assert len(_orders(seller)) == SEEDED


async def test_errors_and_isolation(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    connection_id = _connect_shop(seller, _shop())
    await run_worker()
    (job,) = _jobs(seller)
    other = await make_tenant(runtime, "Elsewhere")
    async with httpx.AsyncClient(base_url=live_server, headers=other.headers) as client:
        assert (await client.get(f"/api/v1/sync-jobs/{job['id']}")).status_code == 404
        assert (await client.get("/api/v1/sync-jobs")).json()["items"] == []
        foreign = await client.post("/api/v1/sync-jobs", json={"connection_id": connection_id})
        assert foreign.status_code == 404
        assert (await client.post(f"/api/v1/sync-jobs/{job['id']}/resume")).status_code == 404
        bad = await client.post("/api/v1/sync-jobs", json={"connection_id": "nope"})
        assert bad.status_code == 422 and "connection_id" in bad.text
        mode = await client.post(
            "/api/v1/sync-jobs", json={"connection_id": connection_id, "mode": "sometimes"}
        )
        assert mode.status_code == 422
    no_csrf = seller.client.post("/api/v1/sync-jobs", json={"connection_id": connection_id})
    assert no_csrf.status_code == 403
    async with runtime.engine.begin() as conn:  # the shop revoked the app
        await conn.execute(
            text("UPDATE connections SET status = 'needs_reauth', status_reason = 'revoked'")
        )
    revoked = seller.client.post(
        "/api/v1/sync-jobs", json={"connection_id": connection_id}, headers=seller.csrf()
    )
    assert revoked.status_code == 409 and revoked.json()["code"] == "connection-needs-reauth"


def test_link_header_and_call_limit_parsing() -> None:
    link = (
        "<https://s.myshopify.com/admin/api/2026-10/orders.json?limit=5&page_info=prev1>; "
        'rel="previous", <https://s.myshopify.com/admin/api/2026-10/orders.json?limit=5&'
        'page_info=next2>; rel="next"'
    )
    assert channels.shopify_next_page_info(link) == "next2"
    assert channels.shopify_next_page_info(link.split(", ")[0]) is None
    assert channels.shopify_next_page_info(None) is None
    assert channels.shopify_pause("10/40") == 0.0
    assert channels.shopify_pause("32/40") == pytest.approx(6.0)
    assert channels.shopify_pause("40/40") == pytest.approx(10.0)
    assert channels.shopify_pause("garbage") == 0.0
    assert channels.shopify_pause(None) == 0.0


def _connect_store(seller: Browser, live_server: str, name: str) -> str:
    """A WooCommerce store of the emulator, connected with keys issued by its shop manager."""
    keys = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/keys", json={"store": name}, timeout=15
    ).json()
    saved = seller.client.post(
        "/integrations/woocommerce/credentials",
        json={
            "store_url": f"{live_server}/_emulators/woocommerce/stores/{name}",
            "consumer_key": keys["consumer_key"],
            "consumer_secret": keys["consumer_secret"],
        },
        headers=seller.csrf(),
    )
    assert saved.status_code == 201, saved.text
    return str(saved.json()["id"])


async def test_woocommerce_store_is_synced_page_by_page(
    seller: Browser, live_server: str, live_jobs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WooCommerce store (plain http in development, so every call is OAuth 1.0a signed):
    saving its keys requests the first full sync, which follows X-WP-TotalPages."""
    monkeypatch.setattr(channels, "WOOCOMMERCE_PAGE", 10)
    connection_id = _connect_store(seller, live_server, f"sync-{uuid.uuid4().hex[:8]}")
    await run_worker()
    (job,) = _jobs(seller)
    assert job["channel"] == "woocommerce" and job["status"] == "succeeded", job
    total = seller.client.get(
        f"/api/v1/connections/{connection_id}/proxy/orders", params={"per_page": "1"}
    ).headers["x-wp-total"]
    assert job["fetched"] == int(total) == 25 and job["pages"] == 3
    orders = seller.client.get("/api/v1/orders", params={"channel": "woocommerce"}).json()
    assert len(orders["items"]) == 25
    assert all(o["currency"] and o["total_minor"] >= 0 for o in orders["items"])


def _sync(seller: Browser, connection_id: str) -> str:
    started = seller.client.post(
        "/api/v1/sync-jobs", json={"connection_id": connection_id}, headers=seller.csrf()
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


async def test_two_woocommerce_stores_with_the_same_order_numbers(
    seller: Browser, live_server: str, live_jobs: None
) -> None:
    """Two stores of one organization both number their orders 1…25: both syncs keep all 50,
    and each store's sync changes only its own orders."""
    names = [f"sync-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    first, second = (_connect_store(seller, live_server, name) for name in names)
    await run_worker()  # the first full sync of each store
    assert {(j["connection_id"], j["status"], j["changed"]) for j in _jobs(seller)} == {
        (first, "succeeded", 25),
        (second, "succeeded", 25),
    }
    before = {(o["connection_id"], o["external_id"]): o for o in _orders(seller, "woocommerce")}
    numbers = {str(n) for n in range(1, 26)}
    assert len(before) == 50
    assert {n for c, n in before if c == first} == {n for c, n in before if c == second} == numbers
    # The first store changes its newest order (25); the second store's order 25 stays as it is.
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as http:
        emitted = await http.post(
            "/_emulators/woocommerce/_admin/emit",
            json={"store": names[0], "topic": "order.updated"},
        )
    assert emitted.status_code == 200, emitted.text
    await run_worker()  # the store's webhook delivery, if it has its webhooks
    for connection_id in (first, second):
        job_id = _sync(seller, connection_id)
        await run_worker()
        job = seller.client.get(f"/api/v1/sync-jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["fetched"] == 25, job
        if connection_id == second:
            assert job["changed"] == 0  # nothing of the second store changed
    after = {(o["connection_id"], o["external_id"]): o for o in _orders(seller, "woocommerce")}
    assert set(after) == set(before)
    changed = {key for key in after if after[key]["updated_at"] != before[key]["updated_at"]}
    assert changed == {(first, "25")}
