"""The seller's Stripe Connect account: created silently after Amazon is connected, kept up to
date from ``account.updated``, finished by the seller on Stripe's hosted onboarding.

Accounts are v1 accounts with ``controller`` properties (Stripe calls the Standard/Express/Custom
types legacy). ``CONTROLLER`` is what Express used to mean:

* ``fees.payer = application`` — the platform pays Stripe's fees for the account;
* ``losses.payments = application`` — the platform is liable for negative balances (needed for
  destination charges; with fees paid by the platform, Stripe requires it);
* ``stripe_dashboard.type = express`` — the seller gets the Express Dashboard;
* ``requirement_collection = stripe`` — Stripe collects and updates the verification details
  (hosted onboarding through Account Links; no ``account_update`` links).

Creation is exactly once per organization (``create_account``): the row is committed before
Stripe is asked, each attempt is committed before it is sent, and an attempt whose outcome we do
not know (no answer, a 500, our process died) is resolved by looking the account up at Stripe
by its metadata before a new attempt is sent. See ``models.StripeAccount``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stripe.params import AccountCreateParams, AccountLinkCreateParams

from sellerhub.audit import service as audit
from sellerhub.billing.connect.models import StripeAccount
from sellerhub.billing.connect.repository import ACCOUNT_SQL, AccountRepository
from sellerhub.billing.connect.schemas import AccountLinkOut, ConnectOut, ConnectStatus
from sellerhub.billing.stripe.client import calling
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, DomainError, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context

log = get_logger(__name__)

CONTROLLER: dict[str, Any] = {
    "fees": {"payer": "application"},
    "losses": {"payments": "application"},
    "stripe_dashboard": {"type": "express"},
    "requirement_collection": "stripe",
}
CAPABILITIES = ("card_payments", "transfers")
LIST_PAGE = 100


class CreationInFlight(Conflict):
    """Another run of the onboarding sent its attempt moments ago; this run retries later
    (the job's backoff) instead of risking a second account."""

    code = "connect-creation-in-flight"
    title = "The Connect account is being created"


class AccountNotReady(Conflict):
    code = "connect-account-not-ready"
    title = "The seller has no Connect account yet"


def _in_flight_for(settings: Settings) -> timedelta:
    """How long a sent attempt may still be answered: every try of the SDK, and a margin."""
    tries = settings.stripe_max_network_retries + 1
    return timedelta(seconds=settings.stripe_timeout_seconds * tries + 30)


# --- reads ------------------------------------------------------------------------------------


async def account_of(session: AsyncSession, organization_id: uuid.UUID) -> StripeAccount | None:
    return await AccountRepository(session).of_organization(organization_id)


def _status(
    account_id: str | None, charges: bool, payouts: bool, due: list[str], reason: str | None
) -> ConnectStatus:
    if account_id is None:
        return "creating"
    if reason and not reason.startswith("requirements.") and not charges:
        return "restricted"  # rejected, under review, paused: not something the seller can fill
    if charges and payouts and not due:
        return "enabled"
    return "verification_needed"


def status_of(row: StripeAccount | None) -> ConnectStatus:
    if row is None:
        return "not_started"
    return _status(
        row.stripe_account_id,
        row.charges_enabled,
        row.payouts_enabled,
        list(row.requirements_due or []),
        row.disabled_reason,
    )


def _decode_account(value: Any) -> ConnectOut:
    if not isinstance(value, dict):
        return ConnectOut(status="not_started")
    due = [str(item) for item in value.get("requirements_due") or []]
    status = _status(
        value.get("stripe_account_id"),
        bool(value.get("charges_enabled")),
        bool(value.get("payouts_enabled")),
        due,
        value.get("disabled_reason"),
    )
    return ConnectOut.model_validate({**value, "status": status, "requirements_due": due})


def account_read() -> Read[ConnectOut]:
    """The organization's account as ``describe`` gives it, for a page's one read
    (``web.session.view``)."""
    return Read(ACCOUNT_SQL, decode=_decode_account)


def describe(row: StripeAccount | None) -> ConnectOut:
    if row is None:
        return ConnectOut(status="not_started")
    return ConnectOut(
        status=status_of(row),
        stripe_account_id=row.stripe_account_id,
        country=row.country,
        charges_enabled=row.charges_enabled,
        payouts_enabled=row.payouts_enabled,
        details_submitted=row.details_submitted,
        requirements_due=list(row.requirements_due or []),
        disabled_reason=row.disabled_reason,
        updated_at=row.stripe_state_at,
    )


async def destination_of(session: AsyncSession, organization_id: uuid.UUID) -> str | None:
    """The connected account money for the organization can be sent to (payouts enabled), or
    None."""
    row = await account_of(session, organization_id)
    if row is None or row.stripe_account_id is None or not row.payouts_enabled:
        return None
    return row.stripe_account_id


# --- creation ---------------------------------------------------------------------------------


async def record_intent(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    connection_id: uuid.UUID | None,
    country: str,
    email: str | None,
    business_name: str | None,
) -> StripeAccount:
    """The organization's account row (created once, with what the account will be created
    with); the existing one when there is one."""
    repo = AccountRepository(session)
    row_id = uuid7()
    await repo.insert_once(
        {
            "id": row_id,
            "organization_id": organization_id,
            "idempotency_key": f"sellerhub-connect-{organization_id}",
            "connection_id": connection_id,
            "country": country,
            "email": email,
            "business_name": business_name[:200] if business_name else None,
            "controller": CONTROLLER,
            "requirements_due": [],
        }
    )
    row = await repo.of_organization(organization_id)
    assert row is not None
    return row


def _params(row: StripeAccount) -> AccountCreateParams:
    """The creation request, from the row alone: every attempt sends the same parameters."""
    params: AccountCreateParams = {
        "controller": row.controller,  # type: ignore[typeddict-item]
        "country": row.country,
        "capabilities": {name: {"requested": True} for name in CAPABILITIES},  # type: ignore[typeddict-item]
        "metadata": {"organization_id": str(row.organization_id), "sellerhub_row": str(row.id)},
    }
    if row.email:
        params["email"] = row.email
    if row.business_name:
        params["business_profile"] = {"name": row.business_name}
    return params


async def _find(client: stripe.StripeClient, organization_id: uuid.UUID) -> dict[str, Any] | None:
    """The platform's connected account made for the organization (metadata), if any: every
    page of the account list (only after an attempt whose outcome is unknown)."""
    wanted = str(organization_id)
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": LIST_PAGE}
        if after is not None:
            params["starting_after"] = after
        async with calling("accounts.list"):
            page = await client.v1.accounts.list_async(params)  # type: ignore[arg-type]
        for account in page.data:
            data = account.to_dict()
            if (data.get("metadata") or {}).get("organization_id") == wanted:
                return data
        if not page.has_more or not page.data:
            return None
        after = page.data[-1].id


async def create_account(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
) -> StripeAccount | None:
    """Create the organization's connected account unless it exists (see the module); None
    when no account was requested. Takes the sessionmaker: the attempt is committed before
    Stripe is called, the answer after."""
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await AccountRepository(session).of_organization(organization_id, lock=True)
        if row is None or row.stripe_account_id is not None:
            return row
        now = utcnow()
        if row.attempt > 0:
            if row.attempted_at is not None and row.attempted_at > now - _in_flight_for(settings):
                raise CreationInFlight("an attempt was sent moments ago; retrying later")
            found = await _find(client, organization_id)
            if found is not None:
                log.info("billing.connect_account_found", account=found["id"])
                await _record_created(session, row, found)
                return row
        row.attempt += 1
        row.attempted_at = now
        params, key = _params(row), f"{row.idempotency_key}:{row.attempt}"
    log.info("billing.connect_account_attempt", attempt=row.attempt)
    async with calling("accounts.create"):
        account = await client.v1.accounts.create_async(params, {"idempotency_key": key})
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await AccountRepository(session).of_organization(organization_id, lock=True)
        assert row is not None
        await _record_created(session, row, account.to_dict())
    return row


async def create_awaiting(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: stripe.StripeClient,
    settings: Settings,
    *,
    limit: int = 100,
) -> int:
    """The periodic catch-up: every account requested but not created yet (the onboarding job
    gave up while Stripe was down, say) is created now, each as ``create_account`` does; one
    failing does not stop the others. Answers how many were created."""
    async with sessionmaker() as session:
        waiting = await AccountRepository(session).awaiting_creation(limit)
    created = 0
    for organization_id in waiting:
        try:
            row = await create_account(sessionmaker, client, settings, organization_id)
        except DomainError as exc:  # in flight, Stripe down: the next sweep tries again
            log.info("billing.connect_account_waits", code=exc.code)
            continue
        if row is not None and row.stripe_account_id is not None:
            created += 1
    return created


async def _record_created(
    session: AsyncSession, row: StripeAccount, account: dict[str, Any]
) -> None:
    if row.stripe_account_id is None:
        row.stripe_account_id = account["id"]
        await audit.record(
            session,
            organization_id=row.organization_id,
            action="BILLING_CONNECT_ACCOUNT_CREATED",
            actor_type="job",
            target_type="stripe_account",
            target_id=account["id"],
            data={"country": row.country},
        )
        log.info("billing.connect_account_created", account=account["id"])
    _apply(row, account, _created_at(account))
    await session.flush()


def _created_at(obj: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(obj.get("created") or 0), UTC)


def _apply(row: StripeAccount, account: dict[str, Any], at: datetime) -> bool:
    """Take the account's state as of ``at``, unless the row holds a later one."""
    if row.stripe_state_at is not None and at < row.stripe_state_at:
        return False
    requirements = account.get("requirements") or {}
    due = requirements.get("currently_due") or []
    row.charges_enabled = bool(account.get("charges_enabled"))
    row.payouts_enabled = bool(account.get("payouts_enabled"))
    row.details_submitted = bool(account.get("details_submitted"))
    row.requirements_due = [str(item)[:200] for item in due][:200]
    reason = requirements.get("disabled_reason")
    row.disabled_reason = str(reason)[:200] if reason else None
    row.stripe_state_at = at
    return True


# --- account.updated --------------------------------------------------------------------------


async def record_account_updated(
    session: AsyncSession,
    client: stripe.StripeClient,
    payload: dict[str, Any],
    account: str | None,
) -> None:
    """``account.updated`` (a Connect event: ``account`` names the connected account): the
    account's current state, read from Stripe, unless the row already holds a later one.
    Stripe's events carry no organization and the drain handles several organizations' events
    in one transaction: this never sets the session's tenant; it works in a named system
    context, every statement naming the organization found from our row."""
    with system_context(session, "stripe event: a Connect account updated"):
        await _account_updated(session, client, payload, account)
        await session.flush()  # inside the context: the drain's savepoint flushes outside it


async def _account_updated(
    session: AsyncSession,
    client: stripe.StripeClient,
    payload: dict[str, Any],
    account: str | None,
) -> None:
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not str(obj.get("id", "")).startswith("acct_"):
        raise ValidationFailed("the event's data.object is not an account")
    account_id = account or str(obj["id"])
    if account_id != obj["id"]:
        raise ValidationFailed("the event's account and its object differ")
    repo = AccountRepository(session)
    organization_id = await repo.owner_of(account_id)
    if organization_id is None:
        # Our creation's answer may have been lost: the account names its organization.
        named = (obj.get("metadata") or {}).get("organization_id")
        try:
            organization_id = uuid.UUID(str(named)) if named else None
        except ValueError:
            organization_id = None
    if organization_id is None:
        log.info("billing.account_not_ours", account=account_id)
        return
    row = await repo.of_organization(organization_id, lock=True)
    if row is None or row.stripe_account_id not in (None, account_id):
        log.info("billing.account_not_ours", account=account_id)
        return
    event_at = datetime.fromtimestamp(int(payload.get("created") or 0), UTC)
    if row.stripe_state_at is not None and event_at < row.stripe_state_at:
        log.info("billing.account_event_older", account=account_id)
        return
    async with calling("accounts.retrieve"):
        current = (await client.v1.accounts.retrieve_async(account_id)).to_dict()
    if row.stripe_account_id is None:
        if (current.get("metadata") or {}).get("organization_id") != str(organization_id):
            return
        await _record_created(session, row, current)
    before = status_of(row)
    _apply(row, current, max(event_at, row.stripe_state_at or event_at))
    after = status_of(row)
    if before != after:
        await audit.record(
            session,
            organization_id=organization_id,
            action="BILLING_CONNECT_STATUS_CHANGED",
            actor_type="provider",
            target_type="stripe_account",
            target_id=account_id,
            data={"from": before, "to": after, "requirements_due": len(row.requirements_due)},
        )


# --- onboarding links -------------------------------------------------------------------------


def refresh_path() -> str:
    """Our route Stripe sends the seller to when a link expired or was used: a new link."""
    return "/api/v1/billing/connect/refresh"


async def account_link(
    session: AsyncSession,
    client: stripe.StripeClient,
    settings: Settings,
    organization_id: uuid.UUID,
) -> AccountLinkOut:
    """A fresh Account Link to Stripe's hosted onboarding (single use, minutes long)."""
    row = await account_of(session, organization_id)
    if row is None or row.stripe_account_id is None:
        raise AccountNotReady(
            "the Stripe account is created after Amazon is connected; try again shortly"
        )
    params: AccountLinkCreateParams = {
        "account": row.stripe_account_id,
        "type": "account_onboarding",
        "refresh_url": settings.public_url + refresh_path(),
        "return_url": settings.public_url + "/billing",
        "collection_options": {"fields": "currently_due"},
    }
    async with calling("account_links.create"):
        link = await client.v1.account_links.create_async(params)
    return AccountLinkOut(url=link.url, expires_at=datetime.fromtimestamp(link.expires_at, UTC))
