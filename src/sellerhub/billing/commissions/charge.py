"""Charging a commission at Stripe, exactly once per recovery.

Each step is its own transaction (these functions take the *sessionmaker*): the row must be
committed before Stripe is called and the answer committed after, so that whatever dies in
between leaves a row that says what may have happened.

1. ``start``: with the commission's row, the next attempt is taken by one conditional UPDATE
   (``pending``/``no_card``/due ``failed`` → ``processing``, ``attempt + 1``, the customer and
   card of the attempt kept on the row) and committed. Two workers racing on one commission:
   one takes the attempt, the other finds nothing to do.
2. ``send``: an off-session PaymentIntent (``confirm=true, off_session=true``) with
   ``Idempotency-Key: commission:{recovery_id}:{attempt}`` and the recovery, commission and
   organization in its metadata.
3. ``record``: the answer applied under the row lock (``service.apply_*``): succeeded,
   requires_action (402 ``authentication_required``), failed (402 decline, with the retry
   schedule), or unknown (timeout, 5xx, connection lost: still ``processing``).

``reconcile`` resolves a ``processing`` attempt whose outcome was never recorded (unknown, or
the process died after Stripe answered): the intent it made is read again (by its id, else
searched by ``metadata['recovery_id']``); when Stripe has none, the same attempt is sent again
with the same key and parameters (a replay at Stripe if it had run it) while Stripe still
remembers keys (``KEY_MEMORY``); after that an attempt Stripe has no trace of goes back to
``pending`` and the next charge is a new attempt. Never a second charge for a recovery."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.billing.commissions import rules, service
from sellerhub.billing.commissions.errors import (
    NoSuchRecovery,
    NotAwaitingAction,
    StripeUnavailable,
)
from sellerhub.billing.commissions.models import Commission, CommissionRefund
from sellerhub.billing.commissions.repository import CommissionRepository, ReversalRepository
from sellerhub.billing.commissions.rules import CommissionState
from sellerhub.billing.customers import service as customers
from sellerhub.billing.payouts import service as payouts
from sellerhub.commerce.claims import service as claims
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant

log = get_logger(__name__)

S = CommissionState
# Stripe prunes idempotency keys once they are 24 hours old: until then re-sending an attempt
# is safe; a margin keeps us well inside it.
KEY_MEMORY: Final = timedelta(hours=23)
# Reads of an intent bring its charge (and the charge's receipt_url) along.
EXPAND_CHARGE: Final[Any] = {"expand": ["latest_charge"]}


@dataclass(frozen=True)
class Answer:
    """What one call to Stripe came back with: an intent, a card error, or nothing known."""

    intent: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    unknown: str | None = None


@dataclass(frozen=True)
class Attempt:
    """An attempt as committed: its number, and the request that carries it."""

    number: int
    params: dict[str, Any]
    key: str


def _params(row: Commission) -> dict[str, Any]:
    """The attempt's request, from the row alone: re-sending it sends the same parameters."""
    return _request(row, row.attempt, str(row.customer_id), str(row.payment_method_id))


def _request(row: Commission, attempt: int, customer: str, payment_method: str) -> dict[str, Any]:
    return {
        "amount": row.amount_minor,
        "currency": row.currency.lower(),
        "customer": customer,
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "off_session": True,
        "confirm": True,
        "description": f"sellerhub commission on recovery {row.recovery_id}",
        # The charge comes back with the answer, its receipt_url with it (no second call).
        "expand": ["latest_charge"],
        "metadata": {
            "recovery_id": str(row.recovery_id),
            "commission_id": str(row.id),
            "organization_id": str(row.organization_id),
            "attempt": str(attempt),
        },
    }


async def send(client: stripe.StripeClient, params: Mapping[str, Any], key: str) -> Answer:
    """One PaymentIntent create. A card error is an answer (its intent inside); a refusal of
    the request (4xx other than 402) is an answer too, as an error; everything that leaves
    the outcome open (timeouts, connection errors, 5xx, 409 and 429) is unknown."""
    try:
        intent = await client.v1.payment_intents.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": key},
        )
    except stripe.CardError as exc:
        return Answer(error=_error_body(exc))
    except (stripe.IdempotencyError, stripe.AuthenticationError, stripe.PermissionError) as exc:
        return Answer(unknown=_error_name(exc))  # our setup, not the seller's card
    except stripe.InvalidRequestError as exc:
        status = exc.http_status or 400
        if status in (409, 429) or status >= 500:
            return Answer(unknown=_error_name(exc))
        return Answer(error=_error_body(exc) | {"refused": True})
    except stripe.StripeError as exc:  # APIConnectionError, APIError (5xx), RateLimitError
        return Answer(unknown=_error_name(exc))
    return Answer(intent=intent.to_dict())


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return dict(error) if isinstance(error, dict) else {"code": exc.code, "message": str(exc)}


def _error_name(exc: stripe.StripeError) -> str:
    """The error's class and HTTP status, never its message (it may quote a request)."""
    return f"{type(exc).__name__} {exc.http_status or ''}".strip()


async def charge(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    commission_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> CommissionState | None:
    """Move the commission towards a charge: a new attempt when it waits for one, the
    look-up of an open attempt when its outcome is due; returns the state it is left in."""
    now = now or utcnow()
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await CommissionRepository(session).get(commission_id)
        if row is None:
            return None
        state: CommissionState = row.state
        if state is S.PROCESSING:  # an open attempt: looked up once its outcome is due
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                return state
            taken = None
        else:
            state, taken = await _start(session, settings, row, now=now)
            if taken is None:
                return state
    if taken is None:
        return await reconcile(
            sessionmaker, settings, client, organization_id, commission_id, now=now
        )
    answer = await send(client, taken.params, taken.key)
    return await _record(
        sessionmaker, settings, organization_id, commission_id, taken.number, answer, now=now
    )


async def _start(
    session: AsyncSession, settings: Settings, row: Commission, *, now: datetime
) -> tuple[CommissionState, Attempt | None]:
    """Take the next attempt when the commission waits for one (the caller commits before it
    sends it): the state it is left in, and the attempt when this call took one."""
    waiting = row.state in (S.PENDING, S.NO_CARD) or (
        row.state is S.FAILED and row.next_attempt_at is not None and row.next_attempt_at <= now
    )
    if not waiting:
        return row.state, None
    card = await customers.default_payment_method(session, row.organization_id)
    if card is None:
        await service.wait_for_card(session, row)
        return row.state, None
    customer_id, payment_method_id = card
    attempt = await CommissionRepository(session).start_attempt(
        row.id,
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        now=now,
        recheck_at=now + timedelta(seconds=settings.billing_commission_recheck_seconds),
    )
    if attempt is None:  # another worker took it
        return S.PENDING, None
    log.info("billing.commission_attempt", commission_id=str(row.id), attempt=attempt)
    params = _request(row, attempt, customer_id, payment_method_id)
    return S.PROCESSING, Attempt(attempt, params, rules.idempotency_key(row.recovery_id, attempt))


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    organization_id: uuid.UUID,
    commission_id: uuid.UUID,
    attempt: int,
    answer: Answer,
    *,
    now: datetime | None = None,
) -> CommissionState | None:
    now = now or utcnow()
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await CommissionRepository(session).get(commission_id, lock=True)
        if row is None:
            return None
        if answer.intent is not None:
            await service.apply_intent(session, settings, row, answer.intent, source="api", now=now)
        elif answer.error is not None:
            if row.attempt == attempt and row.state is S.PROCESSING:
                await service.apply_decline(session, settings, row, answer.error, now=now)
        elif row.attempt == attempt and row.state is S.PROCESSING:
            service.apply_unknown(settings, row, answer.unknown or "unknown", now=now)
        return row.state


async def reconcile(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    commission_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> CommissionState | None:
    """Resolve a ``processing`` attempt whose outcome is not recorded (see the module)."""
    now = now or utcnow()
    async with sessionmaker() as session:
        set_tenant(session, organization_id)
        row = await CommissionRepository(session).get(commission_id)
        if row is None or row.state is not S.PROCESSING:
            return None if row is None else row.state
        attempt, intent_id, sent_at = row.attempt, row.payment_intent_id, row.attempt_sent_at
        recovery_id, params = row.recovery_id, _params(row)
    try:
        if intent_id is not None:
            found: dict[str, Any] | None = (
                await client.v1.payment_intents.retrieve_async(intent_id, EXPAND_CHARGE)
            ).to_dict()
        else:
            found = await find_intent(client, recovery_id, attempt)
    except stripe.StripeError as exc:
        return await _record(
            sessionmaker,
            settings,
            organization_id,
            commission_id,
            attempt,
            Answer(unknown=_error_name(exc)),
            now=now,
        )
    if found is not None:
        log.info("billing.commission_reconciled", commission_id=str(commission_id), found=True)
        return await _record(
            sessionmaker,
            settings,
            organization_id,
            commission_id,
            attempt,
            Answer(intent=found),
            now=now,
        )
    if sent_at is not None and now - sent_at < KEY_MEMORY:
        # Stripe has no intent for it yet (never reached, or its search lags): the same
        # request again, under the same key, runs it once or replays what it ran.
        answer = await send(client, params, rules.idempotency_key(recovery_id, attempt))
        return await _record(
            sessionmaker, settings, organization_id, commission_id, attempt, answer, now=now
        )
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await CommissionRepository(session).get(commission_id, lock=True)
        if row is None:
            return None
        if row.state is S.PROCESSING and row.attempt == attempt:
            await service.back_to_pending(
                session, row, f"attempt {attempt} left no payment at Stripe within a day"
            )
        return row.state


async def find_intent(
    client: stripe.StripeClient, recovery_id: uuid.UUID, attempt: int
) -> dict[str, Any] | None:
    """The recovery's intent at Stripe, by metadata: one that took the money first, else the
    one of ``attempt``."""
    result = await client.v1.payment_intents.search_async(
        {
            "query": f"metadata['recovery_id']:'{recovery_id}'",
            "limit": 100,
            "expand": ["data.latest_charge"],
        }
    )
    intents = [i.to_dict() for i in result.data]
    for intent in intents:
        if intent.get("status") == "succeeded":
            return intent
    for intent in intents:
        if str((intent.get("metadata") or {}).get("attempt")) == str(attempt):
            return intent
    return None


# --- on session: the seller confirms what the bank asked for (SCA) ---------------------------


async def authenticate(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    commission_id: uuid.UUID,
    *,
    return_url: str,
) -> str | None:
    """The seller followed the emailed link: confirm the intent on session and give the URL
    where the bank's page is (Stripe's ``next_action``); None when it needed none (the
    commission is then recorded as it ended)."""
    async with sessionmaker() as session:
        set_tenant(session, organization_id)
        row = await service.get(session, commission_id)
        if row.state is not S.REQUIRES_ACTION or row.payment_intent_id is None:
            raise NotAwaitingAction(f"the commission is {row.state}: nothing to confirm")
        intent_id, payment_method = row.payment_intent_id, row.payment_method_id
    try:
        intent = (await client.v1.payment_intents.retrieve_async(intent_id)).to_dict()
        if intent.get("status") == "requires_payment_method":
            params: dict[str, Any] = {"return_url": return_url}
            if payment_method:
                params["payment_method"] = payment_method
            intent = (
                await client.v1.payment_intents.confirm_async(intent_id, params)  # type: ignore[arg-type]
            ).to_dict()
    except stripe.CardError as exc:
        error = _error_body(exc)
        intent = error.get("payment_intent") or {}
    except stripe.StripeError as exc:
        raise StripeUnavailable(
            f"Stripe did not confirm the payment ({_error_name(exc)})"
        ) from None
    url = _redirect_url(intent)
    if url is None:
        await _record(
            sessionmaker, settings, organization_id, commission_id, -1, Answer(intent=intent)
        )
    return url


async def returned(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    commission_id: uuid.UUID,
) -> Commission:
    """Back from the bank's page: the intent read again and applied."""
    async with sessionmaker() as session:
        set_tenant(session, organization_id)
        row = await service.get(session, commission_id)
        intent_id = row.payment_intent_id
    if intent_id is not None and row.state in (S.REQUIRES_ACTION, S.PROCESSING, S.FAILED):
        try:
            intent = (
                await client.v1.payment_intents.retrieve_async(intent_id, EXPAND_CHARGE)
            ).to_dict()
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe could not be asked ({_error_name(exc)})") from None
        await _record(
            sessionmaker, settings, organization_id, commission_id, -1, Answer(intent=intent)
        )
    async with sessionmaker() as session:
        set_tenant(session, organization_id)
        return await service.get(session, commission_id)


def _redirect_url(intent: Mapping[str, Any]) -> str | None:
    action = intent.get("next_action") or {}
    if intent.get("status") != "requires_action" or not isinstance(action, Mapping):
        return None
    redirect = action.get("redirect_to_url") or {}
    url = redirect.get("url") if isinstance(redirect, Mapping) else None
    return str(url) if url else None


# --- the request: a recovery's commission opened, then charged --------------------------------


async def request(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    recovery_id: uuid.UUID,
    *,
    paid_to_platform: bool = False,
    source_transaction: str | None = None,
) -> Commission:
    """The recovery's commission (opened once, committed before anything is sent), moved
    towards its charge; the commission as it is left. Money the platform holds is not
    charged: the rest of it is transferred to the seller (``payouts``)."""
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        recovery = await claims.recovery_of(session, recovery_id)
        if recovery is None:
            raise NoSuchRecovery("no such recovery")
        row, _ = await service.open_commission(
            session,
            settings,
            organization_id=organization_id,
            recovery_id=recovery.id,
            claim_id=recovery.claim_id,
            amount_minor=recovery.amount_minor,
            currency=recovery.currency,
            paid_to_platform=paid_to_platform,
        )
        await claims.commission_requested(session, organization_id, recovery.id)
        reversal = transfer_reversal = None
        if recovery.kind == "reversal" and recovery.amount_minor < 0:
            reversal, transfer_reversal = await _open_reversal(session, settings, recovery)
        if row.state is S.WITHHELD and row.recovery_amount_minor > row.amount_minor:
            await payouts.open_transfer(
                session,
                organization_id=organization_id,
                recovery_id=recovery.id,
                commission_id=row.id,
                amount_minor=row.recovery_amount_minor - row.amount_minor,
                currency=row.currency,
                source_transaction=source_transaction,
            )
        commission_id = row.id
    if reversal is not None:
        await _send_refund(sessionmaker, client, organization_id, reversal)
    if transfer_reversal is not None:
        from sellerhub.billing.payouts import transfer as seller_transfers  # imports this module

        await seller_transfers.send_reversal(
            sessionmaker, client, organization_id, transfer_reversal
        )
    await charge(sessionmaker, settings, client, organization_id, commission_id)
    async with sessionmaker() as session:
        set_tenant(session, organization_id)
        return await service.get(session, commission_id)


# --- reversals: the commission's share refunded once -----------------------------------------


@dataclass(frozen=True)
class RefundRequest:
    """A reversal's refund as committed: the request that carries it, under its one key."""

    reversal_id: uuid.UUID
    commission_id: uuid.UUID
    params: dict[str, Any]
    key: str


def _refund_params(row: Commission, refund: CommissionRefund) -> RefundRequest:
    """The refund's request, from the rows alone: sent again, it is the same request."""
    return RefundRequest(
        refund.reversal_id,
        row.id,
        {
            "payment_intent": str(row.payment_intent_id),
            "amount": refund.amount_minor,
            "metadata": {
                "reversal": str(refund.reversal_id),
                "commission_id": str(row.id),
                "recovery_id": str(row.recovery_id),
            },
        },
        rules.refund_key(refund.reversal_id),
    )


async def _open_reversal(
    session: AsyncSession, settings: Settings, reversal: Any
) -> tuple[RefundRequest | None, Any]:
    """A reversal names the reimbursement it takes back: that recovery's commission (opened
    now if its own request has not come yet) gets the reversal's row, decided under its lock;
    when the platform held that recovery (``withheld``), the seller's transfer gets one too
    (``payouts.open_reversal``). The refund, and the transfer reversal
    (``payouts.transfer.ReversalRequest``), to send when this call decided them."""
    original = await ReversalRepository(session).original_of(
        str(reversal.original_reimbursement_id or "")
    )
    if original is None:
        log.warning("billing.reversal_without_original", recovery_id=str(reversal.id))
        return None, None
    commission, _ = await service.open_commission(
        session,
        settings,
        organization_id=original.organization_id,
        recovery_id=original.id,
        claim_id=original.claim_id,
        amount_minor=original.amount_minor,
        currency=original.currency,
    )
    row = await CommissionRepository(session).get(commission.id, lock=True)
    assert row is not None
    refund, decided = await service.open_reversal(
        session,
        settings,
        row,
        reversal_id=reversal.id,
        reversed_minor=-int(reversal.amount_minor),
        now=utcnow(),
    )
    if row.state is S.WITHHELD:
        return None, await _open_transfer_reversal(session, settings, row, reversal)
    if decided and refund.state == service.PROCESSING:
        return _refund_params(row, refund), None
    return None, None


async def _open_transfer_reversal(
    session: AsyncSession, settings: Settings, row: Commission, reversal: Any
) -> Any:
    """The seller's part of a reversed recovery the platform held: taken back from the
    seller's transfer once (lowered before it is sent, or reversed at Stripe after)."""
    from sellerhub.billing.payouts import transfer as seller_transfers  # imports this module

    recovered = row.recovery_amount_minor
    gross = recovered - rules.commission_minor(recovered, row.rate_bps)
    found, decided = await payouts.open_reversal(
        session,
        recovery_id=row.recovery_id,
        reversal_id=reversal.id,
        reversed_minor=-int(reversal.amount_minor),
        recovered_minor=recovered,
        gross_minor=gross,
        recheck=timedelta(seconds=settings.billing_commission_recheck_seconds),
        now=utcnow(),
    )
    if found is None or not decided or found.state != payouts.PROCESSING:
        return None
    transfer = await payouts.transfer_row(session, found.seller_transfer_id)
    return seller_transfers.reversal_request(transfer, found)


async def send_refund(client: stripe.StripeClient, request: RefundRequest) -> Answer:
    """One ``POST /v1/refunds``. A refusal (4xx other than 409/429) is an answer, as an
    error; anything that leaves the outcome open is unknown."""
    try:
        refund = await client.v1.refunds.create_async(
            request.params,  # type: ignore[arg-type]
            {"idempotency_key": request.key},
        )
    except (stripe.IdempotencyError, stripe.AuthenticationError, stripe.PermissionError) as exc:
        return Answer(unknown=_error_name(exc))
    except stripe.InvalidRequestError as exc:
        status = exc.http_status or 400
        if status in (409, 429) or status >= 500:
            return Answer(unknown=_error_name(exc))
        return Answer(error=_error_body(exc))
    except stripe.StripeError as exc:
        return Answer(unknown=_error_name(exc))
    return Answer(intent=refund.to_dict())


async def _send_refund(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    request: RefundRequest,
) -> str | None:
    answer = await send_refund(client, request)
    return await _record_refund(sessionmaker, organization_id, request.reversal_id, answer)


async def _record_refund(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    reversal_id: uuid.UUID,
    answer: Answer,
) -> str | None:
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        found = await ReversalRepository(session).refund_of(reversal_id)
        if found is None:
            return None
        row = await CommissionRepository(session).get(found.commission_id, lock=True)
        refund = await ReversalRepository(session).refund_of(reversal_id, lock=True)
        if row is None or refund is None:
            return None
        if answer.intent is not None:
            await service.apply_refund_answer(session, row, refund, answer.intent, source="api")
        elif answer.error is not None:
            await service.refund_refused(
                session, refund, str(answer.error.get("code") or "invalid_request")
            )
        else:
            log.warning(
                "billing.commission_refund_outcome_unknown",
                reversal_id=str(reversal_id),
                reason=answer.unknown,
            )
        return refund.state


async def refund_step(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    reversal_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> str | None:
    """Move a reversal's refund on (the periodic job): one waiting for the charge's outcome
    is decided again; one sent whose outcome is overdue is looked up among the intent's
    refunds at Stripe (by ``metadata[reversal]``) and, when Stripe has none, the same request
    is sent again under the same key: never a second refund. Returns the state it is in."""
    now = now or utcnow()
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        found = await ReversalRepository(session).refund_of(reversal_id)
        if found is None:
            return None
        row = await CommissionRepository(session).get(found.commission_id, lock=True)
        refund = await ReversalRepository(session).refund_of(reversal_id, lock=True)
        if row is None or refund is None:
            return None
        if refund.next_attempt_at is None or refund.next_attempt_at > now:
            return refund.state
        fresh = False  # decided by this call: nothing was sent for it before
        if refund.state == service.WAITING:
            if not await service.decide(session, settings, row, refund, now=now):
                return refund.state
            if refund.state != service.PROCESSING:
                return refund.state
            fresh = True
        elif refund.state == service.PROCESSING:
            refund.next_attempt_at = now + timedelta(
                seconds=settings.billing_commission_recheck_seconds
            )
            await session.flush()
        else:
            return refund.state
        request = _refund_params(row, refund)
    if not fresh:
        try:
            listed = await find_refund(client, str(request.params["payment_intent"]), reversal_id)
        except stripe.StripeError as exc:
            return await _record_refund(
                sessionmaker, organization_id, reversal_id, Answer(unknown=_error_name(exc))
            )
        if listed is not None:
            log.info("billing.commission_refund_reconciled", reversal_id=str(reversal_id))
            return await _record_refund(
                sessionmaker, organization_id, reversal_id, Answer(intent=listed)
            )
    return await _send_refund(sessionmaker, client, organization_id, request)


async def find_refund(
    client: stripe.StripeClient, payment_intent_id: str, reversal_id: uuid.UUID
) -> dict[str, Any] | None:
    """The refund sent for the reversal, among the intent's refunds (a list, so no lag)."""
    params: dict[str, Any] = {"payment_intent": payment_intent_id, "limit": 100}
    while True:
        page = await client.v1.refunds.list_async(params)  # type: ignore[arg-type]
        for refund in page.data:
            body = refund.to_dict()
            if str((body.get("metadata") or {}).get("reversal")) == str(reversal_id):
                return body
        if not page.has_more or not page.data:
            return None
        params["starting_after"] = page.data[-1].id
