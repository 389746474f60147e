"""The claims data pipeline over real HTTP, through the live server, its Amazon emulator and the
job worker: a sync job of resource ``fba_claims_reports`` pulls the seeded history (ledger,
reimbursements, customer returns, refunds), stores it without duplicates, and the detection job
it requests finds exactly the planted claims and never an already-reimbursed case; a second
pull and detection add nothing; a cut and a 503 mid-download are resumed; a FATAL report fails
the job with Amazon's words and a resume redoes only that report; a CANCELLED (empty) report
stores nothing and the pull goes on; another organization's rows are never read. Claims are
stored by the claims workflow (``claims.service.record_detected``), recoveries by
``record_reimbursements``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.commerce.claims import normalise, rules
from sellerhub.commerce.claims.reports import service as pipeline
from sellerhub.commerce.claims.reports import tasks as pipeline_tasks
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.conftest import Tenant
from tests.jobs_helpers import live_worker, run_worker

US = "ATVPDKIKX0DER"
SELLER = "A3EMULATORSELLER1"
ANCHOR = datetime.now(UTC).date()
LEDGER, REIMBURSEMENTS, RETURNS = pipeline.REPORT_STEPS

# The emulator's planted kinds as detection's claim kinds.
KINDS = {
    "lost_warehouse": "warehouse_lost",
    "damaged_warehouse": "warehouse_damaged",
    "refund_not_returned": "customer_return",
    "returned_different_fnsku": "customer_return",
    "inbound_short": "inbound_shortage",
    "reimbursed_below_value": "reimbursed_below_value",
}


# -- the emulator and the seller ----------------------------------------------------------------


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    async with live_worker(settings, live_server):
        yield


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


def _planted(live_server: str) -> list[dict[str, Any]]:
    found = _admin(live_server, "reports/planted", selling_partner_id=SELLER, marketplace_id=US)[
        "cases"
    ]
    return list(found)


def _reports(live_server: str) -> list[dict[str, Any]]:
    return list(_admin(live_server, "reports/list")["reports"])


def _pull(browser: Browser, connection_id: str) -> dict[str, Any]:
    started = browser.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": connection_id, "resource": "fba_claims_reports"},
        headers=browser.csrf(),
    )
    assert started.status_code == 202, started.text
    return dict(started.json())


def _job(browser: Browser, job_id: str) -> dict[str, Any]:
    answer = browser.client.get(f"/api/v1/sync-jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _organization_of(runtime: Runtime, connection_id: str) -> uuid.UUID:
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            text("SELECT organization_id FROM connections WHERE id = :id"),
            {"id": uuid.UUID(connection_id)},
        )
    assert isinstance(found, uuid.UUID)
    return found


async def _stored(runtime: Runtime, connection_id: str) -> tuple[int, int, int, int, int]:
    org = await _organization_of(runtime, connection_id)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        return await pipeline.stored_counts(session, org, uuid.UUID(connection_id))


# Planted claims the pipeline cannot find today, and why (the test fails when that changes).
NOT_FOUND: set[str] = set()


def _expected(planted: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    """The planted claims detection can find: (kind, reference, quantity)."""
    assert rules.MIN_HISTORY <= 2  # the emulator plants two earlier reimbursements
    return {
        (KINDS[c["kind"]], c["reference"], c["quantity"])
        for c in planted
        if c["expected"] == "claim" and c["kind"] not in NOT_FOUND
    }


async def _claims(runtime: Runtime) -> list[tuple[Any, ...]]:
    """Every stored claim of every organization: (organization, key, kind, reference,
    quantity, status)."""
    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT organization_id, key, kind, reference, quantity, status FROM claims"
                " ORDER BY organization_id, key"
            )
        )
        return [tuple(row) for row in found]


async def _recoveries(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM claim_recoveries")) or 0)


def _found(claims: list[tuple[Any, ...]], org: uuid.UUID) -> set[tuple[str, str, int]]:
    return {(str(kind), ref, qty) for o, _, kind, ref, qty, _ in claims if o == org}


# -- the pull and detection -------------------------------------------------------------------


async def test_the_pull_stores_the_history_and_detection_finds_exactly_the_planted_claims(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    job = _pull(seller, connection_id)
    assert job["resource"] == "fba_claims_reports" and job["mode"] == "full"

    await run_worker()  # the pull, then the detection it requests

    done = _job(seller, job["id"])
    assert done["status"] == "succeeded", done["last_error"]
    assert done["pages"] == 5 and done["skipped"] == 0  # 3 reports, shipments, refunds
    ledger, reimbursements, returns, refunds, inbound = await _stored(runtime, connection_id)
    assert ledger > 0 and reimbursements > 0 and returns > 0 and refunds > 0 and inbound > 0
    assert done["changed"] == ledger + reimbursements + returns + refunds + inbound
    emulated = [r for r in _reports(live_server) if r["selling_partner_id"] == SELLER]
    assert sorted(r["reportType"] for r in emulated) == sorted([LEDGER, REIMBURSEMENTS, RETURNS])

    org = await _organization_of(runtime, connection_id)
    planted = _planted(live_server)
    claims = await _claims(runtime)
    assert len(claims) == len(_found(claims, org))  # one claim per case
    assert _found(claims, org) == _expected(planted)
    claimed_references = {ref for _, _, _, ref, _, _ in claims}
    for case in planted:
        if case["expected"] != "claim":  # reimbursed, found, outside the window, not yet
            assert case["reference"] not in claimed_references, case


async def test_a_second_pull_and_detection_add_no_row_and_no_claim(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    first = _pull(seller, connection_id)
    await run_worker()
    stored = await _stored(runtime, connection_id)
    claims = await _claims(runtime)
    recoveries = await _recoveries(runtime)
    assert claims

    second = _pull(seller, connection_id)
    assert second["mode"] == "incremental" and second["since"] is not None
    await run_worker()

    again = _job(seller, second["id"])
    assert again["status"] == "succeeded" and again["changed"] == 0, again
    assert again["fetched"] > 0  # the overlap was read again, and stored nothing twice
    assert await _stored(runtime, connection_id) == stored
    assert await _claims(runtime) == claims
    assert await _recoveries(runtime) == recoveries
    assert _job(seller, first["id"])["status"] == "succeeded"


async def test_detection_is_a_sync_job_after_each_pull_and_on_request(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    """Detection runs as a sync job of kind ``fba_claims_detect`` (one marketplace a page, with
    the progress, cancel and resume of every sync job): requested by each pull that succeeds,
    and startable through the API."""
    _configure(live_server)
    connection_id = _connect(seller)
    pull = _pull(seller, connection_id)
    await run_worker()
    listed = seller.client.get("/api/v1/sync-jobs", params={"connection_id": connection_id})
    assert listed.status_code == 200, listed.text
    jobs = [j for j in listed.json()["items"] if j["resource"].startswith("fba_claims")]
    assert [j["resource"] for j in jobs] == ["fba_claims_detect", "fba_claims_reports"]  # newest
    detection = jobs[0]
    claims = await _claims(runtime)
    assert detection["status"] == "succeeded", detection["last_error"]
    assert detection["mode"] == "full" and detection["pages"] == 1  # one marketplace (US)
    assert detection["changed"] == len(claims) > 0  # each claim new once
    ledger, reimbursements, returns, refunds, inbound = await _stored(runtime, connection_id)
    assert 0 < detection["fetched"] <= ledger + reimbursements + returns + refunds + inbound * 2
    assert detection["created_at"] > _job(seller, pull["id"])["created_at"]

    started = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": connection_id, "resource": "fba_claims_detect"},
        headers=seller.csrf(),
    )
    assert started.status_code == 202, started.text
    twice = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": connection_id, "resource": "fba_claims_detect"},
        headers=seller.csrf(),
    )
    assert twice.status_code == 409 and twice.json()["code"] == "sync-job-active"
    await run_worker()
    again = _job(seller, started.json()["id"])
    assert again["status"] == "succeeded" and again["changed"] == 0  # nothing new
    assert again["fetched"] == detection["fetched"]
    assert await _claims(runtime) == claims


async def test_detection_twice_over_the_same_rows_gives_the_same_claims(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    _pull(seller, connection_id)
    await run_worker()
    org = await _organization_of(runtime, connection_id)
    stored, recoveries = await _claims(runtime), await _recoveries(runtime)
    runs = []
    for _ in range(2):
        async with unit_of_work(runtime.sessionmaker) as session:
            set_tenant(session, org)
            runs.append(await pipeline.detect(session, org, uuid.UUID(connection_id), today=ANCHOR))
    assert runs[0].claims == runs[1].claims > 0
    assert runs[0].new == 0 and runs[1].new == 0  # all known from the job's own detection
    assert runs[1].refreshed == runs[1].claims
    assert runs[0].recoveries == runs[1].recoveries == 0  # each reimbursement once, already
    assert await _claims(runtime) == stored and await _recoveries(runtime) == recoveries


async def test_no_recovery_before_anything_was_filed(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    """What Amazon reimbursed by itself before a claim existed (the planted partial case: 4
    lost, 2 reimbursed, 2 claimed) is netted by detection, not a recovery of the claim."""
    _configure(live_server)
    connection_id = _connect(seller)
    _pull(seller, connection_id)
    await run_worker()
    claims = await _claims(runtime)
    assert claims and {status for *_, status in claims} <= {"detected", "ready"}
    assert await _recoveries(runtime) == 0


async def test_detection_passes_the_filed_case_ids_to_the_rules(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    _pull(seller, connection_id)
    await run_worker()
    listed = seller.client.get("/api/v1/claims", params={"status": "ready"}).json()["items"]
    claim = listed[0]
    filed = seller.client.post(
        f"/api/v1/claims/{claim['id']}/file", json={"case_id": "1234567890"}, headers=seller.csrf()
    )
    assert filed.status_code == 200, filed.text

    seen: list[dict[str, str]] = []
    detect = rules.detect

    def spy(**kwargs: Any) -> list[rules.Claim]:
        seen.append(dict(kwargs["filed"]))
        return detect(**kwargs)

    monkeypatch.setattr(rules, "detect", spy)
    org = await _organization_of(runtime, connection_id)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        await pipeline.detect(session, org, uuid.UUID(connection_id), today=ANCHOR)
    (key,) = [k for _, k, *_ in await _claims(runtime) if k == claim["key"]]
    assert seen == [{key: "1234567890"}]
    statuses = {k: status for _, k, *_, status in await _claims(runtime)}
    assert statuses[key] == "filed"  # a filed claim is left as it is


# -- failures -------------------------------------------------------------------------------------


async def test_a_cut_and_a_503_mid_download_are_resumed_with_the_same_rows(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server, ledger_rows=30_000)
    connection_id = _connect(seller)
    clean = _pull(seller, connection_id)
    await run_worker()
    clean = _job(seller, clean["id"])
    assert clean["status"] == "succeeded", clean["last_error"]
    stored = await _stored(runtime, connection_id)
    claims = await _claims(runtime)
    # Forget the pull: its rows, and its success (the next pull is a first pull again).
    async with runtime.engine.begin() as conn:
        for table in (
            "claims_ledger_events",
            "claims_reimbursements",
            "claims_customer_returns",
            "claims_refunds",
            "claims_inbound_items",
        ):
            await conn.execute(text(f"DELETE FROM {table}"))
        await conn.execute(
            text("UPDATE sync_jobs SET status = 'failed' WHERE id = :id"), {"id": clean["id"]}
        )
    assert await _stored(runtime, connection_id) == (0, 0, 0, 0, 0)

    _admin(
        live_server,
        "config",
        {"reports": {"download_fail": [{"cut_after_bytes": 40_000}, {"status": 503}]}},
    )
    job = _pull(seller, connection_id)
    assert job["mode"] == "full"
    await run_worker()

    done = _job(seller, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 1, done["last_error"]
    assert done["fetched"] == clean["fetched"] > 30_000  # no row lost, none read twice
    assert done["changed"] == clean["changed"]
    assert await _stored(runtime, connection_id) == stored
    assert await _claims(runtime) == claims


async def test_a_fatal_report_fails_the_job_in_words_and_a_resume_redoes_only_that_report(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(
        live_server,
        outcomes=[
            {
                "report_type": REIMBURSEMENTS,
                "outcome": "FATAL",
                "count": 1,
                "error_details": "Internal processing error; try again later",
            }
        ],
    )
    connection_id = _connect(seller)
    job = _pull(seller, connection_id)
    await run_worker()

    failed = _job(seller, job["id"])
    assert failed["status"] == "failed" and failed["resumable"], failed
    assert "GET_FBA_REIMBURSEMENTS_DATA" in failed["last_error"]
    assert "Internal processing error" in failed["last_error"]
    assert failed["pages"] == 1  # the ledger is stored
    assert await _claims(runtime) == []  # no detection after a failed pull
    ledger_stored = (await _stored(runtime, connection_id))[0]
    assert ledger_stored > 0

    resumed = seller.client.post(f"/api/v1/sync-jobs/{job['id']}/resume", headers=seller.csrf())
    assert resumed.status_code == 202, resumed.text
    await run_worker()

    done = _job(seller, job["id"])
    assert done["status"] == "succeeded" and done["pages"] == 5, done
    created = [r["reportType"] for r in _reports(live_server)]
    assert created.count(LEDGER) == 1  # done before the failure: not asked for again
    assert created.count(REIMBURSEMENTS) == 2 and created.count(RETURNS) == 1
    assert (await _stored(runtime, connection_id))[0] == ledger_stored
    assert len(await _claims(runtime)) == len(_expected(_planted(live_server)))


async def test_a_cancelled_report_is_a_period_without_data_and_the_pull_goes_on(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server, outcomes=[{"report_type": RETURNS, "outcome": "CANCELLED", "count": 1}])
    connection_id = _connect(seller)
    job = _pull(seller, connection_id)
    await run_worker()

    done = _job(seller, job["id"])
    assert done["status"] == "succeeded" and done["pages"] == 5, done
    ledger, reimbursements, returns, refunds, _ = await _stored(runtime, connection_id)
    assert returns == 0 and ledger > 0 and reimbursements > 0 and refunds > 0


async def test_a_pull_cancelled_while_amazon_produces_a_report_stops_and_resumes(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "KEEPALIVE_SECONDS", 0.3)
    _configure(live_server, in_queue_polls=100)  # the ledger report waits its turn
    connection_id = _connect(seller)
    job = _pull(seller, connection_id)
    worker = asyncio.create_task(run_worker())
    for _ in range(100):  # until the run polls the report
        await asyncio.sleep(0.1)
        if _reports(live_server) and _job(seller, job["id"])["status"] == "running":
            break
    cancelled = seller.client.post(f"/api/v1/sync-jobs/{job['id']}/cancel", headers=seller.csrf())
    assert cancelled.status_code == 200, cancelled.text
    await asyncio.wait_for(worker, timeout=30)  # the run noticed at its next keepalive

    stopped = _job(seller, job["id"])
    assert stopped["status"] == "cancelled" and stopped["pages"] == 0, stopped
    assert await _stored(runtime, connection_id) == (0, 0, 0, 0, 0)

    _configure(live_server, in_queue_polls=0)
    resumed = seller.client.post(f"/api/v1/sync-jobs/{job['id']}/resume", headers=seller.csrf())
    assert resumed.status_code == 202, resumed.text
    await run_worker()
    done = _job(seller, job["id"])
    assert done["status"] == "succeeded" and done["pages"] == 5, done["last_error"]


# -- requests and tenancy -------------------------------------------------------------------------


async def test_the_pull_is_refused_for_a_connection_that_is_not_an_amazon_seller(
    seller: Browser, live_server: str
) -> None:
    missing = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": str(uuid.uuid4()), "resource": "fba_claims_reports"},
        headers=seller.csrf(),
    )
    assert missing.status_code == 404, missing.text
    unknown = seller.client.post(
        "/api/v1/sync-jobs",
        json={"connection_id": str(uuid.uuid4()), "resource": "fba_claims"},
        headers=seller.csrf(),
    )
    assert unknown.status_code == 422, unknown.text


async def test_another_organizations_rows_are_never_read(
    seller: Browser,
    live_server: str,
    live_jobs: None,
    runtime: Runtime,
    other_tenant: Tenant,
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    _pull(seller, connection_id)
    await run_worker()
    assert (await _stored(runtime, connection_id))[0] > 0

    other = other_tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, other)
        # the other organization naming this connection's id reads nothing of it
        found = await pipeline.detect(session, other, uuid.UUID(connection_id), today=ANCHOR)
        counts = await pipeline.stored_counts(session, other, uuid.UUID(connection_id))
    assert found.marketplaces == [] and found.claims == 0
    assert counts == (0, 0, 0, 0, 0)
    assert all(o != other for o, *_ in await _claims(runtime))


async def test_an_inventory_sync_requests_a_pull_unless_one_is_fresh_and_daily(
    seller: Browser, live_server: str, live_jobs: None, runtime: Runtime
) -> None:
    _configure(live_server)
    connection_id = _connect(seller)
    org = await _organization_of(runtime, connection_id)
    payload = {"organization_id": str(org), "connection_id": connection_id}
    async with unit_of_work(runtime.sessionmaker) as session:
        await pipeline_tasks.pull_after_fba(session, **payload)
    await run_worker()
    jobs_seen = seller.client.get("/api/v1/sync-jobs").json()["items"]
    pulls = [j for j in jobs_seen if j["resource"] == "fba_claims_reports"]
    assert len(pulls) == 1 and pulls[0]["status"] == "succeeded", pulls

    async with unit_of_work(runtime.sessionmaker) as session:  # fresh: nothing requested
        await pipeline_tasks.pull_after_fba(session, **payload)
    async with unit_of_work(runtime.sessionmaker) as session:  # the daily pass requests one
        await pipeline_tasks.schedule(session)
    await run_worker()
    jobs_seen = seller.client.get("/api/v1/sync-jobs").json()["items"]
    pulls = [j for j in jobs_seen if j["resource"] == "fba_claims_reports"]
    assert len(pulls) == 2 and {j["status"] for j in pulls} == {"succeeded"}, pulls


# -- pure parts -----------------------------------------------------------------------------------


def test_a_row_that_cannot_be_read_is_skipped_and_counted_not_fatal() -> None:
    reader = pipeline._Reader(US)
    good = {column: "" for column in normalise.LEDGER_DETAIL_COLUMNS}
    good |= {
        "Date": "11/02/2026",
        "FNSKU": "X00TEST001",
        "MSKU": "SKU-1",
        "Event Type": "Adjustments",
        "Reference ID": "123",
        "Quantity": "-2",
        "Fulfillment Center": "PHX7",
        "Disposition": "SELLABLE",
        "Reason": "M",
        "Country": "us",
    }
    bad = good | {"Quantity": "two"}
    shipped = good | {"Event Type": "Shipments", "Quantity": "not read"}
    rows = reader.ledger([good, bad, shipped])
    assert len(rows) == 1 and rows[0][0] == US and rows[0][8] == -2 and rows[0][12] == "US"
    assert reader.fetched == 3 and reader.skipped == 1  # a shipment is not read at all
    assert "Quantity" in reader.first_problem and "two" in reader.first_problem


def test_the_cursor_and_the_period() -> None:
    position = pipeline.Position(3, [US, "A2EUQ1WTGCTBG2"])
    assert pipeline.Position.decode(position.encode()) == position
    for junk in ("", "{", '{"step": "1", "marketplaces": []}', '{"marketplaces": [1]}', "[]"):
        assert pipeline.Position.decode(junk) is None  # not ours: the pull starts over
    steps = pipeline.steps_of([US, "A2EUQ1WTGCTBG2"])
    assert [s.kind for s in steps[:4]] == [*pipeline.REPORT_STEPS, pipeline.INBOUND_STEP]
    assert steps[-1] == pipeline.Step(pipeline.REFUNDS_STEP, None) and len(steps) == 9

    now = datetime(2026, 11, 30, 16, 45, tzinfo=UTC)
    first = pipeline.period_start(None, now)
    assert first == datetime(2025, 5, 31, tzinfo=UTC)  # 548 days back, at midnight
    later = pipeline.period_start(datetime(2026, 11, 29, 3, 30, tzinfo=UTC), now)
    assert later == datetime(2026, 11, 27, tzinfo=UTC)  # 2 days' overlap, a whole day
    ancient = pipeline.period_start(datetime(2020, 1, 1, tzinfo=UTC), now)
    assert ancient == first  # never beyond what the ledger keeps
