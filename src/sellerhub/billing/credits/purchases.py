"""Credits sold through Stripe Checkout: one-time purchases (mode payment) and subscriptions
(mode subscription), their fulfilment exactly once, and the reversal of refunds and disputes.

Packages are sold with ``price_data`` built from the package row at the time of the purchase
(no Stripe Price is kept per package: a package's price may change between two sales and the
row is the truth); a subscription plan is a package with an ``interval`` and is sold with
``price_data[recurring][interval]``.

Fulfilment: ``fulfil_session`` runs for ``checkout.session.completed`` (``payment_status ==
"paid"``), ``checkout.session.async_payment_succeeded`` and the success page (which re-reads
the session from Stripe). Each takes the purchase row ``FOR UPDATE`` (inserted from the
session's own metadata when the row is missing: a crash between Stripe's answer and our insert,
or the event arriving first) and grants once under the key ``checkout:<session id>``; the
ledger's UNIQUE key is the last guard. Whichever arrives second, in any order or at once, finds
the purchase paid and grants nothing.

Reversals (refunds, disputes): the credits reversed are ``floor(credits * refunded / amount)``
(rounded down: a partial refund never takes back more than it paid for), less what was
reversed already. They leave the wallet as far as its available balance allows; the rest is
booked against the organization's ``debt`` account (its balance goes below zero; the wallet
never does). A later purchase or subscription grant repays the debt first. Every reversal and
repayment is keyed (``refund:<charge>:<amount refunded>``, ``dispute:<dispute id>``), and the
organization's reversals and repayments are serialised by a transaction-scoped advisory lock.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.credits import service
from sellerhub.billing.credits.errors import InsufficientCredits, PackageNotFound
from sellerhub.billing.credits.models import AccountKind, TransferCode, TransferPhase
from sellerhub.billing.credits.repository import (
    TenantLedger,
    TransferRequest,
    account_key,
    lot_expiry,
)
from sellerhub.billing.customers import service as customers
from sellerhub.billing.stripe.client import calling
from sellerhub.billing.transactions import service as money
from sellerhub.billing.transactions.models import TransactionKind
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, NotFound, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger

log = get_logger(__name__)

PURPOSE = "sellerhub_credits"  # metadata[purpose] of every Checkout Session selling credits
MAX_CREDITS = 10_000_000  # one purchase by amount


class RedirectNotAllowed(ValidationFailed):
    code = "redirect-not-allowed"
    title = "The URL is not one the app registered"


class NotFulfilledYet(RuntimeError):
    """A refund or dispute of a purchase whose payment we have not applied yet (its events came
    out of order): raised so the webhook event stays pending and is handled again later."""


class NotForSale(ValidationFailed):
    code = "not-for-sale"
    title = "Nothing on sale matches the request"


# --- URLs ------------------------------------------------------------------------------------


def _bare(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def check_redirect(url: str, registered: list[str], field: str) -> str:
    """``url`` is allowed when, without its query and fragment, it is one of the registered
    URLs (its query may carry ``{CHECKOUT_SESSION_ID}``)."""
    if len(url) > 2000 or not url.startswith(("https://", "http://")):
        raise RedirectNotAllowed(f"{field}: an absolute http(s) URL is needed")
    if _bare(url) not in {_bare(r) for r in registered}:
        raise RedirectNotAllowed(f"{field}: {url[:200]!r} is not a redirect URL the app registered")
    return url


def app_urls(
    registered: list[str], success_url: str | None, cancel_url: str | None
) -> tuple[str, str]:
    """The success and cancel URLs of an app's purchase: the given ones when registered, else
    its first registered redirect URL."""
    if not registered:
        raise RedirectNotAllowed("the app registered no redirect URL to send the buyer back to")
    first = registered[0]
    joiner = "&" if "?" in first else "?"
    success = success_url or f"{first}{joiner}credits=success&session_id={{CHECKOUT_SESSION_ID}}"
    cancel = cancel_url or f"{first}{joiner}credits=cancelled"
    return check_redirect(success, registered, "success_url"), check_redirect(
        cancel, registered, "cancel_url"
    )


# --- what is sold ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    package_id: uuid.UUID | None
    name: str
    credits: int
    price_minor: int
    currency: str
    interval: str | None


async def _package(conn: Any, package_id: uuid.UUID) -> Offer | None:
    cursor = await conn.execute(
        "SELECT id, name, credits, price_minor, currency, interval FROM credit_packages"
        " WHERE id = %(id)s AND active",
        {"id": package_id},
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return Offer(row[0], row[1], int(row[2]), int(row[3]), row[4], row[5])


async def offer(conn: Any, package_id: uuid.UUID | None, amount: int | None) -> Offer:
    """A package, or ``amount`` credits priced at the unit price of the smallest active
    one-time package (rounded up to the minor unit)."""
    if package_id is not None:
        found = await _package(conn, package_id)
        if found is None or found.interval is not None:
            raise PackageNotFound("no active one-time package has that id")
        return found
    if amount is None or not 0 < amount <= MAX_CREDITS:
        raise ValidationFailed(f"give package_id, or amount between 1 and {MAX_CREDITS}")
    cursor = await conn.execute(
        "SELECT credits, price_minor, currency FROM credit_packages"
        " WHERE active AND interval IS NULL ORDER BY credits, id LIMIT 1"
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotForSale("no package is on sale to price credits by")
    price = math.ceil(amount * int(row[1]) / int(row[0]))
    return Offer(None, f"{amount} credits", amount, price, row[2], None)


def _metadata(
    organization_id: uuid.UUID, app_id: str | None, sold: Offer, row_id: uuid.UUID
) -> dict[str, str]:
    return {
        "purpose": PURPOSE,
        "organization_id": str(organization_id),
        "app_id": app_id or "",
        "package_id": str(sold.package_id or ""),
        "credits": str(sold.credits),
        "row_id": str(row_id),
    }


async def start_purchase(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    *,
    app_id: str | None,
    package_id: uuid.UUID | None,
    amount: int | None,
    success_url: str,
    cancel_url: str,
    name: str,
    email: str | None,
) -> tuple[uuid.UUID, str, str]:
    """A Checkout Session (mode payment) selling the package or amount: (purchase id, session
    id, the hosted page's URL). The purchase row is written in the caller's transaction."""
    conn = await service.raw_connection(session)
    sold = await offer(conn, package_id, amount)
    customer = await customers.ensure_customer(
        session, client, organization_id, name=name, email=email
    )
    row_id = uuid7()
    metadata = _metadata(organization_id, app_id, sold, row_id)
    params: dict[str, Any] = {
        "mode": "payment",
        "customer": customer,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": sold.currency.lower(),
                    "unit_amount": sold.price_minor,
                    "product_data": {"name": sold.name[:250]},
                },
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(organization_id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    async with calling("checkout.sessions.create"):
        checkout = await client.v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"credits-purchase-{row_id}"},
        )
    if not checkout.url:
        raise ValueError("Stripe answered a Checkout Session without a URL")
    await conn.execute(
        "INSERT INTO credit_purchases (id, organization_id, checkout_session_id, app_id,"
        " package_id, credits, amount_minor, currency, status, reversed_credits)"
        " VALUES (%(id)s, %(org)s, %(cs)s, %(app)s, %(pkg)s, %(credits)s, %(amount)s,"
        " %(currency)s, 'open', 0) ON CONFLICT (checkout_session_id) DO NOTHING",
        {
            "id": row_id,
            "org": organization_id,
            "cs": checkout.id,
            "app": app_id,
            "pkg": sold.package_id,
            "credits": sold.credits,
            "amount": sold.price_minor,
            "currency": sold.currency.upper(),
        },
    )
    log.info("credits.checkout_created", checkout_session=checkout.id, credits=sold.credits)
    return row_id, checkout.id, checkout.url


# --- fulfilment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    id: uuid.UUID
    organization_id: uuid.UUID
    checkout_session_id: str
    app_id: str | None
    package_id: uuid.UUID | None
    credits: int
    amount_minor: int
    currency: str
    status: str
    payment_intent_id: str | None
    reversed_credits: int
    created_at: datetime
    fulfilled_at: datetime | None


_PURCHASE_COLUMNS = (
    "id, organization_id, checkout_session_id, app_id, package_id, credits, amount_minor,"
    " currency, status, payment_intent_id, reversed_credits, created_at, fulfilled_at"
)


def _purchase(row: Any) -> Purchase:
    return Purchase(
        row[0], row[1], row[2], row[3], row[4], int(row[5]), int(row[6]), row[7], row[8],
        row[9], int(row[10]), row[11], row[12],
    )  # fmt: skip


def _ours(obj: Mapping[str, Any]) -> dict[str, str] | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("purpose") != PURPOSE:
        return None
    return {str(k): str(v) for k, v in metadata.items()}


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _id(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def _locked(conn: Any, checkout: Mapping[str, Any]) -> Purchase | None:
    """The session's purchase row, locked; inserted from the session's metadata when missing
    (our metadata, on a session Stripe signed or answered)."""
    metadata = _ours(checkout)
    if metadata is None or checkout.get("mode") != "payment":
        return None
    organization_id = _uuid(metadata.get("organization_id"))
    credits = int(metadata.get("credits") or 0) if metadata.get("credits", "").isdigit() else 0
    if organization_id is None or credits <= 0:
        log.warning("credits.checkout_metadata_invalid", checkout_session=checkout.get("id"))
        return None
    await conn.execute(
        "INSERT INTO credit_purchases (id, organization_id, checkout_session_id, app_id,"
        " package_id, credits, amount_minor, currency, status, reversed_credits)"
        " VALUES (%(id)s, %(org)s, %(cs)s, %(app)s, %(pkg)s, %(credits)s, %(amount)s,"
        " %(currency)s, 'open', 0) ON CONFLICT (checkout_session_id) DO NOTHING",
        {
            "id": _uuid(metadata.get("row_id")) or uuid7(),
            "org": organization_id,
            "cs": checkout["id"],
            "app": metadata.get("app_id") or None,
            "pkg": _uuid(metadata.get("package_id")),
            "credits": credits,
            "amount": int(checkout.get("amount_total") or 0),
            "currency": str(checkout.get("currency") or "usd").upper()[:3],
        },
    )
    cursor = await conn.execute(
        f"SELECT {_PURCHASE_COLUMNS} FROM credit_purchases"  # noqa: S608 - constant columns
        " WHERE checkout_session_id = %(cs)s FOR UPDATE",
        {"cs": checkout["id"]},
    )
    row = await cursor.fetchone()
    return None if row is None else _purchase(row)


async def fulfil_session(
    session: AsyncSession, checkout: Mapping[str, Any], *, source: str
) -> Purchase | None:
    """Apply what a Checkout Session (as Stripe sent or answered it) says about a purchase:
    paid → the credits granted once; complete but unpaid → processing (a bank debit); None when
    the session is not a credit purchase. In the caller's transaction."""
    conn = await service.raw_connection(session)
    purchase = await _locked(conn, checkout)
    if purchase is None:
        return None
    intent = _id(checkout.get("payment_intent"))
    if purchase.status == "paid":
        return purchase
    if checkout.get("payment_status") == "paid":
        cs_id = purchase.checkout_session_id
        await _grant_repaying(
            conn, purchase.organization_id, purchase.credits, f"checkout:{cs_id}",
            {"checkout_session": cs_id, "app_id": purchase.app_id or ""},
            await _expiry_of(conn, purchase.package_id),
        )  # fmt: skip
        await _set(conn, purchase.id, "paid", intent, fulfilled=True)
        if intent is not None and purchase.amount_minor > 0:
            await money.record(
                session,
                organization_id=purchase.organization_id,
                kind=TransactionKind.CHARGE,
                stripe_id=intent,
                amount_minor=purchase.amount_minor,
                currency=purchase.currency,
                status="succeeded",
                source=source,
                payment_intent_id=intent,
            )
        log.info("credits.purchase_fulfilled", checkout_session=purchase.checkout_session_id)
    elif checkout.get("status") == "complete" and purchase.status == "open":
        await _set(conn, purchase.id, "processing", intent)
    return await _reread(conn, purchase.id)


async def close_session(
    session: AsyncSession, checkout: Mapping[str, Any], status: str
) -> Purchase | None:
    """``async_payment_failed`` (failed) or ``expired``: recorded, nothing granted; a paid
    purchase stays paid."""
    conn = await service.raw_connection(session)
    purchase = await _locked(conn, checkout)
    if purchase is None or purchase.status == "paid":
        return purchase
    await _set(conn, purchase.id, status, _id(checkout.get("payment_intent")))
    return await _reread(conn, purchase.id)


async def _set(
    conn: Any, purchase_id: uuid.UUID, status: str, intent: str | None, *, fulfilled: bool = False
) -> None:
    await conn.execute(
        "UPDATE credit_purchases SET status = %(status)s,"
        " payment_intent_id = coalesce(%(intent)s, payment_intent_id),"
        " fulfilled_at = CASE WHEN %(fulfilled)s THEN now() ELSE fulfilled_at END"
        " WHERE id = %(id)s",
        {"status": status, "intent": intent, "fulfilled": fulfilled, "id": purchase_id},
    )


async def _reread(conn: Any, purchase_id: uuid.UUID) -> Purchase:
    cursor = await conn.execute(
        f"SELECT {_PURCHASE_COLUMNS} FROM credit_purchases WHERE id = %(id)s",  # noqa: S608
        {"id": purchase_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return _purchase(row)


async def purchase_of(
    conn: Any, organization_id: uuid.UUID, checkout_session_id: str
) -> Purchase | None:
    cursor = await conn.execute(
        f"SELECT {_PURCHASE_COLUMNS} FROM credit_purchases"  # noqa: S608
        " WHERE checkout_session_id = %(cs)s AND organization_id = %(org)s",
        {"cs": checkout_session_id, "org": organization_id},
    )
    row = await cursor.fetchone()
    return None if row is None else _purchase(row)


async def fulfil_from_stripe(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    checkout_session_id: str,
) -> Purchase:
    """The success page: re-read the session from Stripe and fulfil it (a session of another
    organization, or not a credit purchase, is not found)."""
    if not checkout_session_id.startswith("cs_") or len(checkout_session_id) > 200:
        raise NotFound("no purchase has that Checkout Session")
    async with calling("checkout.sessions.retrieve"):
        found = await client.v1.checkout.sessions.retrieve_async(checkout_session_id)
    checkout = found.to_dict()
    metadata = _ours(checkout)
    if metadata is None or metadata.get("organization_id") != str(organization_id):
        raise NotFound("no purchase of this organization has that Checkout Session")
    purchase = await fulfil_session(session, checkout, source="success page")
    if purchase is None:
        raise NotFound("no purchase of this organization has that Checkout Session")
    return purchase


# --- debt and repayment ----------------------------------------------------------------------


async def _lock_debt(conn: Any, organization_id: uuid.UUID) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('credits-debt:' || %(org)s::text, 0))",
        {"org": organization_id},
    )


async def debt(conn: Any, organization_id: uuid.UUID) -> int:
    """Credits the organization owes (reversed after they were spent)."""
    cursor = await conn.execute(
        "SELECT coalesce(sum(debits_posted - credits_posted), 0) FROM credit_accounts"
        " WHERE kind = 'debt' AND organization_id = %(org)s",
        {"org": organization_id},
    )
    row = await cursor.fetchone()
    return max(0, int(row[0])) if row else 0


def _move(
    organization_id: uuid.UUID,
    key: str,
    amount: int,
    debit: AccountKind,
    credit: AccountKind,
    code: TransferCode,
    metadata: dict[str, Any],
) -> TransferRequest:
    return TransferRequest(
        organization_id=organization_id,
        key_scope=service.PLATFORM_SCOPE,
        key=key,
        phase=TransferPhase.SINGLE,
        code=code.value,
        amount=amount,
        debit=account_key(debit, organization_id),
        credit=account_key(credit, organization_id),
        metadata=metadata,
    )


async def _expiry_of(conn: Any, package_id: uuid.UUID | None) -> datetime | None:
    """When credits of the package granted now expire (None: never, or no package)."""
    if package_id is None:
        return None
    cursor = await conn.execute(
        "SELECT grant_expires_days FROM credit_packages WHERE id = %(id)s", {"id": package_id}
    )
    row = await cursor.fetchone()
    if row is None or row[0] is None:
        return None
    return utcnow() + timedelta(days=int(row[0]))


async def _grant_repaying(
    conn: Any,
    organization_id: uuid.UUID,
    credits: int,
    key: str,
    metadata: dict[str, Any],
    expires_at: datetime | None = None,
) -> None:
    """Grant ``credits`` bought (purchases → wallet, key ``key``; expiring at ``expires_at``
    when given), then repay the debt from them (wallet → debt, key ``<key>:repay``): the
    wallet stays locked by the grant until the commit, so the repayment always finds them."""
    await _lock_debt(conn, organization_id)
    await service.grant(
        conn, organization_id, amount=credits, key=key, code=TransferCode.PURCHASE,
        metadata=metadata, expires_at=expires_at,
    )  # fmt: skip
    owed = await debt(conn, organization_id)
    repay = min(owed, credits)
    if repay > 0:
        await service.transfer(
            conn,
            _move(
                organization_id, f"{key}:repay", repay, AccountKind.WALLET, AccountKind.DEBT,
                TransferCode.REFUND, {"repays": "debt", **metadata},
            ),
        )  # fmt: skip


async def reverse(
    conn: Any, organization_id: uuid.UUID, credits: int, key: str, metadata: dict[str, Any]
) -> tuple[int, int]:
    """Take ``credits`` back: from the wallet as far as it has them available, the rest
    booked as debt. (taken from the wallet, booked as debt)."""
    await _lock_debt(conn, organization_id)
    for _ in range(5):
        wallet = await service.wallet(conn, organization_id)
        take = min(credits, max(0, wallet.available))
        try:
            if take > 0:
                await service.transfer(
                    conn,
                    _move(
                        organization_id, f"{key}:wallet", take, AccountKind.WALLET,
                        AccountKind.PURCHASES, TransferCode.REFUND, metadata,
                    ),
                )  # fmt: skip
        except InsufficientCredits:  # spent meanwhile: read again
            continue
        short = credits - take
        if short > 0:
            await service.transfer(
                conn,
                _move(
                    organization_id, f"{key}:debt", short, AccountKind.DEBT,
                    AccountKind.PURCHASES, TransferCode.REFUND, metadata,
                ),
            )  # fmt: skip
        return take, short
    raise RuntimeError("the wallet kept changing while a reversal read it")


async def _purchase_by_intent(conn: Any, intent: str | None) -> Purchase | None:
    if not intent:
        return None
    cursor = await conn.execute(
        f"SELECT {_PURCHASE_COLUMNS} FROM credit_purchases"  # noqa: S608
        " WHERE payment_intent_id = %(pi)s FOR UPDATE",
        {"pi": intent},
    )
    row = await cursor.fetchone()
    return None if row is None else _purchase(row)


async def reverse_refund(
    session: AsyncSession, charge: Mapping[str, Any], *, source: str
) -> Purchase | None:
    """``charge.refunded`` on a purchase's charge (None when it is not one): the credits of the
    refunded share not reversed yet are taken back, once per refunded total."""
    conn = await service.raw_connection(session)
    purchase = await _purchase_by_intent(conn, _id(charge.get("payment_intent")))
    if purchase is None:
        return None
    if purchase.status in ("open", "processing"):
        raise NotFulfilledYet(f"{purchase.checkout_session_id} is not fulfilled yet")
    paid = int(charge.get("amount_captured") or charge.get("amount") or purchase.amount_minor)
    refunded = min(int(charge.get("amount_refunded") or 0), paid)
    target = purchase.credits if paid <= 0 else (purchase.credits * refunded) // paid
    if purchase.status == "paid" and target > purchase.reversed_credits:
        delta = target - purchase.reversed_credits
        await reverse(
            conn, purchase.organization_id, delta, f"refund:{charge['id']}:{refunded}",
            {"charge": charge["id"], "checkout_session": purchase.checkout_session_id},
        )  # fmt: skip
        await conn.execute(
            "UPDATE credit_purchases SET reversed_credits = %(r)s WHERE id = %(id)s",
            {"r": target, "id": purchase.id},
        )
    refunds = (charge.get("refunds") or {}).get("data") or []
    refund_id = _id(refunds[0]) if refunds else None
    await money.record(
        session,
        organization_id=purchase.organization_id,
        kind=TransactionKind.REFUND,
        stripe_id=refund_id or f"{charge['id']}:{refunded}",
        amount_minor=refunded,
        currency=str(charge.get("currency") or purchase.currency),
        status="succeeded",
        source=source,
        payment_intent_id=purchase.payment_intent_id,
        charge_id=str(charge["id"]),
    )
    return await _reread(conn, purchase.id)


async def _dispute(conn: Any, dispute_id: str, purchase: Purchase) -> tuple[str, int, int, bool]:
    """The dispute's row, locked (inserted open when missing): (status, taken, regranted,
    opening applied)."""
    await conn.execute(
        "INSERT INTO credit_disputes (dispute_id, organization_id, purchase_id, status, taken,"
        " regranted, opening_applied) VALUES (%(id)s, %(org)s, %(purchase)s, 'open', 0, 0,"
        " false) ON CONFLICT (dispute_id) DO NOTHING",
        {"id": dispute_id, "org": purchase.organization_id, "purchase": purchase.id},
    )
    cursor = await conn.execute(
        "SELECT status, taken, regranted, opening_applied FROM credit_disputes"
        " WHERE dispute_id = %(id)s AND purchase_id = %(purchase)s FOR UPDATE",
        {"id": dispute_id, "purchase": purchase.id},
    )
    row = await cursor.fetchone()
    if row is None:  # the id names another purchase's dispute: Stripe never does that
        raise ValueError(f"the dispute {dispute_id} belongs to another purchase")
    return str(row[0]), int(row[1]), int(row[2]), bool(row[3])


async def _disputed_purchase(
    conn: Any, dispute: Mapping[str, Any], intent: str | None
) -> Purchase | None:
    purchase = await _purchase_by_intent(conn, intent or _id(dispute.get("payment_intent")))
    if purchase is not None and purchase.status in ("open", "processing"):
        raise NotFulfilledYet(f"{purchase.checkout_session_id} is not fulfilled yet")
    return purchase


async def _record_dispute(
    session: AsyncSession, purchase: Purchase, dispute: Mapping[str, Any], source: str
) -> None:
    await money.record(
        session,
        organization_id=purchase.organization_id,
        kind=TransactionKind.DISPUTE,
        stripe_id=str(dispute["id"]),
        amount_minor=int(dispute.get("amount") or 0),
        currency=str(dispute.get("currency") or purchase.currency),
        status=str(dispute.get("status") or "needs_response"),
        source=source,
        payment_intent_id=purchase.payment_intent_id,
        charge_id=_id(dispute.get("charge")),
    )


async def reverse_dispute(
    session: AsyncSession, dispute: Mapping[str, Any], intent: str | None, *, source: str
) -> Purchase | None:
    """``charge.dispute.created`` on a purchase's charge: the bank took the money back, so
    every credit not reversed yet is (once per dispute: its ``credit_disputes`` row records
    what it took). A dispute already closed as won (events out of order) takes nothing."""
    conn = await service.raw_connection(session)
    purchase = await _disputed_purchase(conn, dispute, intent)
    if purchase is None:
        return None
    dispute_id = str(dispute["id"])
    status, _, _, applied = await _dispute(conn, dispute_id, purchase)
    if not applied:
        taken = 0
        left = purchase.credits - purchase.reversed_credits
        if purchase.status == "paid" and left > 0 and status in ("open", "lost"):
            await reverse(
                conn, purchase.organization_id, left, f"dispute:{dispute_id}",
                {"dispute": dispute_id, "checkout_session": purchase.checkout_session_id},
            )  # fmt: skip
            await conn.execute(
                "UPDATE credit_purchases SET reversed_credits = credits WHERE id = %(id)s",
                {"id": purchase.id},
            )
            taken = left
        await conn.execute(
            "UPDATE credit_disputes SET opening_applied = true, taken = %(taken)s,"
            " updated_at = now() WHERE dispute_id = %(id)s",
            {"taken": taken, "id": dispute_id},
        )
    await _record_dispute(session, purchase, dispute, source)
    return await _reread(conn, purchase.id)


WON = ("won", "warning_closed")  # the money stays with us: the credits come back


async def close_dispute(
    session: AsyncSession, dispute: Mapping[str, Any], intent: str | None, *, source: str
) -> Purchase | None:
    """``charge.dispute.closed`` on a purchase's charge (None when it is not one). Won: what
    the dispute took back is granted again, once (key ``dispute-won:<dispute id>``), repaying
    the organization's debt first; lost: the credits stay taken. A close arriving before the
    opening is recorded, and the opening then takes nothing when won."""
    conn = await service.raw_connection(session)
    purchase = await _disputed_purchase(conn, dispute, intent)
    if purchase is None:
        return None
    dispute_id = str(dispute["id"])
    outcome = "won" if dispute.get("status") in WON else "lost"
    status, taken, regranted, _ = await _dispute(conn, dispute_id, purchase)
    if status == "open":
        status = outcome
        await conn.execute(
            "UPDATE credit_disputes SET status = %(status)s, updated_at = now()"
            " WHERE dispute_id = %(id)s",
            {"status": status, "id": dispute_id},
        )
    back = taken - regranted
    if status == "won" and back > 0:
        # The credits come back expiring when the purchase's would have (if they did).
        bought = await TenantLedger(conn, purchase.organization_id).by_key(
            service.PLATFORM_SCOPE, f"checkout:{purchase.checkout_session_id}"
        )
        await _grant_repaying(
            conn, purchase.organization_id, back, f"dispute-won:{dispute_id}",
            {"dispute": dispute_id, "checkout_session": purchase.checkout_session_id,
             "reason": "dispute won"},
            None if bought is None else await lot_expiry(conn, bought.id),
        )  # fmt: skip
        await conn.execute(
            "UPDATE credit_disputes SET regranted = taken, updated_at = now()"
            " WHERE dispute_id = %(id)s",
            {"id": dispute_id},
        )
        await conn.execute(
            "UPDATE credit_purchases SET reversed_credits = reversed_credits - %(back)s"
            " WHERE id = %(id)s",
            {"back": back, "id": purchase.id},
        )
        log.info("credits.dispute_won", dispute=dispute_id, credits=back)
    await _record_dispute(session, purchase, dispute, source)
    return await _reread(conn, purchase.id)


# --- subscriptions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: uuid.UUID
    organization_id: uuid.UUID
    checkout_session_id: str
    stripe_subscription_id: str | None
    package_id: uuid.UUID
    credits: int
    status: str
    invoices_paid: int
    created_at: datetime
    canceled_at: datetime | None
    payment_failed_invoice: str | None = None  # a renewal whose payment failed, not paid since
    payment_failed_at: datetime | None = None  # that invoice's creation time
    last_paid_invoice_at: datetime | None = None


_SUB_COLUMNS = (
    "id, organization_id, checkout_session_id, stripe_subscription_id, package_id, credits,"
    " status, invoices_paid, created_at, canceled_at, payment_failed_invoice, payment_failed_at,"
    " last_paid_invoice_at"
)


def _subscription(row: Any) -> Subscription:
    return Subscription(
        row[0], row[1], row[2], row[3], row[4], int(row[5]), row[6], int(row[7]), row[8], row[9],
        row[10], row[11], row[12],
    )  # fmt: skip


async def start_subscription(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    *,
    package_id: uuid.UUID,
    success_url: str,
    cancel_url: str,
    name: str,
    email: str | None,
) -> tuple[uuid.UUID, str]:
    """A Checkout Session in subscription mode for a plan (a package with an interval)."""
    conn = await service.raw_connection(session)
    plan = await _package(conn, package_id)
    if plan is None or plan.interval is None:
        raise PackageNotFound("no active subscription plan has that id")
    customer = await customers.ensure_customer(
        session, client, organization_id, name=name, email=email
    )
    row_id = uuid7()
    metadata = _metadata(organization_id, None, plan, row_id) | {"kind": "subscription"}
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": plan.currency.lower(),
                    "unit_amount": plan.price_minor,
                    "product_data": {"name": plan.name[:250]},
                    "recurring": {"interval": plan.interval},
                },
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(organization_id),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    async with calling("checkout.sessions.create"):
        checkout = await client.v1.checkout.sessions.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"credits-subscription-{row_id}"},
        )
    if not checkout.url:
        raise ValueError("Stripe answered a Checkout Session without a URL")
    await conn.execute(
        "INSERT INTO credit_subscriptions (id, organization_id, checkout_session_id, package_id,"
        " credits, status, invoices_paid) VALUES (%(id)s, %(org)s, %(cs)s, %(pkg)s,"
        " %(credits)s, 'open', 0)",
        {
            "id": row_id,
            "org": organization_id,
            "cs": checkout.id,
            "pkg": package_id,
            "credits": plan.credits,
        },
    )
    return row_id, checkout.url


async def _subscription_row(
    conn: Any, *, row_id: uuid.UUID | None, stripe_id: str | None
) -> Subscription | None:
    cursor = await conn.execute(
        f"SELECT {_SUB_COLUMNS} FROM credit_subscriptions"  # noqa: S608
        " WHERE id = %(id)s OR (%(sub)s::text IS NOT NULL AND stripe_subscription_id = %(sub)s)"
        " ORDER BY id LIMIT 1 FOR UPDATE",
        {"id": row_id, "sub": stripe_id},
    )
    row = await cursor.fetchone()
    return None if row is None else _subscription(row)


async def subscription_started(session: AsyncSession, checkout: Mapping[str, Any]) -> bool:
    """``checkout.session.completed`` in subscription mode: the Stripe subscription's id
    recorded (credits come with each ``invoice.paid``)."""
    metadata = _ours(checkout)
    if metadata is None or checkout.get("mode") != "subscription":
        return False
    conn = await service.raw_connection(session)
    row = await _subscription_row(
        conn, row_id=_uuid(metadata.get("row_id")), stripe_id=_id(checkout.get("subscription"))
    )
    if row is None:
        return True
    await conn.execute(
        "UPDATE credit_subscriptions SET stripe_subscription_id = coalesce("
        "stripe_subscription_id, %(sub)s), status = CASE WHEN status = 'open' THEN 'active'"
        " ELSE status END WHERE id = %(id)s",
        {"sub": _id(checkout.get("subscription")), "id": row.id},
    )
    return True


def _invoice_metadata(invoice: Mapping[str, Any]) -> dict[str, str] | None:
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping):
        found = _ours(details)
        if found is not None:
            return found
    legacy = invoice.get("subscription_details")
    return _ours(legacy) if isinstance(legacy, Mapping) else None


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, Mapping) else None
    if isinstance(details, Mapping) and _id(details.get("subscription")):
        return _id(details.get("subscription"))
    return _id(invoice.get("subscription"))


async def invoice_paid(
    session: AsyncSession, client: stripe.StripeClient, invoice: Mapping[str, Any]
) -> bool:
    """``invoice.paid`` of a credit subscription: its credits granted once per invoice
    (``invoice:<id>``), whatever the order of delivery; False when not ours. A recorded
    failure of this invoice is cleared; one of another invoice only when Stripe says that
    invoice is no longer open (paid, voided) — an older payment delivered late never clears a
    newer failure."""
    metadata = _invoice_metadata(invoice)
    if metadata is None:
        return False
    conn = await service.raw_connection(session)
    stripe_sub = _invoice_subscription(invoice)
    row = await _subscription_row(conn, row_id=_uuid(metadata.get("row_id")), stripe_id=stripe_sub)
    if row is None or str(row.organization_id) != metadata.get("organization_id"):
        log.warning("credits.invoice_unmatched", invoice=invoice.get("id"))
        return True
    key = f"invoice:{invoice['id']}"
    if (
        await TenantLedger(conn, row.organization_id).by_key(service.PLATFORM_SCOPE, key)
        is not None
    ):
        return True
    await _grant_repaying(
        conn, row.organization_id, row.credits, key,
        {"invoice": invoice["id"], "subscription": stripe_sub or ""},
        await _expiry_of(conn, row.package_id),
    )  # fmt: skip
    # A failure of this invoice or an older one is cleared (paid since); one of a newer
    # invoice (delivered before this older payment) stays, and so does past_due.
    await conn.execute(
        "UPDATE credit_subscriptions SET invoices_paid = invoices_paid + 1,"
        " stripe_subscription_id = coalesce(stripe_subscription_id, %(sub)s),"
        " last_paid_invoice_at = greatest(last_paid_invoice_at, %(at)s),"
        " payment_failed_invoice = CASE WHEN %(cleared)s THEN NULL"
        "   ELSE payment_failed_invoice END,"
        " payment_failed_at = CASE WHEN %(cleared)s THEN NULL ELSE payment_failed_at END,"
        " status = CASE WHEN status NOT IN ('open', 'past_due') THEN status"
        "   WHEN %(cleared)s THEN 'active' ELSE 'past_due' END"
        " WHERE id = %(id)s",
        {
            "sub": stripe_sub,
            "id": row.id,
            "at": _created(invoice),
            "cleared": await _clears(client, row, invoice),
        },
    )
    log.info("credits.subscription_granted", invoice=invoice["id"], credits=row.credits)
    return True


def _created(obj: Mapping[str, Any]) -> datetime | None:
    created = obj.get("created")
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        return None
    return datetime.fromtimestamp(created, UTC)


async def _invoice_status(client: stripe.StripeClient, invoice_id: str) -> str:
    """The invoice's status as Stripe has it now (open, paid, void, uncollectible)."""
    async with calling("invoices.retrieve"):
        found = await client.v1.invoices.retrieve_async(invoice_id)
    return str(found.status or "")


async def _clears(
    client: stripe.StripeClient, row: Subscription, invoice: Mapping[str, Any]
) -> bool:
    """Whether paying ``invoice`` clears the subscription's recorded failure: it is that
    invoice, or Stripe says the failed one is no longer open."""
    if row.payment_failed_invoice is None or row.payment_failed_invoice == invoice.get("id"):
        return True
    return await _invoice_status(client, row.payment_failed_invoice) != "open"


async def invoice_payment_failed(
    session: AsyncSession, client: stripe.StripeClient, invoice: Mapping[str, Any]
) -> bool:
    """``invoice.payment_failed`` of a credit subscription: recorded on our row (``past_due``,
    the failed invoice and its time); nothing is granted. Safe in any order and repeated: an
    invoice already granted, paid by now at Stripe (its ``invoice.paid`` follows), or older
    than the newest invoice paid or the failure already recorded changes nothing. False when
    the invoice is not ours."""
    metadata = _invoice_metadata(invoice)
    if metadata is None:
        return False
    conn = await service.raw_connection(session)
    stripe_sub = _invoice_subscription(invoice)
    row = await _subscription_row(conn, row_id=_uuid(metadata.get("row_id")), stripe_id=stripe_sub)
    if row is None or str(row.organization_id) != metadata.get("organization_id"):
        log.warning("credits.invoice_unmatched", invoice=invoice.get("id"))
        return True
    key = f"invoice:{invoice['id']}"
    if (
        await TenantLedger(conn, row.organization_id).by_key(service.PLATFORM_SCOPE, key)
        is not None
    ):
        return True  # paid (and granted) already: this failure came late
    at = _created(invoice)
    if at is not None and (
        (row.last_paid_invoice_at is not None and row.last_paid_invoice_at > at)
        or (row.payment_failed_at is not None and row.payment_failed_at > at)
    ):
        return True  # a newer invoice was paid, or failed, already
    if await _invoice_status(client, str(invoice["id"])) != "open":
        return True  # paid (or voided) since this attempt: the failure is old news
    await conn.execute(
        "UPDATE credit_subscriptions SET payment_failed_invoice = %(invoice)s,"
        " payment_failed_at = %(at)s,"
        " stripe_subscription_id = coalesce(stripe_subscription_id, %(sub)s),"
        " status = CASE WHEN status IN ('active', 'past_due')"
        "   OR (status = 'open' AND %(renewal)s) THEN 'past_due' ELSE status END"
        " WHERE id = %(id)s",
        {
            "invoice": str(invoice["id"]),
            "at": at,
            "sub": stripe_sub,
            "id": row.id,
            # the first invoice is paid on Checkout's page: its failure starts nothing
            "renewal": invoice.get("billing_reason") != "subscription_create",
        },
    )
    log.info("credits.subscription_payment_failed", invoice=invoice["id"])
    return True


async def subscriptions(conn: Any, organization_id: uuid.UUID) -> list[Subscription]:
    cursor = await conn.execute(
        f"SELECT {_SUB_COLUMNS} FROM credit_subscriptions"  # noqa: S608
        " WHERE organization_id = %(org)s AND status <> 'open' ORDER BY created_at DESC, id",
        {"org": organization_id},
    )
    return [_subscription(r) for r in await cursor.fetchall()]


async def cancel_subscription(
    session: AsyncSession,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    subscription_id: uuid.UUID,
) -> Subscription:
    """Cancel at Stripe now (``DELETE /v1/subscriptions/{id}``); credits granted stay."""
    conn = await service.raw_connection(session)
    row = await _subscription_row(conn, row_id=subscription_id, stripe_id=None)
    if row is None or row.organization_id != organization_id:
        raise NotFound("no subscription of this organization has that id")
    if row.status == "canceled":
        return row
    if row.stripe_subscription_id is None:
        raise Conflict("the subscription has not started yet")
    async with calling("subscriptions.cancel"):
        await client.v1.subscriptions.cancel_async(row.stripe_subscription_id)
    await conn.execute(
        "UPDATE credit_subscriptions SET status = 'canceled', canceled_at = %(now)s"
        " WHERE id = %(id)s",
        {"now": utcnow(), "id": row.id},
    )
    found = await _subscription_row(conn, row_id=row.id, stripe_id=None)
    assert found is not None
    return found
