"""Commissions: the row written for a recovery (before Stripe is ever called), what each
answer of Stripe does to it (``apply_intent``, ``apply_decline``, ``apply_unknown``), the notices
sent to the seller, and the organization's view (list, one). The calls to Stripe and the
transactions around them are in ``charge.py``; the rules (amount, minimum, schedule, states)
in ``rules.py``.

Every function here receives a session and only flushes. A session scoped to the commission's
organization, or a system context (webhook handlers, the periodic job), whose statements
then find rows by their own ids only."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions import rules
from sellerhub.billing.commissions.errors import BadCursor, NoSuchCommission
from sellerhub.billing.commissions.models import REFUND_STATES, Commission, CommissionRefund
from sellerhub.billing.commissions.repository import (
    COMMISSION_TOTALS_SQL,
    COMMISSIONS_PAGE_SQL,
    CommissionRepository,
    ReversalRepository,
)
from sellerhub.billing.commissions.rules import CommissionState
from sellerhub.billing.commissions.schemas import CommissionOut
from sellerhub.billing.transactions import service as ledger
from sellerhub.billing.transactions.models import TransactionKind
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.jobs.app import enqueue

log = get_logger(__name__)

REQUEST_TASK: Final = "billing.commission_requested"  # claims.service.COMMISSION_TASK
CHARGE_TASK: Final = "billing.commission_charge"
NOTICE_TASK: Final = "billing.commission_notice"
S = CommissionState


def settings_rules(settings: Settings) -> tuple[Mapping[str, int], Sequence[int]]:
    return settings.billing_commission_minimums, settings.billing_commission_retry_days


async def own_rate(session: AsyncSession) -> int | None:
    """The organization's own rate (basis points), if it has one."""
    return await CommissionRepository(session).rate()


async def rate_of(session: AsyncSession, settings: Settings) -> int:
    """The organization's own rate, else the setting's (basis points)."""
    own = await own_rate(session)
    return settings.billing_commission_rate_bps if own is None else own


async def set_rate(session: AsyncSession, organization_id: uuid.UUID, rate_bps: int | None) -> None:
    """Set (or with None drop) the organization's own rate; 404 for no such organization."""
    try:
        async with session.begin_nested():
            await CommissionRepository(session).set_rate(organization_id, rate_bps)
            await session.flush()
    except IntegrityError:
        raise NotFound("no such organization") from None


async def open_commission(
    session: AsyncSession,
    settings: Settings,
    *,
    organization_id: uuid.UUID,
    recovery_id: uuid.UUID,
    claim_id: uuid.UUID | None,
    amount_minor: int,
    currency: str,
    paid_to_platform: bool = False,
) -> tuple[Commission, bool]:
    """The recovery's commission, written now unless it exists (UNIQUE per recovery); True
    when this call wrote it. A reversal (negative recovery) or a commission below the
    currency's minimum is ``waived`` with the reason; money the platform holds is ``withheld``
    (kept from the seller's transfer, whatever its size: no card is charged); the rest is
    ``pending``, to be charged."""
    repo = CommissionRepository(session)
    existing = await repo.by_recovery(recovery_id)
    if existing is not None:
        return existing, False
    rate = await rate_of(session, settings)
    minimums, _ = settings_rules(settings)
    cur = currency.upper()
    state, reason, amount = S.PENDING, None, 0
    if amount_minor <= 0:
        state, reason = (
            S.WAIVED,
            (
                "a reversal: nothing to charge; it takes back its share of the commission on the "
                "reimbursement it names"
                if amount_minor < 0
                else "an empty recovery: nothing to charge"
            ),
        )
    else:
        amount = rules.commission_minor(amount_minor, rate)
        if paid_to_platform:  # no card charge, so no minimum charge either
            state, reason = S.WITHHELD, "kept from the recovery the platform holds"
        elif rules.below_minimum(amount, cur, minimums):
            state = S.WAIVED
            reason = (
                f"{amount} is below the minimum charge of {rules.minimum_for(cur, minimums)} "
                f"(minor units of {cur})"
            )
            amount = 0
    values: dict[str, Any] = {
        "id": uuid7(),
        "organization_id": organization_id,
        "recovery_id": recovery_id,
        "claim_id": claim_id,
        "recovery_amount_minor": max(amount_minor, 0),
        "currency": cur,
        "rate_bps": rate,
        "amount_minor": amount,
        "state": state,
        "reason": reason,
        "paid_to_platform": paid_to_platform,
        "attempt": 0,
        "failed_attempts": 0,
        "refunded_minor": 0,
    }
    created = await repo.insert_once(values)
    row = await repo.by_recovery(recovery_id)
    assert row is not None
    if created:
        log.info(
            "billing.commission_opened",
            commission_id=str(row.id),
            recovery_id=str(recovery_id),
            state=str(state),
            amount_minor=amount,
        )
    return row, created


# --- what Stripe's answers do --------------------------------------------------------------


def _move(row: Commission, target: CommissionState) -> bool:
    """Move when the table allows it; False (nothing changed) for news that does not."""
    if row.state == target:
        return False
    if not rules.can_move(row.state, target):
        log.info(
            "billing.commission_move_ignored",
            commission_id=str(row.id),
            state=str(row.state),
            target=str(target),
        )
        return False
    row.state = target
    return True


async def apply_intent(
    session: AsyncSession,
    settings: Settings,
    row: Commission,
    intent: Mapping[str, Any],
    *,
    source: str,
    now: datetime | None = None,
) -> bool:
    """Apply what a PaymentIntent says now (an API answer, a re-read, a search hit or a
    webhook's object); True when the commission changed. An intent of an earlier attempt
    counts only when it took the money (recorded, never lost); other news about it is old."""
    now = now or utcnow()
    intent_id = str(intent.get("id") or "")
    status = str(intent.get("status") or "")
    error = intent.get("last_payment_error") or {}
    target = rules.state_of_intent(status, error.get("code") if error else None)
    if not intent_id or target is None:
        return False
    if row.payment_intent_id is None:
        # Not yet linked: only the current attempt's intent (its metadata names the attempt).
        attempt = (intent.get("metadata") or {}).get("attempt")
        current = attempt is None or str(attempt) == str(row.attempt)
    else:
        current = row.payment_intent_id == intent_id
    if not current and target is not S.SUCCEEDED:
        return False
    if target is S.SUCCEEDED:
        return await _succeeded(session, row, intent, source=source, now=now)
    if row.payment_intent_id is None:
        row.payment_intent_id = intent_id
    row.stripe_status = status
    if target is S.PROCESSING:
        row.next_attempt_at = now + timedelta(seconds=settings.billing_commission_recheck_seconds)
        await session.flush()
        return False
    if target is S.REQUIRES_ACTION:
        if not _move(row, S.REQUIRES_ACTION):
            await session.flush()
            return False
        row.failure_code = "authentication_required"
        row.decline_code = None
        row.failure_message = _message(error) or "the bank asks the seller to authenticate"
        row.next_attempt_at = None
        await session.flush()
        await notify(session, row, "requires_action")
        return True
    return await _failed(session, settings, row, error, now=now)


async def apply_decline(
    session: AsyncSession,
    settings: Settings,
    row: Commission,
    error: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> bool:
    """A 402 ``card_error`` (or a refusal Stripe answered without an intent): the intent in
    the error decides when there is one; otherwise the error's code."""
    intent = error.get("payment_intent")
    if isinstance(intent, Mapping) and intent.get("id"):
        merged = dict(intent)
        if not merged.get("last_payment_error"):
            merged["last_payment_error"] = dict(error)
        if merged.get("status") in (None, "requires_confirmation"):
            merged["status"] = "requires_payment_method"
        return await apply_intent(session, settings, row, merged, source="api", now=now)
    if error.get("code") == "authentication_required":
        return await apply_intent(
            session,
            settings,
            row,
            {
                "id": row.payment_intent_id or "",
                "status": "requires_payment_method",
                "last_payment_error": dict(error),
            },
            source="api",
            now=now,
        )
    return await _failed(session, settings, row, error, now=now or utcnow())


def apply_unknown(settings: Settings, row: Commission, why: str, *, now: datetime) -> None:
    """The attempt's outcome is unknown (a timeout, a 5xx, a lost answer): it stays
    ``processing`` and is looked up later (``charge.reconcile``), never sent as a new one."""
    row.next_attempt_at = now + timedelta(seconds=settings.billing_commission_recheck_seconds)
    log.warning(
        "billing.commission_outcome_unknown",
        commission_id=str(row.id),
        attempt=row.attempt,
        reason=why,
    )


async def _succeeded(
    session: AsyncSession,
    row: Commission,
    intent: Mapping[str, Any],
    *,
    source: str,
    now: datetime,
) -> bool:
    intent_id = str(intent["id"])
    charge = intent.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, Mapping) else charge
    # The receipt comes with the charge object (the intent's expanded ``latest_charge``, or
    # ``charge.succeeded``); an id alone carries none.
    # Kept as Stripe gave it (bounded); shown as a link only through ``rules.receipt_link``.
    url = charge.get("receipt_url") if isinstance(charge, Mapping) else None
    receipt = url if isinstance(url, str) and 0 < len(url) <= rules.RECEIPT_URL_MAX else None
    amount = int(intent.get("amount_received") or intent.get("amount") or row.amount_minor)
    changed = False
    if row.payment_intent_id not in (None, intent_id) and row.state in (
        S.SUCCEEDED,
        S.REFUNDED,
        S.DISPUTED,
    ):
        # Money taken twice for one recovery: never expected (one attempt at a time, each
        # looked up before the next); recorded in the ledger and said loudly.
        log.error(
            "billing.commission_charged_twice",
            commission_id=str(row.id),
            payment_intent=intent_id,
            recorded=row.payment_intent_id,
        )
    elif row.state is not S.SUCCEEDED and _move(row, S.SUCCEEDED):
        row.payment_intent_id = intent_id
        row.charge_id = str(charge_id) if charge_id else None
        row.receipt_url = receipt
        row.stripe_status = "succeeded"
        row.succeeded_at = now
        row.next_attempt_at = None
        row.failure_code = row.decline_code = row.failure_message = None
        changed = True
        log.info("billing.commission_succeeded", commission_id=str(row.id), attempt=row.attempt)
    elif row.payment_intent_id == intent_id and row.charge_id is None and charge_id:
        row.charge_id = str(charge_id)
    if (
        row.payment_intent_id == intent_id
        and row.receipt_url is None
        and receipt
        and row.charge_id == charge_id
    ):
        row.receipt_url = receipt  # the receipt came later (charge.succeeded after the answer)
    await session.flush()
    await ledger.record(
        session,
        organization_id=row.organization_id,
        kind=TransactionKind.CHARGE,
        stripe_id=str(charge_id or intent_id),
        amount_minor=amount,
        currency=str(intent.get("currency") or row.currency),
        status="succeeded",
        source=source,
        payment_intent_id=intent_id,
        charge_id=str(charge_id) if charge_id else None,
        commission_id=row.id,
        recovery_id=row.recovery_id,
        stripe_created=_int(intent.get("created")),
    )
    return changed


async def _failed(
    session: AsyncSession,
    settings: Settings,
    row: Commission,
    error: Mapping[str, Any],
    *,
    now: datetime,
) -> bool:
    if not _move(row, S.FAILED):
        return False
    _, retry_days = settings_rules(settings)
    row.failed_attempts += 1
    row.failure_code = _text(error.get("code")) or "card_declined"
    row.decline_code = _text(error.get("decline_code"))
    row.failure_message = _message(error) or "the card was declined"
    row.next_attempt_at = rules.next_attempt(row.failed_attempts, now, retry_days)
    await session.flush()
    log.info(
        "billing.commission_failed",
        commission_id=str(row.id),
        attempt=row.attempt,
        code=row.failure_code,
        decline_code=row.decline_code,
        retry_at=row.next_attempt_at.isoformat() if row.next_attempt_at else None,
    )
    await notify(session, row, "failed" if row.next_attempt_at else "given_up")
    return True


async def wait_for_card(session: AsyncSession, row: Commission) -> bool:
    """No default card: the commission waits (charged once a card is saved: the periodic job
    looks again on every run). The seller is told once."""
    if row.state is S.NO_CARD or not _move(row, S.NO_CARD):
        return False
    row.reason = "no card is saved: add one on the billing page"
    row.next_attempt_at = None
    await session.flush()
    await notify(session, row, "no_card")
    return True


async def back_to_pending(session: AsyncSession, row: Commission, why: str) -> bool:
    """An attempt that, after a day, Stripe has no trace of: the next charge is a new attempt
    (a new key; the old one is forgotten by Stripe by then)."""
    if not _move(row, S.PENDING):
        return False
    row.next_attempt_at = None
    row.reason = why[:300]
    await session.flush()
    log.warning("billing.commission_attempt_lost", commission_id=str(row.id), attempt=row.attempt)
    return True


async def apply_refund(
    session: AsyncSession, row: Commission, charge: Mapping[str, Any], *, source: str
) -> bool:
    """``charge.refunded``: the refunded amount only grows (out of order safe); a full refund
    makes the commission ``refunded``. Each refund is its own ledger movement."""
    refunded = min(int(charge.get("amount_refunded") or 0), row.amount_minor)
    changed = False
    if refunded > row.refunded_minor:
        row.refunded_minor = refunded
        changed = True
    if refunded >= row.amount_minor > 0 and _move(row, S.REFUNDED):
        changed = True
    await session.flush()
    refunds = charge.get("refunds") or {}
    for refund in refunds.get("data") or []:
        if not isinstance(refund, Mapping) or not refund.get("id"):
            continue
        mine = await _reversal_of(session, row, refund)
        if mine is not None:  # our reversal's refund: recorded as the API's answer would
            await apply_refund_answer(session, row, mine, refund, source=source)
            continue
        await ledger.record(
            session,
            organization_id=row.organization_id,
            kind=TransactionKind.REFUND,
            stripe_id=str(refund["id"]),
            amount_minor=int(refund.get("amount") or 0),
            currency=str(refund.get("currency") or row.currency),
            status=str(refund.get("status") or "succeeded"),
            source=source,
            payment_intent_id=row.payment_intent_id,
            charge_id=row.charge_id,
            commission_id=row.id,
            recovery_id=row.recovery_id,
            stripe_created=_int(refund.get("created")),
        )
    return changed


async def apply_dispute(
    session: AsyncSession, row: Commission, dispute: Mapping[str, Any], *, source: str
) -> bool:
    changed = _move(row, S.DISPUTED)
    await session.flush()
    await ledger.record(
        session,
        organization_id=row.organization_id,
        kind=TransactionKind.DISPUTE,
        stripe_id=str(dispute["id"]),
        amount_minor=int(dispute.get("amount") or 0),
        currency=str(dispute.get("currency") or row.currency),
        status=str(dispute.get("status") or "needs_response"),
        source=source,
        payment_intent_id=row.payment_intent_id,
        charge_id=row.charge_id,
        commission_id=row.id,
        recovery_id=row.recovery_id,
        stripe_created=_int(dispute.get("created")),
    )
    return changed


# --- reversals: the commission's share refunded, or reduced before it is charged ---------------

WAITING, PROCESSING, SUCCEEDED, REDUCED, NOTHING = REFUND_STATES


async def open_reversal(
    session: AsyncSession,
    settings: Settings,
    row: Commission,
    *,
    reversal_id: uuid.UUID,
    reversed_minor: int,
    now: datetime,
) -> tuple[CommissionRefund, bool]:
    """The reversal's row on the commission of the recovery it takes back, written once
    (UNIQUE per reversal) and decided (``decide``); True when this call decided it (then a
    refund to send is this caller's to send; any other finds it ``processing``). The caller
    holds the commission's row lock."""
    repo = ReversalRepository(session)
    await repo.insert_refund_once(
        {
            "id": uuid7(),
            "organization_id": row.organization_id,
            "commission_id": row.id,
            "reversal_id": reversal_id,
            "reversed_minor": reversed_minor,
            "amount_minor": 0,
            "state": WAITING,
            "next_attempt_at": now,
        }
    )
    refund = await repo.refund_of(reversal_id, lock=True)
    assert refund is not None
    if refund.state != WAITING:
        return refund, False
    return refund, await decide(session, settings, row, refund, now=now)


async def decide(
    session: AsyncSession,
    settings: Settings,
    row: Commission,
    refund: CommissionRefund,
    *,
    now: datetime,
) -> bool:
    """What a waiting reversal does to its commission, under both rows' locks; True when it
    was decided (not left waiting). The share is ``rules.reversal_share`` of the commission
    on the whole recovery:

    * not charged yet (``pending``, ``no_card``, ``failed``): the commission is lowered by the
      share (``reduced``), ``waived`` when what is left is below the minimum charge;
    * an attempt open (``processing``, ``requires_action``): it waits for the outcome;
    * ``succeeded``: the share, at most what is not refunded yet, is to be refunded at Stripe
      (``processing``, sent by the caller after the commit);
    * ``withheld`` (the platform held the money): the commission kept is lowered by the share
      (``reduced``); the seller's part of the transfer is the caller's (``payouts``);
    * otherwise nothing was charged or is left (``nothing``)."""
    gross = rules.commission_minor(row.recovery_amount_minor, row.rate_bps)
    recovered = row.recovery_amount_minor
    if recovered <= 0 or gross <= 0:
        return await _settle(session, refund, NOTHING, 0, "the commission was nothing")
    if row.state in (S.PENDING, S.NO_CARD, S.FAILED):
        share = rules.reversal_share(gross, refund.reversed_minor, recovered, row.amount_minor)
        row.amount_minor -= share
        minimums, _ = settings_rules(settings)
        if rules.below_minimum(row.amount_minor, row.currency, minimums) and _move(row, S.WAIVED):
            row.reason = (
                f"reversed: {row.amount_minor} left is below the minimum charge "
                f"(minor units of {row.currency})"
            )
            row.amount_minor = 0
            row.next_attempt_at = None
        log.info(
            "billing.commission_reduced",
            commission_id=str(row.id),
            reversal_id=str(refund.reversal_id),
            by=share,
            state=str(row.state),
        )
        return await _settle(
            session, refund, REDUCED, share, f"not charged yet: lowered by {share}"
        )
    if row.state is S.WITHHELD:
        # The platform held the money: it gives up its share of the commission it kept, and
        # the seller's transfer gives back the seller's part (``payouts.open_reversal``).
        share = rules.reversal_share(gross, refund.reversed_minor, recovered, row.amount_minor)
        row.amount_minor -= share
        log.info(
            "billing.commission_reduced",
            commission_id=str(row.id),
            reversal_id=str(refund.reversal_id),
            by=share,
            state=str(row.state),
        )
        return await _settle(
            session,
            refund,
            REDUCED,
            share,
            f"withheld: the commission kept is lowered by {share}; the seller's transfer "
            "gives back the seller's part",
        )
    if row.state in (S.PROCESSING, S.REQUIRES_ACTION):
        refund.next_attempt_at = now + timedelta(
            seconds=settings.billing_commission_recheck_seconds
        )
        refund.reason = "an attempt to charge is open: decided once its outcome is known"
        await session.flush()
        return False
    if row.state is S.SUCCEEDED and row.payment_intent_id:
        others = await ReversalRepository(session).refunds_of(row.id)
        sent = sum(
            r.amount_minor
            for r in others
            if r.id != refund.id and r.state in (PROCESSING, SUCCEEDED)
        )
        left = max(row.amount_minor - max(row.refunded_minor, sent), 0)
        share = rules.reversal_share(gross, refund.reversed_minor, recovered, left)
        if share == 0:
            return await _settle(session, refund, NOTHING, 0, "the commission is refunded already")
        refund.state = PROCESSING
        refund.amount_minor = share
        refund.sent_at = now
        refund.next_attempt_at = now + timedelta(
            seconds=settings.billing_commission_recheck_seconds
        )
        refund.reason = None
        await session.flush()
        return True
    return await _settle(
        session, refund, NOTHING, 0, f"the commission is {row.state}: no card charge to refund"
    )


async def _settle(
    session: AsyncSession, refund: CommissionRefund, state: str, amount: int, why: str
) -> bool:
    refund.state = state
    refund.amount_minor = amount
    refund.reason = why[:300]
    refund.next_attempt_at = None
    await session.flush()
    return True


async def apply_refund_answer(
    session: AsyncSession,
    row: Commission,
    refund: CommissionRefund,
    answer: Mapping[str, Any],
    *,
    source: str,
) -> bool:
    """Stripe's Refund for the reversal (the API's answer, a listing, a webhook): recorded
    once; the commission's refunded amount grows to what its reversals refunded (``refunded``
    in full) and the refund is a ledger movement (UNIQUE per Stripe refund)."""
    refund_id = str(answer.get("id") or "")
    status = str(answer.get("status") or "succeeded")
    if not refund_id:
        return False
    changed = False
    if refund.state == PROCESSING:
        if status in ("failed", "canceled"):
            await _settle(session, refund, NOTHING, 0, f"Stripe's refund {refund_id} {status}")
            return True
        refund.state = SUCCEEDED
        refund.stripe_refund_id = refund_id
        refund.stripe_status = status
        refund.next_attempt_at = None
        await session.flush()
        changed = True
        refunded = sum(
            r.amount_minor
            for r in await ReversalRepository(session).refunds_of(row.id)
            if r.state == SUCCEEDED
        )
        row.refunded_minor = min(max(row.refunded_minor, refunded), row.amount_minor)
        if row.refunded_minor >= row.amount_minor > 0:
            _move(row, S.REFUNDED)
        await session.flush()
        log.info(
            "billing.commission_refunded",
            commission_id=str(row.id),
            reversal_id=str(refund.reversal_id),
            amount_minor=refund.amount_minor,
        )
    await ledger.record(
        session,
        organization_id=row.organization_id,
        kind=TransactionKind.REFUND,
        stripe_id=refund_id,
        amount_minor=int(answer.get("amount") or refund.amount_minor),
        currency=str(answer.get("currency") or row.currency),
        status=status,
        source=source,
        payment_intent_id=row.payment_intent_id,
        charge_id=row.charge_id,
        commission_id=row.id,
        recovery_id=row.recovery_id,
        stripe_created=_int(answer.get("created")),
    )
    return changed


async def _reversal_of(
    session: AsyncSession, row: Commission, refund: Mapping[str, Any]
) -> CommissionRefund | None:
    """The reversal's row a Stripe refund was sent for (``metadata[reversal]``), if any."""
    named = (refund.get("metadata") or {}).get("reversal")
    try:
        reversal_id = uuid.UUID(str(named)) if named else None
    except ValueError:
        return None
    if reversal_id is None:
        return None
    found = await ReversalRepository(session).refund_of(reversal_id, lock=True)
    return found if found is not None and found.commission_id == row.id else None


async def refund_refused(session: AsyncSession, refund: CommissionRefund, why: str) -> None:
    """Stripe refused the refund (e.g. the charge was refunded meanwhile): nothing sent."""
    if refund.state == PROCESSING:
        await _settle(session, refund, NOTHING, 0, f"Stripe refused the refund: {why}")
        log.warning("billing.commission_refund_refused", reversal_id=str(refund.reversal_id))


# --- the seller's notices --------------------------------------------------------------------


async def notify(session: AsyncSession, row: Commission, notice: str) -> None:
    """Request the seller's notice (``tasks.commission_notice`` writes the mail, scoped to the
    organization) in this transaction: a notice exists if and only if the change was kept. At
    most one per commission, attempt and kind (``commission_notices``, UNIQUE): a decision
    taken again (a replayed answer, a webhook after the API's answer) requests nothing."""
    if not await ReversalRepository(session).decide_notice(
        row.organization_id, row.id, row.attempt, notice
    ):
        log.info(
            "billing.commission_notice_decided_before",
            commission_id=str(row.id),
            attempt=row.attempt,
            notice=notice,
        )
        return
    await enqueue(
        session,
        NOTICE_TASK,
        {
            "organization_id": str(row.organization_id),
            "commission_id": str(row.id),
            "notice": notice,
            "attempt": row.attempt,
        },
    )


async def notice_to_send(
    session: AsyncSession, row: Commission, notice: str, attempt: int | None
) -> bool:
    """The notice job's check, in the transaction that queues the mail: True once per
    commission, attempt and kind; a second delivery of the job finds it sent."""
    return await ReversalRepository(session).mark_notice_sent(
        row.organization_id, row.id, row.attempt if attempt is None else attempt, notice, utcnow()
    )


def notice_text(row: Commission, notice: str, *, public_url: str) -> tuple[str, str]:
    """(subject, body) of a notice; amounts in minor units with the currency, no card data."""
    money = f"{row.amount_minor} {row.currency} (minor units)"
    page = f"{public_url}/api/v1/billing/commissions/{row.id}"
    if notice == "requires_action":
        link = f"{public_url}/api/v1/billing/commissions/{row.id}/authenticate"
        return (
            "Your bank asks you to confirm a sellerhub payment",
            f"sellerhub's commission of {money} on a recovered reimbursement needs your "
            f"confirmation: your bank asked for it.\n\nConfirm it here (sign in first):\n{link}\n",
        )
    if notice == "failed":
        when = row.next_attempt_at.date().isoformat() if row.next_attempt_at else ""
        return (
            "A sellerhub payment was declined",
            f"sellerhub's commission of {money} was declined: {row.failure_message} "
            f"({row.failure_code}"
            + (f", {row.decline_code}" if row.decline_code else "")
            + f").\n\nWe will try again on {when}. To use another card, add it on the billing "
            f"page.\n{page}\n",
        )
    if notice == "given_up":
        return (
            "A sellerhub payment could not be collected",
            f"sellerhub's commission of {money} was declined {row.failed_attempts} times "
            f"({row.failure_code}); we stopped trying. Add another card on the billing page and "
            f"contact us to settle it.\n{page}\n",
        )
    return (
        "Add a card to pay sellerhub's commission",
        f"A reimbursement was recovered for you, and sellerhub's commission of {money} is due, "
        f"but no card is saved. Add one on the billing page; it is charged then.\n{page}\n",
    )


# --- the organization's view -----------------------------------------------------------------


async def get(session: AsyncSession, commission_id: uuid.UUID) -> Commission:
    row = await CommissionRepository(session).get(commission_id)
    if row is None:
        raise NoSuchCommission("no such commission")
    return row


async def page(
    session: AsyncSession, *, limit: int, cursor: str | None, state: str | None
) -> tuple[Sequence[Commission], str | None]:
    before = None
    if cursor:
        try:
            before = uuid.UUID(cursor)
        except ValueError:
            raise BadCursor(
                "pass next_cursor of the previous page as it was given",
                errors=[{"field": "cursor", "message": "is not a cursor of this list"}],
            ) from None
    rows = await CommissionRepository(session).page(limit=limit, before=before, state=state)
    items = rows[:limit]
    return items, (str(items[-1].id) if len(rows) > limit else None)


def receipt_link(url: object, api_base: str) -> str | None:
    """The receipt as a link to show (``rules.receipt_link``), for the API and the page."""
    return rules.receipt_link(url, api_base)


def describe(row: Commission, *, api_base: str) -> CommissionOut:
    """The commission for the API; its receipt only when the URL passes ``rules.receipt_link``
    for ``api_base`` (the configured Stripe API base)."""
    return CommissionOut(
        id=row.id,
        recovery_id=row.recovery_id,
        claim_id=row.claim_id,
        state=str(row.state),
        reason=row.reason,
        recovery_amount_minor=row.recovery_amount_minor,
        rate_bps=row.rate_bps,
        amount_minor=row.amount_minor,
        currency=row.currency,
        paid_to_platform=row.paid_to_platform,
        attempt=row.attempt,
        failed_attempts=row.failed_attempts,
        payment_intent_id=row.payment_intent_id,
        charge_id=row.charge_id,
        receipt_url=receipt_link(row.receipt_url, api_base),
        failure_code=row.failure_code,
        decline_code=row.decline_code,
        failure_message=row.failure_message,
        next_attempt_at=row.next_attempt_at,
        succeeded_at=row.succeeded_at,
        refunded_minor=row.refunded_minor,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _text(value: object) -> str | None:
    return str(value)[:100] if value else None


def _message(error: Mapping[str, Any]) -> str | None:
    message = error.get("message")
    return str(message)[:500] if message else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _rows(value: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in value or []]


def commissions_read(*, limit: int, before: uuid.UUID | None) -> Read[list[dict[str, Any]]]:
    """A page of commissions, newest first, for a page's one read (``web.session.view``): at
    most ``limit`` + 1 rows (the extra one means there is a next page)."""
    return Read(
        COMMISSIONS_PAGE_SQL,
        {"commissions_before": before, "commissions_limit": limit + 1},
        _rows,
    )


def totals_read() -> Read[list[dict[str, Any]]]:
    """Per currency: charged (net of refunds), still open, to confirm, declined."""
    return Read(COMMISSION_TOTALS_SQL, decode=_rows)
