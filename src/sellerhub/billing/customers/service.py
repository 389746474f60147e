"""The organization's Stripe customer and its saved cards.

For other billing code (commissions)::

    from sellerhub.billing.customers import service as customers

    card = await customers.default_payment_method(session, organization_id)
    if card is not None:
        customer_id, payment_method_id = card      # a ``DefaultCard`` (NamedTuple)

``default_payment_method`` reads our row (no call to Stripe): the card set up last that the
seller has not removed; None when there is none. The session must be scoped to the organization
(or be in a system context).

The card flow: ``create_customer_setup`` creates (or reuses) the customer and a SetupIntent
``usage=off_session``; the browser confirms it at Stripe; Stripe's ``setup_intent.succeeded``
reaches ``record_setup_succeeded`` (a webhook handler), which stores brand, last four and expiry
and makes the card the default here and at Stripe (``invoice_settings.default_payment_method``).
Handlers read the intent's current state from Stripe, so a duplicate or late event changes
nothing: a card set up earlier never replaces a newer default, a removed card never comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

import stripe
from sqlalchemy.ext.asyncio import AsyncSession
from stripe.params import SetupIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from sellerhub.audit import service as audit
from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
from sellerhub.billing.customers.repository import (
    CARDS_SQL,
    CustomerRepository,
    PaymentMethodRepository,
)
from sellerhub.billing.customers.schemas import CustomerSetupOut
from sellerhub.billing.stripe.client import calling
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context

log = get_logger(__name__)


class DefaultCard(NamedTuple):
    """What an off-session charge needs: the customer and its default card at Stripe."""

    customer_id: str
    payment_method_id: str


def customer_key(organization_id: uuid.UUID) -> str:
    """The Idempotency-Key of the organization's customer creation: two requests racing (or a
    retry after our commit failed) get the same customer while Stripe remembers the key (24 h)."""
    return f"sellerhub-customer-{organization_id}"


# --- reads ------------------------------------------------------------------------------------


async def default_payment_method(
    session: AsyncSession, organization_id: uuid.UUID
) -> DefaultCard | None:
    """The organization's default card (customer id, payment method id), or None."""
    row = await PaymentMethodRepository(session).default(organization_id)
    if row is None:
        return None
    return DefaultCard(row.stripe_customer_id, row.stripe_payment_method_id)


async def payment_methods(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[StripePaymentMethod]:
    """The organization's saved cards, the default first, then the newest."""
    rows = await PaymentMethodRepository(session).live(organization_id)
    return sorted(rows, key=lambda r: not r.is_default)


@dataclass(frozen=True)
class SavedCard:
    """A card as a page shows it."""

    id: uuid.UUID
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool


def _decode_cards(value: Any) -> list[SavedCard]:
    return [
        SavedCard(
            id=uuid.UUID(str(c["id"])),
            brand=str(c["brand"]),
            last4=str(c["last4"]),
            exp_month=int(c["exp_month"]),
            exp_year=int(c["exp_year"]),
            is_default=bool(c["is_default"]),
        )
        for c in value or []
    ]


def cards_read() -> Read[list[SavedCard]]:
    """The saved cards, the default first, for a page's one read (``web.session.view``)."""
    return Read(CARDS_SQL, decode=_decode_cards)


async def customer_of(session: AsyncSession, organization_id: uuid.UUID) -> StripeCustomer | None:
    return await CustomerRepository(session).of_organization(organization_id)


# --- the customer and its SetupIntent ---------------------------------------------------------


async def ensure_customer(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    *,
    name: str,
    email: str | None,
) -> str:
    """The organization's Stripe customer id, created at Stripe the first time. The creation
    carries only the organization (metadata; an Idempotency-Key derived from it, so its
    parameters never differ between retries); name and email are set by an update after."""
    repo = CustomerRepository(session)
    known = await repo.of_organization(organization_id)
    if known is not None:
        return known.stripe_customer_id
    async with calling("customers.create"):
        created = await client.v1.customers.create_async(
            {"metadata": {"organization_id": str(organization_id)}},
            {"idempotency_key": customer_key(organization_id)},
        )
    details: dict[str, Any] = {"name": name[:256]}
    if email:
        details["email"] = email
    async with calling("customers.update"):
        await client.v1.customers.update_async(created.id, details)  # type: ignore[arg-type]
    await repo.insert_once(organization_id, created.id)
    stored = await repo.of_organization(organization_id)
    assert stored is not None
    if stored.stripe_customer_id != created.id:  # another customer won a race older than 24 h
        log.warning("billing.customer_duplicate", kept=stored.stripe_customer_id)
    else:
        log.info("billing.customer_created", customer=created.id)
    return stored.stripe_customer_id


async def create_customer_setup(
    session: AsyncSession,
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
    *,
    name: str,
    email: str | None,
    return_url: str | None = None,
) -> CustomerSetupOut:
    """Create or reuse the customer, then a SetupIntent for a card to charge off session."""
    customer_id = await ensure_customer(session, client, organization_id, name=name, email=email)
    async with calling("setup_intents.create"):
        params: SetupIntentCreateParams = {
            "customer": customer_id,
            "usage": "off_session",
            "metadata": {"organization_id": str(organization_id)},
        }
        intent = await client.v1.setup_intents.create_async(params)
    secret = intent.client_secret
    if not secret:
        raise ValueError("Stripe answered a SetupIntent without a client secret")
    hosted = None
    if settings.stripe_emulated:
        query = urlencode(
            {"client_secret": secret, "return_url": return_url or f"{settings.public_url}/billing"}
        )
        hosted = f"{settings.stripe_api}/pages/setup/{intent.id}?{query}"
    log.info("billing.setup_created", setup_intent=intent.id)
    return CustomerSetupOut(
        customer_id=customer_id,
        setup_intent_id=intent.id,
        client_secret=secret,
        publishable_key=settings.stripe_publishable_key,
        hosted_url=hosted,
    )


async def create_card_checkout(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    *,
    name: str,
    email: str | None,
    success_url: str,
    cancel_url: str,
) -> str:
    """The web page's way to save a card: a Checkout Session in setup mode on the customer
    (Stripe's hosted page; the emulator serves one too). Its SetupIntent ends in the same
    ``setup_intent.succeeded`` as the API's flow. Answers the page to send the browser to."""
    customer_id = await ensure_customer(session, client, organization_id, name=name, email=email)
    params: SessionCreateParams = {
        "mode": "setup",
        "customer": customer_id,
        "currency": "usd",  # setup mode asks for one; it only picks the payment methods shown
        "success_url": success_url,
        "cancel_url": cancel_url,
        "setup_intent_data": {"metadata": {"organization_id": str(organization_id)}},
        # What the session is for, so the Checkout handlers (credits) can leave it alone.
        "metadata": {"organization_id": str(organization_id), "purpose": "card_setup"},
    }
    async with calling("checkout.sessions.create"):
        checkout = await client.v1.checkout.sessions.create_async(params)
    if not checkout.url:
        raise ValueError("Stripe answered a Checkout Session without a URL")
    log.info("billing.card_checkout_created", checkout_session=checkout.id)
    return checkout.url


# --- webhook events (sellerhub.handlers) ------------------------------------------------------


def _event_object(payload: dict[str, Any], prefix: str) -> dict[str, Any]:
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not str(obj.get("id", "")).startswith(prefix):
        raise ValidationFailed(f"the event's data.object is not a {prefix}… object")
    return obj


def _id_of(value: Any) -> str | None:
    """An id field that may be expanded (an object) or not (a string)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def _organization_of(session: AsyncSession, customer_id: str | None) -> uuid.UUID | None:
    """The organization whose customer this is: our row, not the event's metadata."""
    if customer_id is None:
        return None
    return await CustomerRepository(session).owner_of(customer_id)


# Stripe's events carry no organization, and the drain handles the events of several
# organizations in one transaction (its group without an organization): the handlers never set
# the session's tenant; they read and write in a named system context, every statement naming
# the organization found from our own customer row.
EVENT_CONTEXT = "stripe event: a card set up at Stripe"


async def record_setup_succeeded(
    session: AsyncSession, client: stripe.StripeClient, payload: dict[str, Any]
) -> None:
    """``setup_intent.succeeded``: store the card and make it the default (see the module)."""
    with system_context(session, EVENT_CONTEXT):
        await _setup_succeeded(session, client, payload)
        await session.flush()  # inside the context: the drain's savepoint flushes outside it


async def _setup_succeeded(
    session: AsyncSession, client: stripe.StripeClient, payload: dict[str, Any]
) -> None:
    seti = _event_object(payload, "seti_")
    organization_id = await _organization_of(session, _id_of(seti.get("customer")))
    if organization_id is None:
        log.info("billing.setup_not_ours", setup_intent=seti["id"])
        return
    async with calling("setup_intents.retrieve"):
        current = await client.v1.setup_intents.retrieve_async(
            seti["id"], {"expand": ["payment_method"]}
        )
    intent = current.to_dict()
    customer_id = _id_of(intent.get("customer"))
    method = intent.get("payment_method")
    if intent.get("status") != "succeeded" or not isinstance(method, dict):
        log.info("billing.setup_not_succeeded", setup_intent=seti["id"])
        return
    repo = PaymentMethodRepository(session)
    await repo.lock_organization(organization_id)
    if _id_of(method.get("customer")) != customer_id or customer_id is None:
        # Detached since (removed by the seller, or at Stripe): it must not come back.
        log.info("billing.setup_card_gone", setup_intent=seti["id"])
        return
    card = method.get("card")
    if not isinstance(card, dict):
        raise ValidationFailed("the SetupIntent's payment method is not a card")
    set_up_at = datetime.fromtimestamp(int(intent.get("created") or 0), UTC)
    inserted = await repo.insert_once(
        {
            "id": uuid7(),
            "organization_id": organization_id,
            "stripe_payment_method_id": method["id"],
            "stripe_customer_id": customer_id,
            "setup_intent_id": seti["id"],
            "set_up_at": set_up_at,
            "brand": str(card.get("brand") or "unknown")[:30],
            "last4": str(card.get("last4") or ""),
            "exp_month": int(card.get("exp_month") or 0),
            "exp_year": int(card.get("exp_year") or 0),
        }
    )
    if inserted:
        await audit.record(
            session,
            organization_id=organization_id,
            action="BILLING_CARD_SAVED",
            actor_type="provider",
            target_type="payment_method",
            target_id=method["id"],
            data={"brand": card.get("brand"), "last4": card.get("last4")},
        )
    await _settle_default(session, client, organization_id, customer_id)


async def record_setup_failed(session: AsyncSession, payload: dict[str, Any]) -> None:
    """``setup_intent.setup_failed``: the card was refused; recorded for the seller (audit)."""
    seti = _event_object(payload, "seti_")
    with system_context(session, EVENT_CONTEXT):
        organization_id = await _organization_of(session, _id_of(seti.get("customer")))
        if organization_id is None:
            return
        error = seti.get("last_setup_error")
        error = error if isinstance(error, dict) else {}
        await audit.record(
            session,
            organization_id=organization_id,
            action="BILLING_CARD_REFUSED",
            actor_type="provider",
            target_type="setup_intent",
            target_id=seti["id"],
            data={"code": error.get("code"), "decline_code": error.get("decline_code")},
        )
        await session.flush()


async def _settle_default(
    session: AsyncSession, client: stripe.StripeClient, organization_id: uuid.UUID, customer: str
) -> None:
    """The newest live card is the default, here and on the Stripe customer (the caller holds
    the organization's card lock)."""
    repo = PaymentMethodRepository(session)
    live = await repo.live(organization_id)
    newest = live[0] if live else None
    current = await repo.default(organization_id)
    if newest is None or (current is not None and current.id == newest.id):
        return
    async with calling("customers.update"):
        await client.v1.customers.update_async(
            customer,
            {"invoice_settings": {"default_payment_method": newest.stripe_payment_method_id}},
        )
    await repo.make_default(organization_id, newest.id)
    log.info("billing.default_card", payment_method=newest.stripe_payment_method_id)


# --- removing a card --------------------------------------------------------------------------


async def remove_payment_method(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    row_id: uuid.UUID,
    *,
    actor_user_id: uuid.UUID | None,
) -> None:
    """Detach the card at Stripe and mark it removed; when it was the default, the newest
    remaining card becomes the default (here and at Stripe). A card already detached at Stripe
    (a retry after our commit failed) is simply marked removed."""
    repo = PaymentMethodRepository(session)
    await repo.lock_organization(organization_id)
    row = await repo.get(organization_id, row_id, lock=True)
    if row is None or row.removed_at is not None:
        raise NotFound("no such card")
    async with calling("payment_methods.retrieve"):
        method = await client.v1.payment_methods.retrieve_async(row.stripe_payment_method_id)
    if _id_of(method.to_dict().get("customer")) is not None:
        async with calling("payment_methods.detach"):
            await client.v1.payment_methods.detach_async(row.stripe_payment_method_id)
    was_default = row.is_default
    await repo.mark_removed(row, utcnow())
    await audit.record(
        session,
        organization_id=organization_id,
        action="BILLING_CARD_REMOVED",
        actor_user_id=actor_user_id,
        target_type="payment_method",
        target_id=row.stripe_payment_method_id,
        data={"brand": row.brand, "last4": row.last4},
    )
    if was_default:
        await _settle_default(session, client, organization_id, row.stripe_customer_id)
