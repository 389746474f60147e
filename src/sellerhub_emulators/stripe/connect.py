"""Connect (providers.md §8.4, reference-next.md §1.3): connected accounts with ``controller``
properties (or the legacy ``type``), Account Links to the hosted onboarding page, transfers with
reversals, and the connected accounts' payouts (made through ``_admin``).

A new account has ``charges_enabled``, ``payouts_enabled`` and ``details_submitted`` false and
``requirements.currently_due`` non-empty; submitting the onboarding page of an Account Link
clears them, activates the requested capabilities and emits ``account.updated`` (a Connect event:
``account`` is the connected account). A transfer needs the destination's ``transfers``
capability active and, without ``source_transaction``, the platform's available balance
(``_admin/balance`` tops it up; succeeded charges add their net).
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from sellerhub_emulators.stripe import forms
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import StripeError, invalid
from sellerhub_emulators.stripe.events import emit
from sellerhub_emulators.stripe.forms import Params
from sellerhub_emulators.stripe.objects import page

Obj = dict[str, Any]

LEGACY = {
    # type: (fees payer, losses, dashboard, requirement collection)
    "express": ("application", "application", "express", "stripe"),
    "standard": ("account", "stripe", "full", "stripe"),
    "custom": ("application", "application", "none", "application"),
}
_DUE_COMPANY = [
    "business_profile.mcc",
    "business_profile.url",
    "company.address.city",
    "company.address.line1",
    "company.address.postal_code",
    "company.name",
    "company.phone",
    "company.tax_id",
    "external_account",
    "representative.first_name",
    "representative.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
_DUE_INDIVIDUAL = [
    "business_profile.mcc",
    "business_profile.url",
    "external_account",
    "individual.address.city",
    "individual.address.line1",
    "individual.address.postal_code",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "individual.phone",
    "individual.ssn_last_4",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
_CURRENCY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf"}


def _requirements(due: list[str], *, disabled: str | None) -> Obj:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": disabled,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due) if disabled else [],
        "pending_verification": [],
    }


def _inner(ctl: Params, outer: str, inner: str, default: str) -> str:
    value = ctl.get(outer)
    if value is None:
        return default
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: controller[{outer}]", param=f"controller[{outer}]")
    return str(value.get(inner, default))


def _controller(params: Params) -> tuple[str, str, str, str, str]:
    legacy = forms.choice(params, "type", tuple(LEGACY))
    ctl = forms.mapping(params, "controller")
    if legacy is not None and ctl:
        raise invalid(
            "You cannot specify both `type` and `controller` when creating an account.",
            param="controller",
        )
    if legacy is not None:
        return (*LEGACY[legacy], legacy)
    fees = _inner(ctl, "fees", "payer", "account")
    losses = _inner(ctl, "losses", "payments", "stripe")
    dashboard = _inner(ctl, "stripe_dashboard", "type", "full")
    collection = str(ctl.get("requirement_collection", "stripe"))
    for value, allowed, param in (
        (fees, ("account", "application"), "controller[fees][payer]"),
        (losses, ("stripe", "application"), "controller[losses][payments]"),
        (dashboard, ("full", "express", "none"), "controller[stripe_dashboard][type]"),
        (collection, ("stripe", "application"), "controller[requirement_collection]"),
    ):
        if value not in allowed:
            raise invalid(f"Invalid {param}: must be one of {', '.join(allowed)}", param=param)
    if collection == "application" and (
        fees != "application" or losses != "application" or dashboard != "none"
    ):
        raise invalid(
            "When requirement_collection is application, fees.payer and losses.payments must be "
            "application and stripe_dashboard.type must be none.",
            param="controller[requirement_collection]",
        )
    if dashboard != "full" and losses == "stripe" and fees == "application":
        raise invalid(
            "Accounts without the full Stripe Dashboard whose fees the platform pays must have "
            "losses.payments=application.",
            param="controller[losses][payments]",
        )
    kind = {"full": "standard", "express": "express", "none": "custom"}[dashboard]
    return fees, losses, dashboard, collection, kind


def create_account(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "type",
            "controller",
            "country",
            "email",
            "business_profile",
            "business_type",
            "capabilities",
            "metadata",
            "default_currency",
            "settings",
            "tos_acceptance",
            "company",
            "individual",
        ),
    )
    if ctx.account is not None:
        raise invalid("Connected accounts cannot create accounts.", param="Stripe-Account")
    em = ctx.em
    fees, losses, dashboard, collection, kind = _controller(params)
    country = (forms.string(params, "country") or "US").upper()
    if len(country) != 2 or not country.isalpha():
        raise invalid(f"Invalid country: {country}", param="country")
    btype = forms.choice(
        params, "business_type", ("individual", "company", "non_profit", "government_entity")
    )
    profile = forms.mapping(params, "business_profile")
    caps: Obj = {}
    for name, spec in forms.mapping(params, "capabilities").items():
        if not isinstance(spec, dict) or spec.get("requested") not in ("true", "false"):
            raise invalid(f"Invalid capabilities[{name}][requested]", param=f"capabilities[{name}]")
        if spec["requested"] == "true":
            caps[name] = "inactive"
    if kind == "standard" and not caps:
        caps = {"card_payments": "inactive", "transfers": "inactive"}
    due = _DUE_INDIVIDUAL if btype == "individual" else _DUE_COMPANY
    ident = "acct_1" + secrets.token_hex(8).upper()[:15]
    acct: Obj = {
        "id": ident,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": profile.get("mcc"),
            "name": profile.get("name"),
            "product_description": profile.get("product_description"),
            "support_address": None,
            "support_email": profile.get("support_email"),
            "support_phone": None,
            "support_url": None,
            "url": profile.get("url"),
        },
        "business_type": btype,
        "capabilities": caps,
        "charges_enabled": False,
        "controller": {
            "fees": {"payer": fees},
            "is_controller": True,
            "losses": {"payments": losses},
            "requirement_collection": collection,
            "stripe_dashboard": {"type": dashboard},
            "type": "application",
        },
        "country": country,
        "created": em.now(),
        "default_currency": forms.currency(params, "default_currency", required=False)
        or _CURRENCY.get(country, "usd"),
        "details_submitted": False,
        "email": forms.string(params, "email"),
        "external_accounts": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/accounts/{ident}/external_accounts",
        },
        "future_requirements": _requirements([], disabled=None),
        "livemode": False,
        "metadata": forms.metadata(params),
        "payouts_enabled": False,
        "requirements": _requirements(due, disabled="requirements.past_due"),
        "settings": {
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            }
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": kind,
    }
    em.put(acct, None)
    return acct


def _account(ctx: Ctx, ident: str, *, param: str | None = None) -> Obj:
    return ctx.em.get(ident, None, "account", param=param)


def retrieve_account(ctx: Ctx, params: Params, ident: str) -> Obj:
    if ctx.account is not None and ident != ctx.account:
        raise invalid("You can only retrieve the connected account you act as.", status=403)
    return _account(ctx, ident)


def retrieve_own_account(ctx: Ctx, params: Params) -> Obj:
    if ctx.account is not None:
        return _account(ctx, ctx.account)
    return {
        "id": "acct_1SellerhubPlatform",
        "object": "account",
        "business_profile": {"name": "sellerhub (emulated platform)"},
        "charges_enabled": True,
        "country": "US",
        "default_currency": "usd",
        "details_submitted": True,
        "email": None,
        "payouts_enabled": True,
        "settings": {"dashboard": {"display_name": "sellerhub"}},
        "type": "standard",
    }


def update_account(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(
        params,
        ("email", "business_profile", "metadata", "capabilities", "default_currency", "settings"),
    )
    acct = _account(ctx, ident)
    before = copy.deepcopy(acct)
    if "email" in params:
        acct["email"] = forms.string(params, "email")
    for key, value in forms.mapping(params, "business_profile").items():
        if key in acct["business_profile"]:
            acct["business_profile"][key] = value or None
    acct["metadata"] = forms.metadata(params, acct["metadata"])
    for name, spec in forms.mapping(params, "capabilities").items():
        if isinstance(spec, dict) and spec.get("requested") == "true":
            acct["capabilities"].setdefault(
                name, "active" if acct["details_submitted"] else "inactive"
            )
    changed = {k: v for k, v in before.items() if acct.get(k) != v}
    if changed:
        emit(ctx.em, ctx.origin, "account.updated", acct, previous=changed, account=ident)
    return acct


def list_accounts(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("limit", "starting_after", "ending_before", "created"))
    return page(ctx, ctx.em.all_of("account", None), params, "/v1/accounts")


def complete_onboarding(ctx: Ctx, acct: Obj, *, name: str | None = None) -> None:
    """What submitting the hosted onboarding does: requirements met, charges and payouts on."""
    before = {
        k: copy.deepcopy(acct[k])
        for k in (
            "capabilities",
            "charges_enabled",
            "details_submitted",
            "payouts_enabled",
            "requirements",
            "tos_acceptance",
        )
    }
    acct["details_submitted"] = True
    acct["charges_enabled"] = True
    acct["payouts_enabled"] = True
    acct["capabilities"] = dict.fromkeys(acct["capabilities"] or {"transfers": 1}, "active")
    acct["requirements"] = _requirements([], disabled=None)
    acct["tos_acceptance"] = {"date": ctx.em.now(), "ip": "127.0.0.1", "user_agent": "emulator"}
    if name:
        acct["business_profile"]["name"] = name
    if not acct["external_accounts"]["data"]:
        acct["external_accounts"]["data"] = [
            {
                "id": ctx.em.new_id("ba"),
                "object": "bank_account",
                "account": acct["id"],
                "bank_name": "STRIPE TEST BANK",
                "country": acct["country"],
                "currency": acct["default_currency"],
                "default_for_currency": True,
                "last4": "6789",
                "status": "new",
            }
        ]
    emit(ctx.em, ctx.origin, "account.updated", acct, previous=before, account=acct["id"])


def require_again(ctx: Ctx, acct: Obj, due: list[str], *, disable: bool) -> None:
    """Requirements due again (``_admin``): payouts (and charges when ``disable``) stop."""
    before = {
        k: copy.deepcopy(acct[k]) for k in ("charges_enabled", "payouts_enabled", "requirements")
    }
    acct["requirements"] = _requirements(due, disabled="requirements.past_due" if disable else None)
    acct["requirements"]["current_deadline"] = None if disable else ctx.em.now() + 14 * 86400
    acct["payouts_enabled"] = False
    if disable:
        acct["charges_enabled"] = False
    emit(ctx.em, ctx.origin, "account.updated", acct, previous=before, account=acct["id"])


# -- account links ---------------------------------------------------------------------------


def create_account_link(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params, ("account", "type", "refresh_url", "return_url", "collect", "collection_options")
    )
    em = ctx.em
    ident = forms.string(params, "account", required=True)
    assert ident is not None
    acct = _account(ctx, ident, param="account")
    kind = forms.choice(params, "type", ("account_onboarding", "account_update"))
    if kind is None:
        raise invalid("Missing required param: type.", param="type", code="parameter_missing")
    refresh = forms.string(params, "refresh_url", required=True)
    back = forms.string(params, "return_url", required=True)
    for name, value in (("refresh_url", refresh), ("return_url", back)):
        if not str(value).startswith(("http://", "https://")):
            raise invalid(f"Not a valid URL: {name}", param=name, code="url_invalid")
    if kind == "account_update" and acct["controller"]["requirement_collection"] != "application":
        raise invalid(
            "You cannot create `account_update` type Account Links for this account: its "
            "requirements are collected by Stripe.",
            param="type",
        )
    options = forms.mapping(params, "collection_options")
    fields = options.get("fields", forms.string(params, "collect") or "currently_due")
    if fields not in ("currently_due", "eventually_due"):
        raise invalid("Invalid collection_options[fields]", param="collection_options[fields]")
    token = secrets.token_urlsafe(24)
    created = em.now()
    em.account_links[token] = {
        "account": ident,
        "type": kind,
        "refresh_url": refresh,
        "return_url": back,
        "expires_at": em.elapsed() + 300,
        "state": "new",
    }
    return {
        "object": "account_link",
        "created": created,
        "expires_at": created + 300,
        "url": ctx.page(f"onboarding/{token}"),
    }


# -- transfers --------------------------------------------------------------------------------


def create_transfer(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "amount",
            "currency",
            "destination",
            "transfer_group",
            "source_transaction",
            "metadata",
            "description",
        ),
    )
    em = ctx.em
    if ctx.account is not None:
        raise invalid("Transfers are made by the platform.", param="Stripe-Account")
    amount = forms.integer(params, "amount", required=True, minimum=1)
    cur = forms.currency(params)
    dest_id = forms.string(params, "destination", required=True)
    assert amount is not None and cur is not None and dest_id is not None
    dest = _account(ctx, dest_id, param="destination")
    if dest["capabilities"].get("transfers") != "active":
        raise invalid(
            "Your destination account needs to have at least one of the following capabilities "
            "enabled: transfers, crypto_transfers, legacy_payments",
            param="destination",
            code="insufficient_capabilities_for_transfer",
        )
    source = forms.string(params, "source_transaction")
    if source is not None:
        charge = em.get(source, None, "charge", param="source_transaction")
        if charge["status"] != "succeeded":
            raise invalid(
                "The source_transaction must be a succeeded charge.", param="source_transaction"
            )
        used = sum(
            t["amount"] - t["amount_reversed"]
            for t in em.all_of("transfer", None)
            if t["source_transaction"] == source
        )
        if charge["currency"] != cur:
            raise invalid(
                "The currency of source_transaction's balance transaction must match the "
                "transfer currency.",
                param="currency",
            )
        if used + amount > charge["amount"] - charge["amount_refunded"]:
            raise invalid(
                "Transfer amount exceeds the source transaction's remaining amount.",
                param="amount",
                code="balance_insufficient",
            )
    elif em.balances.get((None, cur), 0) < amount:
        raise invalid(
            "You have insufficient available funds in your Stripe account. Try adding funds "
            "directly to your available balance by creating Charges using the "
            "4000000000000077 test card.",
            code="balance_insufficient",
        )
    return _transfer(
        ctx,
        amount,
        cur,
        dest_id,
        source=source,
        group=forms.string(params, "transfer_group"),
        metadata=forms.metadata(params),
        description=forms.string(params, "description"),
    )


def destination_transfer(ctx: Ctx, charge: Obj, destination: str, amount: int) -> Obj:
    """The transfer a destination charge makes when it succeeds (``transfer_data``)."""
    transfer = _transfer(
        ctx,
        amount,
        charge["currency"],
        destination,
        source=charge["id"],
        group=charge["transfer_group"],
        metadata={},
        description=None,
    )
    charge["transfer"] = transfer["id"]
    return transfer


def _transfer(
    ctx: Ctx,
    amount: int,
    cur: str,
    dest_id: str,
    *,
    source: str | None,
    group: str | None,
    metadata: dict[str, str],
    description: str | None,
) -> Obj:
    em = ctx.em
    ident = em.new_id("tr")
    txn = _txn(ctx, None, -amount, cur, "transfer", ident)
    transfer: Obj = {
        "id": ident,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": txn,
        "created": em.now(),
        "currency": cur,
        "description": description,
        "destination": dest_id,
        "destination_payment": em.new_id("py"),
        "livemode": False,
        "metadata": metadata,
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/transfers/{ident}/reversals",
        },
        "reversed": False,
        "source_transaction": source,
        "source_type": "card",
        "transfer_group": group,
    }
    em.put(transfer, None)
    em.credit(None, cur, -amount)
    em.credit(dest_id, cur, amount)
    emit(em, ctx.origin, "transfer.created", transfer)
    return transfer


def _txn(ctx: Ctx, account: str | None, amount: int, cur: str, kind: str, source: str) -> str:
    em = ctx.em
    txn = {
        "id": em.new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": em.now(),
        "created": em.now(),
        "currency": cur,
        "description": None,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": amount,
        "reporting_category": kind,
        "source": source,
        "status": "available",
        "type": kind,
    }
    em.put(txn, account)
    return str(txn["id"])


def retrieve_transfer(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "transfer")


def update_transfer(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("metadata", "description"))
    transfer = ctx.em.get(ident, ctx.account, "transfer")
    transfer["metadata"] = forms.metadata(params, transfer["metadata"])
    if "description" in params:
        transfer["description"] = forms.string(params, "description")
    emit(ctx.em, ctx.origin, "transfer.updated", transfer)
    return transfer


def list_transfers(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        ("destination", "transfer_group", "limit", "starting_after", "ending_before", "created"),
    )
    dest = forms.string(params, "destination")
    group = forms.string(params, "transfer_group")
    rows = [
        t
        for t in ctx.em.all_of("transfer", ctx.account)
        if (dest is None or t["destination"] == dest)
        and (group is None or t["transfer_group"] == group)
    ]
    return page(ctx, rows, params, "/v1/transfers")


def create_reversal(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("amount", "metadata", "description", "refund_application_fee"))
    em = ctx.em
    transfer = em.get(ident, ctx.account, "transfer")
    left = transfer["amount"] - transfer["amount_reversed"]
    amount = forms.integer(params, "amount", minimum=1)
    amount = left if amount is None else amount
    if left <= 0:
        raise invalid(f"Transfer {ident} has already been fully reversed.", param="amount")
    if amount > left:
        raise invalid(
            f"Reversal amount ({amount}) is greater than the transfer's remaining amount ({left}).",
            param="amount",
        )
    cur = transfer["currency"]
    previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
    rid = em.new_id("trr")
    reversal: Obj = {
        "id": rid,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": _txn(ctx, None, amount, cur, "transfer_refund", rid),
        "created": em.now(),
        "currency": cur,
        "destination_payment_refund": em.new_id("pyr"),
        "metadata": forms.metadata(params),
        "source_refund": None,
        "transfer": ident,
    }
    em.put(reversal, None)
    em.credit(transfer["destination"], cur, -amount)
    em.credit(None, cur, amount)
    transfer["amount_reversed"] += amount
    transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
    transfer["reversals"]["data"].insert(0, copy.deepcopy(reversal))
    emit(em, ctx.origin, "transfer.reversed", transfer, previous=previous)
    return reversal


def list_reversals(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("limit", "starting_after", "ending_before"))
    transfer = ctx.em.get(ident, ctx.account, "transfer")
    rows = [r for r in ctx.em.all_of("transfer_reversal", None) if r["transfer"] == ident]
    return page(ctx, rows, params, transfer["reversals"]["url"])


# -- payouts (of the connected account acting with Stripe-Account) -----------------------------


def make_payout(ctx: Ctx, acct: Obj, amount: int | None, cur: str | None, outcome: str) -> Obj:
    """Pay out (part of) a connected account's balance: ``payout.created`` then ``payout.paid``
    or ``payout.failed`` (the money returns to the balance), all Connect events."""
    em = ctx.em
    cur = cur or acct["default_currency"]
    balance = em.balances.get((acct["id"], cur), 0)
    amount = balance if amount is None else amount
    if not acct["payouts_enabled"]:
        raise invalid("Payouts are not enabled on this account.", code="payouts_not_allowed")
    if amount <= 0 or amount > balance:
        raise invalid(
            f"Insufficient funds: balance {balance} {cur}, payout {amount}.",
            code="balance_insufficient",
        )
    ident = em.new_id("po")
    bank = acct["external_accounts"]["data"][0]["id"] if acct["external_accounts"]["data"] else None
    payout: Obj = {
        "id": ident,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": em.now() + 2 * 86400,
        "automatic": True,
        "balance_transaction": _txn(ctx, acct["id"], -amount, cur, "payout", ident),
        "created": em.now(),
        "currency": cur,
        "description": "STRIPE PAYOUT",
        "destination": bank,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": "pending",
        "type": "bank_account",
    }
    em.put(payout, acct["id"])
    em.credit(acct["id"], cur, -amount)
    emit(em, ctx.origin, "payout.created", payout, account=acct["id"])
    previous = {"status": "pending"}
    if outcome == "paid":
        payout["status"] = "paid"
        emit(em, ctx.origin, "payout.paid", payout, previous=previous, account=acct["id"])
    else:
        payout["status"] = "failed"
        payout["failure_code"] = "account_closed"
        payout["failure_message"] = "The bank account has been closed."
        payout["failure_balance_transaction"] = _txn(
            ctx, acct["id"], amount, cur, "payout_failure", ident
        )
        em.credit(acct["id"], cur, amount)
        emit(em, ctx.origin, "payout.failed", payout, previous=previous, account=acct["id"])
    return payout


def retrieve_payout(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "payout")


def list_payouts(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("status", "limit", "starting_after", "ending_before", "created"))
    status = forms.string(params, "status")
    rows = [
        p for p in ctx.em.all_of("payout", ctx.account) if status is None or p["status"] == status
    ]
    return page(ctx, rows, params, "/v1/payouts")


def dispute(ctx: Ctx, charge: Obj, reason: str) -> Obj:
    em = ctx.em
    if charge["status"] != "succeeded" or charge["disputed"]:
        raise StripeError(400, "invalid_request_error", "This charge cannot be disputed.")
    ident = em.new_id("dp")
    obj: Obj = {
        "id": ident,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": em.now(),
        "currency": charge["currency"],
        "evidence_details": {
            "due_by": em.now() + 7 * 86400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "status": "needs_response",
    }
    scope = em.owner.get(charge["id"])
    em.put(obj, scope)
    charge["disputed"] = True
    emit(em, ctx.origin, "charge.dispute.created", obj, account=scope)
    return obj


def close_dispute(ctx: Ctx, obj: Obj, status: str) -> Obj:
    previous = {"status": obj["status"]}
    obj["status"] = status
    emit(
        ctx.em,
        ctx.origin,
        "charge.dispute.closed",
        obj,
        previous=previous,
        account=ctx.em.owner.get(obj["id"]),
    )
    return obj


ROUTES: tuple[tuple[str, str, Any, str], ...] = (
    ("POST", "/v1/accounts", create_account, "accounts"),
    ("GET", "/v1/accounts", list_accounts, "accounts"),
    ("GET", "/v1/account", retrieve_own_account, "accounts"),
    ("GET", "/v1/accounts/{id}", retrieve_account, "accounts"),
    ("POST", "/v1/accounts/{id}", update_account, "accounts"),
    ("POST", "/v1/account_links", create_account_link, "account_links"),
    ("POST", "/v1/transfers", create_transfer, "transfers"),
    ("GET", "/v1/transfers", list_transfers, "transfers"),
    ("GET", "/v1/transfers/{id}", retrieve_transfer, "transfers"),
    ("POST", "/v1/transfers/{id}", update_transfer, "transfers"),
    ("POST", "/v1/transfers/{id}/reversals", create_reversal, "transfers"),
    ("GET", "/v1/transfers/{id}/reversals", list_reversals, "transfers"),
    ("GET", "/v1/payouts", list_payouts, "payouts"),
    ("GET", "/v1/payouts/{id}", retrieve_payout, "payouts"),
)
