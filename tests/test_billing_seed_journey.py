"""The seed journey (seed 000, phases 3-4) as one test, over real HTTP on the live server with
its emulators, driven the way a browser and the providers drive it:

1. the seller connects Amazon through the Amazon emulator's consent page;
2. the onboarding job creates the Stripe connected account silently (once, also run again),
   and the seller finishes verification on the emulator's hosted onboarding page;
3. the seller saves a card through the emulator's hosted card page (``setup_intent.succeeded``
   arrives signed at /webhooks/stripe and is drained);
4. the claims pipeline pulls the seller's reports from the Amazon emulator and detects claims;
   the seller files one; Amazon reimburses the case (the emulator's
   ``_admin/reports/reimbursements``, as Seller Central approves a claim); a second pull of the
   reimbursements report and its detection record the recovery, matched to the claim by the
   case id (the claims workflow requests the commission through the outbox);
5. the commission is charged exactly once: the request's job run by two workers at once, by
   the worker, and delivered again (counted at the emulator's ``_admin``);
6. a second recovery paid to the platform is withheld and its rest transferred to the seller
   once (the transfer job run twice; counted at the emulator);
7. the billing page shows the commission paid with its "Receipt" link (which the emulator
   serves) and the payout; the ledger holds one charge and one transfer."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.billing.commissions import tasks as commission_tasks
from sellerhub.billing.payouts import tasks as payout_tasks
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.jobs_helpers import _queues, live_worker, run_worker
from tests.stripe_helpers import (
    admin,
    drain,
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.test_billing_connect import CONNECT, SECRET
from tests.test_billing_customers import _save_card as save_card_on_hosted_page
from tests.test_claims_pipeline import SELLER, US, _configure, _connect, _pull
from tests.test_claims_workflow import commission_requests

pytestmark = pytest.mark.usefixtures("stripe_reset")


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the live server's emulators (Stripe and Amazon)."""
    async with live_worker(settings, live_server):
        yield


@pytest.fixture(autouse=True)
def _reset_amazon(live_server: str) -> Iterator[None]:
    yield
    httpx.post(f"{live_server}/_emulators/amazon/_admin/reset", timeout=10)


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _accounts(live_server: str, organization_id: str) -> list[dict[str, Any]]:
    listed = _ok(
        httpx.get(
            f"{live_server}/_emulators/stripe/v1/accounts",
            params={"limit": 100},
            headers=SECRET,
            timeout=10,
        )
    )
    return [a for a in listed["data"] if a["metadata"].get("organization_id") == organization_id]


def _transfers(live_server: str, group: str) -> list[dict[str, Any]]:
    listed = _ok(
        httpx.get(
            f"{live_server}/_emulators/stripe/v1/transfers",
            params={"transfer_group": group},
            headers=SECRET,
            timeout=10,
        )
    )
    return list(listed["data"])


async def _task(task: Any, payload: dict[str, Any], runtime: Runtime) -> None:
    """One delivery of a job, as a worker runs it (its own session)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        await task(session, **payload)


# The reimbursement reason Amazon pays each kind of claim with.
REASONS = {
    "warehouse_lost": "Lost_Warehouse",
    "warehouse_damaged": "Damaged_Warehouse",
    "customer_return": "CustomerReturn",
    "inbound_shortage": "Lost_Inbound",
    "reimbursed_below_value": "Lost_Warehouse",
}


async def _pull_and_detect() -> None:
    """A worker runs the pull and the detection it requests, and every queue but billing's: the
    commission a recovery requests waits in the queue for the test's own workers."""
    await jobs.settle()
    await jobs.queue_app.run_worker_async(
        queues=[q for q in _queues() if q != "billing"],
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        concurrency=1,
    )


def _amazon_reimburses(live_server: str, claim: dict[str, Any], case: str) -> dict[str, str]:
    """Amazon approves case ``case`` and pays every unit of ``claim`` at 25.00: the row its
    reimbursements report will hold."""
    return dict(
        _ok(
            httpx.post(
                f"{live_server}/_emulators/amazon/_admin/reports/reimbursements",
                json={
                    "selling_partner_id": SELLER,
                    "marketplace_id": US,
                    "case_id": case,
                    "fnsku": claim["fnsku"],
                    "reason": REASONS[claim["kind"]],
                    "quantity": int(claim["quantity"]),
                    "amount_per_unit": 2_500,
                    "currency": "USD",
                },
                timeout=10,
            ),
            201,
        )
    )


async def _reimbursed(
    live_server: str, seller: Browser, connection_id: str, claim: dict[str, Any], case: str
) -> uuid.UUID:
    """The seller files ``claim`` as Amazon case ``case``; Amazon reimburses the case in full
    (the emulator's Seller Central approving it); the next pull of the reimbursements report and
    its detection record the recovery, matched to the claim by the case id. The recovery."""
    _ok(
        seller.client.post(
            f"/api/v1/claims/{claim['id']}/file", json={"case_id": case}, headers=seller.csrf()
        )
    )
    paid = _amazon_reimburses(live_server, claim, case)
    assert _ok(seller.client.get(f"/api/v1/claims/{claim['id']}"))["status"] == "filed"
    pull = _pull(seller, connection_id)
    assert pull["mode"] == "incremental", pull
    await _pull_and_detect()
    assert _ok(seller.client.get(f"/api/v1/sync-jobs/{pull['id']}"))["status"] == "succeeded"
    after = _ok(seller.client.get(f"/api/v1/claims/{claim['id']}"))
    assert after["status"] == "reimbursed", after
    [recovery] = after["recoveries"]
    assert recovery["reimbursement_id"] == paid["reimbursement-id"], recovery
    assert (recovery["case_id"], recovery["matched_by"]) == (case, "case_id"), recovery
    assert recovery["amount_minor"] == 2_500 * int(claim["quantity"]), recovery
    return uuid.UUID(str(recovery["id"]))


async def test_the_seed_journey(
    seller: Browser, runtime: Runtime, live_server: str, live_jobs: None
) -> None:
    me = _ok(seller.client.get("/api/auth/me"))
    organization_id = str(me["organization_id"])
    org = uuid.UUID(organization_id)
    assert _ok(seller.client.get(CONNECT))["status"] == "not_started"

    # 1. Amazon connected through the emulator's consent page.
    _configure(live_server)
    connection_id = _connect(seller)

    # 2. The Connect account created silently by the onboarding job (once, run again too).
    await drain(runtime)
    await drain(runtime)
    status = _ok(seller.client.get(CONNECT))
    assert status["status"] == "verification_needed", status
    [account] = _accounts(live_server, organization_id)
    assert account["id"] == status["stripe_account_id"]
    link = _ok(seller.client.post(f"{CONNECT}/link", headers=seller.csrf()), 201)
    page = seller.get(link["url"])
    assert page.status_code == 200, page.text
    back = seller.submit(page, ("action", "submit"), follow=False)
    assert back.status_code == 303 and back.headers["location"].endswith("/billing")
    await wait_for_event(runtime, "account.updated")
    await drain(runtime)
    assert _ok(seller.client.get(CONNECT))["status"] == "enabled"

    # 3. The card saved through the emulator's hosted card page.
    await save_card_on_hosted_page(seller, runtime)
    [card] = _ok(seller.client.get("/api/v1/billing/payment-methods"))
    assert (card["brand"], card["last4"], card["is_default"]) == ("visa", "4242", True)

    # 4. The reports pulled from the Amazon emulator; claims detected; one filed, reimbursed.
    _pull(seller, connection_id)
    await run_worker()
    ready = _ok(seller.client.get("/api/v1/claims", params={"status": "ready"}))["items"]
    assert len(ready) >= 2, ready
    recovery_id = await _reimbursed(live_server, seller, connection_id, ready[0], "1234567890")
    [payload] = [
        p for p in await commission_requests(runtime) if p["recovery_id"] == str(recovery_id)
    ]
    assert payload == {"organization_id": organization_id, "recovery_id": str(recovery_id)}
    assert (  # requested, not charged yet: the workers below race for the first charge
        admin(live_server, "summary?metadata_key=recovery_id")["counts"].get(str(recovery_id))
        is None
    )

    # 5. Charged exactly once: two workers at once, the worker, and the job delivered again.
    await asyncio.gather(
        *(_task(commission_tasks.commission_requested, payload, runtime) for _ in range(2))
    )
    await run_worker()
    await _task(commission_tasks.commission_requested, payload, runtime)
    summary = admin(live_server, "summary?metadata_key=recovery_id")
    assert summary["counts"].get(str(recovery_id)) == 1, summary
    assert summary["duplicates"] == {}, summary
    charges = admin(live_server, f"charges?metadata[recovery_id]={recovery_id}")["charges"]
    assert [c["status"] for c in charges] == ["succeeded"]
    [charge] = charges
    assert charge["amount"] == 500 * int(ready[0]["quantity"])  # 20 % of 2,500 a unit
    commissions = _ok(seller.client.get("/api/v1/billing/commissions"))["items"]
    [commission] = [c for c in commissions if c["recovery_id"] == str(recovery_id)]
    assert commission["state"] == "succeeded" and commission["attempt"] == 1
    assert commission["charge_id"] == charge["id"]
    assert commission["receipt_url"] == charge["receipt_url"]
    assert commission["receipt_url"].startswith(f"{live_server}/_emulators/stripe/")

    # 6. A recovery paid to the platform: the commission withheld, the rest transferred once.
    admin(live_server, "balance", {"currency": "usd", "amount": 1_000_000})
    held_id = await _reimbursed(live_server, seller, connection_id, ready[1], "2234567890")
    withheld = _ok(
        seller.client.post(
            "/api/v1/stripe/charge-commission",
            json={"recovery_id": str(held_id), "paid_to_platform": True},
            headers=seller.csrf(),
        )
    )
    assert withheld["state"] == "withheld"
    await run_worker()  # the transfer's job, and the claims outbox's request (finds it open)
    [transfer] = _ok(seller.client.get("/api/v1/billing/payouts"))["items"]
    assert transfer["state"] == "paid" and transfer["recovery_id"] == str(held_id)
    await _task(
        payout_tasks.transfer_to_seller,
        {"organization_id": organization_id, "transfer_id": transfer["id"]},
        runtime,
    )  # delivered again
    at_stripe = _transfers(live_server, f"recovery_{held_id}")
    recovered = 2_500 * int(ready[1]["quantity"])
    assert [(t["amount"], t["destination"]) for t in at_stripe] == [
        (recovered - (recovered * 2000 + 5000) // 10_000, account["id"])
    ]
    assert (
        admin(live_server, "summary?metadata_key=recovery_id")["counts"].get(str(held_id)) is None
    )

    # The ledger: one charge, one transfer.
    ledger = _ok(seller.client.get("/api/v1/billing/transactions"))["items"]
    assert sorted((t["kind"], t["stripe_id"]) for t in ledger) == sorted(
        [("charge", charge["id"]), ("transfer", at_stripe[0]["id"])]
    )

    # 7. The billing page: the commission paid with its receipt link, and the payout.
    page = seller.get("/billing")
    assert page.status_code == 200, page.text
    row = re.search(
        rf'<tr id="commission-{commission["id"]}" data-state="succeeded">(.*?)</tr>',
        page.text,
        re.S,
    )
    assert row is not None, page.text
    [receipt] = re.findall(r'<a class="receipt" href="([^"]*)"', row.group(1))
    assert unescape(receipt) == charge["receipt_url"]
    assert f'id="payout-{transfer["id"]}" data-state="paid"' in page.text
    shown = seller.get(unescape(receipt))
    assert shown.status_code == 200 and charge["id"] in shown.text
    async with runtime.engine.connect() as conn:
        transfers = await conn.scalar(
            text("SELECT count(*) FROM stripe_transactions WHERE organization_id = :o"),
            {"o": org},
        )
    assert transfers == 2
