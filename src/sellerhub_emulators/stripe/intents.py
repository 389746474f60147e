"""SetupIntents, PaymentIntents, Charges, Refunds and balance transactions (providers.md §8.4).

Outcomes follow the test card of the PaymentMethod (``cards.py``). Off session, a card that
needs authentication fails with 402 ``authentication_required`` and the intent goes back to
``requires_payment_method``; on session it goes to ``requires_action`` with
``next_action.redirect_to_url`` pointing at the emulator's 3-D Secure page.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import quote

from sellerhub_emulators.stripe import constants as c
from sellerhub_emulators.stripe import forms
from sellerhub_emulators.stripe.cards import DECLINE_MESSAGES
from sellerhub_emulators.stripe.connect import destination_transfer
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.customers import attach_to, card_decline
from sellerhub_emulators.stripe.errors import StripeError, invalid, unexpected_state
from sellerhub_emulators.stripe.events import emit
from sellerhub_emulators.stripe.forms import Params
from sellerhub_emulators.stripe.objects import customer, page, payment_method, spec_of

Obj = dict[str, Any]


def _secret(ctx: Ctx, ident: str) -> str:
    return f"{ident}_secret_{ctx.em.new_id('s', 25)[3:]}"


def _pm_for(ctx: Ctx, ident: str | None, cus_id: str | None) -> Obj | None:
    """The PaymentMethod an intent will use; a test id becomes a new pm_ (attached when the
    intent has a customer and succeeds)."""
    if ident is None:
        return None
    pm = payment_method(ctx, ident)
    if pm["customer"] is not None and pm["customer"] != cus_id:
        raise invalid(
            f"The provided PaymentMethod {pm['id']} was previously used with a different "
            "Customer or was detached from one, and cannot be used with this Customer.",
            param="payment_method",
        )
    return pm


def check_client_secret(ctx: Ctx, obj: Obj, params: Params) -> None:
    """Publishable-key calls must name the intent's client secret (Stripe.js does)."""
    if not ctx.publishable:
        return
    given = params.get("client_secret")
    if given != obj.get("client_secret"):
        raise invalid(
            "The client_secret provided does not match the client_secret associated with the "
            f"{obj['object'].replace('_', '')}.",
            param="client_secret",
        )


def _redirect(ctx: Ctx, kind: str, obj: Obj, return_url: str | None) -> Obj:
    target = f"authenticate/{obj['id']}?client_secret={quote(obj['client_secret'])}"
    if return_url:
        target += f"&return_url={quote(return_url, safe='')}"
    return {
        "redirect_to_url": {"return_url": return_url, "url": ctx.page(target)},
        "type": "redirect_to_url",
    }


# -- SetupIntents -----------------------------------------------------------------------------

_SI_PARAMS = (
    "customer",
    "usage",
    "payment_method",
    "payment_method_types",
    "automatic_payment_methods",
    "metadata",
    "description",
    "confirm",
    "return_url",
    "on_behalf_of",
    "payment_method_options",
)


def create_setup_intent(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, _SI_PARAMS)
    em = ctx.em
    cus = customer(ctx, forms.string(params, "customer"))
    usage = forms.choice(params, "usage", ("off_session", "on_session"), default="off_session")
    types = forms.strings(params, "payment_method_types")
    auto = forms.mapping(params, "automatic_payment_methods")
    if types and auto.get("enabled") == "true":
        raise invalid(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="payment_method_types",
        )
    if types and any(t != "card" for t in types):
        raise invalid(
            "The emulator supports the payment method type card only.",
            param="payment_method_types",
        )
    cus_id = cus["id"] if cus else None
    pm = _pm_for(ctx, forms.string(params, "payment_method"), cus_id)
    confirm = forms.boolean(params, "confirm")
    if confirm and pm is None:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            param="payment_method",
            code="setup_intent_unexpected_state",
        )
    ident = em.new_id("seti")
    si: Obj = {
        "id": ident,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": (
            {"allow_redirects": auto.get("allow_redirects", "always"), "enabled": True}
            if auto.get("enabled") == "true"
            else None
        ),
        "cancellation_reason": None,
        "client_secret": _secret(ctx, ident),
        "created": em.now(),
        "customer": cus_id,
        "description": forms.string(params, "description"),
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": forms.metadata(params),
        "next_action": None,
        "on_behalf_of": forms.string(params, "on_behalf_of"),
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types or ["card"],
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": usage,
    }
    em.put(si, ctx.account)
    emit(em, ctx.origin, "setup_intent.created", si, account=ctx.account)
    if confirm:
        return _confirm_setup(ctx, si, pm, forms.string(params, "return_url"))
    return si


def retrieve_setup_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    si = ctx.em.get(ident, ctx.account, "setup_intent")
    check_client_secret(ctx, si, params)
    return si


def update_setup_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("metadata", "description", "payment_method", "customer"))
    si = ctx.em.get(ident, ctx.account, "setup_intent")
    if si["status"] in ("succeeded", "canceled"):
        raise _si_state(si, "update")
    si["metadata"] = forms.metadata(params, si["metadata"])
    if "description" in params:
        si["description"] = forms.string(params, "description")
    if "customer" in params and si["customer"] is None:
        si["customer"] = (customer(ctx, forms.string(params, "customer")) or {}).get("id")
    pm = _pm_for(ctx, forms.string(params, "payment_method"), si["customer"])
    if pm is not None:
        si["payment_method"] = pm["id"]
        si["status"] = "requires_confirmation"
    return si


def _si_state(si: Obj, action: str) -> StripeError:
    return unexpected_state(
        f"You cannot {action} this SetupIntent because it has a status of {si['status']}.",
        code="setup_intent_unexpected_state",
        param=None,
        setup_intent=copy.deepcopy(si),
    )


def confirm_setup_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(
        params,
        (
            "payment_method",
            "return_url",
            "client_secret",
            "key",
            "use_stripe_sdk",
            "mandate_data",
            "payment_method_data",
            "payment_method_options",
        ),
    )
    si = ctx.em.get(ident, ctx.account, "setup_intent")
    check_client_secret(ctx, si, params)
    if si["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise _si_state(si, "confirm")
    pm_id = forms.string(params, "payment_method") or si["payment_method"]
    if pm_id is None:
        raise unexpected_state(
            "You cannot confirm this SetupIntent because it's missing a payment method. Update "
            "the SetupIntent with a payment method and then confirm it again.",
            code="setup_intent_unexpected_state",
            setup_intent=copy.deepcopy(si),
        )
    pm = _pm_for(ctx, pm_id, si["customer"])
    return _confirm_setup(ctx, si, pm, forms.string(params, "return_url"))


def _confirm_setup(ctx: Ctx, si: Obj, pm: Obj | None, return_url: str | None) -> Obj:
    em = ctx.em
    if pm is None:
        raise unexpected_state(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
            setup_intent=copy.deepcopy(si),
        )
    si["payment_method"] = pm["id"]
    si["last_setup_error"] = None
    spec = spec_of(ctx, pm)
    if spec.decline_setup and spec.decline is not None:
        code, decline_code = spec.decline
        fail_setup(ctx, si, pm, code, decline_code)
        raise card_decline(ctx, pm, code, decline_code, setup_intent=copy.deepcopy(si))
    if spec.auth is not None:
        si["status"] = "requires_action"
        si["next_action"] = _redirect(ctx, "setup_intent", si, return_url)
        em.private[si["id"]].extra["return_url"] = return_url
        emit(em, ctx.origin, "setup_intent.requires_action", si, account=ctx.account)
        return si
    succeed_setup(ctx, si, pm)
    return si


def succeed_setup(ctx: Ctx, si: Obj, pm: Obj) -> None:
    em = ctx.em
    si["status"] = "succeeded"
    si["next_action"] = None
    si["payment_method"] = pm["id"]
    em.private[pm["id"]].set_up = si["usage"] == "off_session"
    if si["customer"] is not None:
        attach_to(ctx, pm, si["customer"])
    em.touch(si["id"])
    emit(em, ctx.origin, "setup_intent.succeeded", si, account=ctx.account)


def fail_setup(ctx: Ctx, si: Obj, pm: Obj, code: str, decline_code: str | None) -> None:
    si["status"] = "requires_payment_method"
    si["next_action"] = None
    si["payment_method"] = None
    si["last_setup_error"] = {
        "code": code,
        "decline_code": decline_code,
        "doc_url": c.ERROR_DOCS + code,
        "message": DECLINE_MESSAGES.get(decline_code or "", _AUTH_FAILED),
        "payment_method": copy.deepcopy(pm),
        "type": "card_error" if decline_code else "invalid_request_error",
    }
    ctx.em.touch(si["id"])
    emit(ctx.em, ctx.origin, "setup_intent.setup_failed", si, account=ctx.account)


_AUTH_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)


def cancel_setup_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("cancellation_reason", "client_secret", "key"))
    si = ctx.em.get(ident, ctx.account, "setup_intent")
    check_client_secret(ctx, si, params)
    if si["status"] in ("succeeded", "canceled", "processing"):
        raise _si_state(si, "cancel")
    si["status"] = "canceled"
    si["next_action"] = None
    si["cancellation_reason"] = forms.choice(
        params, "cancellation_reason", ("abandoned", "requested_by_customer", "duplicate")
    )
    emit(ctx.em, ctx.origin, "setup_intent.canceled", si, account=ctx.account)
    return si


def list_setup_intents(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("customer", "payment_method", "limit", "starting_after", "ending_before"))
    cus_id = forms.string(params, "customer")
    rows = [
        r
        for r in ctx.em.all_of("setup_intent", ctx.account)
        if cus_id is None or r["customer"] == cus_id
    ]
    return page(ctx, rows, params, "/v1/setup_intents")


# -- PaymentIntents ---------------------------------------------------------------------------

_PI_PARAMS = (
    "amount",
    "currency",
    "customer",
    "payment_method",
    "payment_method_types",
    "automatic_payment_methods",
    "off_session",
    "confirm",
    "metadata",
    "description",
    "transfer_group",
    "receipt_email",
    "return_url",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "capture_method",
    "on_behalf_of",
    "application_fee_amount",
    "transfer_data",
    "error_on_requires_action",
    "payment_method_options",
)


def create_payment_intent(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, _PI_PARAMS)
    em = ctx.em
    amount = forms.integer(params, "amount", required=True, minimum=1)
    cur = forms.currency(params)
    assert amount is not None and cur is not None
    minimum = c.MINIMUM_AMOUNTS.get(cur, 1)
    if amount < minimum:
        raise invalid(
            f"Amount must be at least {minimum} {cur}",
            param="amount",
            code="amount_too_small",
        )
    if amount > 99_999_999:
        raise invalid(
            "Amount must be no more than 99,999,999", param="amount", code="amount_too_large"
        )
    cus = customer(ctx, forms.string(params, "customer"))
    cus_id = cus["id"] if cus else None
    off_session = forms.boolean(params, "off_session")
    confirm = forms.boolean(params, "confirm")
    if "off_session" in params and not confirm:
        raise invalid("off_session can only be used when confirm=true.", param="off_session")
    pm = _pm_for(ctx, forms.string(params, "payment_method"), cus_id)
    sfu = forms.choice(params, "setup_future_usage", ("off_session", "on_session"))
    types = forms.strings(params, "payment_method_types")
    if types and any(t != "card" for t in types):
        raise invalid(
            "The emulator supports the payment method type card only.", param="payment_method_types"
        )
    auto = forms.mapping(params, "automatic_payment_methods")
    transfer = forms.mapping(params, "transfer_data")
    transfer_data: Obj | None = None
    if transfer:
        dest = str(transfer.get("destination", ""))
        found = em.find(dest, None, "account")
        if found is None:
            raise invalid(
                f"No such destination: '{dest}'",
                param="transfer_data[destination]",
                code="resource_missing",
            )
        if found["capabilities"].get("transfers") != "active":
            raise invalid(
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                param="transfer_data[destination]",
                code="insufficient_capabilities_for_transfer",
            )
        transfer_data = {"destination": dest}
        share = forms.integer(transfer, "amount", minimum=1)
        if share is not None:
            if share > amount:
                raise invalid(
                    "transfer_data[amount] cannot exceed the amount.",
                    param="transfer_data[amount]",
                )
            transfer_data["amount"] = share
    if confirm and pm is None:
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    capture = forms.choice(params, "capture_method", ("automatic", "automatic_async"))
    ident = em.new_id("pi")
    pi: Obj = {
        "id": ident,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": forms.integer(params, "application_fee_amount", minimum=0),
        "automatic_payment_methods": (
            {"allow_redirects": auto.get("allow_redirects", "always"), "enabled": True}
            if auto.get("enabled") == "true"
            else None
        ),
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": capture or "automatic_async",
        "client_secret": _secret(ctx, ident),
        "confirmation_method": "automatic",
        "created": em.now(),
        "currency": cur,
        "customer": cus_id,
        "description": forms.string(params, "description"),
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": forms.metadata(params),
        "next_action": None,
        "on_behalf_of": forms.string(params, "on_behalf_of"),
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types or ["card"],
        "processing": None,
        "receipt_email": forms.string(params, "receipt_email"),
        "review": None,
        "setup_future_usage": sfu,
        "shipping": None,
        "source": None,
        "statement_descriptor": forms.string(params, "statement_descriptor", max_len=22),
        "statement_descriptor_suffix": forms.string(
            params, "statement_descriptor_suffix", max_len=22
        ),
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "transfer_data": transfer_data,
        "transfer_group": forms.string(params, "transfer_group"),
    }
    em.put(pi, ctx.account)
    em.index_metadata(pi, {})
    emit(em, ctx.origin, "payment_intent.created", pi, account=ctx.account)
    if confirm:
        return _confirm_payment(
            ctx, pi, pm, off_session=off_session, return_url=forms.string(params, "return_url")
        )
    return pi


def retrieve_payment_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    pi = ctx.em.get(ident, ctx.account, "payment_intent")
    check_client_secret(ctx, pi, params)
    return pi


def update_payment_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(
        params,
        ("metadata", "description", "receipt_email", "payment_method", "amount", "transfer_group"),
    )
    pi = ctx.em.get(ident, ctx.account, "payment_intent")
    if pi["status"] in ("succeeded", "canceled", "processing"):
        raise _pi_state(pi, "update")
    before = dict(pi["metadata"])
    pi["metadata"] = forms.metadata(params, pi["metadata"])
    ctx.em.index_metadata(pi, before)
    for name in ("description", "receipt_email", "transfer_group"):
        if name in params:
            pi[name] = forms.string(params, name)
    if "amount" in params:
        pi["amount"] = forms.integer(params, "amount", minimum=1)
    pm = _pm_for(ctx, forms.string(params, "payment_method"), pi["customer"])
    if pm is not None:
        pi["payment_method"] = pm["id"]
        pi["status"] = "requires_confirmation"
    ctx.em.touch(ident)
    return pi


def _pi_state(pi: Obj, action: str) -> StripeError:
    return unexpected_state(
        f"This PaymentIntent's {action} could not be performed because it has a status of "
        f"{pi['status']}.",
        code="payment_intent_unexpected_state",
        payment_intent=copy.deepcopy(pi),
    )


def confirm_payment_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(
        params,
        (
            "payment_method",
            "return_url",
            "off_session",
            "client_secret",
            "key",
            "use_stripe_sdk",
            "setup_future_usage",
            "receipt_email",
            "error_on_requires_action",
            "payment_method_data",
            "payment_method_options",
            "mandate_data",
        ),
    )
    pi = ctx.em.get(ident, ctx.account, "payment_intent")
    check_client_secret(ctx, pi, params)
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise _pi_state(pi, "confirm")
    pm_id = forms.string(params, "payment_method") or pi["payment_method"]
    if pm_id is None:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method. To "
            "confirm the PaymentIntent with cus_..., specify a payment method attached to this "
            "customer along with the customer ID.",
            code="payment_intent_unexpected_state",
            payment_intent=copy.deepcopy(pi),
        )
    pm = _pm_for(ctx, pm_id, pi["customer"])
    sfu = forms.choice(params, "setup_future_usage", ("off_session", "on_session"))
    if sfu is not None:
        pi["setup_future_usage"] = sfu
    if "receipt_email" in params:
        pi["receipt_email"] = forms.string(params, "receipt_email")
    return _confirm_payment(
        ctx,
        pi,
        pm,
        off_session=forms.boolean(params, "off_session"),
        return_url=forms.string(params, "return_url"),
    )


def _confirm_payment(
    ctx: Ctx, pi: Obj, pm: Obj | None, *, off_session: bool, return_url: str | None
) -> Obj:
    em = ctx.em
    assert pm is not None or pi["payment_method"] is None
    if pm is None:
        raise unexpected_state(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
            payment_intent=copy.deepcopy(pi),
        )
    pi["payment_method"] = pm["id"]
    pi["last_payment_error"] = None
    spec = spec_of(ctx, pm)
    needs_auth = spec.auth == "always" or (
        spec.auth == "setup" and not (off_session and em.private[pm["id"]].set_up)
    )
    em.private[pi["id"]].extra["off_session"] = off_session
    if needs_auth and off_session:
        charge = record_charge(
            ctx, pi, pm, failure=("authentication_required", "authentication_required")
        )
        _fail_payment(ctx, pi, pm, charge, "authentication_required", "authentication_required")
        raise card_decline(
            ctx,
            pm,
            "authentication_required",
            "authentication_required",
            charge=charge["id"],
            payment_intent=copy.deepcopy(pi),
        )
    if needs_auth:
        pi["status"] = "requires_action"
        pi["next_action"] = _redirect(ctx, "payment_intent", pi, return_url)
        em.private[pi["id"]].extra["return_url"] = return_url
        em.touch(pi["id"])
        emit(em, ctx.origin, "payment_intent.requires_action", pi, account=ctx.account)
        return pi
    return settle_payment(ctx, pi, pm)


def settle_payment(ctx: Ctx, pi: Obj, pm: Obj) -> Obj:
    """Authorised (or no authentication needed): the charge succeeds or the card declines."""
    spec = spec_of(ctx, pm)
    pi["next_action"] = None
    if spec.decline is not None:
        code, decline_code = spec.decline
        charge = record_charge(ctx, pi, pm, failure=(code, decline_code))
        _fail_payment(ctx, pi, pm, charge, code, decline_code)
        raise card_decline(
            ctx, pm, code, decline_code, charge=charge["id"], payment_intent=copy.deepcopy(pi)
        )
    charge = record_charge(ctx, pi, pm, failure=None)
    pi["status"] = "succeeded"
    pi["amount_received"] = pi["amount"]
    pi["latest_charge"] = charge["id"]
    if pi["setup_future_usage"] and pi["customer"] is not None:
        attach_to(ctx, pm, pi["customer"])
        ctx.em.private[pm["id"]].set_up = pi["setup_future_usage"] == "off_session"
    ctx.em.touch(pi["id"])
    emit(ctx.em, ctx.origin, "charge.succeeded", charge, account=ctx.account)
    emit(ctx.em, ctx.origin, "payment_intent.succeeded", pi, account=ctx.account)
    if pi["transfer_data"] and ctx.account is None:
        data = pi["transfer_data"]
        share = data.get("amount", pi["amount"] - (pi["application_fee_amount"] or 0))
        destination_transfer(ctx, charge, data["destination"], share)
    return pi


def _fail_payment(
    ctx: Ctx, pi: Obj, pm: Obj, charge: Obj | None, code: str, decline_code: str | None
) -> None:
    pi["status"] = "requires_payment_method"
    pi["next_action"] = None
    pi["latest_charge"] = charge["id"] if charge else pi["latest_charge"]
    message = DECLINE_MESSAGES.get(decline_code or "", _AUTH_FAILED)
    pi["last_payment_error"] = {
        "charge": charge["id"] if charge else None,
        "code": code,
        "decline_code": decline_code,
        "doc_url": c.ERROR_DOCS + code,
        "message": message,
        "payment_method": copy.deepcopy(pm),
        "type": "card_error" if decline_code else "invalid_request_error",
    }
    if charge is None:
        del pi["last_payment_error"]["charge"]
    ctx.em.touch(pi["id"])
    if charge is not None:
        emit(ctx.em, ctx.origin, "charge.failed", charge, account=ctx.account)
    emit(ctx.em, ctx.origin, "payment_intent.payment_failed", pi, account=ctx.account)


def fail_authentication(ctx: Ctx, pi: Obj) -> None:
    pm = ctx.em.objects[pi["payment_method"]]
    _fail_payment(ctx, pi, pm, None, "payment_intent_authentication_failure", None)
    pi["payment_method"] = None


def cancel_payment_intent(ctx: Ctx, params: Params, ident: str) -> Obj:
    forms.only(params, ("cancellation_reason",))
    pi = ctx.em.get(ident, ctx.account, "payment_intent")
    if pi["status"] in ("succeeded", "canceled", "processing"):
        raise _pi_state(pi, "cancel")
    pi["status"] = "canceled"
    pi["next_action"] = None
    pi["canceled_at"] = ctx.em.now()
    pi["cancellation_reason"] = forms.choice(
        params,
        "cancellation_reason",
        ("duplicate", "fraudulent", "requested_by_customer", "abandoned"),
    )
    ctx.em.touch(ident)
    emit(ctx.em, ctx.origin, "payment_intent.canceled", pi, account=ctx.account)
    return pi


def list_payment_intents(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("customer", "limit", "starting_after", "ending_before", "created"))
    cus_id = forms.string(params, "customer")
    rows = [
        r
        for r in ctx.em.all_of("payment_intent", ctx.account)
        if cus_id is None or r["customer"] == cus_id
    ]
    return page(ctx, rows, params, "/v1/payment_intents")


# -- search -----------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""^\s*(?:(?P<neg>-)?(?P<meta>metadata\[(?P<q1>['"])(?P<key>[^'"]+)(?P=q1)\])|(?P<field>[a-z_]+))"""
    r"""\s*(?P<op>:|>=|<=|>|<)\s*(?:(?P<q2>['"])(?P<value>[^'"]*)(?P=q2)|(?P<number>-?\d+))\s*$"""
)
_SEARCH_FIELDS = ("amount", "created", "currency", "customer", "status", "last_payment_error.code")


def _clauses(query: str) -> list[tuple[str, str | None, str, str, bool]]:
    """(field or "metadata", metadata key, operator, value, negated) per ``AND`` clause."""
    if not query.strip():
        raise invalid("Query must not be empty.", param="query")
    if re.search(r"\s+OR\s+", query):
        raise invalid(
            "The emulator's search supports AND only (Stripe does not allow mixing AND and OR "
            "either).",
            param="query",
        )
    out = []
    for part in re.split(r"\s+AND\s+", query.strip()):
        m = _CLAUSE.match(part)
        if m is None:
            raise invalid(f"Invalid query clause: {part}", param="query")
        value = m.group("value") if m.group("value") is not None else m.group("number")
        if m.group("meta"):
            out.append(("metadata", m.group("key"), m.group("op"), value, bool(m.group("neg"))))
        else:
            field = m.group("field")
            if field not in _SEARCH_FIELDS:
                raise invalid(f"Field '{field}' is not a supported search field.", param="query")
            out.append((field, None, m.group("op"), value, False))
    return out


def _matches(pi: Obj, clauses: list[tuple[str, str | None, str, str, bool]]) -> bool:
    for field, key, op, value, negated in clauses:
        if field == "metadata":
            ok = pi["metadata"].get(key or "") == value
            if negated:
                ok = not ok
        else:
            actual: Any = pi.get(field)
            if field == "last_payment_error.code":
                actual = (pi.get("last_payment_error") or {}).get("code")
            if op == ":":
                ok = str(actual) == value
            else:
                try:
                    a, b = int(actual), int(value)
                except (TypeError, ValueError):
                    return False
                ok = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        if not ok:
            return False
    return True


def search_payment_intents(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("query", "limit", "page"))
    query = forms.string(params, "query", required=True, max_len=10_000)
    assert query is not None
    limit = forms.integer(params, "limit", minimum=1) or c.LIST_LIMIT_DEFAULT
    if limit > c.LIST_LIMIT_MAX:
        raise invalid("This value must be less than or equal to 100.", param="limit")
    start = 0
    token = forms.string(params, "page")
    if token is not None:
        if not token.isdigit():
            raise invalid("Invalid page token.", param="page")
        start = int(token)
    clauses = _clauses(query)
    em = ctx.em
    now = em.elapsed()
    candidates = em.all_of("payment_intent", ctx.account)
    for field, key, op, value, negated in clauses:
        if field == "metadata" and op == ":" and not negated and key is not None:
            ids = em.metadata_index.get((ctx.account, key, value), set())
            candidates = sorted(
                (em.objects[i] for i in ids), key=lambda o: em.private[o["id"]].seq, reverse=True
            )
            break
    rows = [r for r in candidates if em.private[r["id"]].visible_at <= now and _matches(r, clauses)]
    chunk = rows[start : start + limit]
    more = len(rows) > start + limit
    return {
        "object": "search_result",
        "data": [copy.deepcopy(r) for r in chunk],
        "has_more": more,
        "next_page": str(start + limit) if more else None,
        "url": "/v1/payment_intents/search",
    }


# -- charges, balance transactions, refunds ---------------------------------------------------


def _fee(amount: int) -> int:
    return (amount * 29 + 500) // 1000 + 30


def record_charge(ctx: Ctx, pi: Obj, pm: Obj, *, failure: tuple[str, str] | None) -> Obj:
    em = ctx.em
    ident = em.new_id("ch")
    txn = None
    if failure is None:
        fee = _fee(pi["amount"])
        txn = {
            "id": em.new_id("txn"),
            "object": "balance_transaction",
            "amount": pi["amount"],
            "available_on": em.now() + 2 * 86400,
            "created": em.now(),
            "currency": pi["currency"],
            "description": pi["description"],
            "exchange_rate": None,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": pi["currency"],
                    "description": "Stripe processing fees",
                    "type": "stripe_fee",
                }
            ],
            "net": pi["amount"] - fee,
            "reporting_category": "charge",
            "source": ident,
            "status": "pending",
            "type": "charge",
        }
        em.put(txn, ctx.account)
        em.credit(ctx.account, pi["currency"], pi["amount"] - fee)
    code, decline_code = failure or (None, None)
    charge: Obj = {
        "id": ident,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"] if failure is None else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": txn["id"] if txn else None,
        "billing_details": copy.deepcopy(pm["billing_details"]),
        "calculated_statement_descriptor": "SELLERHUB",
        "captured": failure is None,
        "created": em.now(),
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": code,
        "failure_message": DECLINE_MESSAGES.get(decline_code or "") if failure else None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": pi["on_behalf_of"],
        "outcome": {
            "network_status": "approved_by_network" if failure is None else "declined_by_network",
            "reason": decline_code,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": "Payment complete."
            if failure is None
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if failure is None else "issuer_declined",
        },
        "paid": failure is None,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": _details(pm),
        "receipt_email": pi["receipt_email"],
        "receipt_url": ctx.page(f"receipts/{ident}"),
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{ident}/refunds",
        },
        "review": None,
        "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "status": "succeeded" if failure is None else "failed",
        "transfer": None,
        "transfer_data": copy.deepcopy(pi["transfer_data"]),
        "transfer_group": pi["transfer_group"],
    }
    return em.put(charge, ctx.account)


def _details(pm: Obj) -> Obj:
    card = pm.get("card")
    if card is None:
        kind = str(pm["type"])
        return {kind: copy.deepcopy(pm.get(kind)), "type": kind}
    return {
        "card": {
            "brand": card["brand"],
            "checks": copy.deepcopy(card["checks"]),
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "last4": card["last4"],
            "network": card["brand"],
            "three_d_secure": None,
            "wallet": None,
        },
        "type": "card",
    }


def retrieve_charge(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "charge")


def list_charges(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "customer",
            "payment_intent",
            "transfer_group",
            "limit",
            "starting_after",
            "ending_before",
            "created",
        ),
    )
    cus_id = forms.string(params, "customer")
    pi_id = forms.string(params, "payment_intent")
    group = forms.string(params, "transfer_group")
    rows = [
        r
        for r in ctx.em.all_of("charge", ctx.account)
        if (cus_id is None or r["customer"] == cus_id)
        and (pi_id is None or r["payment_intent"] == pi_id)
        and (group is None or r["transfer_group"] == group)
    ]
    return page(ctx, rows, params, "/v1/charges")


def retrieve_balance_transaction(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "balance_transaction")


def retrieve_balance(ctx: Ctx, params: Params) -> Obj:
    rows = [
        (cur, amt)
        for (acct, cur), amt in sorted(ctx.em.balances.items(), key=lambda kv: kv[0][1])
        if acct == ctx.account
    ]
    return {
        "object": "balance",
        "available": [
            {"amount": amt, "currency": cur, "source_types": {"card": amt}} for cur, amt in rows
        ]
        or [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
        "livemode": False,
        "pending": [{"amount": 0, "currency": cur, "source_types": {"card": 0}} for cur, _ in rows]
        or [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
    }


def refund(
    ctx: Ctx, charge: Obj, amount: int | None, reason: str | None, metadata: dict[str, str]
) -> Obj:
    """Refund (part of) a succeeded charge: a Refund, the charge updated, ``charge.refunded``."""
    em = ctx.em
    if charge["status"] != "succeeded":
        raise invalid(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    left = charge["amount_captured"] - charge["amount_refunded"]
    amount = left if amount is None else amount
    if left <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.",
            param="charge",
            code="charge_already_refunded",
        )
    if amount > left:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            param="amount",
        )
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    re_: Obj = {
        "id": em.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": em.now(),
        "currency": charge["currency"],
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    em.put(re_, ctx.account)
    em.credit(ctx.account, charge["currency"], -amount)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
    charge["refunds"]["data"].insert(0, copy.deepcopy(re_))
    em.touch(charge["id"])
    emit(em, ctx.origin, "charge.refunded", charge, previous=previous, account=ctx.account)
    emit(em, ctx.origin, "refund.created", re_, account=ctx.account)
    return re_


def create_refund(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("charge", "payment_intent", "amount", "reason", "metadata"))
    ch_id = forms.string(params, "charge")
    pi_id = forms.string(params, "payment_intent")
    if (ch_id is None) == (pi_id is None):
        raise invalid("You must pass either charge or payment_intent (not both).", param="charge")
    if pi_id is not None:
        pi = ctx.em.get(pi_id, ctx.account, "payment_intent", param="payment_intent")
        if pi["status"] != "succeeded" or pi["latest_charge"] is None:
            raise invalid(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        ch_id = pi["latest_charge"]
    assert ch_id is not None
    charge = ctx.em.get(ch_id, ctx.account, "charge", param="charge" if pi_id is None else None)
    reason = forms.choice(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
    amount = forms.integer(params, "amount", minimum=1)
    return refund(ctx, charge, amount, reason, forms.metadata(params))


def retrieve_refund(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "refund")


def list_refunds(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("charge", "payment_intent", "limit", "starting_after", "ending_before"))
    ch_id = forms.string(params, "charge")
    pi_id = forms.string(params, "payment_intent")
    rows = [
        r
        for r in ctx.em.all_of("refund", ctx.account)
        if (ch_id is None or r["charge"] == ch_id)
        and (pi_id is None or r["payment_intent"] == pi_id)
    ]
    return page(ctx, rows, params, "/v1/refunds")


# -- events -----------------------------------------------------------------------------------


def list_events(ctx: Ctx, params: Params) -> Obj:
    forms.only(
        params,
        (
            "type",
            "types",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "delivery_success",
        ),
    )
    kind = forms.string(params, "type")
    kinds = forms.strings(params, "types")
    created_bounds = {
        op: forms.integer(forms.mapping(params, "created"), op) or 0
        for op in forms.mapping(params, "created")
    }

    def keep(evt: Obj) -> bool:
        if kind is not None:
            if kind.endswith("*"):
                if not evt["type"].startswith(kind[:-1]):
                    return False
            elif evt["type"] != kind:
                return False
        if kinds and evt["type"] not in kinds:
            return False
        for op, bound in created_bounds.items():
            b = bound
            t = evt["created"]
            if not {"gt": t > b, "gte": t >= b, "lt": t < b, "lte": t <= b}.get(op, True):
                return False
        return True

    rows = [e for e in ctx.em.all_of("event", ctx.account) if keep(e)]
    return page(ctx, rows, params, "/v1/events")


def retrieve_event(ctx: Ctx, params: Params, ident: str) -> Obj:
    return ctx.em.get(ident, ctx.account, "event")
