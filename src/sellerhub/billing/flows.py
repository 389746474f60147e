"""Billing's flows across domains: what billing needs to know of the organization (identity)
and the webhook events it handles (the rows of ``sellerhub.handlers`` for source ``stripe``).

Webhook handlers run in the drain's transaction with the worker's resources: the Stripe client
is the runtime's (``client_of(jobs.resources())``). A Stripe event row has no organization, and
the drain handles the events of several organizations in one transaction: each handler finds the
organization from the Stripe object (our stored customer or account id) and works in a named
system context, every statement naming that organization; none sets the session's tenant."""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.billing.commissions import events as commission_events
from sellerhub.billing.connect import service as connect
from sellerhub.billing.connect.models import StripeAccount
from sellerhub.billing.credits import purchases
from sellerhub.billing.customers import service as customers
from sellerhub.billing.customers.schemas import CustomerSetupOut
from sellerhub.billing.stripe.client import calling, client_of
from sellerhub.config import Settings
from sellerhub.connections import service as connections
from sellerhub.core.errors import NotFound
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.identity import service as identity
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import UserType
from sellerhub.jobs.app import resources
from sellerhub.webhooks.models import WebhookEvent


async def organization_contact(
    session: AsyncSession, organization_id: uuid.UUID
) -> tuple[str, str | None]:
    """The organization's name and its owner's email (the first owner), for Stripe's records.
    The session must be scoped to the organization."""
    owner_email: str | None = None
    owner_id: uuid.UUID | None = None
    for membership, user in await identity.members_with_users(session):
        if membership.role == Role.OWNER.value and user is not None:
            owner_email, owner_id = user.email, user.id
            break
    as_owner = Principal(
        user_id=owner_id or uuid.UUID(int=0),
        organization_id=organization_id,
        role=Role.OWNER,
        user_type=UserType.CUSTOMER,
        via="billing",
    )
    organization = await identity.current_organization(session, as_owner)
    return organization.name, owner_email


async def create_customer_setup(
    session: AsyncSession,
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
) -> CustomerSetupOut:
    """The card flow's first step, with the organization's name and owner's email."""
    name, email = await organization_contact(session, organization_id)
    return await customers.create_customer_setup(
        session, client, settings, organization_id, name=name, email=email
    )


async def create_card_checkout(
    session: AsyncSession,
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
) -> str:
    """The billing page's Add card: Stripe's hosted page (Checkout, setup mode), back to the
    billing page."""
    name, email = await organization_contact(session, organization_id)
    page = f"{settings.public_url}/billing"
    return await customers.create_card_checkout(
        session,
        client,
        organization_id,
        name=name,
        email=email,
        success_url=f"{page}?card=added",
        cancel_url=f"{page}?card=cancelled",
    )


# --- Connect onboarding after Amazon is connected ---------------------------------------------

DEFAULT_COUNTRY = "US"


def country_of(details: dict[str, Any] | None) -> str:
    """The country of the connection's first marketplace the seller participates in (Amazon's
    ``countryCode``), else its first marketplace's; US when Amazon named none."""
    marketplaces = (details or {}).get("marketplaces") or []
    ordered = [m for m in marketplaces if isinstance(m, dict) and m.get("participating")]
    ordered += [m for m in marketplaces if isinstance(m, dict)]
    for marketplace in ordered:
        code = str(marketplace.get("country_code") or "").upper()
        if len(code) == 2 and code.isalpha():
            return "GB" if code == "UK" else code
    return DEFAULT_COUNTRY


async def onboard_after_amazon(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
) -> StripeAccount | None:
    """Silent Connect onboarding (the ``connections.billing_onboarding`` job): the account's
    row, prefilled with the owner's email, the organization's name and the country of the
    Amazon marketplace, is committed first; then the account is created at Stripe exactly once
    (``connect.create_account``). Running it again does nothing more."""
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        if await connect.account_of(session, organization_id) is None:
            try:
                connection = await connections.get_connection(session, connection_id)
                details: dict[str, Any] | None = connection.details
            except NotFound:  # disconnected since: the account is still the seller's
                details = None
            name, email = await organization_contact(session, organization_id)
            await connect.record_intent(
                session,
                organization_id,
                connection_id=connection_id,
                country=country_of(details),
                email=email,
                business_name=name,
            )
    return await connect.create_account(sessionmaker, client, settings, organization_id)


# --- webhook handlers (sellerhub.handlers, source "stripe") -----------------------------------


def _client() -> stripe.StripeClient:
    return client_of(resources())


async def setup_intent_succeeded(session: AsyncSession, event: WebhookEvent) -> None:
    await customers.record_setup_succeeded(session, _client(), event.payload)


async def setup_intent_failed(session: AsyncSession, event: WebhookEvent) -> None:
    await customers.record_setup_failed(session, event.payload)


async def account_updated(session: AsyncSession, event: WebhookEvent) -> None:
    await connect.record_account_updated(session, _client(), event.payload, event.account)


# --- credits sold through Checkout (billing/credits/purchases.py) -----------------------------


async def checkout_completed(session: AsyncSession, event: WebhookEvent) -> None:
    """``checkout.session.completed``: a credit purchase paid (fulfilled once) or waiting for
    its bank debit, or a credit subscription started."""
    checkout = commission_events.event_object(event)
    with system_context(session, "stripe event: a credits Checkout Session"):
        if await purchases.subscription_started(session, checkout):
            return
        await purchases.fulfil_session(session, checkout, source=f"event {event.external_id}")


async def checkout_async_succeeded(session: AsyncSession, event: WebhookEvent) -> None:
    checkout = commission_events.event_object(event)
    with system_context(session, "stripe event: a credits bank debit settled"):
        await purchases.fulfil_session(session, checkout, source=f"event {event.external_id}")


async def checkout_async_failed(session: AsyncSession, event: WebhookEvent) -> None:
    checkout = commission_events.event_object(event)
    with system_context(session, "stripe event: a credits bank debit failed"):
        await purchases.close_session(session, checkout, "failed")


async def checkout_expired(session: AsyncSession, event: WebhookEvent) -> None:
    checkout = commission_events.event_object(event)
    with system_context(session, "stripe event: a credits Checkout Session expired"):
        await purchases.close_session(session, checkout, "expired")


async def charge_refunded(session: AsyncSession, event: WebhookEvent) -> None:
    """A refund of a credit purchase takes its credits back; any other charge is a
    commission's (``commissions/events.charge_refunded``)."""
    charge = commission_events.event_object(event)
    with system_context(session, "stripe event: a credit purchase refunded"):
        done = await purchases.reverse_refund(session, charge, source=f"event {event.external_id}")
    if done is None:
        await commission_events.charge_refunded(session, event)


async def _disputed_intent(dispute: dict[str, Any]) -> str | None:
    intent = _stripe_id(dispute.get("payment_intent"))
    if intent is None:
        charge_id = _stripe_id(dispute.get("charge"))
        if charge_id is not None:
            async with calling("charges.retrieve"):
                charge = await _client().v1.charges.retrieve_async(charge_id)
            intent = _stripe_id(charge.payment_intent)
    return intent


async def dispute_created(session: AsyncSession, event: WebhookEvent) -> None:
    """A dispute of a credit purchase takes its credits back; else the commission's."""
    dispute = commission_events.event_object(event)
    intent = await _disputed_intent(dispute)
    with system_context(session, "stripe event: a credit purchase disputed"):
        done = await purchases.reverse_dispute(
            session, dispute, intent, source=f"event {event.external_id}"
        )
    if done is None:
        await commission_events.dispute_created(session, event)


async def dispute_closed(session: AsyncSession, event: WebhookEvent) -> None:
    """``charge.dispute.closed`` of a credit purchase: won, the credits it took come back
    (once); lost, they stay taken. Other charges' disputes close without a credit effect."""
    dispute = commission_events.event_object(event)
    intent = await _disputed_intent(dispute)
    with system_context(session, "stripe event: a credit purchase's dispute closed"):
        await purchases.close_dispute(session, dispute, intent, source=f"event {event.external_id}")


async def invoice_payment_failed(session: AsyncSession, event: WebhookEvent) -> None:
    """``invoice.payment_failed``: a credit subscription's renewal not paid is recorded on its
    row (past_due, the failed invoice); nothing is granted."""
    invoice = commission_events.event_object(event)
    with system_context(session, "stripe event: a credit subscription's invoice failed"):
        await purchases.invoice_payment_failed(session, _client(), invoice)


async def invoice_paid(session: AsyncSession, event: WebhookEvent) -> None:
    """``invoice.paid``: recorded in the money ledger (``commissions/events.invoice_paid``);
    a credit subscription's invoice also grants its credits, once per invoice."""
    await commission_events.invoice_paid(session, event)
    invoice = commission_events.event_object(event)
    with system_context(session, "stripe event: a credit subscription's invoice paid"):
        await purchases.invoice_paid(session, _client(), invoice)


def _stripe_id(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, stripe.StripeObject):
        value = getattr(value, "id", None)
    return value if isinstance(value, str) and value else None
