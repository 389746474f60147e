"""/api/v1/claims over HTTP: the list with its filters, cursor and totals; one claim; the packet
(message and CSV); filing with a case id and rejecting (409 on a wrong step, 422 for a bad case
id, 403 for a member); another organization's claims are 404."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import httpx

from sellerhub.commerce.claims import service
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant
from tests.test_claims_workflow import CONNECTION, lost, paid, refunded

TODAY = utcnow().date()


async def seed(client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> dict[str, str]:
    """Three claims dated from the real today (the endpoints use the clock): a ready lost one
    (deadline in 40 days), a customer return (deadline in 50 days) and a lost one whose window
    opens in 5 days. Returns their ids by key."""
    delta = TODAY - dt.date(2026, 11, 30)
    found = [lost("a" * 32), refunded("b" * 32), lost("c" * 32, eligible_in=5, fnsku="X00LOST002")]
    moved = [
        c.__class__(
            **{
                **{f: getattr(c, f) for f in c.__dataclass_fields__},
                "event_date": c.event_date + delta,
                "eligible_from": c.eligible_from + delta,
                "deadline": c.deadline + delta,
            }
        )
        for c in found
    ]
    async with unit_of_work(runtime.sessionmaker) as session:
        await service.record_detected(
            session, tenant.organization.id, CONNECTION, moved, today=TODAY
        )
    response = await client.get("/api/v1/claims", headers=tenant.headers)
    return {c["key"]: c["id"] for c in response.json()["items"]}


async def test_list_filters_cursor_and_totals(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    ids = await seed(client, runtime, tenant)
    body = (await client.get("/api/v1/claims", headers=tenant.headers)).json()
    # the nearest deadline first (a and c: 40 days, in id order; b: 50 days)
    assert [c["key"] for c in body["items"]] == ["a" * 32, "c" * 32, "b" * 32]
    assert [c["status"] for c in body["items"] if c["key"] == "c" * 32] == ["detected"]
    totals = body["totals"]
    assert totals["potential_by_currency"] == {"USD": 1500 + 2599 + 1500}
    assert totals["recovered_by_currency"] == {}
    lost_total = next(t for t in totals["by_kind"] if t["kind"] == "warehouse_lost")
    assert (lost_total["claims"], lost_total["open"], lost_total["potential_minor"]) == (
        2,
        2,
        3000,
    )

    ready = (await client.get("/api/v1/claims?status=ready", headers=tenant.headers)).json()
    assert {c["key"] for c in ready["items"]} == {"a" * 32, "b" * 32}
    returns = await client.get("/api/v1/claims?kind=customer_return", headers=tenant.headers)
    assert [c["id"] for c in returns.json()["items"]] == [ids["b" * 32]]
    soon = (TODAY + dt.timedelta(days=41)).isoformat()
    near = await client.get(f"/api/v1/claims?deadline_before={soon}", headers=tenant.headers)
    assert {c["key"] for c in near.json()["items"]} == {"a" * 32, "c" * 32}
    far = await client.get(f"/api/v1/claims?deadline_after={soon}", headers=tenant.headers)
    assert {c["key"] for c in far.json()["items"]} == {"b" * 32}

    seen: list[str] = []
    cursor = ""
    while True:
        page = (await client.get(f"/api/v1/claims?limit=1{cursor}", headers=tenant.headers)).json()
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == [c["id"] for c in body["items"]]

    bad = await client.get("/api/v1/claims?cursor=yesterday", headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "cursor"
    assert (
        await client.get("/api/v1/claims?status=lost", headers=tenant.headers)
    ).status_code == 422

    # a recovery: recovered by currency, the claim no longer potential
    async with unit_of_work(runtime.sessionmaker) as session:
        row = paid("R1", days_ago=(dt.date(2026, 11, 30) - TODAY).days + 5)
        await service.record_reimbursements(session, tenant.organization.id, [row])
    totals = (await client.get("/api/v1/claims", headers=tenant.headers)).json()["totals"]
    assert totals["recovered_by_currency"] == {"USD": 1500}
    assert totals["potential_by_currency"] == {"USD": 2599 + 1500}
    one = (await client.get(f"/api/v1/claims/{ids['a' * 32]}", headers=tenant.headers)).json()
    assert one["status"] == "reimbursed"
    assert [r["amount_minor"] for r in one["recoveries"]] == [1500]
    assert one["recoveries"][0]["commission_status"] in ("requested", "awaiting_billing")


async def test_packet_text_and_csv(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    ids = await seed(client, runtime, tenant)
    response = await client.get(f"/api/v1/claims/{ids['a' * 32]}/packet", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    text = body["text"]
    assert body["subject"].startswith("Reimbursement request: 3 units lost")
    for words in (
        "I am requesting a reimbursement for 3 units lost in an Amazon fulfillment center",
        "FNSKU: X00LOST001",
        "ASIN: B0ASIN0001",
        "SKU: SKU-1",
        "Inventory ledger reference ID: REF-aaaaaa",
        "Units: 3",
        "Estimated value: 15.00 USD (the median Amazon reimbursed for this item",
        "ledger Adjustments of -3 unit(s) at ONT8, reason M",
        "deadline ",
    ):
        assert words in text, words
    assert body["evidence_rows"] == 1

    response = await client.get(
        f"/api/v1/claims/{ids['b' * 32]}/packet?format=csv", headers=tenant.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["type"], r["order_id"], r["amount_minor"]) for r in rows] == [
        ("Refund", "111-2222222-3333333", "2599")
    ]
    assert (
        await client.get(
            f"/api/v1/claims/{ids['b' * 32]}/packet?format=pdf", headers=tenant.headers
        )
    ).status_code == 422


async def test_file_reject_and_wrong_steps(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    ids = await seed(client, runtime, tenant)
    url = f"/api/v1/claims/{ids['a' * 32]}"
    bad = await client.post(f"{url}/file", json={"case_id": "abc-12"}, headers=tenant.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "claim-case-id"
    assert "digits" in bad.json()["detail"]
    assert bad.json()["errors"][0]["field"] == "case_id"
    assert (await client.post(f"{url}/file", json={}, headers=tenant.headers)).status_code == 422

    filed = await client.post(
        f"{url}/file", json={"case_id": " 1234567890 "}, headers=tenant.headers
    )
    assert filed.status_code == 200, filed.text
    assert (filed.json()["status"], filed.json()["case_id"]) == ("filed", "1234567890")
    again = await client.post(f"{url}/file", json={"case_id": "1234567891"}, headers=tenant.headers)
    assert again.status_code == 409
    assert "filed already as case 1234567890" in again.json()["detail"]

    # the same case id on another claim: refused
    other = f"/api/v1/claims/{ids['b' * 32]}"
    same_case = await client.post(
        f"{other}/file", json={"case_id": "1234567890"}, headers=tenant.headers
    )
    assert same_case.status_code == 409
    assert "another claim" in same_case.json()["detail"]

    # a claim whose window has not opened
    early = await client.post(
        f"/api/v1/claims/{ids['c' * 32]}/file",
        json={"case_id": "2222222222"},
        headers=tenant.headers,
    )
    assert early.status_code == 409
    assert "filing window opens on" in early.json()["detail"]

    rejected = await client.post(
        f"{url}/reject", json={"reason": "Amazon found the units"}, headers=tenant.headers
    )
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["close_reason"]) == (
        "rejected",
        "Amazon found the units",
    )
    twice = await client.post(f"{url}/reject", json={"reason": "again"}, headers=tenant.headers)
    assert twice.status_code == 409
    assert twice.json()["code"] == "claim-transition-refused"
    blank = await client.post(f"{other}/reject", json={"reason": "   "}, headers=tenant.headers)
    assert blank.status_code == 422

    events = (await client.get("/api/v1/audit-events", headers=tenant.headers)).json()
    actions = [e["action"] for e in events["items"]]
    assert "claim.filed" in actions and "claim.rejected" in actions


async def test_members_read_and_admins_act(client: httpx.AsyncClient, runtime: Runtime) -> None:
    member = await make_tenant(runtime, "Members Inc", role=Role.MEMBER)
    ids = await seed(client, runtime, member)
    assert len(ids) == 3
    url = f"/api/v1/claims/{ids['a' * 32]}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    assert (await client.get(f"{url}/packet", headers=member.headers)).status_code == 200
    refused = await client.post(f"{url}/file", json={"case_id": "1234567"}, headers=member.headers)
    assert refused.status_code == 403
    assert (
        await client.post(f"{url}/reject", json={"reason": "no"}, headers=member.headers)
    ).status_code == 403


async def test_another_organizations_claims_are_not_found(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = await seed(client, runtime, tenant)
    url = f"/api/v1/claims/{ids['a' * 32]}"
    headers = other_tenant.headers
    assert (await client.get(url, headers=headers)).status_code == 404
    assert (await client.get(f"{url}/packet", headers=headers)).status_code == 404
    assert (await client.get(f"{url}/packet?format=csv", headers=headers)).status_code == 404
    assert (
        await client.post(f"{url}/file", json={"case_id": "1234567"}, headers=headers)
    ).status_code == 404
    assert (
        await client.post(f"{url}/reject", json={"reason": "x"}, headers=headers)
    ).status_code == 404
    assert (await client.get("/api/v1/claims", headers=headers)).json()["items"] == []
    assert (
        await client.get(f"/api/v1/claims/{uuid.uuid4()}", headers=tenant.headers)
    ).status_code == 404
    # the owner's claim is untouched
    assert (await client.get(url, headers=tenant.headers)).json()["status"] == "ready"
