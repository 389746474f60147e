"""The billing page (``/billing``): the card on file and the Stripe Connect account.

Card: Add card sends the browser (``HX-Redirect``) to Stripe's hosted page — a Checkout Session
in setup mode on the organization's customer (the emulator's page in development) — which
comes back here with ``?card=added`` or ``?card=cancelled``; the card appears once Stripe's
``setup_intent.succeeded`` has been handled (seconds). Remove asks in the page's dialog first,
then detaches the card. Connect: the account's status in words and, when Stripe needs details,
Finish verification (a fresh Account Link, ``HX-Redirect``).

The same services as the JSON API, with the same roles: any member sees the page; adding or
removing a card and asking for a verification link need an owner or admin (the buttons are
disabled with the reason). The page reads its viewer, cards and account in one read-only
statement (``session.view``).

The money history: the commissions (each in words, with its claim, the decline's reason and
the next try, or the link to confirm a payment the bank wants the seller to approve), the
payments and refunds of the ledger, and the payouts to the seller's Stripe account; each list
paged by its own cursor (the id of the last row shown, ``?commissions=…``, ``?transactions=…``,
``?payouts=…``), all read in the page's one statement. The emailed confirmation comes back
here with ``?payment=<code>``: fixed words for known codes, nothing for any other."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.billing import flows as billing
from sellerhub.billing.commissions.service import commissions_read as _commissions_read
from sellerhub.billing.commissions.service import receipt_link as commission_receipt
from sellerhub.billing.connect import service as connect
from sellerhub.billing.connect.schemas import ConnectOut
from sellerhub.billing.customers import service as customers
from sellerhub.billing.payouts import service as payouts_service
from sellerhub.billing.stripe.client import client_of
from sellerhub.billing.transactions import service as transactions_service
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.pages.orders import format_money
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer, view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE = "/billing"
ADMIN_ONLY = "Only an owner or admin of the organization can change the card or verification."
# ``?card=<code>``: fixed words; an unknown code shows nothing.
CARD_NOTICES = {
    "added": "Stripe saved your card. It appears here in a few seconds (reload the page).",
    "cancelled": "No card was added.",
}
CONNECT_WORDS = {
    "not_started": "Your Stripe account is created when you connect Amazon Seller Central.",
    "creating": "Your Stripe account is being created.",
    "verification_needed": "Stripe needs a few details before it can pay you out.",
    "enabled": "Your Stripe account is verified: payments and payouts are on.",
    "restricted": "Stripe has restricted your account. Stripe's email says why.",
}


PAGE_SIZE = 20
# ``?payment=<code>`` from the confirmation's return route: fixed words; an unknown code shows
# nothing (the URL's text is never shown).
PAYMENT_NOTICES = {
    "confirmed": ("ok", "Payment confirmed. Thank you: the commission is paid."),
    "processing": (
        "ok",
        "Your bank approved the payment; Stripe is finishing it (reload shortly).",
    ),
    "not_confirmed": ("error", "The payment was not confirmed. You can try again from the link."),
    "failed": (
        "error",
        "The payment failed: the commission below says why and when it is tried again.",
    ),
    "unchanged": ("ok", "This payment needs nothing from you any more."),
}
# The decline's reason (Stripe's decline_code, else failure_code), in words.
DECLINE_WORDS = {
    "insufficient_funds": "the card has insufficient funds",
    "expired_card": "the card has expired",
    "lost_card": "the card was reported lost",
    "stolen_card": "the card was reported stolen",
    "incorrect_cvc": "the card's security code was wrong",
    "processing_error": "the bank had a processing error",
    "do_not_honor": "the bank declined without a reason",
    "generic_decline": "the bank declined without a reason",
    "card_declined": "the bank declined the card",
    "authentication_required": "the bank wants you to confirm the payment",
    "payment_intent_authentication_failure": "the bank's confirmation failed",
    "card_not_supported": "the card does not support this payment",
    "currency_not_supported": "the card does not support this currency",
    "fraudulent": "the bank suspected fraud",
}
# A commission's state in words: (badge class, badge, sentence).
COMMISSION_WORDS = {
    "pending": ("pending", "Waiting", "Being sent to Stripe."),
    "processing": ("pending", "Processing", "Stripe is charging your card."),
    "succeeded": ("connected", "Paid", "Charged to your card."),
    "requires_action": ("error", "Confirm", "Your bank wants you to confirm this payment."),
    "failed": ("error", "Declined", "The charge was declined"),
    "no_card": ("pending", "No card", "Waiting for a card on file."),
    "waived": ("disconnected", "Waived", "Nothing to pay."),
    "withheld": ("connected", "Kept", "Kept from the money paid to you (no card charge)."),
    "refunded": ("disconnected", "Refunded", "Refunded to your card."),
    "disputed": ("error", "Disputed", "Your bank disputed this charge."),
}
TRANSACTION_WORDS = {
    "charge": "Commission charged to your card",
    "refund": "Refund to your card",
    "dispute": "Taken back by your bank (dispute)",
    "transfer": "Paid to your Stripe account",
    "transfer_reversal": "Payment to your Stripe account taken back",
    "payout": "Stripe paid out to your bank",
    "invoice": "Invoice paid",
}
PAYOUT_WORDS = {
    "pending": ("pending", "Scheduled", "Being sent to your Stripe account."),
    "waiting": ("pending", "Waiting", "Waiting until your Stripe account can receive money."),
    "processing": ("pending", "Sending", "Stripe is sending it."),
    "paid": ("connected", "Paid", "On your Stripe account."),
    "failed": ("error", "Failed", "Stripe refused it; it is tried again."),
    "reversed": ("disconnected", "Reversed", "Taken back."),
    "cancelled": (
        "disconnected",
        "Cancelled",
        "Amazon took the reimbursement back before it was sent.",
    ),
}


def _when(value: Any) -> str:
    """An ISO timestamp from the database as ``30 Nov 2026``."""
    if not value:
        return ""
    at = datetime.fromisoformat(str(value))
    return f"{at.day} {at:%b %Y}"


def _cursor(name: str, value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            "That page of the billing history does not exist: use the page's own links.",
            errors=[{"field": name, "message": "is not a page of this list"}],
        ) from None


def _decline(row: dict[str, Any]) -> str:
    code = row.get("decline_code") or row.get("failure_code") or ""
    return DECLINE_WORDS.get(str(code), "the bank declined the card")


def _commission(row: dict[str, Any], *, api_base: str) -> dict[str, Any]:
    badge, label, words = COMMISSION_WORDS.get(
        row["state"], ("pending", str(row["state"]).replace("_", " "), "")
    )
    if row["state"] == "failed":
        words = f"{words}: {_decline(row)}."
        if row.get("next_attempt_at"):
            words += f" Tried again on {_when(row['next_attempt_at'])}."
    elif row["state"] in ("no_card", "waived") and row.get("reason"):
        words = str(row["reason"])
    what = "Recovery"
    if row.get("claim_kind"):
        what = str(row["claim_kind"]).replace("_", " ").capitalize() + " claim"
    return {
        "id": row["id"],
        "what": what,
        "sku": row.get("claim_sku") or "",
        "amount": format_money(int(row["amount_minor"]), str(row["currency"])),
        "refunded": (
            format_money(int(row["refunded_minor"]), str(row["currency"]))
            if row.get("refunded_minor")
            else ""
        ),
        "state": row["state"],
        "badge": badge,
        "label": label,
        "words": words,
        "when": _when(row.get("succeeded_at") or row.get("created_at")),
        # Stripe's receipt, a link only when it is Stripe's (or the configured API's origin).
        "receipt": (
            commission_receipt(row.get("receipt_url"), api_base)
            if row["state"] in ("succeeded", "refunded", "disputed")
            else None
        ),
    }


def _transaction(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "words": TRANSACTION_WORDS.get(row["kind"], str(row["kind"]).replace("_", " ")),
        "amount": format_money(
            int(row["amount_minor"]) * (-1 if row["kind"] in ("refund", "dispute") else 1),
            str(row["currency"]),
        ),
        "status": str(row["status"]).replace("_", " "),
        "when": _when(row.get("created_at")),
    }


def _payout(row: dict[str, Any]) -> dict[str, Any]:
    badge, label, words = PAYOUT_WORDS.get(row["state"], ("pending", str(row["state"]), ""))
    if row["state"] in ("waiting", "failed") and row.get("reason"):
        words = f"{words} {row['reason']}"
    return {
        "id": row["id"],
        "amount": format_money(int(row["amount_minor"]), str(row["currency"])),
        "state": row["state"],
        "badge": badge,
        "label": label,
        "words": words,
        "when": _when(row.get("sent_at") or row.get("created_at")),
    }


def _paged(
    rows: list[dict[str, Any]], name: str, cursors: dict[str, str], describe: Any
) -> dict[str, Any]:
    """A section's rows in words and its links: older (after the last row shown) and, past the
    first page, back to the newest; the other sections keep their place."""
    shown = rows[:PAGE_SIZE]
    older = newest = None
    if len(rows) > PAGE_SIZE:
        older = PAGE + "?" + urlencode({**cursors, name: str(shown[-1]["id"])}) + f"#{name}"
    if cursors.get(name):
        rest = {k: v for k, v in cursors.items() if k != name}
        newest = PAGE + ("?" + urlencode(rest) if rest else "") + f"#{name}"
    return {"rows": [describe(r) for r in shown], "older": older, "newest": newest}


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("That card is not on file.") from None


async def _admin(request: Request) -> Viewer:
    viewer = await require_viewer(request)
    viewer.require_admin()
    check_form_csrf(request, viewer, None)
    return viewer


def _context(
    viewer: Viewer,
    cards: list[customers.SavedCard],
    account: ConnectOut,
    notice: str = "",
    **history: Any,
) -> dict[str, Any]:
    return {
        **history,
        "viewer": viewer,
        "nav": PAGE,
        "cards": cards,
        "account": account,
        "connect_words": CONNECT_WORDS[account.status],
        "can_change": viewer.is_admin,
        "admin_only": ADMIN_ONLY,
        "notice": notice,
    }


@router.get(PAGE)
async def billing_page(
    request: Request,
    card: str | None = None,
    payment: str | None = None,
    reason: str | None = None,
    commissions: str | None = None,
    transactions: str | None = None,
    payouts: str | None = None,
) -> Response:
    cursors = {
        name: value
        for name, value in (
            ("commissions", commissions),
            ("transactions", transactions),
            ("payouts", payouts),
        )
        if value
    }
    viewer, (cards, account, commission_rows, transaction_rows, payout_rows) = await view(
        request,
        customers.cards_read(),
        connect.account_read(),
        _commissions_read(limit=PAGE_SIZE, before=_cursor("commissions", commissions)),
        transactions_service.transactions_read(
            limit=PAGE_SIZE, before=_cursor("transactions", transactions)
        ),
        payouts_service.transfers_read(limit=PAGE_SIZE, before=_cursor("payouts", payouts)),
    )
    notice = CARD_NOTICES.get(card or "", "")
    payment_notice = PAYMENT_NOTICES.get(payment or "")
    if payment == "failed" and reason in DECLINE_WORDS:
        payment_notice = ("error", f"The payment failed: {DECLINE_WORDS[reason]}.")
    return render(
        request,
        "billing.html",
        _context(
            viewer,
            cards,
            account,
            notice,
            payment_notice=payment_notice,
            commissions=_paged(
                commission_rows,
                "commissions",
                cursors,
                partial(_commission, api_base=runtime_of(request).settings.stripe_api),
            ),
            transactions=_paged(transaction_rows, "transactions", cursors, _transaction),
            payouts=_paged(payout_rows, "payouts", cursors, _payout),
        ),
    )


@router.post(f"{PAGE}/cards")
async def add_card(request: Request) -> Response:
    """Start saving a card: the browser goes to Stripe's hosted page."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        url = await billing.create_card_checkout(
            session, client_of(runtime), runtime.settings, viewer.principal.organization_id
        )
    return Response(status_code=204, headers={"HX-Redirect": url})


@router.delete(f"{PAGE}/cards/{{card_id}}")
async def remove_card(request: Request, card_id: str) -> Response:
    """Remove a card (after the page's confirmation); answers the cards panel again."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        await customers.remove_payment_method(
            session,
            client_of(runtime),
            organization_id,
            _uuid(card_id),
            actor_user_id=viewer.principal.user_id,
        )
    viewer, (cards, account) = await view(request, customers.cards_read(), connect.account_read())
    return render(
        request,
        "partials/billing_cards.html",
        _context(viewer, cards, account, "The card was removed. It is no longer charged."),
    )


@router.post(f"{PAGE}/connect/link")
async def finish_verification(request: Request) -> Response:
    """Send the browser to Stripe's hosted onboarding (a fresh single-use link)."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        link = await connect.account_link(
            session, client_of(runtime), runtime.settings, viewer.principal.organization_id
        )
    return Response(status_code=204, headers={"HX-Redirect": link.url})
