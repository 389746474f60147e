"""Customers and PaymentMethods (providers.md §8.4)."""

from __future__ import annotations

import copy
from typing import Any

from sellerhub_emulators.stripe import forms
from sellerhub_emulators.stripe.cards import CARDS, DECLINE_MESSAGES
from sellerhub_emulators.stripe.context import Ctx
from sellerhub_emulators.stripe.errors import StripeError, invalid
from sellerhub_emulators.stripe.events import emit
from sellerhub_emulators.stripe.forms import Params
from sellerhub_emulators.stripe.objects import card_object, page, payment_method, spec_of

Obj = dict[str, Any]

_CUSTOMER_FIELDS = ("email", "name", "description", "phone")


def _changes(before: Obj, after: Obj) -> Obj:
    return {k: copy.deepcopy(v) for k, v in before.items() if after.get(k) != v}


def _default_pm(ctx: Ctx, cus_id: str, params: Params) -> tuple[bool, str | None]:
    settings = forms.mapping(params, "invoice_settings")
    if "default_payment_method" not in settings:
        return False, None
    value = settings["default_payment_method"]
    if value == "":
        return True, None
    pm = ctx.em.find(str(value), ctx.account, "payment_method")
    if pm is None or pm["customer"] != cus_id:
        raise invalid(
            f"The customer does not have a payment method with the ID {value}. The payment "
            "method must be attached to the customer.",
            param="invoice_settings[default_payment_method]",
            code="resource_missing",
        )
    return True, str(value)


def create_customer(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, (*_CUSTOMER_FIELDS, "metadata", "invoice_settings", "payment_method"))
    em = ctx.em
    cus: Obj = {
        "id": em.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": em.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": em.new_id("x", 7)[3:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": forms.metadata(params),
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    for name in _CUSTOMER_FIELDS:
        cus[name] = forms.string(params, name, max_len=512)
    pm_id = forms.string(params, "payment_method")
    pm = payment_method(ctx, pm_id) if pm_id else None
    if pm is not None and pm["customer"] is not None:
        raise _already_attached(pm["id"])
    if pm is not None:
        spec = spec_of(ctx, pm)
        if spec.decline_setup and spec.decline is not None:
            raise card_decline(ctx, pm, *spec.decline)
    settings = forms.mapping(params, "invoice_settings")
    default = settings.get("default_payment_method")
    if default and (pm is None or default not in (pm_id, pm["id"])):
        raise invalid(
            f"No such PaymentMethod: '{default}'",
            param="invoice_settings[default_payment_method]",
            code="resource_missing",
        )
    em.put(cus, ctx.account)
    if pm is not None:
        _attach(ctx, pm, cus["id"])
        if default:
            cus["invoice_settings"]["default_payment_method"] = pm["id"]
    emit(em, ctx.origin, "customer.created", cus, account=ctx.account)
    return cus


def update_customer(ctx: Ctx, params: Params, cus_id: str) -> Obj:
    forms.only(params, (*_CUSTOMER_FIELDS, "metadata", "invoice_settings"))
    em = ctx.em
    cus = em.get(cus_id, ctx.account, "customer")
    changed, default = _default_pm(ctx, cus_id, params)
    before = copy.deepcopy(cus)
    for name in _CUSTOMER_FIELDS:
        if name in params:
            cus[name] = forms.string(params, name, max_len=512)
    cus["metadata"] = forms.metadata(params, cus["metadata"])
    if changed:
        cus["invoice_settings"]["default_payment_method"] = default
    previous = _changes(before, cus)
    if previous:
        emit(em, ctx.origin, "customer.updated", cus, previous=previous, account=ctx.account)
    return cus


def retrieve_customer(ctx: Ctx, params: Params, cus_id: str) -> Obj:
    return ctx.em.get(cus_id, ctx.account, "customer")


def list_customers(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("limit", "starting_after", "ending_before", "email", "created"))
    email = forms.string(params, "email")
    rows = [
        r for r in ctx.em.all_of("customer", ctx.account) if email is None or r["email"] == email
    ]
    return page(ctx, rows, params, "/v1/customers")


def delete_customer(ctx: Ctx, params: Params, cus_id: str) -> Obj:
    em = ctx.em
    cus = em.get(cus_id, ctx.account, "customer")
    for pm in em.all_of("payment_method", ctx.account):
        if pm["customer"] == cus_id:
            pm["customer"] = None
    del em.objects[cus_id]
    emit(em, ctx.origin, "customer.deleted", cus, account=ctx.account)
    return {"id": cus_id, "object": "customer", "deleted": True}


# -- payment methods --------------------------------------------------------------------------


def _already_attached(pm_id: str) -> StripeError:
    return invalid(
        f"The payment method you provided ({pm_id}) has already been attached to a customer.",
        param="payment_method",
    )


def card_decline(ctx: Ctx, pm: Obj, code: str, decline_code: str, **extra: Any) -> StripeError:
    return StripeError(
        402,
        "card_error",
        DECLINE_MESSAGES.get(decline_code, "Your card was declined."),
        code=code,
        decline_code=decline_code,
        param="" if code != "expired_card" else "exp_month",
        payment_method=copy.deepcopy(pm),
        stored=True,
        **extra,
    )


def _attach(ctx: Ctx, pm: Obj, cus_id: str) -> None:
    pm["customer"] = cus_id
    ctx.em.touch(pm["id"])
    emit(ctx.em, ctx.origin, "payment_method.attached", pm, account=ctx.account)


def attach_to(ctx: Ctx, pm: Obj, cus_id: str) -> None:
    """Attach (idempotent for the same customer; another customer's card is refused)."""
    if pm["customer"] == cus_id:
        return
    if pm["customer"] is not None:
        raise _already_attached(pm["id"])
    _attach(ctx, pm, cus_id)


def create_payment_method(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("type", "card", "billing_details", "metadata"))
    forms.choice(params, "type", ("card",))
    forms.string(params, "type", required=True)
    card = forms.mapping(params, "card")
    number = str(card.get("number", "")).replace(" ", "")
    token = str(card.get("token", ""))
    spec = next((s for s in CARDS.values() if s.number == number), None)
    if spec is None and token.startswith("tok_"):
        spec = CARDS.get("pm_card_" + token.removeprefix("tok_"))
    if spec is None:
        raise StripeError(
            402,
            "card_error",
            "Your card number is incorrect (the emulator knows only Stripe's test cards).",
            code="incorrect_number",
            param="card[number]",
        )
    pm = card_object(ctx, spec, billing=forms.mapping(params, "billing_details"))
    pm["metadata"] = forms.metadata(params)
    return pm


def retrieve_payment_method(ctx: Ctx, params: Params, pm_id: str) -> Obj:
    return payment_method(ctx, pm_id, param=None)


def update_payment_method(ctx: Ctx, params: Params, pm_id: str) -> Obj:
    forms.only(params, ("metadata", "billing_details", "allow_redisplay"))
    pm = ctx.em.get(pm_id, ctx.account, "payment_method")
    pm["metadata"] = forms.metadata(params, pm["metadata"])
    billing = forms.mapping(params, "billing_details")
    for key in ("email", "name", "phone"):
        if key in billing:
            pm["billing_details"][key] = billing[key] or None
    emit(ctx.em, ctx.origin, "payment_method.updated", pm, account=ctx.account)
    return pm


def attach_payment_method(ctx: Ctx, params: Params, pm_id: str) -> Obj:
    forms.only(params, ("customer",))
    cus_id = forms.string(params, "customer", required=True)
    assert cus_id is not None
    ctx.em.get(cus_id, ctx.account, "customer", param="customer")
    pm = payment_method(ctx, pm_id, param=None)
    spec = spec_of(ctx, pm)
    if spec.decline_setup and spec.decline is not None:
        raise card_decline(ctx, pm, *spec.decline)
    attach_to(ctx, pm, cus_id)
    return pm


def detach_payment_method(ctx: Ctx, params: Params, pm_id: str) -> Obj:
    forms.only(params, ())
    em = ctx.em
    pm = em.get(pm_id, ctx.account, "payment_method")
    cus_id = pm["customer"]
    if cus_id is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            param="payment_method",
        )
    previous = {"customer": cus_id}
    pm["customer"] = None
    em.touch(pm_id)
    cus = em.find(cus_id, ctx.account, "customer")
    if cus is not None and cus["invoice_settings"]["default_payment_method"] == pm_id:
        cus["invoice_settings"]["default_payment_method"] = None
        emit(
            em,
            ctx.origin,
            "customer.updated",
            cus,
            previous={
                "invoice_settings": {**cus["invoice_settings"], "default_payment_method": pm_id}
            },
            account=ctx.account,
        )
    emit(em, ctx.origin, "payment_method.detached", pm, previous=previous, account=ctx.account)
    return pm


def list_payment_methods(ctx: Ctx, params: Params) -> Obj:
    forms.only(params, ("customer", "type", "limit", "starting_after", "ending_before"))
    cus_id = forms.string(params, "customer")
    forms.choice(params, "type", ("card",))
    if cus_id is not None:
        ctx.em.get(cus_id, ctx.account, "customer", param="customer")
    rows = [
        r
        for r in ctx.em.all_of("payment_method", ctx.account)
        if r["customer"] is not None and (cus_id is None or r["customer"] == cus_id)
    ]
    return page(ctx, rows, params, "/v1/payment_methods")


def list_customer_payment_methods(ctx: Ctx, params: Params, cus_id: str) -> Obj:
    forms.only(params, ("type", "limit", "starting_after", "ending_before", "allow_redisplay"))
    ctx.em.get(cus_id, ctx.account, "customer")
    rows = [r for r in ctx.em.all_of("payment_method", ctx.account) if r["customer"] == cus_id]
    return page(ctx, rows, params, f"/v1/customers/{cus_id}/payment_methods")


def retrieve_customer_payment_method(ctx: Ctx, params: Params, cus_id: str, pm_id: str) -> Obj:
    ctx.em.get(cus_id, ctx.account, "customer")
    pm = ctx.em.get(pm_id, ctx.account, "payment_method")
    if pm["customer"] != cus_id:
        raise StripeError(
            404,
            "invalid_request_error",
            f"No such PaymentMethod: '{pm_id}'",
            code="resource_missing",
            param="payment_method",
        )
    return pm
