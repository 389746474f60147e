"""The claims workflow: detected claims stored under their key, reimbursements matched into
recoveries, and the seller's steps (file with Amazon's case id, reject), each audited.

``detected → ready`` when the filing window opens, ``ready → filed`` when the seller records
Amazon's case id, then ``reimbursed`` (every unit paid, by the reimbursements report),
``rejected`` (by the seller: Amazon refused, or the claim is not one) or ``expired`` (its
deadline passed before it was filed, by the daily job). A step the status does not allow is 409.

Two writers are called by the data pipeline (``reports/``) and take one advisory lock per
organization so that their runs serialize (and lock the claims they change against the seller's
steps): ``record_detected`` (upsert by key) and
``record_reimbursements`` (one recovery per reimbursement id, its commission requested through
the outbox in the same transaction)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.commerce.claims import rules
from sellerhub.commerce.claims.errors import BadCaseId, BadCursor, BadReason, TransitionRefused
from sellerhub.commerce.claims.models import (
    CLOSED,
    OPEN,
    Claim,
    ClaimStatus,
    CommissionStatus,
    Recovery,
)
from sellerhub.commerce.claims.repository import ClaimRepository, card_read
from sellerhub.commerce.claims.rows import ClaimKind, Evidence, Reimbursement
from sellerhub.commerce.claims.schemas import (
    ClaimOut,
    ClaimTotals,
    DetectedCounts,
    KindTotal,
    RecoveryOut,
)
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import enqueue

log = get_logger(__name__)

# Billing's task (``billing/commissions/tasks.py``): it charges the recovery's commission and
# marks the recovery as received by billing (``commission_requested``).
COMMISSION_TASK: Final = "billing.commission_requested"
# The advisory lock both pipeline writers take: one organization's runs take turns.
WRITERS_LOCK: Final = "writers"
# A reimbursement reaches the report up to about five days after its approval (``rules``): one
# approved this long before a claim was stored may have been missing from the reports read.
REPORT_LAG_DAYS: Final = 7
# Amazon's case ids are the digits Seller Central shows for a case ("Case ID: 1234567890").
CASE_ID: Final = re.compile(r"^[0-9]{6,20}$")

__all__ = ["DetectedCounts", "record_detected", "record_reimbursements"]


# --- evidence ----------------------------------------------------------------------------------


def evidence_json(row: Evidence) -> dict[str, Any]:
    """A row of evidence as JSON: its type, then its fields (days as ISO dates)."""
    out: dict[str, Any] = {"type": type(row).__name__}
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        out[f.name] = value.isoformat() if isinstance(value, dt.date) else value
    return out


# --- detection ---------------------------------------------------------------------------------


def _audit_data(claim: Claim) -> dict[str, Any]:
    return {"key": claim.key, "kind": str(claim.kind), "status": str(claim.status)}


async def record_detected(
    session: AsyncSession,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    claims: Sequence[rules.Claim],
    *,
    today: dt.date,
) -> DetectedCounts:
    """Store a detection run's claims: a new key becomes a claim ``detected`` (``ready`` once
    its window is open); a known one still detected or ready is refreshed (units, value,
    evidence, window); a filed or closed one is left as it is. Never a duplicate: one claim per
    organization and key (UNIQUE), and concurrent runs of one organization take turns."""
    set_tenant(session, organization_id)
    repo = ClaimRepository(session)
    await repo.lock_organization(organization_id, WRITERS_LOCK)
    latest = {c.key: c for c in claims}  # a key given twice: the last one
    known = await repo.by_keys(latest, lock=True)  # a seller filing meanwhile waits, or we do
    counts = DetectedCounts()
    for key, found in latest.items():
        claim = known.get(key)
        if claim is None:
            claim = Claim(
                organization_id=organization_id,
                connection_id=connection_id,
                key=key,
                kind=found.kind,
                reimbursed_minor=0,
                reimbursed_quantity=0,
            )
            claim.ensure_id()
            _refresh(claim, found, today)
            claim.status = (
                ClaimStatus.READY if found.eligible_from <= today else ClaimStatus.DETECTED
            )
            repo.add(claim)
            counts.new += 1
            continue
        if claim.status not in (ClaimStatus.DETECTED.value, ClaimStatus.READY.value):
            continue
        _refresh(claim, found, today)
        if claim.status == ClaimStatus.DETECTED.value and claim.eligible_from <= today:
            claim.status = ClaimStatus.READY
            await _audit(session, claim, "claim.ready", actor_type="system")
        counts.refreshed += 1
    await session.flush()
    if counts.new:
        await audit.record(
            session,
            organization_id=organization_id,
            action="claims.detected",
            actor_type="system",
            target_type="connection",
            target_id=str(connection_id),
            data={"new": counts.new, "refreshed": counts.refreshed},
        )
    log.info("claims.recorded", new=counts.new, refreshed=counts.refreshed)
    return counts


async def filed_cases(session: AsyncSession, organization_id: uuid.UUID) -> dict[str, str]:
    """Claim key → Amazon case id of the organization's filed claims (those reimbursed since
    included): ``rules.detect(filed=...)``, so detection nets a payment made under a case."""
    set_tenant(session, organization_id)
    return await ClaimRepository(session).case_ids()


def _refresh(claim: Claim, found: rules.Claim, today: dt.date) -> None:
    claim.sku = found.sku[:200]
    claim.fnsku = found.fnsku[:20]
    claim.asin = found.asin[:20]
    claim.quantity = found.quantity
    claim.value_minor = found.value_minor if found.currency else None
    claim.currency = found.currency if found.value_minor is not None else None
    claim.value_source = str(found.value_source) if found.value_source else None
    claim.evidence = [evidence_json(row) for row in found.evidence]
    claim.event_date = found.event_date
    claim.eligible_from = found.eligible_from
    claim.deadline = found.deadline
    claim.country = found.country[:10]
    claim.reference = found.reference[:100]
    claim.last_detected_on = today


# --- reimbursements ----------------------------------------------------------------------------

# Reimbursement reasons (lower case) → the claim kinds they pay, in order of preference.
_KINDS_BY_REASON: Final[dict[str, tuple[ClaimKind, ...]]] = {
    **{r: (ClaimKind.WAREHOUSE_LOST, ClaimKind.WAREHOUSE_DAMAGED) for r in rules.LOST_REASONS},
    **{r: (ClaimKind.WAREHOUSE_DAMAGED, ClaimKind.WAREHOUSE_LOST) for r in rules.DAMAGED_REASONS},
    **{r: (ClaimKind.INBOUND_SHORTAGE,) for r in rules.INBOUND_REASONS},
}


def _combined(rows: Sequence[Reimbursement]) -> list[Reimbursement]:
    """One row per reimbursement id: exact duplicates (overlapping reports) counted once, the
    rows of one id (Amazon splits cash and inventory) added up."""
    by_id: dict[str, list[Reimbursement]] = defaultdict(list)
    for row in dict.fromkeys(rows):
        if row.reimbursement_id:
            by_id[row.reimbursement_id].append(row)
    out = []
    for group in by_id.values():
        first = group[0]
        out.append(
            dataclasses.replace(
                first,
                amount_total_minor=sum(r.amount_total_minor for r in group),
                quantity_cash=sum(r.quantity_cash for r in group),
                quantity_inventory=sum(r.quantity_inventory for r in group),
                quantity_total=sum(r.quantity_total for r in group),
            )
        )
    return out


def evidence_ids(claim: Claim) -> set[str]:
    """The reimbursements in a claim's evidence: the detection rules net every reimbursement
    they match out of a claim's units (or amount owed) and show it there."""
    return {
        str(e.get("reimbursement_id"))
        for e in claim.evidence
        if e.get("type") == "Reimbursement" and e.get("reimbursement_id")
    }


def _stored_on(claim: Claim, fallback: dt.date) -> dt.date:
    return claim.created_at.date() if claim.created_at else fallback


def _netted_before(row: Reimbursement, claims: Sequence[Claim]) -> bool:
    """Approved no later than the day a claim naming it in its evidence was stored: detection
    had it in hand then, so it was never part of what was claimed."""
    return any(
        row.reimbursement_id in evidence_ids(c)
        and row.approval_date <= _stored_on(c, row.approval_date)
        for c in claims
    )


def _after_detection(row: Reimbursement, claim: Claim) -> bool:
    """Approved no earlier than ``REPORT_LAG_DAYS`` before the claim was first stored: an older
    payment was in the reports detection read, so it is netted already (or paid something
    else)."""
    stored = _stored_on(claim, row.approval_date)
    return row.approval_date >= stored - dt.timedelta(days=REPORT_LAG_DAYS)


def _match(row: Reimbursement, claims: Sequence[Claim]) -> tuple[Claim, str] | None:
    """The one claim a reimbursement pays, and how it was matched (see the module docstring of
    ``rules``): the case id of a filed claim, the reimbursement a below-value claim named, the
    order of a customer-return claim, then FNSKU, reason and date. Except by case id (the
    seller's own filing), a reimbursement detection had netted out of a claim when it stored
    it, or approved before the claim could have been known, pays nothing here: it is what
    Amazon paid by itself, not a recovery."""
    if row.case_id:
        by_case = [c for c in claims if c.case_id == row.case_id]
        if by_case:
            same = [c for c in by_case if not row.fnsku or c.fnsku in ("", row.fnsku)]
            return min(same or by_case, key=lambda c: (c.status in CLOSED, c.deadline, c.key)), (
                "case_id"
            )
    if _netted_before(row, claims):
        return None
    live = [c for c in claims if c.status in OPEN and _after_detection(row, c)]
    if row.original_reimbursement_id:
        named = [
            c
            for c in live
            if c.kind == ClaimKind.REIMBURSED_BELOW_VALUE.value
            and c.reference == row.original_reimbursement_id
        ]
        if named:
            return named[0], "original_id"
        return None
    if row.amazon_order_id:
        ordered = [
            c
            for c in live
            if c.kind == ClaimKind.CUSTOMER_RETURN.value
            and c.reference == row.amazon_order_id
            and (not row.sku or c.sku == row.sku or (row.fnsku and c.fnsku == row.fnsku))
        ]
        if ordered:
            return min(ordered, key=lambda c: c.key), "order_id"
        return None
    kinds = _KINDS_BY_REASON.get(row.reason.lower(), ())
    units = max(row.quantity_total, 0)
    for kind in kinds:
        near = [
            c
            for c in live
            if c.kind == kind.value
            and row.fnsku
            and c.fnsku == row.fnsku
            and c.quantity > 0
            and c.event_date - dt.timedelta(days=rules.MATCH_BEFORE_DAYS)
            <= row.approval_date
            <= c.event_date + dt.timedelta(days=rules.MATCH_AFTER_DAYS)
        ]
        if near:
            best = min(
                near,
                key=lambda c: (
                    c.quantity != units,
                    abs((row.approval_date - c.event_date).days),
                    c.event_date,
                    c.key,
                ),
            )
            return best, "fnsku"
    return None


async def record_reimbursements(
    session: AsyncSession,
    organization_id: uuid.UUID,
    reimbursements: Sequence[Reimbursement],
) -> int:
    """Match reimbursements (``GET_FBA_REIMBURSEMENTS_DATA`` rows) to claims and record each as
    a recovery; returns how many recoveries were created. A reimbursement id makes at most one
    recovery (UNIQUE per organization; a run that sees it again skips it, and concurrent runs of
    one organization take turns). Paid in full (every unit claimed, or for a below-value claim
    the amount) → ``reimbursed``; a partial payment leaves the claim in its status with the
    units left. A reversal (``original-reimbursement-id``) makes a negative recovery and
    reopens a reimbursed claim (``filed`` again when it has a case id, else ``ready``). Each new
    recovery with money requests the commission (``billing.commission_requested``) through
    the outbox in this transaction. A reimbursement that matches no claim (Amazon paid on its
    own, before anything was claimed) makes no recovery."""
    set_tenant(session, organization_id)
    repo = ClaimRepository(session)
    await repo.lock_organization(organization_id, WRITERS_LOCK)
    rows = _combined(reimbursements)
    if not rows:
        return 0
    recovered = await repo.recoveries_by_reimbursement(
        [*(r.reimbursement_id for r in rows), *(r.original_reimbursement_id for r in rows)]
    )
    fresh = [r for r in rows if r.reimbursement_id not in recovered]
    if not fresh:
        return 0
    candidates = await repo.open_matching(
        case_ids=[r.case_id for r in fresh],
        references=[
            *(r.amazon_order_id for r in fresh),
            *(r.original_reimbursement_id for r in fresh),
        ],
        fnskus=[r.fnsku for r in fresh],
    )
    by_id = {c.id: c for c in candidates}
    created = 0
    payments = sorted(
        (r for r in fresh if not r.is_reversal), key=lambda r: (r.approval_date, r.reimbursement_id)
    )
    for row in payments:
        matched = _match(row, candidates)
        if matched is None:
            continue
        claim, how = matched
        recovery = await _pay(session, claim, row, how)
        recovered[row.reimbursement_id] = recovery
        created += 1
    reversals = sorted(
        (r for r in fresh if r.is_reversal), key=lambda r: (r.approval_date, r.reimbursement_id)
    )
    for row in reversals:
        original = recovered.get(row.original_reimbursement_id)
        if original is None or original.kind != "reimbursement":
            continue  # it took back a payment that paid no claim of ours
        owner = by_id.get(original.claim_id) or await repo.get(original.claim_id, lock=True)
        if owner is None:
            continue
        taken_back = await _reverse(session, owner, original, row)
        if taken_back is not None:
            recovered[row.reimbursement_id] = taken_back
            created += 1
    await session.flush()
    if created:
        log.info("claims.recoveries_recorded", count=created)
    return created


async def _new_recovery(session: AsyncSession, claim: Claim, recovery: Recovery) -> Recovery:
    recovery.ensure_id()
    recovery.commission_status = (
        CommissionStatus.NOT_APPLICABLE
        if recovery.amount_minor == 0
        else CommissionStatus.REQUESTED
    )
    ClaimRepository(session).add(recovery)
    await session.flush()  # the UNIQUE reimbursement id is checked here, before the request
    if recovery.amount_minor != 0:
        await enqueue(
            session,
            COMMISSION_TASK,
            {"organization_id": str(claim.organization_id), "recovery_id": str(recovery.id)},
        )
    return recovery


async def _pay(session: AsyncSession, claim: Claim, row: Reimbursement, how: str) -> Recovery:
    units = max(row.quantity_total, 0)
    amount = max(row.amount_total_minor, 0)
    recovery = await _new_recovery(
        session,
        claim,
        Recovery(
            organization_id=claim.organization_id,
            claim_id=claim.id,
            reimbursement_id=row.reimbursement_id[:50],
            original_reimbursement_id=row.original_reimbursement_id[:50] or None,
            kind="reimbursement",
            amount_minor=amount,
            currency=row.currency[:3],
            quantity=units,
            approved_on=row.approval_date,
            case_id=row.case_id[:20] or None,
            matched_by=how,
        ),
    )
    was = claim.status
    claim.reimbursed_minor += amount
    claim.reimbursed_quantity += units
    if claim.status not in OPEN:  # a further payment of a claim already paid
        await _audit(session, claim, "claim.recovered", actor_type="system", recovery=recovery)
        return recovery
    if row.reimbursement_id in evidence_ids(claim):
        # The detection run that refreshed the claim netted this payment out of it already:
        # what is left is what detection says; the payment is recorded, the claim stays open.
        full = False
    elif claim.kind == ClaimKind.REIMBURSED_BELOW_VALUE.value:
        owed = claim.value_minor or 0
        full = amount >= owed
        if not full and claim.value_minor is not None:
            claim.value_minor = owed - amount
    else:
        full = units >= claim.quantity
        if not full:
            left = claim.quantity - units
            if claim.value_minor is not None and claim.quantity > 0:
                claim.value_minor = claim.value_minor * left // claim.quantity
            claim.quantity = left
    if full:
        claim.status = ClaimStatus.REIMBURSED
        claim.closed_at = utcnow()
        claim.close_reason = f"reimbursement {row.reimbursement_id} approved {row.approval_date}"
    await _audit(
        session,
        claim,
        "claim.reimbursed" if full else "claim.partially_reimbursed",
        actor_type="system",
        previous=str(was),
        recovery=recovery,
    )
    return recovery


async def _reverse(
    session: AsyncSession, claim: Claim, original: Recovery, row: Reimbursement
) -> Recovery | None:
    amount = -min(abs(row.amount_total_minor), claim.reimbursed_minor)
    units = abs(row.quantity_total)
    if units == 0 and amount < 0 and original.quantity > 0 and original.amount_minor > 0:
        per_unit = original.amount_minor // original.quantity
        units = -(amount // per_unit) if per_unit > 0 else original.quantity  # ceiling
    units = min(units, claim.reimbursed_quantity)
    if amount == 0 and units == 0:
        return None
    recovery = await _new_recovery(
        session,
        claim,
        Recovery(
            organization_id=claim.organization_id,
            claim_id=claim.id,
            reimbursement_id=row.reimbursement_id[:50],
            original_reimbursement_id=original.reimbursement_id,
            kind="reversal",
            amount_minor=amount,
            currency=row.currency[:3] or original.currency,
            quantity=-units,
            approved_on=row.approval_date,
            case_id=row.case_id[:20] or original.case_id,
            matched_by="original_id",
        ),
    )
    was = claim.status
    claim.reimbursed_minor += amount
    claim.reimbursed_quantity -= units
    below = claim.kind == ClaimKind.REIMBURSED_BELOW_VALUE.value
    owed_again = -amount if below else units
    if claim.status == ClaimStatus.REIMBURSED.value:
        claim.status = ClaimStatus.FILED if claim.case_id else ClaimStatus.READY
        claim.closed_at = None
        claim.close_reason = None
        if claim.kind == ClaimKind.REIMBURSED_BELOW_VALUE.value:
            claim.value_minor = owed_again
        else:
            unit_value = _unit_value(claim)
            claim.quantity = owed_again
            if unit_value is not None:
                claim.value_minor = unit_value * owed_again
    elif claim.status in OPEN:
        if claim.kind == ClaimKind.REIMBURSED_BELOW_VALUE.value:
            claim.value_minor = (claim.value_minor or 0) + owed_again
        else:
            unit_value = _unit_value(claim)
            claim.quantity += owed_again
            if unit_value is not None:
                claim.value_minor = unit_value * claim.quantity
    await _audit(
        session,
        claim,
        "claim.reimbursement_reversed",
        actor_type="system",
        previous=str(was),
        recovery=recovery,
    )
    return recovery


def _unit_value(claim: Claim) -> int | None:
    if claim.value_minor is None or claim.quantity <= 0:
        return None
    return claim.value_minor // claim.quantity


async def _audit(
    session: AsyncSession,
    claim: Claim,
    action: str,
    *,
    actor_user_id: uuid.UUID | None = None,
    actor_type: str = "user",
    previous: str | None = None,
    recovery: Recovery | None = None,
    **data: Any,
) -> None:
    payload = _audit_data(claim) | data
    if previous is not None:
        payload["previous"] = previous
    if recovery is not None:
        payload |= {
            "reimbursement_id": recovery.reimbursement_id,
            "amount_minor": recovery.amount_minor,
            "currency": recovery.currency,
        }
    await audit.record(
        session,
        organization_id=claim.organization_id,
        action=action,
        actor_user_id=actor_user_id,
        actor_type=actor_type,
        target_type="claim",
        target_id=str(claim.id),
        data=payload,
    )


# --- commission --------------------------------------------------------------------------------


async def recovery_of(session: AsyncSession, recovery_id: uuid.UUID) -> Recovery | None:
    """A recovery of the session's organization (billing charges its commission on it)."""
    return await ClaimRepository(session).recovery(recovery_id)


async def commission_requested(
    session: AsyncSession, organization_id: uuid.UUID, recovery_id: uuid.UUID
) -> bool:
    """Billing received the commission request of a recovery (``awaiting_billing``: billing
    has it; its own ``commissions`` row says how the charge stands). True when this call
    changed it (at least once delivery: a second delivery changes nothing)."""
    set_tenant(session, organization_id)
    recovery = await ClaimRepository(session).recovery(recovery_id)
    if recovery is None or recovery.commission_status != CommissionStatus.REQUESTED.value:
        return False
    recovery.commission_status = CommissionStatus.AWAITING_BILLING
    await session.flush()
    return True


# --- the seller's steps ------------------------------------------------------------------------


async def get_claim(session: AsyncSession, claim_id: uuid.UUID, *, lock: bool = False) -> Claim:
    claim = await ClaimRepository(session).get(claim_id, lock=lock)
    if claim is None:
        raise NotFound("claim not found")
    return claim


def _refuse(claim: Claim, step: str) -> TransitionRefused:
    why = {
        ClaimStatus.DETECTED.value: f"its filing window opens on {claim.eligible_from}",
        ClaimStatus.FILED.value: f"it was filed already as case {claim.case_id}",
        ClaimStatus.REIMBURSED.value: "Amazon reimbursed it already",
        ClaimStatus.REJECTED.value: "it was rejected",
        ClaimStatus.EXPIRED.value: f"its deadline, {claim.deadline}, has passed",
        ClaimStatus.READY.value: "it has not been filed",
    }[str(claim.status)]
    return TransitionRefused(
        f"a {claim.status} claim cannot be {step}: {why}",
        status_now=str(claim.status),
    )


def check_case_id(raw: str) -> str:
    case_id = raw.strip()
    if not CASE_ID.fullmatch(case_id):
        raise BadCaseId(
            "an Amazon case id is the 6 to 20 digits Seller Central shows for the case "
            "(Case ID: 1234567890)",
            errors=[{"field": "case_id", "message": "must be 6 to 20 digits"}],
        )
    return case_id


async def file(
    session: AsyncSession,
    claim_id: uuid.UUID,
    case_id: str,
    *,
    actor_user_id: uuid.UUID | None,
    today: dt.date,
) -> Claim:
    """``ready → filed``: the seller opened the case in Seller Central and records its id. A
    case id already recorded on another claim of the organization is refused too (one case,
    one claim: the reimbursement is matched by it)."""
    number = check_case_id(case_id)
    claim = await get_claim(session, claim_id, lock=True)
    if claim.status == ClaimStatus.DETECTED.value and claim.eligible_from <= today:
        claim.status = ClaimStatus.READY  # the daily job has not caught up yet
    if claim.status == ClaimStatus.READY.value and claim.deadline < today:
        raise TransitionRefused(
            f"a claim whose deadline, {claim.deadline}, has passed cannot be filed",
            status_now=str(claim.status),
        )
    if claim.status != ClaimStatus.READY.value:
        raise _refuse(claim, "filed")
    other = [
        c
        for c in await ClaimRepository(session).open_matching(
            case_ids=[number], references=[], fnskus=[]
        )
        if c.id != claim.id
    ]
    if other:
        raise TransitionRefused(
            f"case {number} is recorded on another claim already ({other[0].id})",
            status_now=str(claim.status),
        )
    claim.status = ClaimStatus.FILED
    claim.case_id = number
    claim.filed_at = utcnow()
    await session.flush()
    await _audit(
        session, claim, "claim.filed", actor_user_id=actor_user_id, previous="ready", case_id=number
    )
    await session.refresh(claim)
    return claim


async def reject(
    session: AsyncSession, claim_id: uuid.UUID, reason: str, *, actor_user_id: uuid.UUID | None
) -> Claim:
    """``detected | ready | filed → rejected``: Amazon refused the case, or the seller
    dismissed a claim that is not one. The reason is kept."""
    text = reason.strip()
    if not text:
        raise BadReason(
            "say why the claim is rejected",
            errors=[{"field": "reason", "message": "must not be blank"}],
        )
    claim = await get_claim(session, claim_id, lock=True)
    if claim.status not in OPEN:
        raise _refuse(claim, "rejected")
    was = str(claim.status)
    claim.status = ClaimStatus.REJECTED
    claim.closed_at = utcnow()
    claim.close_reason = text[:500]
    await session.flush()
    await _audit(session, claim, "claim.rejected", actor_user_id=actor_user_id, previous=was)
    await session.refresh(claim)
    return claim


# --- the daily pass ----------------------------------------------------------------------------


async def advance_due(
    session: AsyncSession, *, today: dt.date, limit: int = 500
) -> tuple[int, int]:
    """Claims of every organization whose window opened become ready, and unfiled ones past
    their deadline expire (the caller holds a system context). Returns (ready, expired)."""
    repo = ClaimRepository(session)
    opened = await repo.due_to_open(today, limit)
    for claim in opened:
        claim.status = ClaimStatus.READY
        await _audit(session, claim, "claim.ready", actor_type="system", previous="detected")
    expired = await repo.due_to_expire(today, limit)
    for claim in expired:
        was = str(claim.status)
        claim.status = ClaimStatus.EXPIRED
        claim.closed_at = utcnow()
        claim.close_reason = f"not filed by its deadline, {claim.deadline}"
        await _audit(session, claim, "claim.expired", actor_type="system", previous=was)
    await session.flush()
    return len(opened), len(expired)


# --- reading -----------------------------------------------------------------------------------


def describe(claim: Claim, recoveries: Sequence[Recovery] = ()) -> ClaimOut:
    return ClaimOut(
        id=claim.id,
        connection_id=claim.connection_id,
        key=claim.key,
        kind=str(claim.kind),
        status=str(claim.status),
        sku=claim.sku,
        fnsku=claim.fnsku,
        asin=claim.asin,
        quantity=claim.quantity,
        value_minor=claim.value_minor,
        currency=claim.currency,
        value_source=claim.value_source,
        event_date=claim.event_date,
        eligible_from=claim.eligible_from,
        deadline=claim.deadline,
        country=claim.country,
        reference=claim.reference,
        case_id=claim.case_id,
        filed_at=claim.filed_at,
        closed_at=claim.closed_at,
        close_reason=claim.close_reason,
        reimbursed_minor=claim.reimbursed_minor,
        reimbursed_quantity=claim.reimbursed_quantity,
        evidence=list(claim.evidence),
        recoveries=[describe_recovery(r) for r in recoveries],
        created_at=claim.created_at,
        updated_at=claim.updated_at,
    )


def describe_recovery(r: Recovery) -> RecoveryOut:
    return RecoveryOut(
        id=r.id,
        reimbursement_id=r.reimbursement_id,
        original_reimbursement_id=r.original_reimbursement_id,
        kind=r.kind,
        amount_minor=r.amount_minor,
        currency=r.currency,
        quantity=r.quantity,
        approved_on=r.approved_on,
        case_id=r.case_id,
        matched_by=r.matched_by,
        commission_status=str(r.commission_status),
    )


async def claim_with_recoveries(
    session: AsyncSession, claim_id: uuid.UUID
) -> tuple[Claim, list[Recovery]]:
    claim = await get_claim(session, claim_id)
    return claim, await ClaimRepository(session).recoveries_of(claim.id)


async def recoveries_by_claim(
    session: AsyncSession, claims: Sequence[Claim]
) -> dict[uuid.UUID, list[Recovery]]:
    """The recoveries of a page of claims, in one query."""
    out: dict[uuid.UUID, list[Recovery]] = defaultdict(list)
    for row in await ClaimRepository(session).recoveries_of_many([c.id for c in claims]):
        out[row.claim_id].append(row)
    return out


def encode_cursor(claim: Claim) -> str:
    return f"{claim.deadline.isoformat()}_{claim.id}"


def decode_cursor(cursor: str) -> tuple[dt.date, uuid.UUID]:
    day, _, ident = cursor.partition("_")
    try:
        return dt.date.fromisoformat(day), uuid.UUID(ident)
    except ValueError:
        raise BadCursor(
            "pass next_cursor of the previous page as it was given",
            errors=[{"field": "cursor", "message": "is not a cursor of this list"}],
        ) from None


async def list_claims(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
    kind: str | None,
    deadline_before: dt.date | None,
    deadline_after: dt.date | None,
) -> tuple[list[Claim], str | None]:
    rows = await ClaimRepository(session).page(
        limit=limit,
        after=decode_cursor(cursor) if cursor else None,
        status=status,
        kind=kind,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
    )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def totals(
    session: AsyncSession,
    *,
    status: str | None = None,
    kind: str | None = None,
    deadline_before: dt.date | None = None,
    deadline_after: dt.date | None = None,
) -> ClaimTotals:
    """Potential (open claims' estimates) and recovered value, by kind and currency."""
    potential, recovered = await ClaimRepository(session).totals(
        status=status, kind=kind, deadline_before=deadline_before, deadline_after=deadline_after
    )
    rows: dict[tuple[str, str | None], KindTotal] = {}
    for kind_, currency, count, open_, value in potential:
        rows[(str(kind_), currency)] = KindTotal(
            kind=str(kind_),
            currency=currency,
            claims=int(count),
            open=int(open_),
            potential_minor=int(value),
            recovered_minor=0,
        )
    for kind_, currency, amount in recovered:
        row = rows.setdefault(
            (str(kind_), currency),
            KindTotal(
                kind=str(kind_),
                currency=currency,
                claims=0,
                open=0,
                potential_minor=0,
                recovered_minor=0,
            ),
        )
        row.recovered_minor += int(amount)
    ordered = sorted(rows.values(), key=lambda r: (r.kind, r.currency or ""))
    potential_by: dict[str, int] = defaultdict(int)
    recovered_by: dict[str, int] = defaultdict(int)
    for row in ordered:
        if row.currency is not None:
            potential_by[row.currency] += row.potential_minor
            recovered_by[row.currency] += row.recovered_minor
    return ClaimTotals(
        by_kind=ordered,
        potential_by_currency={k: v for k, v in sorted(potential_by.items()) if v},
        recovered_by_currency={k: v for k, v in sorted(recovered_by.items()) if v},
    )


def dashboard_card() -> Read[dict[str, Any]]:
    """The dashboard card's figures (money found and recovered by currency, open claims, the
    next deadline), as one read for ``TenantReader.read_all``."""
    return card_read()
