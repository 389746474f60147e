"""Stripe's events about commissions, listed in ``sellerhub.handlers`` (source ``stripe``).

Stripe's events reach us without an organization: each handler finds its commission by the
Stripe ids it recorded (or the intent's ``metadata[commission_id]``) inside a named system
context, and writes rows of that commission's organization only.

Idempotent and safe out of order: a duplicate changes nothing (the state does not move to
itself, the ledger is UNIQUE per Stripe object); an older event never wins — a PaymentIntent's
``succeeded`` is final whenever it arrives, any other intent event older (Stripe's ``created``)
than the last one applied is skipped, the state table refuses a move back (nothing leaves
``succeeded`` but a refund or a dispute), and refunded amounts only grow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions import service
from sellerhub.billing.commissions.models import Commission
from sellerhub.billing.commissions.repository import CommissionRepository
from sellerhub.billing.transactions import service as ledger
from sellerhub.billing.transactions.models import TransactionKind
from sellerhub.billing.transactions.repository import TransactionRepository
from sellerhub.config import Settings
from sellerhub.core.errors import ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import system_context, tenant_of
from sellerhub.jobs.app import resources
from sellerhub.webhooks.models import WebhookEvent

log = get_logger(__name__)


class ScopedElsewhere(RuntimeError):
    """The drain's session was scoped to an organization by an earlier handler of the same
    drain, and what this event names is not found under that scope: it may belong to
    another organization. Raised so the event stays pending and is handled again on its own
    (the re-drive processes each event in a session of its own), never marked done unseen."""


def unmatched(session: AsyncSession, event: WebhookEvent, stripe_id: str) -> None:
    """Nothing of ours is named by the event: logged, done, unless the session's scope may be
    hiding it (``ScopedElsewhere``)."""
    if tenant_of(session) is not None:
        raise ScopedElsewhere(f"{event.topic} {stripe_id}: handled again on its own")
    log.info("billing.event_unmatched", topic=event.topic, stripe_id=stripe_id)


def event_object(event: WebhookEvent) -> dict[str, Any]:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise ValidationFailed("a Stripe event needs data.object with an id")
    return obj


def _created(event: WebhookEvent) -> int:
    created = event.payload.get("created")
    return created if isinstance(created, int) else 0


def _settings() -> Settings:
    settings = resources().settings
    if settings is None:
        raise RuntimeError("the job resources carry no settings")
    return settings


async def _by_intent(
    session: AsyncSession, intent_id: str | None, metadata: Mapping[str, Any] | None = None
) -> Commission | None:
    repo = CommissionRepository(session)
    if intent_id:
        row = await repo.by_payment_intent(intent_id, lock=True)
        if row is not None:
            return row
    raw = (metadata or {}).get("commission_id")
    try:
        commission_id = uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None
    return None if commission_id is None else await repo.get(commission_id, lock=True)


async def payment_intent_event(session: AsyncSession, event: WebhookEvent) -> None:
    """``payment_intent.succeeded | payment_failed | requires_action | processing``."""
    intent = event_object(event)
    with system_context(session, "stripe event: a commission's payment intent"):
        row = await _by_intent(session, intent["id"], intent.get("metadata"))
        if row is None:
            unmatched(session, event, intent["id"])
            return
        created = _created(event)
        final = intent.get("status") == "succeeded"
        if not final and row.last_event_created is not None and created < row.last_event_created:
            log.info("billing.event_older", topic=event.topic, commission_id=str(row.id))
            return
        await service.apply_intent(
            session, _settings(), row, intent, source=f"event {event.external_id}"
        )
        if row.payment_intent_id == intent["id"]:
            row.last_event_created = max(row.last_event_created or 0, created)
        await session.flush()


async def charge_succeeded(session: AsyncSession, event: WebhookEvent) -> None:
    """``charge.succeeded``: the money is in, whatever else arrived (or not) before."""
    charge = event_object(event)
    intent_id = _id(charge.get("payment_intent"))
    with system_context(session, "stripe event: a commission's charge"):
        row = await _by_intent(session, intent_id, charge.get("metadata"))
        if row is None or intent_id is None:
            unmatched(session, event, charge["id"])
            return
        await service.apply_intent(
            session,
            _settings(),
            row,
            {
                "id": intent_id,
                "status": "succeeded",
                "latest_charge": charge,  # with its receipt_url
                "amount_received": charge.get("amount"),
                "currency": charge.get("currency"),
                "created": charge.get("created"),
                "metadata": charge.get("metadata") or {},
            },
            source=f"event {event.external_id}",
        )


async def charge_refunded(session: AsyncSession, event: WebhookEvent) -> None:
    charge = event_object(event)
    with system_context(session, "stripe event: a commission refunded"):
        row = await CommissionRepository(session).by_charge(charge["id"], lock=True)
        if row is None:
            row = await _by_intent(session, _id(charge.get("payment_intent")))
        if row is None:
            unmatched(session, event, charge["id"])
            return
        await service.apply_refund(session, row, charge, source=f"event {event.external_id}")


async def dispute_created(session: AsyncSession, event: WebhookEvent) -> None:
    dispute = event_object(event)
    charge_id = _id(dispute.get("charge"))
    with system_context(session, "stripe event: a commission disputed"):
        row = None
        if charge_id:
            row = await CommissionRepository(session).by_charge(charge_id, lock=True)
        if row is None:
            row = await _by_intent(session, _id(dispute.get("payment_intent")))
        if row is None:
            unmatched(session, event, dispute["id"])
            return
        await service.apply_dispute(session, row, dispute, source=f"event {event.external_id}")


def _id(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def invoice_paid(session: AsyncSession, event: WebhookEvent) -> None:
    """``invoice.paid``: recorded in the customer's organization's ledger (credits, bought
    through invoices, come later)."""
    invoice = event_object(event)
    customer = _id(invoice.get("customer"))
    with system_context(session, "stripe event: an invoice paid"):
        organization_id = None
        if customer is not None:
            organization_id = await TransactionRepository(session).owner_of_customer(customer)
        if organization_id is None:
            unmatched(session, event, invoice["id"])
            return
        created = invoice.get("created")
        await ledger.record(
            session,
            organization_id=organization_id,
            kind=TransactionKind.INVOICE,
            stripe_id=invoice["id"],
            amount_minor=int(invoice.get("amount_paid") or 0),
            currency=str(invoice.get("currency") or ""),
            status="paid",
            source=f"event {event.external_id}",
            payment_intent_id=_id(invoice.get("payment_intent")),
            charge_id=_id(invoice.get("charge")),
            stripe_created=created if isinstance(created, int) else None,
        )
