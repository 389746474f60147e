"""The claims workflow's writers, as the data pipeline calls them: ``record_detected`` (upsert by
key, never a duplicate, filed and closed claims left alone) and ``record_reimbursements`` (full,
partial and reversed reimbursements matched by case id, order id and FNSKU; one recovery per
reimbursement id and its commission requested through the outbox exactly once, even when two
runs race); the billing task marks the commission as awaiting billing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

from sqlalchemy import func, select

from sellerhub.audit.models import AuditEvent
from sellerhub.commerce.claims import packet, rules, service, tasks
from sellerhub.commerce.claims.models import Claim, ClaimStatus, Recovery
from sellerhub.commerce.claims.rows import (
    ClaimKind,
    LedgerEvent,
    Refund,
    Reimbursement,
    ValueSource,
)
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.jobs.models import OutboxJob
from sellerhub.runtime import Runtime
from tests.conftest import Tenant

TODAY = dt.date(2026, 11, 30)
CONNECTION = uuid.UUID("0193a000-0000-7000-8000-000000000001")


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def lost(
    key: str = "a" * 32,
    *,
    quantity: int = 3,
    days_ago: int = 20,
    fnsku: str = "X00LOST001",
    value_minor: int | None = 1500,
    eligible_in: int = -13,
) -> rules.Claim:
    """A warehouse-lost claim of ``quantity`` units lost ``days_ago`` days before TODAY."""
    event = LedgerEvent(
        date=ago(days_ago),
        fnsku=fnsku,
        asin="B0ASIN0001",
        msku="SKU-1",
        title="Widget",
        event_type="Adjustments",
        reference_id=f"REF-{key[:6]}",
        quantity=-quantity,
        fulfillment_center="ONT8",
        disposition="SELLABLE",
        reason="M",
        country="US",
    )
    return rules.Claim(
        kind=ClaimKind.WAREHOUSE_LOST,
        key=key,
        sku="SKU-1",
        fnsku=fnsku,
        asin="B0ASIN0001",
        quantity=quantity,
        value_minor=value_minor,
        currency="USD" if value_minor is not None else None,
        value_source=ValueSource.REIMBURSEMENT_HISTORY if value_minor is not None else None,
        evidence=(event,),
        event_date=event.date,
        eligible_from=TODAY + dt.timedelta(days=eligible_in),
        deadline=ago(days_ago) + dt.timedelta(days=60),
        country="US",
        reference=event.reference_id,
    )


def refunded(key: str = "b" * 32, order_id: str = "111-2222222-3333333") -> rules.Claim:
    refund = Refund(
        order_id=order_id,
        sku="SKU-2",
        posted_date=ago(70),
        quantity=1,
        amount_minor=2599,
        currency="USD",
        country="US",
    )
    return rules.Claim(
        kind=ClaimKind.CUSTOMER_RETURN,
        key=key,
        sku="SKU-2",
        fnsku="X00RET0001",
        asin="B0ASIN0002",
        quantity=1,
        value_minor=2599,
        currency="USD",
        value_source=ValueSource.SALE_PRICE,
        evidence=(refund,),
        event_date=ago(70),
        eligible_from=ago(10),
        deadline=ago(70) + dt.timedelta(days=120),
        country="US",
        reference=order_id,
    )


def paid(
    reimbursement_id: str,
    *,
    quantity: int = 3,
    per_unit: int = 500,
    days_ago: int = 5,
    fnsku: str = "X00LOST001",
    reason: str = "Lost_Warehouse",
    case_id: str = "",
    order_id: str = "",
    original: str = "",
    cash: bool = True,
) -> Reimbursement:
    reversal = quantity < 0
    return Reimbursement(
        approval_date=ago(days_ago),
        reimbursement_id=reimbursement_id,
        case_id=case_id,
        amazon_order_id=order_id,
        reason="Reimbursement_Reversal" if reversal else reason,
        sku="SKU-1",
        fnsku=fnsku,
        asin="B0ASIN0001",
        condition="NewItem",
        currency="USD",
        amount_per_unit_minor=per_unit if cash else 0,
        amount_total_minor=per_unit * quantity if cash else 0,
        quantity_cash=quantity if cash else 0,
        quantity_inventory=0 if cash else quantity,
        quantity_total=quantity,
        original_reimbursement_id=original,
        original_reimbursement_type=reason if original else "",
    )


async def detect(runtime: Runtime, tenant: Tenant, *found: rules.Claim) -> service.DetectedCounts:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await service.record_detected(
            session, tenant.organization.id, CONNECTION, found, today=TODAY
        )


async def reimburse(runtime: Runtime, tenant: Tenant, *rows: Reimbursement) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        return await service.record_reimbursements(session, tenant.organization.id, rows)


async def claims_of(runtime: Runtime, tenant: Tenant) -> dict[str, Claim]:
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        rows = (await session.execute(select(Claim))).scalars()
        return {c.key: c for c in rows}


async def recoveries_of(runtime: Runtime, tenant: Tenant) -> list[Recovery]:
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        rows = await session.execute(select(Recovery).order_by(Recovery.approved_on, Recovery.id))
        return list(rows.scalars())


async def commission_requests(runtime: Runtime) -> list[dict[str, str]]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxJob.payload).where(OutboxJob.task_name == service.COMMISSION_TASK)
        )
        return [dict(p) for p in rows.scalars()]


# --- record_detected ---------------------------------------------------------------------------


async def test_two_detection_runs_store_each_claim_once(runtime: Runtime, tenant: Tenant) -> None:
    first = await detect(runtime, tenant, lost("a" * 32), lost("c" * 32, eligible_in=5))
    assert (first.new, first.refreshed) == (2, 0)
    again = await detect(runtime, tenant, lost("a" * 32, quantity=2), lost("c" * 32, eligible_in=5))
    assert (again.new, again.refreshed) == (0, 2)
    stored = await claims_of(runtime, tenant)
    assert len(stored) == 2
    assert stored["a" * 32].status == ClaimStatus.READY  # its window is open
    assert stored["a" * 32].quantity == 2  # refreshed from the second run
    assert stored["c" * 32].status == ClaimStatus.DETECTED  # opens in 5 days
    assert stored["a" * 32].evidence[0]["type"] == "LedgerEvent"
    assert stored["a" * 32].evidence[0]["date"] == ago(20).isoformat()


async def test_concurrent_detection_runs_never_duplicate(runtime: Runtime, tenant: Tenant) -> None:
    found = [lost(f"{i:032x}") for i in range(50)]
    results = await asyncio.gather(*(detect(runtime, tenant, *found) for _ in range(3)))
    assert sum(r.new for r in results) == 50
    assert len(await claims_of(runtime, tenant)) == 50


async def test_a_filed_claim_is_not_refreshed_by_detection(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    claim = (await claims_of(runtime, tenant))["a" * 32]
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        await service.file(session, claim.id, "1234567890", actor_user_id=None, today=TODAY)
    counts = await detect(runtime, tenant, lost(quantity=1))
    assert (counts.new, counts.refreshed) == (0, 0)
    async with runtime.sessionmaker() as session:
        cases = await service.filed_cases(session, tenant.organization.id)
    assert cases == {"a" * 32: "1234567890"}
    stored = (await claims_of(runtime, tenant))["a" * 32]
    assert stored.status == ClaimStatus.FILED and stored.quantity == 3


async def test_claims_are_per_organization(
    runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    counts = await detect(runtime, other_tenant, lost())  # the same key elsewhere: its own claim
    assert counts.new == 1
    assert len(await claims_of(runtime, tenant)) == 1
    assert len(await claims_of(runtime, other_tenant)) == 1


# --- record_reimbursements ---------------------------------------------------------------------


async def test_a_full_reimbursement_closes_the_claim_and_requests_the_commission_once(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    assert await reimburse(runtime, tenant, paid("R1")) == 1
    assert await reimburse(runtime, tenant, paid("R1"), paid("R1")) == 0  # seen again
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert claim.status == ClaimStatus.REIMBURSED
    assert (claim.reimbursed_minor, claim.reimbursed_quantity) == (1500, 3)
    [recovery] = await recoveries_of(runtime, tenant)
    assert (recovery.amount_minor, recovery.currency, recovery.matched_by) == (1500, "USD", "fnsku")
    assert recovery.claim_id == claim.id
    requests = await commission_requests(runtime)
    assert requests == [
        {"organization_id": str(tenant.organization.id), "recovery_id": str(recovery.id)}
    ]


async def test_a_partial_reimbursement_leaves_the_rest_filed(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    claim = (await claims_of(runtime, tenant))["a" * 32]
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        await service.file(session, claim.id, "5551234567", actor_user_id=None, today=TODAY)
    # paid by the case id, one unit of three
    assert await reimburse(runtime, tenant, paid("R2", quantity=1, case_id="5551234567")) == 1
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert claim.status == ClaimStatus.FILED
    assert (claim.quantity, claim.value_minor, claim.reimbursed_minor) == (2, 1000, 500)
    # the rest, later, under the same case
    assert await reimburse(runtime, tenant, paid("R3", quantity=2, case_id="5551234567")) == 1
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert claim.status == ClaimStatus.REIMBURSED
    assert (claim.reimbursed_quantity, claim.reimbursed_minor) == (3, 1500)
    assert [r.matched_by for r in await recoveries_of(runtime, tenant)] == ["case_id", "case_id"]
    assert len(await commission_requests(runtime)) == 2


async def test_a_reversal_makes_a_negative_recovery_and_reopens_the_claim(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    await reimburse(runtime, tenant, paid("R4"))
    assert (await claims_of(runtime, tenant))["a" * 32].status == ClaimStatus.REIMBURSED
    back = paid("R5", quantity=-2, days_ago=2, original="R4")
    assert await reimburse(runtime, tenant, paid("R4"), back) == 1
    assert await reimburse(runtime, tenant, back) == 0
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert claim.status == ClaimStatus.READY  # no case id: ready to be filed again
    assert (claim.quantity, claim.reimbursed_quantity, claim.reimbursed_minor) == (2, 1, 500)
    assert claim.value_minor == 1000
    recoveries = await recoveries_of(runtime, tenant)
    assert [(r.kind, r.amount_minor, r.quantity) for r in recoveries] == [
        ("reimbursement", 1500, 3),
        ("reversal", -1000, -2),
    ]
    assert len(await commission_requests(runtime)) == 2  # the reversal asks billing to credit


async def test_matching_by_order_id_and_unmatched_payments(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, refunded())
    by_order = dataclasses.replace(
        paid(
            "R6", quantity=1, per_unit=2599, reason="CustomerReturn", order_id="111-2222222-3333333"
        ),
        sku="SKU-2",
        fnsku="X00RET0001",
    )
    stranger = paid("R7", fnsku="X00OTHER01")  # pays nothing we claimed
    assert await reimburse(runtime, tenant, by_order, stranger) == 1
    claim = (await claims_of(runtime, tenant))["b" * 32]
    assert claim.status == ClaimStatus.REIMBURSED
    [recovery] = await recoveries_of(runtime, tenant)
    assert recovery.matched_by == "order_id"


async def test_units_returned_to_inventory_close_the_claim_without_a_commission(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    assert await reimburse(runtime, tenant, paid("R8", cash=False)) == 1
    [recovery] = await recoveries_of(runtime, tenant)
    assert (recovery.amount_minor, recovery.commission_status) == (0, "not_applicable")
    assert await commission_requests(runtime) == []
    assert (await claims_of(runtime, tenant))["a" * 32].status == ClaimStatus.REIMBURSED


async def test_the_recovery_is_requested_once_when_two_runs_race(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, *(lost(f"{i:032x}", fnsku=f"X00LOST{i:03d}") for i in range(20)))
    rows = [paid(f"R{i:03d}", fnsku=f"X00LOST{i:03d}") for i in range(20)]
    created = await asyncio.gather(*(reimburse(runtime, tenant, *rows) for _ in range(4)))
    assert sum(created) == 20
    recoveries = await recoveries_of(runtime, tenant)
    assert len(recoveries) == 20
    requests = await commission_requests(runtime)
    assert sorted(r["recovery_id"] for r in requests) == sorted(str(r.id) for r in recoveries)


async def test_billing_receiving_the_request_marks_the_recovery_handed_to_billing(
    runtime: Runtime, tenant: Tenant
) -> None:
    await detect(runtime, tenant, lost())
    await reimburse(runtime, tenant, paid("R9"))
    [request] = await commission_requests(runtime)
    for _ in range(2):  # delivered at least once
        async with unit_of_work(runtime.sessionmaker) as session:
            await tasks.commission_requested(session, **request)
    [recovery] = await recoveries_of(runtime, tenant)
    assert recovery.commission_status == "awaiting_billing"


async def test_the_hourly_pass_opens_and_expires_claims(runtime: Runtime, tenant: Tenant) -> None:
    await detect(
        runtime,
        tenant,
        lost("d" * 32, eligible_in=1),  # opens tomorrow
        lost("e" * 32, days_ago=59),  # its deadline is tomorrow
    )
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test"):
            opened, expired = await service.advance_due(session, today=TODAY + dt.timedelta(days=1))
    assert (opened, expired) == (1, 0)
    async with unit_of_work(runtime.sessionmaker) as session:
        with system_context(session, "test"):
            opened, expired = await service.advance_due(session, today=TODAY + dt.timedelta(days=2))
    assert (opened, expired) == (0, 1)
    stored = await claims_of(runtime, tenant)
    assert stored["d" * 32].status == ClaimStatus.READY
    assert stored["e" * 32].status == ClaimStatus.EXPIRED
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        actions = (
            await session.execute(
                select(AuditEvent.action, func.count())
                .where(AuditEvent.action.like("claim%"))
                .group_by(AuditEvent.action)
            )
        ).all()
    assert dict(actions) == {"claims.detected": 1, "claim.ready": 1, "claim.expired": 1}


async def test_what_detection_netted_or_amazon_paid_before_is_no_recovery(
    runtime: Runtime, tenant: Tenant
) -> None:
    """Detection nets the reimbursements it matched out of a claim (and shows them as evidence);
    a payment approved long before the claim was stored was in the reports it read. Neither is
    a recovery (no commission on what Amazon paid by itself); the seller's case id still is."""
    netted = paid("R-OLD-1", quantity=1, days_ago=9)
    found = dataclasses.replace(lost(quantity=2), evidence=(*lost().evidence, netted))
    await detect(runtime, tenant, found)
    early = paid("R-OLD-2", quantity=2, days_ago=30)  # before the claim could be known
    assert await reimburse(runtime, tenant, netted, early) == 0
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert (claim.status, claim.quantity) == (ClaimStatus.READY, 2)
    assert await commission_requests(runtime) == []


async def test_a_below_value_claim_is_paid_by_a_top_up_naming_it(
    runtime: Runtime, tenant: Tenant
) -> None:
    low = paid("R-LOW", quantity=2, per_unit=300, days_ago=10)
    claim = rules.Claim(
        kind=ClaimKind.REIMBURSED_BELOW_VALUE,
        key="f" * 32,
        sku="SKU-1",
        fnsku="X00LOST001",
        asin="B0ASIN0001",
        quantity=2,
        value_minor=400,
        currency="USD",
        value_source=ValueSource.REIMBURSEMENT_HISTORY,
        evidence=(low,),
        event_date=ago(10),
        eligible_from=ago(10),
        deadline=ago(10) + dt.timedelta(days=60),
        country="US",
        reference="R-LOW",
    )
    await detect(runtime, tenant, claim)
    top_up = dataclasses.replace(
        paid("R-TOP-1", quantity=0, per_unit=0, days_ago=1, original="R-LOW"),
        amount_total_minor=150,
        reason="Lost_Warehouse",
        original_reimbursement_type="Lost_Warehouse",
    )
    assert await reimburse(runtime, tenant, top_up) == 1
    stored = (await claims_of(runtime, tenant))["f" * 32]
    assert (stored.status, stored.value_minor, stored.reimbursed_minor) == ("ready", 250, 150)
    rest = dataclasses.replace(top_up, reimbursement_id="R-TOP-2", amount_total_minor=250)
    assert await reimburse(runtime, tenant, rest) == 1
    stored = (await claims_of(runtime, tenant))["f" * 32]
    assert (stored.status, stored.reimbursed_minor) == ("reimbursed", 400)
    assert [r.matched_by for r in await recoveries_of(runtime, tenant)] == [
        "original_id",
        "original_id",
    ]


async def test_detection_racing_a_reimbursement_keeps_the_payment(
    runtime: Runtime, tenant: Tenant
) -> None:
    """Either order of the two writers ends the same: the claim reimbursed, one recovery."""
    await detect(runtime, tenant, lost())
    created = await asyncio.gather(
        detect(runtime, tenant, lost()),
        reimburse(runtime, tenant, paid("R-RACE")),
        detect(runtime, tenant, lost()),
    )
    assert created[1] == 1
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert (claim.status, claim.reimbursed_minor) == (ClaimStatus.REIMBURSED, 1500)
    assert len(await recoveries_of(runtime, tenant)) == 1


async def test_a_partial_payment_the_same_run_netted_is_counted_once(
    runtime: Runtime, tenant: Tenant
) -> None:
    """The pipeline's order: detection refreshes the claim (the rules netted the new payment
    out of its units and show it as evidence), then the same reimbursements are recorded. The
    payment is a recovery, and the units left are detection's, not reduced twice."""
    await detect(runtime, tenant, lost())
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        stored = (await session.execute(select(Claim))).scalar_one()
        stored.created_at = stored.created_at - dt.timedelta(days=10)
    payment = paid("R-NEW", quantity=1, days_ago=2)
    refreshed = dataclasses.replace(
        lost(quantity=2), evidence=(*lost().evidence, payment), value_minor=1000
    )
    await detect(runtime, tenant, refreshed)
    assert await reimburse(runtime, tenant, payment) == 1
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert (claim.status, claim.quantity, claim.value_minor) == (ClaimStatus.READY, 2, 1000)
    assert (claim.reimbursed_quantity, claim.reimbursed_minor) == (1, 500)
    assert await reimburse(runtime, tenant, paid("R-REST", quantity=2, days_ago=1)) == 1
    claim = (await claims_of(runtime, tenant))["a" * 32]
    assert (claim.status, claim.reimbursed_quantity) == (ClaimStatus.REIMBURSED, 3)
    assert len(await commission_requests(runtime)) == 2


def test_packet_money_and_csv_cells() -> None:
    """Amounts are exact in each currency's minor units; a CSV cell a spreadsheet would run as
    a formula is neutralised, a negative number is kept as it is."""
    assert packet.money(1999, "USD") == "19.99 USD"
    assert packet.money(-1000, "USD") == "-10.00 USD"
    assert packet.money(1500, "JPY") == "1500 JPY"
    assert packet.money(1234, "KWD") == "1.234 KWD"
    assert packet.money(None, None) == "unknown"
    claim = Claim(
        kind=ClaimKind.WAREHOUSE_LOST,
        key="a" * 32,
        sku="=HYPERLINK(1)",
        fnsku="X00LOST001",
        asin="",
        quantity=1,
        value_minor=None,
        currency=None,
        evidence=[
            {"type": "LedgerEvent", "msku": "=HYPERLINK(1)", "quantity": -1},
            {"type": "Refund", "order_id": "@x", "amount_minor": "-5"},
        ],
        event_date=TODAY,
        eligible_from=TODAY,
        deadline=TODAY,
        reference="REF",
        country="",
    )
    text = packet.evidence_csv(claim)
    assert text.splitlines() == [
        "type,msku,quantity,order_id,amount_minor",
        "LedgerEvent,'=HYPERLINK(1),-1,,",
        "Refund,,,'@x,-5",
    ]
    message = packet.text(claim)
    assert "Estimated value" not in message  # nothing prices it: no value is claimed
    assert "SKU: =HYPERLINK(1)" in message and "ASIN: -" in message
